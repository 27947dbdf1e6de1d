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
import type { CfnTemplate, PseudoParameters } from "@discovery-sync/emulator";
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

  it("registers Cloud Map instances by address, never by EC2 instance id (which would need ec2:DescribeInstances)", () => {
    for (const module of ["packages/core/src/plan.ts", "packages/core/src/aws/cloudmap.ts"]) {
      expect(readFileSync(path.join(repoRoot, module), "utf8"), module).not.toMatch(/AWS_EC2_INSTANCE_ID/);
    }
    expect(readFileSync(path.join(repoRoot, "packages/core/src/plan.ts"), "utf8")).toMatch(/AWS_INSTANCE_IPV4/);
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
      expect.arrayContaining(["servicediscovery:RegisterInstance", "route53:ChangeResourceRecordSets", "route53:GetHostedZone"]),
    );
    // Cloud Map needs ec2:DescribeInstances only for an instance registered with AWS_EC2_INSTANCE_ID.
    expect(actionsOfCall({ clientPackage: "@aws-sdk/client-servicediscovery", operation: "RegisterInstance" })).not.toContain("ec2:DescribeInstances");
    expect(() => actionsOfCall({ clientPackage: "@aws-sdk/client-dynamodb", operation: "PutItem" })).toThrow(/no IAM service prefix known/);
  });
});

/** A deployment to check: a template and the logical ids of its functions. */
interface Deployment {
  readonly json: CfnTemplate;
  readonly pseudo: PseudoParameters;
  readonly functionIds: Record<FunctionRole, string>;
}

/**
 * 24 services, over the 4 KB environment. Cloud Map: services 0 and 1 in namespace Alpha.Local (A records; upper case
 * on purpose: IAM compares lower-case names), 2 and 3 in beta.local (A and SRV, 2 with a Route 53 health check), the
 * others in HTTP namespaces.
 */
function largeConfig(): { services: Record<string, unknown>[] } {
  const dns = (i: number): unknown =>
    i < 2
      ? { hostedZoneId: "Z0000000000000000ALPHA", namespaceName: "Alpha.Local", serviceName: `svc-${i}`, recordTypes: ["A"] }
      : i < 4
        ? { hostedZoneId: "Z00000000000000000BETA", namespaceName: "beta.local", serviceName: `svc-${i}`, ...(i === 2 ? { route53HealthCheck: true } : {}) }
        : "none";
  return {
    services: Array.from({ length: 24 }, (_, i) => ({
      name: `service-${String(i).padStart(2, "0")}`,
      cluster: i % 2 === 0 ? "workflow" : "batch",
      ecsService: `service-${i}`,
      port: 50051,
      cloudMapServiceId: `srv-${String(i).padStart(16, "0")}`,
      cloudMapDns: dns(i),
      targetGroupArns: [`arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/service-${i}/0123456789abcdef`],
      parameterName: `/discovery/service-${i}/endpoints`,
    })),
  };
}

/** The example configuration without what it says of its Cloud Map service's DNS. */
function exampleConfigWithoutDns(): { services: Record<string, unknown>[] } {
  const config = exampleConfig();
  for (const service of config.services) delete service["cloudMapDns"];
  return config;
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
  // Resources created in the same app (tokens in the configuration): what Cloud Map writes is read from the template.
  "ExampleWorkload stack": () => synthExampleWorkload(),
  // The explicit opt-out: any hosted zone, any record name (A and SRV only), health checks.
  "control plane, Cloud Map DNS unscoped (allowUnscopedCloudMapDns)": () =>
    synthControlPlane({ config: exampleConfigWithoutDns(), allowUnscopedCloudMapDns: true }),
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
      // Only a deployment that opted out of knowing a namespace's hosted zone may change records of any zone.
      const optedOut = deploymentFactsOf(deployment.json, config, deployment.pseudo).cloudMapDns.some((f) => f.hostedZoneArn === "*");
      for (const s of statements.filter((st) => st.resources.includes("*"))) {
        for (const action of s.actions) {
          const carried = CONDITION_SCOPED[action]?.every((c) => s.conditions?.[c.operator]?.[c.key] !== undefined) ? "condition" : undefined;
          const hostedZoneAction = ["route53:ChangeResourceRecordSets", "route53:GetHostedZone"].includes(action);
          const why = NO_RESOURCE_LEVEL_PERMISSIONS[action] ?? carried ?? (hostedZoneAction && optedOut ? "allowUnscopedCloudMapDns" : undefined);
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
    const broken = withStatement("reconcile", "CloudMapHostedZones", (s) => {
      s["Action"] = "route53:GetHostedZone2";
    });
    expect(findings(broken, "reconcile")).toEqual([
      expect.stringMatching(/^missing: reconcile needs route53:GetHostedZone on arn:aws:route53:::hostedzone\/Z0123456789ABCDEFGHIJ \(for (RegisterInstance|DeregisterInstance) /),
      expect.stringMatching(/^unneeded: reconcile is allowed route53:GetHostedZone2 /),
    ]);
  });

  it("reports Route 53 record changes without their conditions, beyond them, or short of them", () => {
    const names = "route53:ChangeResourceRecordSetsNormalizedRecordNames";
    const types = "route53:ChangeResourceRecordSetsRecordTypes";
    const unnamed = withStatement("reconcile", "CloudMapRoute53Records", (s) => {
      delete s["Condition"]["ForAllValues:StringLike"];
    });
    expect(findings(unnamed, "reconcile")).toEqual([
      `too broad: reconcile is allowed route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ (ControlPlaneReconcileRole3E01C586 inline policy reconcile (CloudMapRoute53Records)) without ForAllValues:StringLike ${names} limited to workflow-agent.workflow.local, *.workflow-agent.workflow.local`,
    ]);
    const anyName = withStatement("reconcile", "CloudMapRoute53Records", (s) => {
      s["Condition"]["ForAllValues:StringLike"][names] = ["*.workflow.local", "workflow-agent.workflow.local", "*.workflow-agent.workflow.local"];
    });
    expect(findings(anyName, "reconcile")).toEqual([expect.stringMatching(new RegExp(`^too broad: .* without ForAllValues:StringLike ${names} limited to`))]);
    const anyType = withStatement("reconcile", "CloudMapRoute53Records", (s) => {
      s["Condition"]["ForAllValues:StringEquals"][types] = ["A", "TXT"];
    });
    expect(findings(anyType, "reconcile")).toEqual([expect.stringMatching(new RegExp(`^too broad: .* without ForAllValues:StringEquals ${types} limited to A$`))]);
    const tooFew = withStatement("reconcile", "CloudMapRoute53Records", (s) => {
      s["Condition"]["ForAllValues:StringLike"][names] = ["workflow-agent.workflow.local"];
    });
    expect(findings(tooFew, "reconcile")).toEqual([
      expect.stringMatching(
        new RegExp(`^missing: reconcile needs route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ with ${types} in A and with ${names} in workflow-agent.workflow.local, \\*.workflow-agent.workflow.local \\(for `),
      ),
    ]);
  });

  it("reports Route 53 health-check grants for services without a Route 53 health check", () => {
    const json = structuredClone(deployment.json) as CfnTemplate;
    const roleId = roleIdOf(json, deployment.functionIds.reconcile);
    const statements = (json.Resources[roleId]!.Properties!["Policies"] as { PolicyDocument: { Statement: Record<string, any>[] } }[])[0]!
      .PolicyDocument.Statement;
    statements.push({ Effect: "Allow", Action: "route53:CreateHealthCheck", Resource: "*", Sid: "Extra" });
    expect(findings({ ...deployment, json }, "reconcile")).toEqual([
      expect.stringMatching(/^unneeded: reconcile is allowed route53:CreateHealthCheck on \* /),
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
