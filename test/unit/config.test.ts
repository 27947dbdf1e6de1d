import { describe, expect, it } from "vitest";
import { ConfigError, clusterNameOf, loadConfigFromEnv, parseConfig } from "@discovery-sync/core";

const service = {
  name: "workflow-agent",
  cluster: "workflow",
  ecsService: "workflow-agent",
  port: 50051,
  cloudMapServiceId: "srv-0123456789abcdef",
  targetGroupArns: ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/workflow-agent/0123456789abcdef"],
  parameterName: "/discovery/workflow-agent/endpoints",
};

function issuesOf(input: unknown): string {
  try {
    parseConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("accepts the documented shape, with optional Cloud Map and target groups, and adds the cluster's name", () => {
    expect(parseConfig({ services: [service] }).services[0]).toEqual({ ...service, clusterName: "workflow" });
    const ssmOnly = { name: "a", cluster: "c", ecsService: "a", port: 80, parameterName: "/d/a" };
    expect(parseConfig({ services: [ssmOnly] }).services[0]).toEqual({ ...ssmOnly, clusterName: "c" });
  });

  it("normalises the cluster once: a name gives clusterName, an ARN gives clusterName and clusterArn", () => {
    const arn = "arn:aws:ecs:us-east-1:123456789012:cluster/workflow";
    const byArn = parseConfig({ services: [{ ...service, cluster: arn }] }).services[0]!;
    expect(byArn).toMatchObject({ cluster: arn, clusterName: "workflow", clusterArn: arn });
    const byName = parseConfig({ services: [service] }).services[0]!;
    expect(byName.clusterName).toBe("workflow");
    expect("clusterArn" in byName).toBe(false);
    expect(clusterNameOf(arn)).toBe("workflow");
    expect(clusterNameOf("workflow")).toBe("workflow");
  });

  it("refuses the same ECS service given once by cluster name and once by cluster ARN", () => {
    const arn = "arn:aws:ecs:us-east-1:123456789012:cluster/workflow";
    const second = { ...service, name: "again", cloudMapServiceId: undefined, targetGroupArns: undefined, cluster: arn, parameterName: "/d/again" };
    expect(issuesOf({ services: [service, second] })).toContain("services[1].ecsService: is already used by services[0]");
  });

  it("gives back, serialised and parsed again, the configuration it was given (the derived fields are not input)", () => {
    const arn = "arn:aws:ecs:us-east-1:123456789012:cluster/workflow";
    const parsed = parseConfig({ services: [{ ...service, cluster: arn }] });
    expect(issuesOf(JSON.parse(JSON.stringify(parsed)))).toContain("services[0]: unknown field(s) 'clusterName', 'clusterArn'");
  });

  it.each([
    ["port as text", { ...service, port: "50051" }, 'services[0].port: Invalid input: expected number, received string (given "50051")'],
    ["port out of range", { ...service, port: 70000 }, "services[0].port: must be from 1 to 65535 (given 70000)"],
    ["port not whole", { ...service, port: 80.5 }, "services[0].port: must be an integer (given 80.5)"],
    ["missing field", { ...service, ecsService: undefined }, "services[0].ecsService: Invalid input: expected string, received undefined (given nothing)"],
    ["record type", { ...service, cloudMapDns: { hostedZoneId: "Z1", namespaceName: "a.local", serviceName: "a", recordTypes: ["AAAA"] } }, 'services[0].cloudMapDns.recordTypes[0]: must be A or SRV'],
    ["Cloud Map DNS", { ...service, cloudMapDns: 7 }, 'services[0].cloudMapDns: must be "none" (an HTTP namespace) or { hostedZoneId, namespaceName, serviceName, recordTypes?, route53HealthCheck? } (given 7)'],
    ["too many target groups", { ...service, targetGroupArns: Array.from({ length: 6 }, (_, i) => service.targetGroupArns[0]!.replace("workflow-agent", `tg-${i}`)) }, "services[0].targetGroupArns: at most 5 target groups per service"],
    ["bad target group ARN", { ...service, targetGroupArns: ["tg-1"] }, 'services[0].targetGroupArns[0]: must be an ELBv2 target group ARN (given "tg-1")'],
    ["bad Cloud Map id", { ...service, cloudMapServiceId: "ns-1" }, 'services[0].cloudMapServiceId: must be a Cloud Map service id like srv-0123456789abcdef (given "ns-1")'],
    ["reserved parameter name", { ...service, parameterName: "/aws/x" }, "services[0].parameterName: must not start with 'aws' or 'ssm'"],
    ["bad cluster", { ...service, cluster: "a b" }, 'services[0].cluster: must be an ECS cluster name or cluster ARN (given "a b")'],
    ["unknown field", { ...service, prot: 1 }, "services[0]: unknown field(s) 'prot'"],
  ])("names the field and the value given: %s", (_, bad, expected) => {
    expect(issuesOf({ services: [bad] })).toContain(expected);
  });

  it.each([
    ["an array for a service", [service], "services[0]: Invalid input: expected object, received array"],
    ["an array for the Cloud Map DNS scope", { ...service, cloudMapDns: ["none"] }, 'services[0].cloudMapDns: must be "none" (an HTTP namespace) or {'],
    ["an infinite port", { ...service, port: Infinity }, "services[0].port: Invalid input: expected number, received Infinity"],
    ["a port of NaN", { ...service, port: NaN }, "services[0].port: Invalid input: expected number, received NaN"],
    ["a missing field of the Cloud Map DNS scope", { ...service, cloudMapDns: { hostedZoneId: "Z1", serviceName: "a" } }, "services[0].cloudMapDns.namespaceName: Invalid input: expected string, received undefined (given nothing)"],
    ["a record type of the wrong type", { ...service, cloudMapDns: { hostedZoneId: "Z1", namespaceName: "a.local", serviceName: "a", recordTypes: "A" } }, 'services[0].cloudMapDns.recordTypes: Invalid input: expected array, received string (given "A")'],
  ])("refuses a value of the wrong type as one issue at its field: %s", (_, bad, expected) => {
    const message = issuesOf({ services: [bad] });
    expect(message).toContain(expected);
    expect(message.split("\n")).toHaveLength(2);
  });

  it("lists every unknown field of an object in one issue, at the object, with the object as the value given", () => {
    const dns = { hostedZoneId: "Z1", namespaceName: "a.local", serviceName: "a", ttl: 60, weight: 1 };
    expect(issuesOf({ services: [{ ...service, cloudMapDns: dns }], version: 2 }).split("\n")).toEqual([
      "invalid configuration:",
      `  services[0].cloudMapDns: unknown field(s) 'ttl', 'weight' (given ${JSON.stringify(dns)})`,
      expect.stringMatching(/^ {2}\$: unknown field\(s\) 'version' \(given \{"services":\[\{"name":"workflow-agent",/),
    ]);
  });

  it("checks the rules across services too when fields fail only their own checks, with each service's own cluster", () => {
    const elsewhere = { ...service, cluster: "billing", port: 0, name: "again", cloudMapServiceId: undefined, targetGroupArns: undefined, parameterName: "/d/again" };
    // Same ECS service name in another cluster: not the same ECS service, even though this entry's port is wrong.
    expect(issuesOf({ services: [{ ...service, port: 0 }, elsewhere] })).toBe(
      "invalid configuration:\n  services[0].port: must be from 1 to 65535 (given 0)\n  services[1].port: must be from 1 to 65535 (given 0)",
    );
    const sameCluster = { ...elsewhere, cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/workflow" };
    const message = issuesOf({ services: [{ ...service, port: 0 }, sameCluster] });
    expect(message).toContain("services[1].port: must be from 1 to 65535 (given 0)");
    expect(message).toContain("services[1].ecsService: is already used by services[0]");
    // A field of the wrong type leaves the services unchecked across: the message is about that field alone.
    expect(issuesOf({ services: [{ ...service, port: "0" }, sameCluster] }).split("\n")).toHaveLength(3);
  });

  it("refuses an empty list and duplicates of name, parameter and ECS service", () => {
    expect(issuesOf({ services: [] })).toContain("services: must list at least one service");
    const message = issuesOf({ services: [service, { ...service, cloudMapServiceId: undefined, targetGroupArns: undefined }] });
    expect(message).toContain("services[1].name: is already used by services[0]");
    expect(message).toContain("services[1].parameterName: is already used by services[0]");
    expect(message).toContain("services[1].ecsService: is already used by services[0]");
  });

  /** A second service, distinct from {@link service} in every unique field. */
  const other = {
    name: "billing-agent",
    cluster: "workflow",
    ecsService: "billing-agent",
    port: 50052,
    cloudMapServiceId: "srv-fedcba9876543210",
    targetGroupArns: ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/billing-agent/fedcba9876543210"],
    parameterName: "/discovery/billing-agent/endpoints",
  };

  it("accepts two services that share nothing", () => {
    expect(parseConfig({ services: [service, other] }).services).toHaveLength(2);
  });

  it("says why a Cloud Map service id or a parameter name may not be shared", () => {
    const message = issuesOf({ services: [service, { ...other, cloudMapServiceId: service.cloudMapServiceId, parameterName: service.parameterName }] });
    expect(message).toContain(
      "services[1].cloudMapServiceId: is already used by services[0]; each service owns its Cloud Map instances and deregisters every " +
        `instance its tasks don't back, so two services would remove each other's (given "${service.cloudMapServiceId}")`,
    );
    expect(message).toContain(
      "services[1].parameterName: is already used by services[0]; each service owns its endpoint document and rewrites all of it, " +
        `so two services would overwrite each other's (given "${service.parameterName}")`,
    );
  });

  it("refuses a target group shared by two services, and accepts each service with its own", () => {
    const shared = service.targetGroupArns[0]!;
    const message = issuesOf({ services: [service, { ...other, targetGroupArns: [other.targetGroupArns[0], shared] }] });
    expect(message).toBe(
      "invalid configuration:\n" +
        "  services[1].targetGroupArns[1]: is already used by services[0]; each service owns its target groups' targets and " +
        `deregisters every target its tasks don't back, so two services would remove each other's (given "${shared}")`,
    );
    // Neighbours: several target groups per service, each used by one service only.
    const second = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/workflow-agent-2/0123456789abcdef";
    expect(parseConfig({ services: [{ ...service, targetGroupArns: [shared, second] }, other] }).services).toHaveLength(2);
  });

  it.each([
    [
      "a name under another's",
      "/discovery/workflow-agent/endpoints/x",
      'services[1].parameterName: lies under services[0].parameterName "/discovery/workflow-agent/endpoints", whose shards are "/discovery/workflow-agent/endpoints/shards/<i>"',
    ],
    [
      "a name under another's shard path",
      "/discovery/workflow-agent/endpoints/shards/0",
      'services[1].parameterName: lies under services[0].parameterName "/discovery/workflow-agent/endpoints"',
    ],
    [
      "a name that is a path prefix of another's",
      "/discovery/workflow-agent",
      'services[1].parameterName: is a path prefix of services[0].parameterName "/discovery/workflow-agent/endpoints", and its own shards are "/discovery/workflow-agent/shards/<i>"',
    ],
    [
      "the flat form of another's name",
      "discovery/workflow-agent/endpoints",
      'services[1].parameterName: is the same document path as services[0].parameterName "/discovery/workflow-agent/endpoints" (a flat name and its "/" form share the shards "/discovery/workflow-agent/endpoints/shards/<i>")',
    ],
  ])("refuses parameter names that collide through sharding: %s", (_, parameterName, expected) => {
    const message = issuesOf({ services: [service, { ...other, parameterName }] });
    expect(message).toContain(expected);
    expect(message).toContain(
      "; no parameter name may be a path prefix of another's, or the shards of a large document would overwrite, or be deleted " +
        `with, the other service's parameters (given ${JSON.stringify(parameterName)})`,
    );
  });

  it("compares a flat name and its '/' form as one path, and accepts names that only share a string prefix", () => {
    const flat = (name: string, parameterName: string) => ({ name, cluster: "c", ecsService: name, port: 80, parameterName });
    expect(issuesOf({ services: [flat("a", "x"), flat("b", "/x")] })).toContain('services[1].parameterName: is the same document path as services[0].parameterName "x"');
    expect(issuesOf({ services: [flat("a", "x"), flat("b", "/x/y")] })).toContain('services[1].parameterName: lies under services[0].parameterName "x", whose shards are "/x/shards/<i>"');
    // Neighbours: siblings, and names that extend another's last segment without a "/", are other paths.
    const services = [flat("a", "/d/a/endpoints"), flat("b", "/d/a/endpoints-b"), flat("c", "/d/a/endpoints2"), flat("d", "/d/b/endpoints"), flat("e", "x")];
    expect(parseConfig({ services }).services).toHaveLength(5);
  });

  it("refuses a target group ARN of another account, naming what the others are", () => {
    const foreign = "arn:aws:elasticloadbalancing:us-east-1:210987654321:targetgroup/billing-agent/fedcba9876543210";
    const message = issuesOf({ services: [{ ...service, cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/workflow" }, { ...other, targetGroupArns: [foreign] }] });
    expect(message).toBe(
      "invalid configuration:\n" +
        "  services[1].targetGroupArns[0]: is in account 210987654321, Region us-east-1, but services[0].cluster and 1 other ARN(s) " +
        "of the configuration are in account 123456789012, Region us-east-1; IAM grants and the EventBridge rule are per account " +
        `and Region; services of another account or Region need their own deployment (given "${foreign}")`,
    );
  });

  it("refuses a cluster ARN of another Region", () => {
    const foreign = "arn:aws:ecs:eu-west-1:123456789012:cluster/workflow";
    const message = issuesOf({ services: [service, { ...other, cluster: foreign }] });
    expect(message).toContain(
      "services[1].cluster: is in account 123456789012, Region eu-west-1, but services[0].targetGroupArns[0] and 1 other ARN(s) " +
        `of the configuration are in account 123456789012, Region us-east-1; IAM grants and the EventBridge rule are per account and Region; services of another account or Region need their own deployment (given "${foreign}")`,
    );
    expect(message.split("\n")).toHaveLength(2);
  });

  it("accepts ARNs of one account and Region next to cluster names, and any one account and Region", () => {
    const clusterArn = "arn:aws:ecs:us-east-1:123456789012:cluster/billing";
    expect(parseConfig({ services: [service, { ...other, cluster: clusterArn }] }).services).toHaveLength(2);
    const elsewhere = (arn: string) => arn.replace("us-east-1:123456789012", "eu-west-1:210987654321");
    const moved = [service, other].map((s) => ({ ...s, cluster: elsewhere(clusterArn).replace("billing", s.cluster), targetGroupArns: s.targetGroupArns.map(elsewhere) }));
    expect(parseConfig({ services: moved }).services[1]?.targetGroupArns?.[0]).toContain(":eu-west-1:210987654321:");
  });

  it("reads DISCOVERY_SYNC_CONFIG, and says what is wrong with it", () => {
    expect(loadConfigFromEnv({ DISCOVERY_SYNC_CONFIG: JSON.stringify({ services: [service] }) }).services).toHaveLength(1);
    expect(() => loadConfigFromEnv({})).toThrowError(/DISCOVERY_SYNC_CONFIG is not set/);
    expect(() => loadConfigFromEnv({ DISCOVERY_SYNC_CONFIG: "{services" })).toThrowError(/DISCOVERY_SYNC_CONFIG is not valid JSON \(given "\{services"\)/);
    expect(() => loadConfigFromEnv({ DISCOVERY_SYNC_CONFIG: JSON.stringify({ services: [{ ...service, port: 0 }] }) })).toThrowError(
      /invalid DISCOVERY_SYNC_CONFIG:\n {2}services\[0\]\.port: must be from 1 to 65535 \(given 0\)/,
    );
  });
});

describe("AWS clients", () => {
  it("retry throttling adaptively with 6 attempts, unless AWS_RETRY_MODE / AWS_MAX_ATTEMPTS or the options say otherwise", async () => {
    const { createAwsClients } = await import("@discovery-sync/core");
    const modeOf = async (client: { config: { retryStrategy: () => Promise<unknown> } }) =>
      ((await client.config.retryStrategy()) as { mode?: string }).mode;
    const byDefault = createAwsClients({ env: {}, clientConfig: { region: "us-east-1" } });
    expect(await byDefault.ssm.config.maxAttempts()).toBe(6);
    expect(await modeOf(byDefault.ssm)).toBe("adaptive");
    // The SDK reads those variables itself: then our defaults stand aside (here, the SDK's own: standard, 3).
    const fromEnv = createAwsClients({ env: { AWS_RETRY_MODE: "standard", AWS_MAX_ATTEMPTS: "3" }, clientConfig: { region: "us-east-1" } });
    expect(await fromEnv.ecs.config.maxAttempts()).toBe(3);
    expect(await modeOf(fromEnv.ecs)).toBe("standard");
    const given = createAwsClients({ env: {}, clientConfig: { region: "us-east-1", maxAttempts: 1 } });
    expect(await given.elbv2.config.maxAttempts()).toBe(1);
  });
});
