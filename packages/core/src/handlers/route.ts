import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DiscoverySyncConfig } from "../config.js";
import type { ReconcileLogger } from "../reconcile.js";
import { routeTaskEvent, type ReconcileQueueMessage } from "../routing.js";

/** What the router did with one event. */
export type RouteResult =
  | { readonly outcome: "enqueued"; readonly service: string; readonly messageId: string | undefined }
  | { readonly outcome: "ignored"; readonly reason: string }
  | { readonly outcome: "rejected"; readonly reason: string };

/** Dependencies of {@link createRouteHandler}. */
export interface RouteHandlerDependencies {
  readonly config: DiscoverySyncConfig;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly logger: ReconcileLogger;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Sends one reconcile message to the FIFO queue. */
export async function sendReconcileMessage(sqs: SQSClient, queueUrl: string, message: ReconcileQueueMessage): Promise<string | undefined> {
  const output = await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: message.body,
      MessageGroupId: message.groupId,
      MessageDeduplicationId: message.deduplicationId,
    }),
  );
  return output.MessageId;
}

/**
 * The router: takes one EventBridge "ECS Task State Change" event and enqueues a reconcile of the service the
 * task belongs to. Malformed events are rejected (logged, not thrown: a retry could not fix them, and throwing
 * would make EventBridge retry for a day); foreign tasks are ignored. A failed SendMessage throws, so that
 * EventBridge's retry policy and dead-letter queue take over.
 *
 * @example
 * ```ts
 * export const handler = createRouteHandler({ config, sqs: new SQSClient({}), queueUrl, logger: new Logger() });
 * ```
 */
export function createRouteHandler(deps: RouteHandlerDependencies): (event: unknown) => Promise<RouteResult> {
  const now = deps.now ?? (() => new Date());
  return async (event) => {
    const decision = routeTaskEvent(deps.config, event, now());
    const eventId = typeof event === "object" && event !== null && "id" in event ? (event as { id: unknown }).id : undefined;
    switch (decision.kind) {
      case "reject":
        deps.logger.warn("event rejected", { eventId, reason: decision.reason });
        return { outcome: "rejected", reason: decision.reason };
      case "ignore":
        deps.logger.debug("event ignored", { eventId, reason: decision.reason });
        return { outcome: "ignored", reason: decision.reason };
      case "enqueue": {
        const messageId = await sendReconcileMessage(deps.sqs, deps.queueUrl, decision.message);
        deps.logger.info("event routed", { eventId, serviceName: decision.message.service, messageId });
        return { outcome: "enqueued", service: decision.message.service, messageId };
      }
    }
  };
}
