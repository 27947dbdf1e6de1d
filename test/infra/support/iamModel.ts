/**
 * What IAM needs for what the functions do: SDK command -> IAM actions, and for each action the resources it must be
 * allowed on in one deployment. Facts come from `shared/AWS-FACTS.md` (cited as AWS-FACTS), the AWS Service
 * Authorization Reference (SAR) and the Lambda and SQS developer guides.
 */
import type { SdkCall } from "./sdkCommands.js";

/**
 * IAM service prefix of each SDK v3 client package the functions may use (SAR, "service prefix"). A package missing
 * here fails the check: add its prefix, do not guess it from the package name (ELBv2's is `elasticloadbalancing`).
 */
export const SERVICE_PREFIX: Readonly<Record<string, string>> = {
  "@aws-sdk/client-ecs": "ecs",
  "@aws-sdk/client-sqs": "sqs",
  "@aws-sdk/client-ssm": "ssm",
  "@aws-sdk/client-servicediscovery": "servicediscovery",
  "@aws-sdk/client-elastic-load-balancing-v2": "elasticloadbalancing",
};

/**
 * Route 53 actions Cloud Map performs with the CALLER's credentials when it registers or deregisters an instance of a
 * service in a DNS namespace (it writes the records and, for services with a Route 53 health check, the health
 * check). AWS-FACTS, "Cloud Map": the managed policy AWSCloudMapRegisterInstanceAccess grants these for this job; a role
 * without them passes every emulator test and fails on AWS. Which of them a deployment needs, and where, depends on
 * its Cloud Map services ({@link DeploymentFacts.cloudMapDns}). The policy's `ec2:DescribeInstances` is not among them:
 * Cloud Map needs it only for an instance registered with AWS_EC2_INSTANCE_ID (HTTP namespaces), which the reconciler
 * never sends (the IAM test checks that the code never names that attribute).
 */
export const CLOUD_MAP_DNS_ACTIONS: readonly string[] = [
  "route53:GetHostedZone",
  "route53:ListHostedZonesByName",
  "route53:ChangeResourceRecordSets",
  "route53:CreateHealthCheck",
  "route53:GetHealthCheck",
  "route53:DeleteHealthCheck",
  "route53:UpdateHealthCheck",
];

/**
 * Commands whose IAM action is not `<prefix>:<Operation>`, or that need more than their own action.
 * - SQS batch APIs are authorised by the single-message action (SAR, Amazon SQS: "SendMessageBatch" is covered by
 *   `sqs:SendMessage`, likewise DeleteMessageBatch and ChangeMessageVisibilityBatch).
 * - Cloud Map Register/DeregisterInstance on a DNS namespace: {@link CLOUD_MAP_DNS_ACTIONS} (AWS-FACTS).
 */
export const ACTIONS_OF_COMMAND: Readonly<Record<string, readonly string[]>> = {
  "sqs:SendMessageBatch": ["sqs:SendMessage"],
  "sqs:DeleteMessageBatch": ["sqs:DeleteMessage"],
  "sqs:ChangeMessageVisibilityBatch": ["sqs:ChangeMessageVisibility"],
  "servicediscovery:RegisterInstance": ["servicediscovery:RegisterInstance", ...CLOUD_MAP_DNS_ACTIONS],
  "servicediscovery:DeregisterInstance": ["servicediscovery:DeregisterInstance", ...CLOUD_MAP_DNS_ACTIONS],
};

/**
 * Actions that support no resource-level permissions: a policy must name `*` for them (SAR: no resource type listed
 * for the action). Every other action must be scoped to the configured resources.
 */
export const NO_RESOURCE_LEVEL_PERMISSIONS: Readonly<Record<string, string>> = {
  "ecs:DescribeTaskDefinition": "SAR, Amazon ECS: no resource type",
  "elasticloadbalancing:DescribeTargetHealth": "AWS-FACTS, ELBv2; SAR, ELB v2: no resource type",
  "elasticloadbalancing:DescribeTargetGroups": "SAR, ELB v2: no resource type",
  "route53:CreateHealthCheck": "SAR, Route 53: no resource type (the id does not exist yet)",
  "route53:ListHostedZonesByName": "SAR, Route 53: no resource type",
  "servicediscovery:ListOperations": "SAR, AWS Cloud Map: no resource type",
  "servicediscovery:GetOperation": "SAR, AWS Cloud Map: no resource type",
};

/**
 * Actions narrowed by condition keys, every one of which the statement must carry with no values beyond the needed:
 * - ecs:ListTasks is authorised on `*` (it authorises on the container-instance resource, which a Fargate ListTasks
 *   has none of), so the cluster is narrowed with `ecs:cluster` (SAR, Amazon ECS, ListTasks: resource
 *   container-instance, condition key ecs:cluster);
 * - route53:ChangeResourceRecordSets, on the namespace's hosted zone, to the record types and record names Cloud Map
 *   writes for the configured services (AWS-FACTS, "Added at turn 2": lower-case names without the trailing dot,
 *   upper-case types; both keys are multivalued, one value per change of the batch: ForAllValues).
 */
export const CONDITION_SCOPED: Readonly<Record<string, readonly { readonly operator: string; readonly key: string }[]>> = {
  "ecs:ListTasks": [{ operator: "ArnEquals", key: "ecs:cluster" }],
  "route53:ChangeResourceRecordSets": [
    { operator: "ForAllValues:StringEquals", key: "route53:ChangeResourceRecordSetsRecordTypes" },
    { operator: "ForAllValues:StringLike", key: "route53:ChangeResourceRecordSetsNormalizedRecordNames" },
  ],
};

/**
 * The module whose GetParameter reads the configuration parameter (`loadConfig`): that call needs the configuration
 * parameter, not the endpoint documents. The IAM test checks that this module still defines `loadConfig`.
 */
export const CONFIG_LOADER_MODULE = "packages/core/src/handlers/runtime.ts";

/** The module that reads and writes the writer's state beside each document (`<parameter>/state`), and nothing else. */
export const WRITER_STATE_MODULE = "packages/core/src/aws/writer-state.ts";
/** The module that reads and writes the endpoint document (its GetParameters reads the document and its state). */
export const DOCUMENT_MODULE = "packages/core/src/aws/parameter.ts";

/** The resources of one deployment the functions work on, from the configuration they load. */
export interface DeploymentFacts {
  readonly partition: string;
  readonly clusterArns: readonly string[];
  /** `arn:...:task/<cluster>/*` per configured cluster. */
  readonly taskArnPatterns: readonly string[];
  readonly cloudMapServiceArns: readonly string[];
  readonly targetGroupArns: readonly string[];
  readonly documentParameterArns: readonly string[];
  /** Every shard of each document: `<parameter ARN>/shards/*` (the sharded form of large documents). */
  readonly documentShardArns: readonly string[];
  /** The shard path of each document as a resource: `<parameter ARN>/shards` (what GetParametersByPath is authorised on). */
  readonly documentShardPathArns: readonly string[];
  /** The writer's state beside each document: `<parameter ARN>/state`. */
  readonly documentStateArns: readonly string[];
  /**
   * The Route 53 side of each configured Cloud Map service in a DNS namespace (services in HTTP namespaces write no
   * records and are not listed).
   */
  readonly cloudMapDns: readonly CloudMapDnsFacts[];
}

/** What Cloud Map writes in Route 53 for one Cloud Map service of a DNS namespace. */
export interface CloudMapDnsFacts {
  /**
   * `arn:<partition>:route53:::hostedzone/<id>` of the namespace's hosted zone; `*` when the deployment does not know
   * it and said so (the construct's allowUnscopedCloudMapDns).
   */
  readonly hostedZoneArn: string;
  /** Normalised names of the records: `<service>.<namespace>` and `*.<service>.<namespace>`; undefined when unscoped. */
  readonly recordNames: readonly string[] | undefined;
  /** Record types Cloud Map writes (A, and SRV for a service with SRV records). */
  readonly recordTypes: readonly string[];
  /** Whether the service has a Route 53 health check (HealthCheckConfig): Cloud Map then manages one per instance. */
  readonly route53HealthCheck: boolean;
}

/** What the template says about one function: what Lambda does with its role, and what it is bound to. */
export interface FunctionFacts {
  /** A name for messages (role and logical id). */
  readonly name: string;
  readonly logGroupArn: string;
  /** Queues the function's code sends to (`DISCOVERY_SYNC_QUEUE_URL`). */
  readonly sendQueueArns: readonly string[];
  /** The configuration parameter, when the configuration is delivered that way. */
  readonly configParameterArn: string | undefined;
  /** SQS queues of the function's event source mappings. */
  readonly eventSourceQueueArns: readonly string[];
  /** The SQS dead-letter queue of asynchronous invocations. */
  readonly deadLetterQueueArn: string | undefined;
}

/** One condition key of a {@link Need}. */
export interface NeedCondition {
  readonly operator: string;
  readonly key: string;
  readonly values: readonly string[];
}

/** One permission a function needs. */
export interface Need {
  readonly action: string;
  /** Resource ARNs (IAM wildcards allowed) the action must be allowed on. */
  readonly resources: readonly string[];
  /**
   * Conditions the statement must carry to be scoped ({@link CONDITION_SCOPED}), each with at most these values; a
   * request the action makes carries values among them.
   */
  readonly conditions?: readonly NeedCondition[];
  /** Why: the commands and modules, or what Lambda does. */
  readonly because: readonly string[];
}

/**
 * The IAM actions one SDK command needs.
 *
 * @throws Error when the client package has no known prefix.
 */
export function actionsOfCall(call: Pick<SdkCall, "clientPackage" | "operation">): readonly string[] {
  const prefix = SERVICE_PREFIX[call.clientPackage];
  if (prefix === undefined) {
    throw new Error(`no IAM service prefix known for ${call.clientPackage}: add it to SERVICE_PREFIX (Service Authorization Reference)`);
  }
  const action = `${prefix}:${call.operation}`;
  return ACTIONS_OF_COMMAND[action] ?? [action];
}

/**
 * The permissions a function needs for its SDK calls and for what Lambda does with its role, merged per action.
 * A call whose resources are empty in this deployment (Cloud Map commands with no Cloud Map service configured, the
 * configuration read when the configuration is in the environment) cannot be sent and needs nothing.
 *
 * @throws Error for an action without a resource model here.
 */
export function needsOf(calls: readonly SdkCall[], fn: FunctionFacts, deployment: DeploymentFacts): Need[] {
  const needs: Need[] = [];
  for (const call of calls) {
    const [primary, ...additional] = actionsOfCall(call);
    const because = `${call.operation} (${call.module})`;
    const primaryNeeds = [needFor(primary!, call, fn, deployment, because)].flat().filter((n) => n.resources.length > 0);
    if (primaryNeeds.length === 0) continue;
    needs.push(...primaryNeeds);
    // What the call makes the service do with the caller's credentials, where this deployment needs it at all.
    for (const action of additional) {
      needs.push(...[needFor(action, call, fn, deployment, because)].flat().filter((n) => n.resources.length > 0));
    }
  }
  needs.push(
    ...["logs:CreateLogStream", "logs:PutLogEvents"].map((action) => ({
      action,
      resources: [fn.logGroupArn],
      because: ["Lambda writes the function's logs to its log group with the execution role"],
    })),
  );
  for (const queue of fn.eventSourceQueueArns) {
    // Lambda developer guide (SQS event source, execution role permissions) and the SQS developer guide: the
    // execution role needs exactly these three; AWSLambdaSQSQueueExecutionRole grants the same. ChangeMessageVisibility
    // is not among them (Lambda does not call it with the function's role).
    for (const action of ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]) {
      needs.push({ action, resources: [queue], because: ["the SQS event source mapping polls with the execution role"] });
    }
  }
  if (fn.deadLetterQueueArn !== undefined) {
    needs.push({
      action: "sqs:SendMessage",
      resources: [fn.deadLetterQueueArn],
      because: ["Lambda sends failed asynchronous invocations to the dead-letter queue with the execution role"],
    });
  }
  return merge(needs);
}

function needFor(action: string, call: SdkCall, fn: FunctionFacts, d: DeploymentFacts, because: string): Need | Need[] {
  const scoped = (resources: readonly string[]): Need => ({ action, resources, because: [because] });
  const conditioned = CONDITION_SCOPED[action];
  const healthChecks = d.cloudMapDns.some((f) => f.route53HealthCheck);
  switch (action) {
    case "ecs:ListTasks":
      return { action, resources: ["*"], conditions: [{ ...conditioned![0]!, values: d.clusterArns }], because: [because] };
    case "ecs:DescribeTasks":
      return scoped(d.taskArnPatterns);
    case "servicediscovery:RegisterInstance":
    case "servicediscovery:DeregisterInstance":
    case "servicediscovery:GetService":
    case "servicediscovery:ListInstances":
      return scoped(d.cloudMapServiceArns);
    case "route53:ChangeResourceRecordSets": {
      // Per hosted zone: the record types and names of the zone's services; `*` with the types only where the
      // deployment opted out of knowing the zone (allowUnscopedCloudMapDns).
      const [types, names] = conditioned!;
      const byZone = new Map<string, CloudMapDnsFacts[]>();
      for (const f of d.cloudMapDns) byZone.set(f.hostedZoneArn, [...(byZone.get(f.hostedZoneArn) ?? []), f]);
      return [...byZone].map(([zone, facts]) => ({
        action,
        resources: [zone],
        conditions: [
          { ...types!, values: [...new Set(facts.flatMap((f) => f.recordTypes))].sort() },
          ...(facts.every((f) => f.recordNames !== undefined) ? [{ ...names!, values: [...new Set(facts.flatMap((f) => f.recordNames!))] }] : []),
        ],
        because: [because],
      }));
    }
    case "route53:GetHostedZone": {
      const zones = [...new Set(d.cloudMapDns.map((f) => f.hostedZoneArn))];
      return scoped(zones.includes("*") ? ["*"] : zones);
    }
    case "route53:ListHostedZonesByName":
      // No resource-level permissions (SAR, Route 53): "*", for DNS namespaces only.
      return scoped(d.cloudMapDns.length > 0 ? ["*"] : []);
    case "route53:CreateHealthCheck":
      // No resource-level permissions (the health check does not exist yet): "*", for services with a Route 53 health check.
      return scoped(healthChecks ? ["*"] : []);
    case "route53:GetHealthCheck":
    case "route53:UpdateHealthCheck":
    case "route53:DeleteHealthCheck":
      // Resource type healthcheck (SAR, Route 53); the ids are Cloud Map's own, unknown in advance.
      return scoped(healthChecks ? [`arn:${d.partition}:route53:::healthcheck/*`] : []);
    case "elasticloadbalancing:RegisterTargets":
    case "elasticloadbalancing:DeregisterTargets":
      return scoped(d.targetGroupArns);
    case "ssm:GetParameter":
      if (call.module === CONFIG_LOADER_MODULE) return scoped(fn.configParameterArn === undefined ? [] : [fn.configParameterArn]);
      if (call.module === WRITER_STATE_MODULE) return scoped(d.documentStateArns);
      return scoped(d.documentParameterArns);
    case "ssm:PutParameter":
      if (call.module === WRITER_STATE_MODULE) return scoped(d.documentStateArns);
      // The document (or the manifest) and its shards.
      return scoped([...d.documentParameterArns, ...d.documentShardArns]);
    case "ssm:GetParameters":
      // The document and the writer's state beside it in one call (readDocumentAndState), and a document's shards.
      if (call.module === DOCUMENT_MODULE) return scoped([...d.documentParameterArns, ...d.documentStateArns]);
      return scoped(d.documentShardArns);
    case "ssm:DeleteParameters":
      return scoped(d.documentShardArns);
    case "ssm:GetParameterHistory":
      // The tier of a document (SAR, Systems Manager: resource type parameter).
      return scoped(d.documentParameterArns);
    case "ssm:GetParametersByPath":
      // The shards under a document's shard path: authorised on the path in the request, not on what it returns
      // (Systems Manager user guide, "How Parameter Store authorizes parameter retrieval").
      return scoped(d.documentShardPathArns);
    case "sqs:SendMessage":
    case "sqs:ChangeMessageVisibility":
      // The work queue named by DISCOVERY_SYNC_QUEUE_URL: the router and sweep send to it; the reconciler shortens
      // the visibility of its own failed messages on it.
      return scoped(fn.sendQueueArns);
    case "elasticloadbalancing:DescribeTargetHealth":
    case "elasticloadbalancing:DescribeTargetGroups":
      // No resource-level permissions (AWS-FACTS; SAR, ELB v2): "*", but only sent for configured target groups.
      return scoped(d.targetGroupArns.length > 0 ? ["*"] : []);
    case "servicediscovery:ListOperations":
    case "servicediscovery:GetOperation":
      // No resource-level permissions (SAR, AWS Cloud Map): "*", but only sent for configured Cloud Map services
      // (the reconciler reads the service's Register/Deregister operations still in flight).
      return scoped(d.cloudMapServiceArns.length > 0 ? ["*"] : []);
    default:
      if (action in NO_RESOURCE_LEVEL_PERMISSIONS) return scoped(["*"]);
      throw new Error(`no resource model for ${action} (needed by ${because}): add one to test/infra/support/iamModel.ts`);
  }
}

/**
 * One need per action, resources united; needs with conditions are united only with needs on the same resources (the
 * conditions of one hosted zone are not those of another), their condition values united per key.
 */
function merge(needs: Need[]): Need[] {
  const byKey = new Map<string, Need>();
  for (const need of needs) {
    const key = need.conditions === undefined ? need.action : `${need.action} ${JSON.stringify([...need.resources].sort())}`;
    const previous = byKey.get(key);
    if (previous === undefined) {
      byKey.set(key, need);
      continue;
    }
    byKey.set(key, {
      action: need.action,
      resources: [...new Set([...previous.resources, ...need.resources])],
      ...(previous.conditions === undefined
        ? {}
        : {
            conditions: previous.conditions.map((c) => ({
              ...c,
              values: [...new Set([...c.values, ...(need.conditions?.find((n) => n.operator === c.operator && n.key === c.key)?.values ?? [])])],
            })),
          }),
      because: [...new Set([...previous.because, ...need.because])],
    });
  }
  return [...byKey.values()].sort((a, b) => a.action.localeCompare(b.action) || a.resources.join().localeCompare(b.resources.join()));
}
