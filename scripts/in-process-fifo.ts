/**
 * An SQS FIFO queue held in memory, with the semantics discovery-sync relies on, and Lambda's SQS event source on
 * top of it: for `npm run bench:pipeline` (see `scripts/bench-pipeline.ts`), which times the path from the router's
 * call to the published document without the emulator's SQS in between (moto's FIFO SendMessage alone costs about
 * 11 ms, more than the reconcile's own waves; on AWS the queue's latency is the event source's, not ours).
 *
 * Semantics kept: messages of one group are delivered in order and never two batches of one group at once; a
 * MessageDeduplicationId seen in the last 5 minutes is accepted and dropped; a batch holds at most 10 messages
 * (Lambda's maximum for FIFO); a message reported in `batchItemFailures` (or every message of a batch whose handler
 * threw) goes back to the head of its group with its receive count raised, as Lambda's ReportBatchItemFailures does.
 */
import { randomUUID } from "node:crypto";
import type { Pluggable } from "@smithy/types";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { createLambdaContext } from "@discovery-sync/emulator";

/** One message in the queue. */
interface QueuedMessage {
  readonly messageId: string;
  readonly groupId: string;
  readonly deduplicationId: string;
  readonly body: string;
  readonly sentAt: number;
  receiveCount: number;
}

/** What {@link InProcessFifo.pump} did. */
export interface PumpSummary {
  /** Handler invocations. */
  readonly batches: number;
  /** Messages handed to the handler, counting redeliveries. */
  readonly messages: number;
  /** Messages that came back failed. */
  readonly failures: number;
}

/** The bench's queue used by the router (through {@link InProcessFifo.plugin}) did something it cannot model. */
export class InProcessFifoError extends Error {
  public override readonly name = "InProcessFifoError";
}

const deduplicationWindowMs = 5 * 60_000;
const maxBatchSize = 10;

/**
 * An in-memory SQS FIFO queue.
 *
 * @example
 * ```ts
 * const fifo = new InProcessFifo("arn:aws:sqs:us-east-1:123456789012:reconcile.fifo");
 * routerSqsClient.middlewareStack.use(fifo.plugin); // SendMessage now lands here, never on the network
 * await route(event);
 * await fifo.pump(reconcileHandler); // { batches: 1, messages: 1, failures: 0 }
 * ```
 */
export class InProcessFifo {
  readonly #queue: QueuedMessage[] = [];
  readonly #seen = new Map<string, { messageId: string; at: number }>();
  #sent = 0;
  #dropped = 0;

  /** @param queueArn the ARN the records name as `eventSourceARN`. */
  public constructor(public readonly queueArn: string) {}

  /** Messages accepted (not dropped as duplicates) since the queue was made. */
  public get sent(): number {
    return this.#sent;
  }

  /** Messages dropped as duplicates of one sent in the last 5 minutes. */
  public get droppedAsDuplicates(): number {
    return this.#dropped;
  }

  /** Messages waiting. */
  public get depth(): number {
    return this.#queue.length;
  }

  /** SendMessage: returns the message id (the first one's for a duplicate, as SQS answers). */
  public send(input: { MessageBody?: string; MessageGroupId?: string; MessageDeduplicationId?: string }): string {
    const { MessageBody: body, MessageGroupId: groupId, MessageDeduplicationId: deduplicationId } = input;
    if (body === undefined || groupId === undefined || deduplicationId === undefined) {
      // The router sends explicit ids; a queue without content-based deduplication refuses anything else.
      throw new InProcessFifoError(
        `SendMessage needs MessageBody, MessageGroupId and MessageDeduplicationId (given ${JSON.stringify({ groupId, deduplicationId, hasBody: body !== undefined })})`,
      );
    }
    const now = Date.now();
    const earlier = this.#seen.get(deduplicationId);
    if (earlier !== undefined && now - earlier.at < deduplicationWindowMs) {
      this.#dropped += 1;
      return earlier.messageId;
    }
    const messageId = randomUUID();
    this.#seen.set(deduplicationId, { messageId, at: now });
    this.#queue.push({ messageId, groupId, deduplicationId, body, sentAt: now, receiveCount: 0 });
    this.#sent += 1;
    return messageId;
  }

  /**
   * A plugin for the router's SQSClient: SendMessage and SendMessageBatch are answered from this queue in the
   * initialize step, before anything is serialised or sent. Any other SQS command fails: the bench must not
   * silently send it somewhere else.
   */
  public get plugin(): Pluggable<any, any> {
    return {
      applyToStack: (stack) => {
        stack.add(
          (_next, context) => async (args) => {
            const commandName = (context as { commandName?: string }).commandName;
            const input = args.input as Record<string, unknown>;
            if (commandName === "SendMessageCommand") {
              const messageId = this.send(input as Parameters<InProcessFifo["send"]>[0]);
              return { output: { MessageId: messageId, $metadata: {} }, response: undefined };
            }
            if (commandName === "SendMessageBatchCommand") {
              const entries = (input.Entries ?? []) as Array<Parameters<InProcessFifo["send"]>[0] & { Id: string }>;
              const successful = entries.map((entry) => ({ Id: entry.Id, MessageId: this.send(entry) }));
              return { output: { Successful: successful, Failed: [], $metadata: {} }, response: undefined };
            }
            throw new InProcessFifoError(`the bench's in-process queue does not handle ${String(commandName)}`);
          },
          { step: "initialize", priority: "high", name: "benchInProcessFifo" },
        );
      },
    };
  }

  /**
   * Plays Lambda's SQS event source until the queue is empty: batches of up to 10 messages of one group, in order,
   * handed to `handler`; failed messages go back to the head of their group. Fails when `maxBatches` did not
   * empty the queue (a reconcile that keeps failing is no measurement).
   */
  public async pump(
    handler: (event: SQSEvent, context: ReturnType<typeof createLambdaContext>) => Promise<SQSBatchResponse | void | undefined>,
    maxBatches = 50,
  ): Promise<PumpSummary> {
    let batches = 0;
    let messages = 0;
    let failures = 0;
    while (this.#queue.length > 0) {
      if (batches >= maxBatches) {
        throw new InProcessFifoError(`${this.#queue.length} message(s) still queued after ${maxBatches} batches: the handler keeps failing them`);
      }
      const batch = this.#takeBatch();
      for (const message of batch) message.receiveCount += 1;
      const event: SQSEvent = { Records: batch.map((message) => this.#record(message)) };
      batches += 1;
      messages += batch.length;
      let failed: Set<string>;
      try {
        const response = await handler(event, createLambdaContext({ functionName: "discovery-sync-reconcile" }));
        failed = new Set((response ?? { batchItemFailures: [] }).batchItemFailures.map((f) => f.itemIdentifier));
      } catch {
        failed = new Set(batch.map((message) => message.messageId));
      }
      // Failed messages return to the head, in their order, so the group's order holds for the retry.
      const back = batch.filter((message) => failed.has(message.messageId));
      failures += back.length;
      this.#queue.unshift(...back);
    }
    return { batches, messages, failures };
  }

  /** The oldest message's group: up to 10 of its messages, in order (one service per queue in the bench). */
  #takeBatch(): QueuedMessage[] {
    const groupId = this.#queue[0]!.groupId;
    const batch: QueuedMessage[] = [];
    for (let i = 0; i < this.#queue.length && batch.length < maxBatchSize; ) {
      if (this.#queue[i]!.groupId === groupId) batch.push(...this.#queue.splice(i, 1));
      else i += 1;
    }
    return batch;
  }

  #record(message: QueuedMessage): SQSRecord {
    const region = this.queueArn.split(":")[3] ?? "us-east-1";
    return {
      messageId: message.messageId,
      receiptHandle: `in-process-${message.messageId}-${message.receiveCount}`,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        SenderId: "AIDAINPROCESS",
        ApproximateFirstReceiveTimestamp: String(message.sentAt),
        MessageGroupId: message.groupId,
        MessageDeduplicationId: message.deduplicationId,
        SequenceNumber: String(message.sentAt),
      },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: this.queueArn,
      awsRegion: region,
    };
  }
}
