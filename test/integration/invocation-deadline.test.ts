import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { createAwsClients, createReconcileHandler, parseConfig } from "@discovery-sync/core";
import { createWorldClients, provisionWorld, startFaultProxy, type FaultProxy } from "@discovery-sync/emulator";
import type { Context, SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isolatedAccount } from "../support/aws.js";
import { CapturingLogger } from "../support/pipeline.js";

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy({ upstream: inject("emulatorEndpoint") });
});
afterAll(() => proxy.close());

/** ECS requests the proxy received so far (every emulator account's: this file runs one test at a time). */
function ecsRequests(faultProxy: FaultProxy): number {
  return Object.entries(faultProxy.stats().byOperation)
    .filter(([operation]) => operation.startsWith("ecs."))
    .reduce((sum, [, count]) => sum + count, 0);
}

/** A Lambda context whose timeout comes `timeoutMs` after it is made. */
function lambdaContext(timeoutMs: number): Context & { readonly timeoutAt: number } {
  const timeoutAt = Date.now() + timeoutMs;
  return { timeoutAt, getRemainingTimeInMillis: () => timeoutAt - Date.now(), awsRequestId: "deadline-test" } as unknown as Context & { readonly timeoutAt: number };
}

describe("reconcile handler under throttling that outlasts the invocation", () => {
  it("answers before the Lambda timeout, reports the message failed and delays its retry, instead of timing out", async () => {
    const account = isolatedAccount();
    const worldClients = createWorldClients(account.clientConfig, [account.plugin]);
    const world = await provisionWorld(worldClients);
    const config = parseConfig({ services: [world.serviceConfig] });
    const service = config.services[0]!;
    // The handler's own defaults (adaptive retries) with more attempts than the invocation can wait out: every ECS
    // call throttled, 20 attempts, backoff of 0.5 s doubling up to 20 s.
    const clients = createAwsClients({ clientConfig: { ...account.clientConfig, endpoint: proxy.endpoint, maxAttempts: 20 }, plugins: [account.plugin] });
    const queueUrl = proxy.proxied(world.reconcileQueueUrl!);
    await worldClients.sqs.send(
      new SendMessageCommand({
        QueueUrl: world.reconcileQueueUrl!,
        MessageGroupId: service.name,
        MessageDeduplicationId: "deadline-1",
        MessageBody: JSON.stringify({ schemaVersion: 1, service: service.name, trigger: { kind: "manual", at: new Date().toISOString() } }),
      }),
    );
    const received = await worldClients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: world.reconcileQueueUrl!, MaxNumberOfMessages: 1, MessageSystemAttributeNames: ["All"] }),
    );
    const message = received.Messages?.[0];
    expect(message).toBeDefined();
    const record = {
      messageId: message!.MessageId!,
      receiptHandle: message!.ReceiptHandle!,
      body: message!.Body!,
      attributes: { ApproximateReceiveCount: "1", MessageGroupId: service.name, ...message!.Attributes },
      messageAttributes: {},
      md5OfBody: message!.MD5OfBody!,
      eventSource: "aws:sqs",
      eventSourceARN: world.reconcileQueueArn!,
      awsRegion: "us-east-1",
    } as unknown as SQSRecord;

    const throttling = proxy.addRule({ kind: "throttling", rate: 1, services: ["ecs"] });
    const logger = new CapturingLogger();
    const handler = createReconcileHandler({ config, clients, logger, queueUrl, staleReadRetryDelaysMs: [] });
    const context = lambdaContext(8_000);
    const response = await handler({ Records: [record] }, context);
    const answeredWithMs = context.timeoutAt - Date.now();
    const ecsRequestsAtAnswer = ecsRequests(proxy);
    throttling.disable();

    expect(ecsRequestsAtAnswer).toBeGreaterThan(1);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(answeredWithMs).toBeGreaterThan(0);
    const reconcile = logger.entries.find((e) => e.message === "reconcile");
    expect(JSON.stringify(reconcile)).toContain("given up after");
    expect(JSON.stringify(reconcile)).toContain("ECS.");
    // The retry delay was set with the time the deadline left: no "retry delay not set" warning.
    expect(logger.entries.filter((e) => e.message === "retry delay not set")).toEqual([]);
    // The abandoned call does not keep retrying in the background.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(ecsRequests(proxy)).toBe(ecsRequestsAtAnswer);
    for (const client of Object.values(clients)) client.destroy();
  });
});
