/**
 * How the configuration reaches the functions (environment while it fits Lambda's 4 KB, else an SSM parameter read at
 * start) and how a bad configuration fails synthesis.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Token } from "aws-cdk-lib";
import type { FunctionRole } from "@discovery-sync/cdk";
import { resolveIntrinsicString, resourcesOfType, type CfnTemplate } from "@discovery-sync/emulator";
import { policiesOfFunction } from "./support/iamCheck.js";
import { exampleConfig, synthControlPlane, synthDiscoverySyncStack, inlineCode } from "./support/stacks.js";

const ROLES: readonly FunctionRole[] = ["router", "reconcile", "sweep"];
const LIMIT = 4096;

/**
 * The longest queue URL CloudFormation can give the work queue: `https://sqs.<region>.<domain>/<account>/<name>`
 * with a 14-character region (ap-southeast-5), the China domain amazonaws.com.cn and an 80-character queue name
 * (the SQS maximum, `.fifo` included).
 */
const LONGEST_QUEUE_URL = `https://sqs.${"r".repeat(14)}.amazonaws.com.cn/123456789012/${"q".repeat(75)}.fifo`;

/**
 * The size of a function's environment as Lambda measures it: the JSON of the variables map (Lambda's own error
 * reports the "String measured: {\"KEY\":\"value\",...}"), so quotes, separators and the escaping of a JSON value
 * count. Unresolved values (the queue URL) are replaced by their longest form.
 */
function measuredEnvironmentBytes(json: CfnTemplate, functionId: string): number {
  const variables = json.Resources[functionId]!.Properties!["Environment"]["Variables"] as Record<string, unknown>;
  const resolved = Object.fromEntries(
    Object.entries(variables).map(([k, v]) => [k, k === "DISCOVERY_SYNC_QUEUE_URL" ? LONGEST_QUEUE_URL : resolveIntrinsicString(v)]),
  );
  return Buffer.byteLength(JSON.stringify(resolved), "utf8");
}

/**
 * `count` services; the last one's parameter name is longer by `pad` characters. Their Cloud Map services are in HTTP
 * namespaces (`cloudMapDns: "none"`): what the role may do in Route 53 is permissions-scope.test.ts's subject.
 */
function configOfSize(count: number, pad: number): { services: Record<string, unknown>[] } {
  return {
    services: Array.from({ length: count }, (_, i) => ({
      name: `service-${i}`,
      cluster: "workflow",
      ecsService: `service-${i}`,
      port: 50051,
      cloudMapServiceId: `srv-${String(i).padStart(16, "0")}`,
      cloudMapDns: "none",
      targetGroupArns: [`arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/service-${i}/0123456789abcdef`],
      parameterName: `/discovery/service-${i}/${"p".repeat(i === count - 1 ? 40 + pad : 40)}`,
    })),
  };
}

/** The pad that makes the router's environment (the largest: it has the queue URL) measure exactly `target` bytes. */
function padFor(count: number, target: number): number {
  // Measured on the environment the construct would build if it kept the configuration there.
  const probe = synthControlPlane({ config: configOfSize(count, 0), configDelivery: "environment" });
  return target - measuredEnvironmentBytes(probe.json, probe.functionIds.router);
}

function configParameters(json: CfnTemplate): [string, Record<string, any>][] {
  return resourcesOfType(json, "AWS::SSM::Parameter").map(([id, r]) => [id, r.Properties ?? {}]);
}

describe("configuration in the environment", () => {
  it("puts a small configuration in DISCOVERY_SYNC_CONFIG of every function, and no parameter", () => {
    // Prepare
    const config = exampleConfig();
    // Act
    const { json, functionIds } = synthControlPlane({ config });
    // Assess
    expect(configParameters(json)).toEqual([]);
    for (const role of ROLES) {
      const variables = json.Resources[functionIds[role]]!.Properties!["Environment"]["Variables"];
      expect(JSON.parse(variables["DISCOVERY_SYNC_CONFIG"])).toEqual(config);
      expect(variables["DISCOVERY_SYNC_CONFIG_PARAMETER"]).toBeUndefined();
      expect(measuredEnvironmentBytes(json, functionIds[role])).toBeLessThanOrEqual(LIMIT);
    }
  });

  it("keeps a configuration in the environment while the environment measures well under 4 KB", () => {
    const config = configOfSize(10, padFor(10, LIMIT - 64));
    const { json, functionIds } = synthControlPlane({ config });
    expect(configParameters(json)).toEqual([]);
    expect(measuredEnvironmentBytes(json, functionIds.router)).toBe(LIMIT - 64);
  });

  it("moves a configuration to a parameter once the environment would measure 4,097 bytes as Lambda counts them", () => {
    // Prepare: the configuration alone is well under 4 KB; its JSON escaping in the environment is what overflows.
    const config = configOfSize(10, padFor(10, LIMIT + 1));
    expect(Buffer.byteLength(JSON.stringify(config))).toBeLessThan(LIMIT);
    // Act
    const { json, functionIds } = synthControlPlane({ config });
    // Assess
    expect(configParameters(json)).toHaveLength(1);
    for (const role of ROLES) {
      const variables = json.Resources[functionIds[role]]!.Properties!["Environment"]["Variables"];
      expect(variables["DISCOVERY_SYNC_CONFIG"]).toBeUndefined();
    }
  });

  it('fails synthesis when configDelivery is "environment" and the configuration does not fit', () => {
    const config = configOfSize(10, padFor(10, LIMIT + 1));
    expect(() => synthControlPlane({ config, configDelivery: "environment" })).toThrow(/over the 4096-byte limit/);
  });
});

describe("configuration in an SSM parameter", () => {
  let large: ReturnType<typeof synthControlPlane>;
  const largeConfig = configOfSize(24, 0);

  beforeAll(() => {
    large = synthControlPlane({ config: largeConfig });
  });

  it("stores the whole configuration in one parameter, Advanced tier only when over 4 KB", () => {
    const [[, parameter] = ["", {}]] = configParameters(large.json);
    expect(Buffer.byteLength(JSON.stringify(largeConfig))).toBeGreaterThan(LIMIT);
    expect(JSON.parse(resolveIntrinsicString(parameter["Value"]))).toEqual(largeConfig);
    expect(parameter["Type"]).toBe("String");
    expect(parameter["Tier"]).toBe("Advanced");

    const fits = synthControlPlane({ config: exampleConfig(), configDelivery: "parameter" });
    expect(configParameters(fits.json)[0]?.[1]["Tier"]).toBe("Standard");
  });

  it("names the parameter in DISCOVERY_SYNC_CONFIG_PARAMETER of every function instead of DISCOVERY_SYNC_CONFIG", () => {
    const [[parameterId] = [""]] = configParameters(large.json);
    for (const role of ROLES) {
      const variables = large.json.Resources[large.functionIds[role]]!.Properties!["Environment"]["Variables"];
      expect(variables["DISCOVERY_SYNC_CONFIG_PARAMETER"]).toEqual({ Ref: parameterId });
      expect(variables["DISCOVERY_SYNC_CONFIG"]).toBeUndefined();
      expect(measuredEnvironmentBytes(large.json, large.functionIds[role])).toBeLessThanOrEqual(LIMIT);
    }
  });

  it("lets each function's role read that parameter, and no role read or write any other parameter than its own", () => {
    const [[parameterId] = [""]] = configParameters(large.json);
    const configArn = `arn:aws:ssm:us-east-1:123456789012:parameter/\${${parameterId}}`;
    const documents = largeConfig.services.map((s) => `arn:aws:ssm:us-east-1:123456789012:parameter${String(s["parameterName"])}`);
    for (const role of ROLES) {
      const { statements } = policiesOfFunction(large.json, large.functionIds[role], large.pseudo);
      const ssm = statements.flatMap((s) => s.actions.filter((a) => a.startsWith("ssm:")).flatMap((a) => s.resources.map((r) => `${a} ${r}`)));
      const expected =
        role === "reconcile"
          ? [
              `ssm:GetParameter ${configArn}`,
              // Each document read with its writer state in one GetParameters; GetParameter before deleting shards.
              ...documents.flatMap((d) => [`ssm:GetParameter ${d}`, `ssm:GetParameters ${d}`, `ssm:PutParameter ${d}`]),
              // The writer's state beside each document (tombstones of tasks out of the ready set).
              ...documents.flatMap((d) => [`ssm:GetParameters ${d}/state`, `ssm:PutParameter ${d}/state`]),
              // A large document's shards, under the document's own path only.
              ...documents.flatMap((d) => ["DeleteParameters", "GetParameters", "PutParameter"].map((a) => `ssm:${a} ${d}/shards/*`)),
              // The shards that exist under each document's shard path (orphans).
              ...documents.flatMap((d) => [`ssm:GetParametersByPath ${d}/shards`]),
            ]
          : [`ssm:GetParameter ${configArn}`];
      expect(ssm.sort(), role).toEqual(expected.sort());
    }
  });

  it("fails synthesis when the configuration exceeds even an Advanced parameter (8 KB)", () => {
    expect(() => synthControlPlane({ config: configOfSize(40, 0) })).toThrow(/over the 8192-byte limit of an Advanced SSM parameter/);
  });
});

describe("a bad configuration fails synthesis, naming the field and the value", () => {
  it.each([
    ["a port out of range", { port: 70000 }, /services\[0\]\.port: must be from 1 to 65535 \(given 70000\)/],
    ["a malformed Cloud Map service id", { cloudMapServiceId: "0123" }, /services\[0\]\.cloudMapServiceId: .*\(given "0123"\)/],
    ["a reserved parameter name", { parameterName: "/aws/x" }, /services\[0\]\.parameterName: must not start with 'aws'.*\(given "\/aws\/x"\)/],
    ["an unknown field", { prot: 1 }, /services\[0\]: unknown field\(s\) 'prot'/],
  ])("%s", (_, change, message) => {
    const config = { services: [{ ...exampleConfig().services[0], ...change }] };
    expect(() => synthControlPlane({ config, configSource: "test.json" })).toThrow(message);
    expect(() => synthControlPlane({ config, configSource: "test.json" })).toThrow(/^invalid test\.json:/);
  });

  it("rejects a CDK token where the event pattern or the policies need a literal", () => {
    const config = { services: [{ ...exampleConfig().services[0], cluster: Token.asString({ Ref: "ClusterName" }) }] };
    expect(() => synthControlPlane({ config })).toThrow(/services\[0\]\.cluster: must be a literal value, not a CDK token/);
  });

  it("rejects out-of-range settings with the range and the value", () => {
    const config = exampleConfig();
    expect(() => synthControlPlane({ config, reconcileBatchSize: 11 })).toThrow(
      "reconcileBatchSize must be an integer between 1 and 10 inclusive (given 11)",
    );
  });

  describe("through the SST stack and a configuration file", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), "discovery-sync-config-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("names the file, the field and the value", () => {
      const file = path.join(dir, "discovery-sync.bad.config.json");
      writeFileSync(file, JSON.stringify({ services: [{ ...exampleConfig().services[0], port: 0 }] }));
      expect(() => synthDiscoverySyncStack({ configFile: file, code: inlineCode() })).toThrow(
        /^invalid .*discovery-sync\.bad\.config\.json:\n {2}services\[0\]\.port: must be from 1 to 65535 \(given 0\)/,
      );
    });

    it("says when the file is not JSON", () => {
      const file = path.join(dir, "discovery-sync.broken.config.json");
      writeFileSync(file, "{ services: ");
      expect(() => synthDiscoverySyncStack({ configFile: file, code: inlineCode() })).toThrow(/discovery-sync\.broken\.config\.json is not valid JSON/);
    });
  });
});
