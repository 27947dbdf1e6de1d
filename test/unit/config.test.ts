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
  it("accepts the documented shape, with optional Cloud Map and target groups", () => {
    expect(parseConfig({ services: [service] }).services[0]).toEqual(service);
    const ssmOnly = { name: "a", cluster: "c", ecsService: "a", port: 80, parameterName: "/d/a" };
    expect(parseConfig({ services: [ssmOnly] }).services[0]).toEqual(ssmOnly);
  });

  it("accepts a cluster ARN and knows its name", () => {
    const arn = "arn:aws:ecs:us-east-1:123456789012:cluster/workflow";
    expect(parseConfig({ services: [{ ...service, cluster: arn }] }).services[0]?.cluster).toBe(arn);
    expect(clusterNameOf(arn)).toBe("workflow");
    expect(clusterNameOf("workflow")).toBe("workflow");
  });

  it.each([
    ["port as text", { ...service, port: "50051" }, 'services[0].port: Invalid input: expected number, received string (given "50051")'],
    ["port out of range", { ...service, port: 70000 }, "services[0].port: must be from 1 to 65535 (given 70000)"],
    ["bad target group ARN", { ...service, targetGroupArns: ["tg-1"] }, 'services[0].targetGroupArns[0]: must be an ELBv2 target group ARN (given "tg-1")'],
    ["bad Cloud Map id", { ...service, cloudMapServiceId: "ns-1" }, 'services[0].cloudMapServiceId: must be a Cloud Map service id like srv-0123456789abcdef (given "ns-1")'],
    ["reserved parameter name", { ...service, parameterName: "/aws/x" }, "services[0].parameterName: must not start with 'aws' or 'ssm'"],
    ["bad cluster", { ...service, cluster: "a b" }, 'services[0].cluster: must be an ECS cluster name or cluster ARN (given "a b")'],
    ["unknown field", { ...service, prot: 1 }, "services[0]: unknown field(s) 'prot'"],
  ])("names the field and the value given: %s", (_, bad, expected) => {
    expect(issuesOf({ services: [bad] })).toContain(expected);
  });

  it("refuses an empty list and duplicates of name, parameter and ECS service", () => {
    expect(issuesOf({ services: [] })).toContain("services: must list at least one service");
    const message = issuesOf({ services: [service, { ...service, cloudMapServiceId: undefined, targetGroupArns: undefined }] });
    expect(message).toContain("services[1].name: is already used by services[0]");
    expect(message).toContain("services[1].parameterName: is already used by services[0]");
    expect(message).toContain("services[1].ecsService: is already used by services[0]");
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
