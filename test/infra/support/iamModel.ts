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
 * Route 53 and EC2 actions Cloud Map performs with the CALLER's credentials when it registers or deregisters an
 * instance of a service in a DNS namespace (it writes the records and, for services with a Route 53 health check,
 * the health check). AWS-FACTS, "Cloud Map": the managed policy AWSCloudMapRegisterInstanceAccess grants exactly these
 * for this job; a role without them passes every emulator test and fails on AWS.
 */
export const CLOUD_MAP_DNS_ACTIONS: readonly string[] = [
  "route53:GetHostedZone",
  "route53:ListHostedZonesByName",
  "route53:ChangeResourceRecordSets",
  "route53:CreateHealthCheck",
  "route53:GetHealthCheck",
  "route53:DeleteHealthCheck",
  "route53:UpdateHealthCheck",
  "ec2:DescribeInstances",
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
  "ssm:DescribeParameters": "SAR, Systems Manager: no resource type",
  "route53:CreateHealthCheck": "SAR, Route 53: no resource type (the id does not exist yet)",
  "route53:ListHostedZonesByName": "SAR, Route 53: no resource type",
  "ec2:DescribeInstances": "SAR, Amazon EC2: no resource type",
};

/**
 * Actions authorised on `*` and narrowed by a condition key instead of a resource: ecs:ListTasks authorises on the
 * container-instance resource, which a Fargate ListTasks has none of, so the cluster is narrowed with `ecs:cluster`
 * (SAR, Amazon ECS, ListTasks: resource container-instance, condition key ecs:cluster).
 */
export const CONDITION_SCOPED: Readonly<Record<string, { readonly operator: string; readonly key: string }>> = {
  "ecs:ListTasks": { operator: "ArnEquals", key: "ecs:cluster" },
};

/**
 * The module whose GetParameter reads the configuration parameter (`loadConfig`): that call needs the configuration
 * parameter, not the endpoint documents. The IAM test checks that this module still defines `loadConfig`.
 */
export const CONFIG_LOADER_MODULE = "packages/core/src/handlers/runtime.ts";

/** The module that reads and writes the writer's state beside each document (`<parameter>/state`), and nothing else. */
export const WRITER_STATE_MODULE = "packages/core/src/aws/writer-state.ts";

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
  /** The writer's state beside each document: `<parameter ARN>/state`. */
  readonly documentStateArns: readonly string[];
  /** ARNs of the hosted zones behind the configured Cloud Map services; undefined when not known at synth time. */
  readonly hostedZoneArns: readonly string[] | undefined;
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

/** One permission a function needs. */
export interface Need {
  readonly action: string;
  /** Resource ARNs (IAM wildcards allowed) the action must be allowed on. */
  readonly resources: readonly string[];
  /** A condition the statement must carry to be scoped (for actions authorised on `*`). */
  readonly condition?: { readonly operator: string; readonly key: string; readonly values: readonly string[] };
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
    const primaryNeed = needFor(primary!, call, fn, deployment, because);
    if (primaryNeed.resources.length === 0) continue;
    needs.push(primaryNeed);
    for (const action of additional) needs.push(needFor(action, call, fn, deployment, because));
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

function needFor(action: string, call: SdkCall, fn: FunctionFacts, d: DeploymentFacts, because: string): Need {
  const scoped = (resources: readonly string[]): Need => ({ action, resources, because: [because] });
  const conditioned = CONDITION_SCOPED[action];
  switch (action) {
    case "ecs:ListTasks":
      return { action, resources: ["*"], condition: { ...conditioned!, values: d.clusterArns }, because: [because] };
    case "ecs:DescribeTasks":
      return scoped(d.taskArnPatterns);
    case "servicediscovery:RegisterInstance":
    case "servicediscovery:DeregisterInstance":
    case "servicediscovery:GetService":
    case "servicediscovery:ListInstances":
      return scoped(d.cloudMapServiceArns);
    case "route53:ChangeResourceRecordSets":
    case "route53:GetHostedZone":
      // The hosted zone of a namespace created outside the app is not known at synth time: "*" is then the honest scope.
      return scoped(d.hostedZoneArns ?? ["*"]);
    case "route53:GetHealthCheck":
    case "route53:UpdateHealthCheck":
    case "route53:DeleteHealthCheck":
      // Resource type healthcheck (SAR, Route 53); the ids are Cloud Map's own, unknown in advance.
      return scoped([`arn:${d.partition}:route53:::healthcheck/*`]);
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
    case "ssm:DeleteParameters":
      return scoped(d.documentShardArns);
    case "sqs:SendMessage":
    case "sqs:ChangeMessageVisibility":
      // The work queue named by DISCOVERY_SYNC_QUEUE_URL: the router and sweep send to it; the reconciler shortens
      // the visibility of its own failed messages on it.
      return scoped(fn.sendQueueArns);
    case "elasticloadbalancing:DescribeTargetHealth":
    case "elasticloadbalancing:DescribeTargetGroups":
      // No resource-level permissions (AWS-FACTS; SAR, ELB v2): "*", but only sent for configured target groups.
      return scoped(d.targetGroupArns.length > 0 ? ["*"] : []);
    default:
      if (action in NO_RESOURCE_LEVEL_PERMISSIONS) return scoped(["*"]);
      throw new Error(`no resource model for ${action} (needed by ${because}): add one to test/infra/support/iamModel.ts`);
  }
}

function merge(needs: Need[]): Need[] {
  const byAction = new Map<string, Need>();
  for (const need of needs) {
    const previous = byAction.get(need.action);
    if (previous === undefined) {
      byAction.set(need.action, need);
      continue;
    }
    byAction.set(need.action, {
      action: need.action,
      resources: [...new Set([...previous.resources, ...need.resources])],
      ...(previous.condition === undefined
        ? {}
        : { condition: { ...previous.condition, values: [...new Set([...previous.condition.values, ...(need.condition?.values ?? [])])] } }),
      because: [...new Set([...previous.because, ...need.because])],
    });
  }
  return [...byAction.values()].sort((a, b) => a.action.localeCompare(b.action));
}
