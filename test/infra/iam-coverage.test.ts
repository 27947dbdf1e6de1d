/**
 * Least privilege, checked: every AWS SDK command a function's code can send (derived from the code by bundling its
 * entry point, see support/sdkCommands.ts) is allowed by that function's synthesised role on the configured
 * resources, and the role allows nothing else (beyond what Lambda itself does with the role: logs, the SQS event
 * source, the dead-letter queue). Resources are the configured ARNs wherever the action supports resource-level
 * permissions; `*` only where it does not (support/iamModel.ts).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { FunctionRole } from "@discovery-sync/cdk";
import type { CfnTemplate, PseudoParameters } from "./support/cfn.js";
import {
  compare,
  deployedConfigOf,
  deploymentFactsOf,
  functionFactsOf,
  policiesOfFunction,
  roleIdOf,
  type AllowStatement,
} from "./support/iamCheck.js";
import {
  actionsOfCall,
  CONDITION_SCOPED,
  CONFIG_LOADER_MODULE,
  NO_RESOURCE_LEVEL_PERMISSIONS,
  needsOf,
  type Need,
} from "./support/iamModel.js";
import { sdkCallsOf, type EntryAnalysis } from "./support/sdkCommands.js";
import {
  EXAMPLE_CONFIG_FILE,
  FUNCTION_ENTRIES,
  exampleConfig,
  inlineCode,
  repoRoot,
  synthControlPlane,
  synthDiscoverySyncStack,
  synthExampleWorkload,
} from "./support/stacks.js";

const ROLES: readonly FunctionRole[] = ["router", "reconcile", "sweep"];

let analyses: Record<FunctionRole, EntryAnalysis>;

beforeAll(async () => {
  const results = await Promise.all(ROLES.map((role) => sdkCallsOf(path.relative(repoRoot, FUNCTION_ENTRIES[role]))));
  analyses = Object.fromEntries(ROLES.map((role, i) => [role, results[i]!])) as Record<FunctionRole, EntryAnalysis>;
});

const operations = (role: FunctionRole): string[] => [...new Set(analyses[role].calls.map((c) => c.operation))].sort();

describe("SDK commands derived from the functions' code", () => {
  it("finds every SDK use analysable (no aggregated clients, waiters, require or dynamic imports)", () => {
    for (const role of ROLES) expect(analyses[role].unanalysable, role).toEqual([]);
  });

  it("finds what the handlers are known to send, attributed to the module that sends it", () => {
    // A sanity check of the derivation itself, not the list the IAM check uses (that one is always derived).
    expect(operations("router")).toEqual(expect.arrayContaining(["SendMessage"]));
    expect(operations("sweep")).toEqual(expect.arrayContaining(["SendMessage"]));
    expect(operations("reconcile")).toEqual(
      expect.arrayContaining([
        "ListTasks", "DescribeTasks", "RegisterInstance", "DeregisterInstance", "RegisterTargets", "PutParameter",
        // The sharded form of a large document: shards read in tens, and deleted once no manifest names them.
        "GetParameters", "DeleteParameters",
      ]),
    );
    expect(operations("router")).not.toContain("RegisterInstance");
    const registers = analyses.reconcile.calls.find((c) => c.operation === "RegisterInstance");
    expect(registers?.module).toBe("packages/core/src/aws/cloudmap.ts");
    expect(analyses.router.calls.find((c) => c.operation === "GetParameter")?.module).toBe(CONFIG_LOADER_MODULE);
  });

  it("knows the module that reads the configuration parameter", () => {
    // The resource model gives that module's GetParameter the configuration parameter: a move must be seen here.
    expect(readFileSync(path.join(repoRoot, CONFIG_LOADER_MODULE), "utf8")).toMatch(/export async function loadConfig\(/);
  });

  it("maps commands to IAM actions, with the exceptions of batch APIs and Cloud Map on DNS namespaces", () => {
    expect(actionsOfCall({ clientPackage: "@aws-sdk/client-sqs", operation: "SendMessageBatch" })).toEqual(["sqs:SendMessage"]);
    expect(actionsOfCall({ clientPackage: "@aws-sdk/client-elastic-load-balancing-v2", operation: "RegisterTargets" })).toEqual([
      "elasticloadbalancing:RegisterTargets",
    ]);
    expect(actionsOfCall({ clientPackage: "@aws-sdk/client-servicediscovery", operation: "RegisterInstance" })).toEqual(
      expect.arrayContaining(["servicediscovery:RegisterInstance", "route53:ChangeResourceRecordSets", "route53:GetHostedZone", "ec2:DescribeInstances"]),
    );
    expect(() => actionsOfCall({ clientPackage: "@aws-sdk/client-dynamodb", operation: "PutItem" })).toThrow(/no IAM service prefix known/);
  });
});

/** A deployment to check: a template and the logical ids of its functions. */
interface Deployment {
  readonly json: CfnTemplate;
  readonly pseudo: PseudoParameters;
  readonly functionIds: Record<FunctionRole, string>;
}

function largeConfig(): { services: Record<string, unknown>[] } {
  return {
    services: Array.from({ length: 24 }, (_, i) => ({
      name: `service-${String(i).padStart(2, "0")}`,
      cluster: i % 2 === 0 ? "workflow" : "batch",
      ecsService: `service-${i}`,
      port: 50051,
      cloudMapServiceId: `srv-${String(i).padStart(16, "0")}`,
      targetGroupArns: [`arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/service-${i}/0123456789abcdef`],
      parameterName: `/discovery/service-${i}/endpoints`,
    })),
  };
}

const DEPLOYMENTS: Record<string, () => Deployment> = {
  // The SST stack through its builder, with the repository's example configuration (configuration in the environment);
  // inline code here, real bundling is covered by bundling.test.ts.
  "DiscoverySync stack, example configuration": () => synthDiscoverySyncStack({ configFile: EXAMPLE_CONFIG_FILE, code: inlineCode() }),
  // Over the 4 KB environment: the configuration is read from an SSM parameter at start.
  "control plane, configuration in an SSM parameter": () => synthControlPlane({ config: largeConfig() }),
  // Services without Cloud Map or target groups, a cluster given by ARN: those commands cannot be sent, so no grants.
  "control plane, SSM-only services in two clusters": () =>
    synthControlPlane({
      config: {
        services: [
          { name: "a", cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/blue", ecsService: "a", port: 8080, parameterName: "flat-a" },
          { name: "b", cluster: "green", ecsService: "b", port: 8080, parameterName: "/discovery/b" },
        ],
      },
    }),
  // Resources created in the same app (tokens in the configuration), hosted zone known.
  "ExampleWorkload stack": () => synthExampleWorkload(),
};

/** Needs and statements of one function of a deployment. */
function checkInputs(deployment: Deployment, role: FunctionRole): { needs: Need[]; statements: readonly AllowStatement[]; problems: readonly string[] } {
  const { json, pseudo } = deployment;
  const functionId = deployment.functionIds[role];
  const config = deployedConfigOf(json, functionId, pseudo);
  const needs = needsOf(analyses[role].calls, functionFactsOf(json, functionId, pseudo, role), deploymentFactsOf(json, config, pseudo));
  const { statements, problems } = policiesOfFunction(json, functionId, pseudo);
  return { needs, statements, problems };
}

describe.each(Object.keys(DEPLOYMENTS))("IAM of %s", (name) => {
  let deployment: Deployment;
  beforeAll(() => {
    deployment = DEPLOYMENTS[name]!();
  });

  it.each(ROLES)("%s: the role allows every command the code can send and nothing more", (role) => {
    const { needs, statements, problems } = checkInputs(deployment, role);
    expect(problems).toEqual([]);
    expect(compare(role, needs, statements)).toEqual([]);
  });

  it("uses * only for actions without resource-level permissions or scoped by a condition", () => {
    for (const role of ROLES) {
      const { statements } = checkInputs(deployment, role);
      const config = deployedConfigOf(deployment.json, deployment.functionIds[role], deployment.pseudo);
      const hostedZonesKnown = deploymentFactsOf(deployment.json, config, deployment.pseudo).hostedZoneArns !== undefined;
      for (const s of statements.filter((st) => st.resources.includes("*"))) {
        for (const action of s.actions) {
          const hostedZoneAction = ["route53:ChangeResourceRecordSets", "route53:GetHostedZone"].includes(action);
          const why = NO_RESOURCE_LEVEL_PERMISSIONS[action] ?? CONDITION_SCOPED[action] ?? (hostedZoneAction && !hostedZonesKnown ? "zone unknown" : undefined);
          expect(why, `${role}: ${action} on * (${s.source})`).toBeDefined();
        }
      }
    }
  });
});

describe("the IAM check itself", () => {
  let deployment: Deployment;
  beforeAll(() => {
    deployment = synthControlPlane({ config: exampleConfig() });
  });

  /** A deep copy of the template with one statement of a function's role changed. */
  function withStatement(role: FunctionRole, sid: string, change: (statement: Record<string, any>) => void): Deployment {
    const json = structuredClone(deployment.json) as CfnTemplate;
    const roleId = roleIdOf(json, deployment.functionIds[role]);
    const statements = (json.Resources[roleId]!.Properties!["Policies"] as { PolicyDocument: { Statement: Record<string, any>[] } }[])[0]!
      .PolicyDocument.Statement;
    const statement = statements.find((s) => s["Sid"] === sid);
    if (statement === undefined) throw new Error(`no statement ${sid} in the ${role} role`);
    change(statement);
    return { ...deployment, json };
  }

  const findings = (d: Deployment, role: FunctionRole): string[] => {
    const { needs, statements } = checkInputs(d, role);
    return compare(role, needs, statements);
  };

  it("passes on the construct's roles", () => {
    for (const role of ROLES) expect(findings(deployment, role)).toEqual([]);
  });

  it("reports exactly the action a role misses (the Route 53 write Cloud Map does for RegisterInstance)", () => {
    const broken = withStatement("reconcile", "CloudMapRoute53Records", (s) => {
      s["Action"] = (s["Action"] as string[]).filter((a) => a !== "route53:ChangeResourceRecordSets");
    });
    expect(findings(broken, "reconcile")).toEqual([
      expect.stringMatching(/^missing: reconcile needs route53:ChangeResourceRecordSets on \* \(for (RegisterInstance|DeregisterInstance) /),
    ]);
  });

  it("reports an action granted that nothing needs", () => {
    const broken = withStatement("router", "SendToWorkQueue", (s) => {
      s["Action"] = ["sqs:SendMessage", "sqs:PurgeQueue"];
    });
    expect(findings(broken, "router")).toEqual([expect.stringMatching(/^unneeded: router is allowed sqs:PurgeQueue on /)]);
  });

  it("reports a resource broader than the configured ones, and a missing scoping condition", () => {
    const wide = withStatement("reconcile", "TargetGroupTargets", (s) => {
      s["Resource"] = "*";
    });
    expect(findings(wide, "reconcile")).toEqual([
      "too broad: reconcile is allowed elasticloadbalancing:DeregisterTargets on * (ControlPlaneReconcileRole3E01C586 inline policy reconcile (TargetGroupTargets)); it needs only arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/workflow-agent-grpc/0123456789abcdef",
      "too broad: reconcile is allowed elasticloadbalancing:RegisterTargets on * (ControlPlaneReconcileRole3E01C586 inline policy reconcile (TargetGroupTargets)); it needs only arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/workflow-agent-grpc/0123456789abcdef",
    ]);
    const unconditioned = withStatement("reconcile", "EcsListTasks", (s) => {
      delete s["Condition"];
    });
    expect(findings(unconditioned, "reconcile")).toEqual([expect.stringMatching(/^too broad: reconcile is allowed ecs:ListTasks .* without ArnEquals ecs:cluster/)]);
  });

  it("reports wildcard actions", () => {
    const broken = withStatement("sweep", "SendToWorkQueue", (s) => {
      s["Action"] = "sqs:Send*";
    });
    expect(findings(broken, "sweep")).toEqual([expect.stringMatching(/^wildcard: sweep is allowed sqs:Send\*/)]);
  });

  it("fails on a command it has no resource model for", () => {
    const fn = functionFactsOf(deployment.json, deployment.functionIds.router, deployment.pseudo);
    const facts = deploymentFactsOf(deployment.json, exampleConfig(), deployment.pseudo);
    expect(() => needsOf([{ clientPackage: "@aws-sdk/client-sqs", operation: "PurgeQueue", module: "x.ts" }], fn, facts)).toThrow(
      /no resource model for sqs:PurgeQueue/,
    );
  });
});
