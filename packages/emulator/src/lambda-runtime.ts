/**
 * A tiny local stand-in for the Lambda event sources of discovery-sync, so the demo and end-to-end tests run the
 * real handlers the way Lambda would: EventBridge -> router (one event per invocation), and the SQS FIFO event
 * source mapping -> reconcile (batches of up to 10, partial batch responses).
 *
 * moto cannot invoke Lambdas: the world's EventBridge rule delivers to a standard "router inbox" queue instead,
 * and {@link drainInbox} plays EventBridge's invocation of the router from there.
 *
 * @packageDocumentation
 */
import { randomUUID } from "node:crypto";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from "aws-lambda";
import { EmulatorError } from "./errors.js";

/**
 * A handler invocation or an event-source call of the local Lambda stand-in failed. `functionName` says which
 * function, `context` what it was given; the handler's error is the `cause`.
 *
 * @example
 * ```ts
 * try { await drainInbox(sqs, inboxUrl, handler); }
 * catch (e) { if (e instanceof LambdaRuntimeError) console.error(e.functionName, e.context, e.cause); }
 * ```
 */
export class LambdaRuntimeError extends EmulatorError {
  public override readonly name = "LambdaRuntimeError";
  public constructor(
    message: string,
    public readonly functionName: string,
    public readonly context: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A Lambda handler in its promise form: `(event, context) => Promise<result>`. */
export type LambdaHandler<TEvent, TResult> = (event: TEvent, context: Context) => Promise<TResult>;

/** The reconcile handler's shape: an SQS batch in, a partial batch response (or nothing: all succeeded) out. */
export type SqsBatchHandler = LambdaHandler<SQSEvent, SQSBatchResponse | void | undefined>;

/** Options of {@link createLambdaContext}. */
export interface LambdaContextOptions {
  /** @default "discovery-sync-local" */
  readonly functionName?: string;
  /** The function's timeout; `getRemainingTimeInMillis()` counts down from it. @default 30 000 ms */
  readonly timeoutMs?: number;
  /** @default "us-east-1" */
  readonly region?: string;
  /** @default "123456789012" (moto's default account) */
  readonly accountId?: string;
  /** @default 256 */
  readonly memoryLimitInMB?: number;
}

/**
 * A fake Lambda `Context` for one invocation: a fresh `awsRequestId`, a function ARN, log group and stream names as
 * Lambda forms them, and `getRemainingTimeInMillis()` counting down from the timeout since this call.
 *
 * @example
 * ```ts
 * const result = await handler(event, createLambdaContext({ functionName: "discovery-sync-route" }));
 * ```
 */
export function createLambdaContext(options: LambdaContextOptions = {}): Context {
  const functionName = options.functionName ?? "discovery-sync-local";
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "123456789012";
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/");
  const unsupported = (what: string) => () => {
    throw new LambdaRuntimeError(`context.${what}() is the callback-era API; return a promise instead`, functionName);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}`,
    memoryLimitInMB: String(options.memoryLimitInMB ?? 256),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll("-", "")}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported("done"),
    fail: unsupported("fail"),
    succeed: unsupported("succeed"),
  };
}

/** Options of {@link drainInbox}. */
export interface DrainInboxOptions {
  /** Builds the context of each invocation. @default {@link createLambdaContext} named "discovery-sync-route" */
  readonly context?: () => Context;
  /** Stops after this many ReceiveMessage rounds even if messages keep coming. @default 100 */
  readonly maxRounds?: number;
  /**
   * Put back the envelope's `account` when it is missing: moto 5.2.1 delivers rule targets an envelope without it,
   * while AWS always sets it. Taken from the first `resources` ARN, else from the inbox URL. @default true
   */
  readonly restoreAccount?: boolean;
}

/**
 * Plays EventBridge invoking the router Lambda: receives what the world's rule delivered to the router inbox (each
 * message body is one EventBridge event as JSON), invokes `routeHandler(event, context)` once per event, in the
 * order received, and deletes each message once its invocation succeeded. Returns how many events it handled.
 *
 * moto drops the envelope's `account` on delivery; it is put back (see {@link DrainInboxOptions.restoreAccount}).
 * moto also adds an `ingestion-time` field AWS does not send: handlers must accept unknown fields anyway.
 *
 * A failing invocation stops the drain with a {@link LambdaRuntimeError}; its message stays in the inbox (hidden
 * for the inbox's visibility timeout), as an event whose delivery failed would be retried by EventBridge.
 *
 * @example
 * ```ts
 * const { handler: route } = await import("../functions/route.js");
 * await putTaskEvents(clients, events);
 * const routed = await drainInbox(clients.sqs, world.inboxQueueUrl!, route);
 * ```
 * @throws {LambdaRuntimeError} when a body is not JSON or the handler rejects.
 */
export async function drainInbox<TEvent = any>(
  sqs: SQSClient,
  inboxUrl: string,
  routeHandler: LambdaHandler<TEvent, unknown>,
  options: DrainInboxOptions = {},
): Promise<number> {
  const region = await sqs.config.region();
  const newContext = options.context ?? (() => createLambdaContext({ functionName: "discovery-sync-route", region }));
  const maxRounds = options.maxRounds ?? 100;
  let handled = 0;
  for (let round = 0; round < maxRounds; round += 1) {
    const messages = await receive(sqs, inboxUrl, "discovery-sync-route");
    if (messages.length === 0) break;
    for (const message of messages) {
      let event: TEvent;
      try {
        event = JSON.parse(message.Body ?? "") as TEvent;
      } catch (error) {
        throw new LambdaRuntimeError(
          `the router inbox holds a message that is not an EventBridge event (id ${message.MessageId ?? "?"})`,
          "discovery-sync-route",
          { messageId: message.MessageId, body: message.Body },
          { cause: error },
        );
      }
      if (options.restoreAccount ?? true) restoreAccount(event, inboxUrl);
      try {
        await routeHandler(event, newContext());
      } catch (error) {
        throw new LambdaRuntimeError(
          `the route handler failed on event ${describeEvent(event)}: ${errorText(error)}`,
          "discovery-sync-route",
          { messageId: message.MessageId, event },
          { cause: error },
        );
      }
      await call("DeleteMessage", "discovery-sync-route", { inboxUrl }, () =>
        sqs.send(new DeleteMessageCommand({ QueueUrl: inboxUrl, ReceiptHandle: message.ReceiptHandle })),
      );
      handled += 1;
    }
  }
  return handled;
}

/** Options of {@link drainFifo}. */
export interface DrainFifoOptions {
  /** Builds the context of each invocation. @default {@link createLambdaContext} named "discovery-sync-reconcile" */
  readonly context?: () => Context;
  /** Stops after this many batches even if the queue is not empty. @default 50 */
  readonly maxRounds?: number;
  /** Messages per batch, 1 to 10 (Lambda's maximum for FIFO queues). @default 10 */
  readonly batchSize?: number;
  /** The queue's ARN for `eventSourceARN`. @default read with GetQueueAttributes */
  readonly queueArn?: string;
  /**
   * What happens to the visibility of failed messages: `immediate` makes them visible again at once, so a test's
   * retries run without waiting; `handler` leaves them as Lambda does, visible again when their visibility timeout
   * (the queue's, or one the handler set) ends. @default "immediate"
   */
  readonly failedVisibility?: "immediate" | "handler";
}

/** What {@link drainFifo} did. */
export interface DrainFifoSummary {
  /** Handler invocations. */
  readonly batches: number;
  /** Messages delivered to the handler, counting redeliveries. */
  readonly messages: number;
  /** Messages returned to the queue: listed in `batchItemFailures`, or the whole batch when the handler threw. */
  readonly failures: number;
  /** Invocations that threw (their whole batch counts as failed, as Lambda treats it). */
  readonly errors: readonly unknown[];
  /** True when the queue was found empty; false when `maxRounds` ran out first. */
  readonly drained: boolean;
}

/**
 * Plays Lambda's SQS event source mapping on a FIFO queue: ReceiveMessage (up to 10, with all system and message
 * attributes), builds a real `SQSEvent` (records with messageId, receiptHandle, body, attributes including
 * MessageGroupId, MessageDeduplicationId and SequenceNumber, md5OfBody, `eventSource: "aws:sqs"`, eventSourceARN
 * and awsRegion), invokes `reconcileHandler(event, context)`, deletes the messages not listed in
 * `batchItemFailures`, and makes the failed ones visible again at once (ChangeMessageVisibility 0) so they come
 * back in the next round, as Lambda does with ReportBatchItemFailures. A handler that throws fails the whole
 * batch. Repeats until a receive comes back empty or `maxRounds` batches were invoked.
 *
 * An item identifier that names no record of the batch fails the whole batch, as Lambda does.
 *
 * @example
 * ```ts
 * const { handler: reconcile } = await import("../functions/reconcile.js");
 * const summary = await drainFifo(clients.sqs, world.reconcileQueueUrl!, reconcile);
 * // { batches: 1, messages: 3, failures: 0, errors: [], drained: true }
 * ```
 * @throws {LambdaRuntimeError} when an SQS call fails (handler failures are counted, not thrown).
 */
export async function drainFifo(
  sqs: SQSClient,
  queueUrl: string,
  reconcileHandler: SqsBatchHandler,
  options: DrainFifoOptions = {},
): Promise<DrainFifoSummary> {
  const functionName = "discovery-sync-reconcile";
  const batchSize = options.batchSize ?? 10;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new TypeError(`batchSize must be between 1 and 10 inclusive (given ${String(batchSize)})`);
  }
  const region = await sqs.config.region();
  const queueArn = options.queueArn ?? (await readQueueArn(sqs, queueUrl));
  const newContext = options.context ?? (() => createLambdaContext({ functionName, region, accountId: queueArn.split(":")[4] }));
  const maxRounds = options.maxRounds ?? 50;
  let batches = 0;
  let messagesSeen = 0;
  let failures = 0;
  const errors: unknown[] = [];
  let drained = false;

  while (batches < maxRounds) {
    const messages = await receive(sqs, queueUrl, functionName, batchSize);
    if (messages.length === 0) {
      drained = true;
      break;
    }
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, queueArn, region)) };
    batches += 1;
    messagesSeen += messages.length;

    let failed: Set<string>;
    try {
      const response = await reconcileHandler(event, newContext());
      failed = new Set((response ?? { batchItemFailures: [] }).batchItemFailures.map((f) => f.itemIdentifier));
      if ([...failed].some((id) => !messages.some((m) => m.MessageId === id))) {
        // Lambda treats an unknown or empty itemIdentifier as a failure of the whole batch.
        errors.push(new LambdaRuntimeError(`batchItemFailures names a message not in the batch: ${[...failed].join(", ")}`, functionName));
        failed = new Set(messages.map((m) => m.MessageId ?? ""));
      }
    } catch (error) {
      errors.push(error);
      failed = new Set(messages.map((m) => m.MessageId ?? ""));
    }

    // Failed messages first become visible again, in queue order, so the group's order holds for the retry;
    // then the successes are deleted.
    for (const message of messages) {
      if (!failed.has(message.MessageId ?? "")) continue;
      failures += 1;
      if (options.failedVisibility === "handler") continue;
      await call("ChangeMessageVisibility", functionName, { queueUrl, messageId: message.MessageId }, () =>
        sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 })),
      );
    }
    for (const message of messages) {
      if (failed.has(message.MessageId ?? "")) continue;
      await call("DeleteMessage", functionName, { queueUrl, messageId: message.MessageId }, () =>
        sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle })),
      );
    }
  }
  return { batches, messages: messagesSeen, failures, errors, drained };
}

async function readQueueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await call("GetQueueAttributes", "discovery-sync-reconcile", { queueUrl }, () =>
    sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] })),
  );
  const arn = out.Attributes?.QueueArn;
  if (arn === undefined) throw new LambdaRuntimeError(`queue ${queueUrl} has no QueueArn attribute`, "discovery-sync-reconcile", { queueUrl });
  return arn;
}

async function receive(sqs: SQSClient, queueUrl: string, functionName: string, max = 10): Promise<Message[]> {
  const out = await call("ReceiveMessage", functionName, { queueUrl }, () =>
    sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: 0,
        // The newer name and the deprecated one: moto 5.2.1 reads AttributeNames, AWS prefers the new one.
        MessageSystemAttributeNames: ["All"],
        AttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
    ),
  );
  return out.Messages ?? [];
}

/** One received message as Lambda's SQS event source hands it to a function. */
function toRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attrs = message.Attributes ?? {};
  const attributes: SQSRecord["attributes"] = {
    ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? "1",
    SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
    SenderId: attrs.SenderId ?? "AIDAEMULATOR",
    ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  if (attrs.SequenceNumber !== undefined) attributes.SequenceNumber = attrs.SequenceNumber;
  if (attrs.MessageGroupId !== undefined) attributes.MessageGroupId = attrs.MessageGroupId;
  if (attrs.MessageDeduplicationId !== undefined) attributes.MessageDeduplicationId = attrs.MessageDeduplicationId;
  if (attrs.AWSTraceHeader !== undefined) attributes.AWSTraceHeader = attrs.AWSTraceHeader;

  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? "String",
      stringValue: value.StringValue,
      binaryValue: value.BinaryValue === undefined ? undefined : Buffer.from(value.BinaryValue).toString("base64"),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  const record: SQSRecord = {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
  if (message.MD5OfMessageAttributes !== undefined) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

async function call<T>(operation: string, functionName: string, context: Record<string, unknown>, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw new LambdaRuntimeError(`${operation} failed for ${functionName}: ${errorText(error)}`, functionName, context, {
      cause: error,
    });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function restoreAccount(event: unknown, inboxUrl: string): void {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return;
  const envelope = event as Record<string, unknown>;
  if (typeof envelope.account === "string") return;
  const resource = Array.isArray(envelope.resources) ? envelope.resources[0] : undefined;
  const fromArn = typeof resource === "string" ? /^arn:[^:]+:[^:]*:[^:]*:(\d{12}):/.exec(resource)?.[1] : undefined;
  // SQS queue URLs are https://<host>/<account>/<queue>.
  const fromUrl = /\/(\d{12})\/[^/]+$/.exec(inboxUrl)?.[1];
  const account = fromArn ?? fromUrl;
  if (account !== undefined) envelope.account = account;
}

function describeEvent(event: unknown): string {
  if (event !== null && typeof event === "object") {
    const e = event as { id?: unknown; resources?: unknown };
    return `${String(e.id)} (${JSON.stringify(e.resources)})`;
  }
  return typeof event;
}
