import { Readable } from "node:stream";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { invocationDeadlineMs, InvocationDeadlineError, withInvocationDeadline } from "../../packages/core/src/aws/deadline.js";
import { createAwsClients } from "@discovery-sync/core";

/** An SSM endpoint in memory: throttles the first `throttled` attempts (all when undefined), then answers. */
function fakeSsm(throttled?: number): { client: SSMClient; attempts: number[] } {
  const attempts: number[] = [];
  const requestHandler = {
    handle: async () => {
      attempts.push(Date.now());
      const throttle = throttled === undefined || attempts.length <= throttled;
      const body = throttle
        ? { __type: "ThrottlingException", message: "Rate exceeded" }
        : { Parameter: { Name: "/p", Type: "String", Value: "v", Version: 1 } };
      return {
        response: {
          statusCode: throttle ? 400 : 200,
          headers: { "content-type": "application/x-amz-json-1.1" },
          body: Readable.from([Buffer.from(JSON.stringify(body))]),
        },
      };
    },
  };
  const { ssm } = createAwsClients({
    clientConfig: { region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 20, retryMode: "standard" },
    env: {},
  });
  // The clients' own handler is replaced by the in-memory one; the middleware stack (retries, deadline) is kept.
  (ssm.config as { requestHandler: unknown }).requestHandler = requestHandler;
  return { client: ssm, attempts };
}

describe("invocation deadline", () => {
  it("gives a throttled call up at the deadline, and starts no attempt after it", async () => {
    const { client, attempts } = fakeSsm();
    const deadlineMs = Date.now() + 400;
    const error = await withInvocationDeadline(deadlineMs, () => client.send(new GetParameterCommand({ Name: "/p" }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvocationDeadlineError);
    const deadlineError = error as InvocationDeadlineError;
    expect(deadlineError.operation).toBe("SSM.GetParameter");
    expect(deadlineError.retryable).toBe(true);
    expect(deadlineError.attempts).toBe(attempts.length);
    expect(deadlineError.message).toContain("SSM.GetParameter given up after");
    // The SDK keeps retrying the abandoned call in the background until its next attempt meets the guard: with 20
    // attempts and throttling backoff of 0.5 s doubling, an unguarded call would attempt again within 2 s.
    const attemptsAtDeadline = attempts.length;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(attempts.length).toBe(attemptsAtDeadline);
    for (const at of attempts) expect(at).toBeLessThan(deadlineMs);
  });

  it("refuses a call started after the deadline without sending it", async () => {
    const { client, attempts } = fakeSsm();
    const error = await withInvocationDeadline(Date.now() - 1, () => client.send(new GetParameterCommand({ Name: "/p" }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvocationDeadlineError);
    expect((error as InvocationDeadlineError).attempts).toBe(0);
    expect(attempts).toHaveLength(0);
  });

  it("leaves calls within the deadline, and calls outside any scope, to the SDK's retries", async () => {
    const inside = fakeSsm(1);
    const answer = await withInvocationDeadline(Date.now() + 60_000, () => inside.client.send(new GetParameterCommand({ Name: "/p" })));
    expect(answer.Parameter?.Value).toBe("v");
    expect(inside.attempts).toHaveLength(2);
    const outside = fakeSsm(1);
    expect((await outside.client.send(new GetParameterCommand({ Name: "/p" }))).Parameter?.Value).toBe("v");
    expect(outside.attempts).toHaveLength(2);
  });

  it("keeps concurrent scopes apart", async () => {
    const { client } = fakeSsm();
    const [short, long] = await Promise.allSettled([
      withInvocationDeadline(Date.now() + 200, () => client.send(new GetParameterCommand({ Name: "/p" }))),
      withInvocationDeadline(Date.now() + 900, () => client.send(new GetParameterCommand({ Name: "/p" }))),
    ]);
    expect(short.status).toBe("rejected");
    expect(long.status).toBe("rejected");
    const shortError = (short as PromiseRejectedResult).reason as InvocationDeadlineError;
    const longError = (long as PromiseRejectedResult).reason as InvocationDeadlineError;
    expect(Date.parse(String(shortError.context.deadline))).toBeLessThan(Date.parse(String(longError.context.deadline)));
  });

  it("keeps a reserve before the Lambda timeout, at most a quarter of what is left", () => {
    expect(invocationDeadlineMs(1_000, 60_000)).toBe(58_000);
    expect(invocationDeadlineMs(1_000, 4_000)).toBe(4_000);
    expect(invocationDeadlineMs(1_000, 0)).toBe(1_000);
  });
});
