/**
 * The configuration's ARNs against the stack's account and Region at synthesis: a stack with a concrete environment
 * refuses cluster and target group ARNs of another account or Region, naming the file, the field and the value; an
 * environment-agnostic stack (account and Region are tokens) cannot tell, and accepts any one account and Region.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { App, Stack, Token } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { DiscoverySyncControlPlane } from "@discovery-sync/cdk";
import { resourcesOfType, type CfnTemplate } from "@discovery-sync/emulator";
import { exampleConfig, inlineCode, synthControlPlane, synthDiscoverySyncStack } from "./support/stacks.js";

// The test stacks deploy to account 123456789012, Region us-east-1 (TEST_PSEUDO).
const FOREIGN_ACCOUNT_TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:210987654321:targetgroup/workflow-agent-grpc/0123456789abcdef";
const FOREIGN_REGION_CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/workflow";
const REASON =
  "IAM grants and the EventBridge rule are per account and Region; services of another account or Region need their own deployment";

/** The example configuration with its one service changed. */
function configWith(change: Record<string, unknown>): { services: Record<string, unknown>[] } {
  return { services: [{ ...exampleConfig().services[0], ...change }] };
}

/** A control plane in a stack without an environment (`cdk synth` for any account and Region). */
function synthAgnostic(config: unknown): CfnTemplate {
  const app = new App();
  const stack = new Stack(app, "AgnosticTest");
  expect(Token.isUnresolved(stack.account) && Token.isUnresolved(stack.region)).toBe(true);
  new DiscoverySyncControlPlane(stack, "ControlPlane", { code: inlineCode(), config });
  return Template.fromStack(stack).toJSON() as CfnTemplate;
}

describe("a stack with a concrete account and Region", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "discovery-sync-scope-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a target group ARN of another account and a cluster ARN of another Region, naming the file, the field and the value", () => {
    // Prepare
    const file = path.join(dir, "discovery-sync.prod.config.json");
    writeFileSync(file, JSON.stringify(configWith({ targetGroupArns: [FOREIGN_ACCOUNT_TARGET_GROUP] })));
    const foreignRegion = configWith({ cluster: FOREIGN_REGION_CLUSTER, targetGroupArns: undefined });
    // Act + Assess
    expect(() => synthDiscoverySyncStack({ configFile: file, code: inlineCode() })).toThrow(
      new RegExp(
        "^invalid .*discovery-sync\\.prod\\.config\\.json:\\n {2}services\\[0\\]\\.targetGroupArns\\[0\\]: is in account 210987654321, " +
          "Region us-east-1, but stack test-discovery-sync-DiscoverySync deploys to account 123456789012, Region us-east-1; " +
          `${escape(REASON)} \\(given "${escape(FOREIGN_ACCOUNT_TARGET_GROUP)}"\\)$`,
      ),
    );
    expect(() => synthControlPlane({ config: foreignRegion, configSource: "discovery-sync.prod.config.json" })).toThrow(
      "invalid discovery-sync.prod.config.json:\n" +
        "  services[0].cluster: is in account 123456789012, Region eu-west-1, but stack ControlPlaneTest deploys to account " +
        `123456789012, Region us-east-1; ${REASON} (given "${FOREIGN_REGION_CLUSTER}")`,
    );
  });

  it("accepts ARNs of its own account and Region, and a target group ARN that is a token", () => {
    const own = configWith({ cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/workflow" });
    expect(resourcesOfType(synthControlPlane({ config: own }).json, "AWS::Lambda::Function").length).toBeGreaterThanOrEqual(3);
    const token = configWith({ targetGroupArns: [Token.asString({ Ref: "TargetGroup" })] });
    expect(() => synthControlPlane({ config: token })).not.toThrow();
  });

  it("refuses one target group token given to two services, as it refuses one literal ARN", () => {
    const [service] = exampleConfig().services;
    const tg = Token.asString({ Ref: "TargetGroup" });
    const second = {
      ...service,
      name: "billing-agent",
      ecsService: "billing-agent",
      cloudMapServiceId: undefined,
      cloudMapDns: undefined,
      parameterName: "/discovery/billing-agent/endpoints",
    };
    expect(() => synthControlPlane({ config: { services: [{ ...service, targetGroupArns: [tg] }, { ...second, targetGroupArns: [tg] }] } })).toThrow(
      /services\[1\]\.targetGroupArns\[0\]: is already used by services\[0\]; .* \(given "\$\{Token\[TOKEN\.\d+\]\}"\)/,
    );
    const other = Token.asString({ Ref: "OtherTargetGroup" });
    expect(() => synthControlPlane({ config: { services: [{ ...service, targetGroupArns: [tg] }, { ...second, targetGroupArns: [other] }] } })).not.toThrow();
  });
});

describe("an environment-agnostic stack", () => {
  it("accepts ARNs of any one account and Region, since its own are not known until deployment", () => {
    const foreign = configWith({ targetGroupArns: [FOREIGN_ACCOUNT_TARGET_GROUP], cluster: "arn:aws:ecs:us-east-1:210987654321:cluster/workflow" });
    expect(resourcesOfType(synthAgnostic(foreign), "AWS::Lambda::Function").length).toBeGreaterThanOrEqual(3);
    const foreignRegion = configWith({ cluster: FOREIGN_REGION_CLUSTER, targetGroupArns: undefined });
    expect(resourcesOfType(synthAgnostic(foreignRegion), "AWS::Lambda::Function").length).toBeGreaterThanOrEqual(3);
  });

  it("still refuses a configuration that mixes accounts", () => {
    const mixed = configWith({ targetGroupArns: [FOREIGN_ACCOUNT_TARGET_GROUP], cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/workflow" });
    expect(() => synthAgnostic(mixed)).toThrow(/services\[0\]\.(cluster|targetGroupArns\[0\]): is in account \d{12}, Region us-east-1, but services\[0\]\.\S+ is in account \d{12}, Region us-east-1; IAM grants/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
