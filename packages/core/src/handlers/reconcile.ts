import {
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from "@aws-lambda-powertools/batch";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { ChangeMessageVisibilityBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { AwsClients } from "../aws/clients.js";
import { invocationDeadlineMs, withInvocationDeadline } from "../aws/deadline.js";
import type { DiscoverySyncConfig } from "../config.js";
import { parseReconcileMessage, type ReconcileTrigger } from "../messages.js";
import { reconcileService, type ReconcileDependencies, type ReconcileLogger, type ReconcileResult } from "../reconcile.js";

/** Dependencies of {@link createReconcileHandler}. */
export interface ReconcileHandlerDependencies {
  readonly config: DiscoverySyncConfig;
  readonly clients: AwsClients;
  readonly logger: ReconcileLogger;
  readonly metrics?: Metrics;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** See {@link ReconcileDependencies.staleReadRetryDelaysMs}. */
  readonly staleReadRetryDelaysMs?: readonly number[];
  /** See {@link ReconcileDependencies.sleep}. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * The work queue's URL. With it, every message reported failed is made visible again after a short, growing delay
   * (ChangeMessageVisibility) instead of the queue's visibility timeout (6 × the function timeout): a failed message
   * holds back its whole FIFO message group until then. Without it, the queue's timeout applies.
   */
  readonly queueUrl?: string;
  /**
   * Delay before a failed message is received again: `baseSeconds × 2^(receives − 1)`, at most `maxSeconds`.
   * @default { baseSeconds: 5, maxSeconds: 300 }
   */
  readonly retryVisibility?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
}

/** The visibility timeout given to a failed message on its `receiveCount`-th receive. */
export function retryVisibilitySeconds(receiveCount: number, settings: ReconcileHandlerDependencies["retryVisibility"] = {}): number {
  const base = settings.baseSeconds ?? 5;
  const max = settings.maxSeconds ?? 300;
  const receives = Number.isInteger(receiveCount) && receiveCount >= 1 ? receiveCount : 1;
  return Math.min(max, Math.round(base * 2 ** Math.min(receives - 1, 20)));
}

/**
 * Shortens the visibility of the failed messages. A failure here is logged, not thrown: the messages then come back
 * after the queue's own visibility timeout, later but not lost.
 */
async function delayRetries(
  sqs: SQSClient,
  queueUrl: string,
  records: readonly SQSRecord[],
  deps: ReconcileHandlerDependencies,
): Promise<void> {
  for (let i = 0; i < records.length; i += 10) {
    const chunk = records.slice(i, i + 10);
    try {
      const output = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((record, index) => ({
            Id: String(index),
            ReceiptHandle: record.receiptHandle,
            VisibilityTimeout: retryVisibilitySeconds(Number(record.attributes.ApproximateReceiveCount), deps.retryVisibility),
          })),
        }),
      );
      for (const failed of output.Failed ?? []) {
        deps.logger.warn("retry delay not set", { messageId: chunk[Number(failed.Id)]?.messageId, code: failed.Code, reason: failed.Message });
      }
    } catch (error) {
      deps.logger.warn("retry delay not set", { messageIds: chunk.map((r) => r.messageId), reason: error instanceof Error ? error.message : String(error) });
    }
  }
}

/**
 * The reconciler: takes an SQS FIFO batch, coalesces it by service (ten events of one service make one
 * reconcile), reconciles each service once, concurrently, and reports failures with a partial batch response
 * following the FIFO rule per message group: from a group's first failed message on, that message and every later
 * one of the group are reported, while other groups (services) are unaffected.
 *
 * Messages that cannot be parsed, or name a service no longer configured, are logged and dropped: retrying them
 * could never succeed and would block their group.
 *
 * @example
 * ```ts
 * export const handler = createReconcileHandler({ config, clients: createAwsClients(), logger, metrics });
 * ```
 */
export function createReconcileHandler(
  deps: ReconcileHandlerDependencies,
): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const services = new Map(deps.config.services.map((s) => [s.name, s]));
  return async (event, context) => {
    const triggersByService = new Map<string, ReconcileTrigger[]>();
    const serviceOfRecord = new Map<string, string>();
    for (const record of event.Records) {
      const parsed = parseReconcileMessage(record.body);
      if (!parsed.ok) {
        deps.logger.error("message dropped", { messageId: record.messageId, reason: parsed.reason });
        continue;
      }
      if (!services.has(parsed.value.service)) {
        deps.logger.warn("message dropped", {
          messageId: record.messageId,
          reason: `service ${parsed.value.service} is not configured`,
        });
        continue;
      }
      serviceOfRecord.set(record.messageId, parsed.value.service);
      triggersByService.set(parsed.value.service, [...(triggersByService.get(parsed.value.service) ?? []), parsed.value.trigger]);
    }
    const results = new Map<string, Promise<ReconcileResult>>();
    // SDK retries under heavy throttling can outlast the function timeout; a timed-out invocation fails its whole
    // batch until the queue's visibility timeout. Bounding every call leaves time to answer and delay retries instead.
    const remainingMs = typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : undefined;
    const bounded = <T>(work: () => Promise<T>): Promise<T> =>
      remainingMs === undefined ? work() : withInvocationDeadline(invocationDeadlineMs(Date.now(), remainingMs), work);
    for (const [name, triggers] of triggersByService) {
      const service = services.get(name);
      if (service === undefined) continue;
      results.set(
        name,
        bounded(() => reconcileService(service, triggers, {
          clients: deps.clients,
          logger: deps.logger,
          ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
          ...(deps.now === undefined ? {} : { now: deps.now }),
          ...(deps.staleReadRetryDelaysMs === undefined ? {} : { staleReadRetryDelaysMs: deps.staleReadRetryDelaysMs }),
          ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
          ...(typeof context?.getRemainingTimeInMillis === "function" ? { remainingTimeMs: () => context.getRemainingTimeInMillis() } : {}),
        })),
      );
    }
    const handleRecord = async (record: SQSRecord): Promise<void> => {
      const name = serviceOfRecord.get(record.messageId);
      if (name === undefined) return;
      const result = await results.get(name);
      // A failure that retrying cannot fix (a document too large to publish at all) is logged, counted and alarmed
      // by the reconcile record, but not thrown: its message would only come back again and again, holding every
      // later event of the service behind it. The periodic sweep tries the service again anyway.
      if (result?.error !== undefined && result.retryable !== false) throw result.error;
    };
    const response = await processPartialResponse(event, handleRecord, new SqsFifoPartialProcessorAsync(), {
      ...(context === undefined ? {} : { context }),
      skipGroupOnError: true,
      // A batch whose every message failed is still answered with the list, not an exception: the outcome for
      // SQS is the same (all retried), and the reconcile records already say why.
      throwOnFullBatchFailure: false,
    });
    if (deps.queueUrl !== undefined && response.batchItemFailures.length > 0) {
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      await delayRetries(deps.clients.sqs, deps.queueUrl, event.Records.filter((r) => failed.has(r.messageId)), deps);
    }
    return response;
  };
}
