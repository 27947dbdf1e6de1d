/**
 * What the reconcile role may do in Route 53 and in Parameter Store, statement by statement: record changes only in
 * the hosted zone of each Cloud Map service's namespace, only of the record types and names Cloud Map writes for it;
 * health-check actions only for services with a Route 53 health check; no ec2:DescribeInstances; no `*` grant for the
 * document's tier or its shard listing. iam-coverage.test.ts checks the same roles against what the code sends.
 */
import { describe, expect, it } from "vitest";
import { Token } from "aws-cdk-lib";
import { policiesOfFunction, type AllowStatement } from "./support/iamCheck.js";
import { exampleConfig, synthControlPlane } from "./support/stacks.js";

const NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames";
const TYPES = "route53:ChangeResourceRecordSetsRecordTypes";
const ZONE_A = "Z0000000000000000ALPHA";
const ZONE_B = "Z00000000000000000BETA";

/** One service of the example configuration with `change` applied (`undefined` removes a field). */
function service(change: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...exampleConfig().services[0], ...change };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  return merged;
}

/** A second, third, ... service (own name, ECS service, document, Cloud Map service id). */
function other(n: number, change: Record<string, unknown>): Record<string, unknown> {
  return service({
    name: `agent-${n}`,
    ecsService: `agent-${n}`,
    parameterName: `/discovery/agent-${n}/endpoints`,
    cloudMapServiceId: `srv-${String(n).padStart(16, "0")}`,
    targetGroupArns: undefined,
    ...change,
  });
}

/** The reconcile role's statements, by sid. */
function reconcileStatements(props: Parameters<typeof synthControlPlane>[0]): Map<string, AllowStatement> {
  const plane = synthControlPlane(props);
  const { statements, problems } = policiesOfFunction(plane.json, plane.functionIds.reconcile, plane.pseudo);
  expect(problems).toEqual([]);
  return new Map(statements.map((s) => [/\(([^)]+)\)$/.exec(s.source)![1]!, s]));
}

/** Every action the role allows, with its resources: `action resource`. */
function grants(statements: Map<string, AllowStatement>): string[] {
  return [...statements.values()].flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`))).sort();
}

const route53 = (statements: Map<string, AllowStatement>) => grants(statements).filter((g) => /^(route53|ec2):/.test(g));

describe("Route 53: record changes of the Cloud Map services' namespaces only", () => {
  it("changes records only in the namespace's hosted zone, of the service's record types and names", () => {
    const statements = reconcileStatements({ config: exampleConfig() });
    const records = statements.get("CloudMapRoute53Records")!;
    expect(records.actions).toEqual(["route53:ChangeResourceRecordSets"]);
    expect(records.resources).toEqual(["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"]);
    expect(records.conditions).toEqual({
      "ForAllValues:StringEquals": { [TYPES]: ["A"] },
      "ForAllValues:StringLike": { [NAMES]: ["workflow-agent.workflow.local", "*.workflow-agent.workflow.local"] },
    });
    expect(route53(statements)).toEqual([
      "route53:ChangeResourceRecordSets arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ",
      "route53:GetHostedZone arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ",
      // No resource-level permissions (Service Authorization Reference, Route 53).
      "route53:ListHostedZonesByName *",
    ]);
  });

  it("allows A and SRV records by default, and compares names in lower case without a trailing dot", () => {
    const dns = { hostedZoneId: ZONE_A, namespaceName: "Workflow.Local", serviceName: "Workflow-Agent" };
    const records = reconcileStatements({ config: { services: [service({ cloudMapDns: dns })] } }).get("CloudMapRoute53Records")!;
    expect(records.conditions).toEqual({
      "ForAllValues:StringEquals": { [TYPES]: ["A", "SRV"] },
      "ForAllValues:StringLike": { [NAMES]: ["workflow-agent.workflow.local", "*.workflow-agent.workflow.local"] },
    });
  });

  it("gives each hosted zone a statement of its own, with the names and types of its services only", () => {
    const statements = reconcileStatements({
      config: {
        services: [
          service({ cloudMapDns: { hostedZoneId: ZONE_A, namespaceName: "alpha.local", serviceName: "one", recordTypes: ["A"] } }),
          other(2, { cloudMapDns: { hostedZoneId: ZONE_B, namespaceName: "beta.local", serviceName: "two", recordTypes: ["A", "SRV"] } }),
          other(3, { cloudMapDns: { hostedZoneId: ZONE_A, namespaceName: "alpha.local", serviceName: "three", recordTypes: ["A"] } }),
        ],
      },
    });
    expect(statements.has("CloudMapRoute53Records")).toBe(false);
    const [alpha, beta] = [statements.get("CloudMapRoute53Records1")!, statements.get("CloudMapRoute53Records2")!];
    expect(alpha.resources).toEqual([`arn:aws:route53:::hostedzone/${ZONE_A}`]);
    expect(alpha.conditions).toEqual({
      "ForAllValues:StringEquals": { [TYPES]: ["A"] },
      "ForAllValues:StringLike": { [NAMES]: ["one.alpha.local", "*.one.alpha.local", "three.alpha.local", "*.three.alpha.local"] },
    });
    expect(beta.resources).toEqual([`arn:aws:route53:::hostedzone/${ZONE_B}`]);
    expect(beta.conditions).toEqual({
      "ForAllValues:StringEquals": { [TYPES]: ["A", "SRV"] },
      "ForAllValues:StringLike": { [NAMES]: ["two.beta.local", "*.two.beta.local"] },
    });
    expect(statements.get("CloudMapHostedZones")!.resources).toEqual([`arn:aws:route53:::hostedzone/${ZONE_A}`, `arn:aws:route53:::hostedzone/${ZONE_B}`]);
  });

  it("takes the hosted zone id as a token of the same app", () => {
    const zone = Token.asString({ "Fn::GetAtt": ["Namespace", "HostedZoneId"] });
    const dns = { hostedZoneId: zone, namespaceName: "workflow.local", serviceName: "workflow-agent" };
    const records = reconcileStatements({ config: { services: [service({ cloudMapDns: dns })] } }).get("CloudMapRoute53Records")!;
    expect(records.resources).toEqual(["arn:aws:route53:::hostedzone/${Namespace.HostedZoneId}"]);
  });

  it("grants Route 53 health-check actions only when a service has a Route 53 health check", () => {
    const without = reconcileStatements({ config: exampleConfig() });
    expect(route53(without).filter((g) => /HealthCheck/.test(g))).toEqual([]);
    const dns = { hostedZoneId: ZONE_A, namespaceName: "example.com", serviceName: "api", route53HealthCheck: true };
    const withChecks = reconcileStatements({ config: { services: [service({ cloudMapDns: dns })] } });
    expect(route53(withChecks).filter((g) => /HealthCheck/.test(g))).toEqual([
      // CreateHealthCheck supports no resource-level permissions; the others the healthcheck resource type.
      "route53:CreateHealthCheck *",
      "route53:DeleteHealthCheck arn:aws:route53:::healthcheck/*",
      "route53:GetHealthCheck arn:aws:route53:::healthcheck/*",
      "route53:UpdateHealthCheck arn:aws:route53:::healthcheck/*",
    ]);
  });

  it('grants nothing in Route 53 for a Cloud Map service in an HTTP namespace ("none"), and no Cloud Map service at all', () => {
    const http = reconcileStatements({ config: { services: [service({ cloudMapDns: "none" })] } });
    expect(route53(http)).toEqual([]);
    expect(http.get("CloudMapInstances")!.resources).toEqual(["arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef"]);
    const none = reconcileStatements({ config: { services: [service({ cloudMapServiceId: undefined, cloudMapDns: undefined })] } });
    expect(route53(none)).toEqual([]);
  });

  it("never grants ec2:DescribeInstances (the reconciler registers addresses, never AWS_EC2_INSTANCE_ID)", () => {
    for (const props of [
      { config: exampleConfig() },
      { config: { services: [service({ cloudMapDns: { hostedZoneId: ZONE_A, namespaceName: "a.b", serviceName: "c", route53HealthCheck: true } })] } },
      { config: { services: [service({ cloudMapDns: undefined })] }, allowUnscopedCloudMapDns: true },
    ]) {
      expect(grants(reconcileStatements(props)).filter((g) => g.startsWith("ec2:"))).toEqual([]);
    }
  });

  it("fails synthesis for a Cloud Map service without cloudMapDns, naming the field and both ways out", () => {
    expect(() => synthControlPlane({ config: { services: [service({ cloudMapDns: undefined })] }, configSource: "discovery-sync.prod.config.json" })).toThrow(
      new RegExp(
        "^invalid discovery-sync\\.prod\\.config\\.json:\\n {2}services\\[0\\]\\.cloudMapDns: is missing: Cloud Map writes the service's DNS records " +
          "with the reconcile role's credentials.*\\{ hostedZoneId, namespaceName, serviceName \\}.*\"none\" for a service in an HTTP namespace.*allowUnscopedCloudMapDns",
      ),
    );
  });

  it("with allowUnscopedCloudMapDns, lets such a service change A and SRV records anywhere, and manage health checks", () => {
    const statements = reconcileStatements({
      config: { services: [service({ cloudMapDns: undefined }), other(2, { cloudMapDns: { hostedZoneId: ZONE_B, namespaceName: "beta.local", serviceName: "two" } })] },
      allowUnscopedCloudMapDns: true,
    });
    expect(statements.get("CloudMapRoute53RecordsUnscoped")).toMatchObject({
      actions: ["route53:ChangeResourceRecordSets"],
      resources: ["*"],
      conditions: { "ForAllValues:StringEquals": { [TYPES]: ["A", "SRV"] } },
    });
    // The scoped service keeps its own statement.
    expect(statements.get("CloudMapRoute53Records")!.resources).toEqual([`arn:aws:route53:::hostedzone/${ZONE_B}`]);
    expect(statements.get("CloudMapHostedZones")!.resources).toEqual(["*"]);
    expect(route53(statements).filter((g) => /HealthCheck/.test(g))).toHaveLength(4);
  });

  it("refuses cloudMapDns that cannot scope the role, naming the field and the value", () => {
    const bad = (dns: unknown, extra: Record<string, unknown> = {}) => () => synthControlPlane({ config: { services: [service({ cloudMapDns: dns, ...extra })] } });
    expect(bad({ hostedZoneId: "/hostedzone/Z1", namespaceName: "a.local", serviceName: "b" })).toThrow(
      /services\[0\]\.cloudMapDns\.hostedZoneId: must be a Route 53 hosted zone id .* \(given "\/hostedzone\/Z1"\)/,
    );
    expect(bad({ hostedZoneId: ZONE_A, namespaceName: "a.local.", serviceName: "b" })).toThrow(/services\[0\]\.cloudMapDns\.namespaceName: .*no trailing dot/);
    expect(bad({ hostedZoneId: ZONE_A, namespaceName: "a.local", serviceName: "b", recordTypes: ["AAAA"] })).toThrow(
      /services\[0\]\.cloudMapDns\.recordTypes\[0\]: must be A or SRV: the reconciler registers an IPv4 address and a port/,
    );
    expect(bad({ hostedZoneId: ZONE_A, namespaceName: "a.local", serviceName: "b", recordTypes: ["SRV"] })).toThrow(/must include A/);
    expect(bad({ hostedZoneId: ZONE_A, namespaceName: "a.local" })).toThrow(/services\[0\]\.cloudMapDns\.serviceName: /);
    expect(bad("http")).toThrow(/services\[0\]\.cloudMapDns: must be "none" \(an HTTP namespace\) or \{ hostedZoneId, namespaceName, serviceName/);
    expect(bad("none", { cloudMapServiceId: undefined })).toThrow(/services\[0\]\.cloudMapDns: describes the DNS records of the service's Cloud Map service, but the service has no cloudMapServiceId/);
    const tokenName = { hostedZoneId: ZONE_A, namespaceName: Token.asString({ Ref: "NamespaceName" }), serviceName: "b" };
    expect(bad(tokenName)).toThrow(/services\[0\]\.cloudMapDns\.namespaceName: must be a literal value, not a CDK token/);
  });
});

describe("Parameter Store: the document's shard listing without a * grant", () => {
  it("lists shards on each document's shard path, reads no tier (Intelligent-Tiering picks it), and nothing on *", () => {
    const statements = reconcileStatements({
      config: {
        services: [
          service({ parameterName: "/discovery/a/endpoints" }),
          other(2, { parameterName: "flat-b", cloudMapDns: "none" }),
        ],
      },
    });
    // The writer asks for Intelligent-Tiering, so nothing reads a document's tier (no GetParameterHistory).
    expect(statements.get("EndpointDocumentTier")).toBeUndefined();
    expect(statements.get("EndpointDocumentShardList")).toMatchObject({
      actions: ["ssm:GetParametersByPath"],
      // GetParametersByPath is authorised on the path of the request: `/discovery/a/endpoints/shards`, `/flat-b/shards`.
      resources: [
        "arn:aws:ssm:us-east-1:123456789012:parameter/discovery/a/endpoints/shards",
        "arn:aws:ssm:us-east-1:123456789012:parameter/flat-b/shards",
      ],
    });
    const ssm = grants(statements).filter((g) => g.startsWith("ssm:"));
    expect(ssm.filter((g) => g.endsWith(" *"))).toEqual([]);
    expect(ssm.filter((g) => g.startsWith("ssm:DescribeParameters"))).toEqual([]);
  });
});
