/**
 * The world's queues and EventBridge rule: the SQS FIFO reconcile queue with its FIFO DLQ, and the standard router
 * inbox queue that the rule feeds with the cluster's "ECS Task State Change" events. moto cannot invoke Lambdas,
 * so the inbox stands in for the router Lambda's event source.
 */
import { PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { WorldClients } from "./clients.js";
import { required, step } from "./errors.js";
import type { World } from "./types.js";

/** Name of the SQS FIFO queue that carries reconcile requests (MessageGroupId = service). */
export const reconcileQueueName = "discovery-sync-reconcile.fifo";
/** Name of the FIFO dead-letter queue of {@link reconcileQueueName}. */
export const reconcileDlqName = "discovery-sync-reconcile-dlq.fifo";
/** Name of the standard queue that stands in for the router Lambda's EventBridge event source. */
export const routerInboxName = "discovery-sync-router-inbox";

/** @internal */
export interface WorldQueues {
  readonly reconcileQueueUrl: string;
  readonly reconcileQueueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
  readonly inboxQueueUrl: string;
  readonly inboxQueueArn: string;
  readonly ruleName: string;
  readonly ruleArn: string;
}

/**
 * The queues and rule of a world, when it has them all.
 *
 * @internal
 */
export function sharedQueues(world: World): WorldQueues | undefined {
  const { reconcileQueueUrl, reconcileQueueArn, deadLetterQueueUrl, deadLetterQueueArn, inboxQueueUrl, inboxQueueArn, ruleName, ruleArn } = world;
  if (
    reconcileQueueUrl === undefined ||
    reconcileQueueArn === undefined ||
    deadLetterQueueUrl === undefined ||
    deadLetterQueueArn === undefined ||
    inboxQueueUrl === undefined ||
    inboxQueueArn === undefined ||
    ruleName === undefined ||
    ruleArn === undefined
  ) {
    return undefined;
  }
  return { reconcileQueueUrl, reconcileQueueArn, deadLetterQueueUrl, deadLetterQueueArn, inboxQueueUrl, inboxQueueArn, ruleName, ruleArn };
}

/**
 * Creates the queues (their names end with `suffix`) and the rule that delivers the cluster's task events to the
 * inbox.
 *
 * @internal
 */
export async function createQueues(
  clients: Pick<WorldClients, "sqs" | "eventBridge">,
  world: { suffix: string; clusterName: string; clusterArn: string },
): Promise<WorldQueues> {
  const fifo = (name: string): string => name.replace(/\.fifo$/, `${world.suffix}.fifo`);
  const dlq = await createQueue(clients.sqs, fifo(reconcileDlqName), {
    FifoQueue: "true",
    MessageRetentionPeriod: String(14 * 24 * 3600),
  });
  // A FIFO queue's DLQ must be FIFO too. The visibility timeout is 6 x a 30 s reconcile Lambda timeout, AWS's
  // advice for SQS event sources. Content-based deduplication stays off: the router derives a deduplication id
  // from the EventBridge event id, and every sender must give one.
  const reconcile = await createQueue(clients.sqs, fifo(reconcileQueueName), {
    FifoQueue: "true",
    ContentBasedDeduplication: "false",
    VisibilityTimeout: "180",
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 5 }),
  });
  const inbox = await createQueue(clients.sqs, `${routerInboxName}${world.suffix}`, { VisibilityTimeout: "60" });

  const ruleName = `discovery-sync-ecs-tasks-${world.clusterName}`.slice(0, 64);
  const rule = await step("PutRule", { ruleName }, () =>
    clients.eventBridge.send(
      new PutRuleCommand({
        Name: ruleName,
        Description: `ECS task state changes of cluster ${world.clusterName} to the discovery-sync router`,
        State: "ENABLED",
        EventPattern: JSON.stringify({
          source: ["aws.ecs"],
          "detail-type": ["ECS Task State Change"],
          detail: { clusterArn: [world.clusterArn] },
        }),
      }),
    ),
  );
  // On AWS the inbox would need a queue policy letting events.amazonaws.com send; moto does not check it, but the
  // policy is written so the world reads like the real thing.
  await step("SetQueueAttributes", { queue: inbox.url }, () =>
    clients.sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: inbox.url,
        Attributes: {
          Policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Principal: { Service: "events.amazonaws.com" },
                Action: "sqs:SendMessage",
                Resource: inbox.arn,
                Condition: { ArnEquals: { "aws:SourceArn": rule.RuleArn } },
              },
            ],
          }),
        },
      }),
    ),
  );
  await step("PutTargets", { ruleName }, () =>
    clients.eventBridge.send(
      new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: "router-inbox", Arn: inbox.arn }] }),
    ),
  );
  return {
    reconcileQueueUrl: reconcile.url,
    reconcileQueueArn: reconcile.arn,
    deadLetterQueueUrl: dlq.url,
    deadLetterQueueArn: dlq.arn,
    inboxQueueUrl: inbox.url,
    inboxQueueArn: inbox.arn,
    ruleName,
    ruleArn: required(rule.RuleArn, "RuleArn", "PutRule"),
  };
}

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string }> {
  const created = await step("CreateQueue", { name }, () =>
    sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })),
  );
  const url = required(created.QueueUrl, "QueueUrl", "CreateQueue");
  const attrs = await step("GetQueueAttributes", { url }, () =>
    sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] })),
  );
  return { url, arn: required(attrs.Attributes?.QueueArn, "Attributes.QueueArn", "GetQueueAttributes") };
}
