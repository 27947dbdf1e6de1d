import { randomUUID } from "node:crypto";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DiscoverySyncConfig } from "../config.js";
import { DiscoverySyncError } from "../errors.js";
import type { ReconcileLogger } from "../reconcile.js";
import { sweepMessages } from "../routing.js";
import { sendReconcileMessage } from "./route.js";

/** Dependencies of {@link createSweepHandler}. */
export interface SweepHandlerDependencies {
  readonly config: DiscoverySyncConfig;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly logger: ReconcileLogger;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * The periodic sweep: enqueues one reconcile per configured service through the same FIFO queue as events,
 * so it repairs drift and missed events without ever racing an event-driven reconcile.
 *
 * @example
 * ```ts
 * export const handler = createSweepHandler({ config, sqs: new SQSClient({}), queueUrl, logger: new Logger() });
 * ```
 * @throws {DiscoverySyncError} when any message could not be sent (naming the services), so the schedule retries.
 */
export function createSweepHandler(
  deps: SweepHandlerDependencies,
): (event?: unknown, context?: { awsRequestId?: string }) => Promise<{ enqueued: string[] }> {
  const now = deps.now ?? (() => new Date());
  return async (event, context) => {
    // The schedule's event id (or the request id) names this sweep: a retried invocation reuses it and is deduplicated.
    const eventId = typeof event === "object" && event !== null && "id" in event ? String((event as { id: unknown }).id) : undefined;
    const invocationId = eventId ?? context?.awsRequestId ?? randomUUID();
    const messages = sweepMessages(deps.config, invocationId, now());
    const results = await Promise.allSettled(messages.map((m) => sendReconcileMessage(deps.sqs, deps.queueUrl, m)));
    const failed = messages.filter((_, i) => results[i]?.status === "rejected").map((m) => m.service);
    const enqueued = messages.filter((_, i) => results[i]?.status === "fulfilled").map((m) => m.service);
    deps.logger.info("sweep", { invocationId, enqueued, failed });
    if (failed.length > 0) {
      const reasons = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      throw new DiscoverySyncError(`sweep could not enqueue a reconcile of ${failed.join(", ")}`, { failed }, {
        cause: reasons.length === 1 ? reasons[0] : new AggregateError(reasons),
      });
    }
    return { enqueued };
  };
}
