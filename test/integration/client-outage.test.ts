import { afterEach, describe, expect, it, vi } from "vitest";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { accountPlugin, emulatorCredentials, randomAccountId, startEmulator, type RunningEmulator } from "@discovery-sync/emulator";
import {
  createEndpointReader,
  EndpointsUnavailableError,
  serializeEndpointDocument,
  type EndpointRefreshError,
  type EndpointReader,
} from "@discovery-sync/client";

let emulator: RunningEmulator | undefined;
let reader: EndpointReader | undefined;

afterEach(async () => {
  reader?.close();
  vi.useRealTimers();
  await emulator?.stop();
});

/** Resolves with the next `error` event of the reader. */
function nextError(r: EndpointReader): Promise<EndpointRefreshError> {
  return new Promise((resolve) => {
    const off = r.on("error", (error) => {
      off();
      resolve(error);
    });
  });
}

describe("endpoint reader when SSM goes away", () => {
  it("serves the last good list until maxStaleMs, then rejects with a typed error saying since when", async () => {
    // Prepare: an emulator of this test's own, so stopping it disturbs no other test
    emulator = await startEmulator({ logFile: ".emulator-logs/moto-client-outage.log" });
    const ssm = new SSMClient({ endpoint: emulator.endpoint, region: "us-east-1", credentials: emulatorCredentials, maxAttempts: 1 });
    ssm.middlewareStack.use(accountPlugin(randomAccountId()));
    const parameterName = "/discovery/workflow-agent/endpoints";
    const endpoints = [{ address: "10.0.0.1", port: 50051 }, { address: "10.0.0.2", port: 50051 }];
    await ssm.send(
      new PutParameterCommand({
        Name: parameterName,
        Type: "String",
        Value: serializeEndpointDocument({
          schemaVersion: 1, service: "workflow-agent", revision: 3, generatedAt: "2026-11-25T06:00:00.000Z", endpoints, draining: [],
        }),
      }),
    );
    // Only the clock is faked: timers and sockets are real, and the test moves "now" instead of waiting for it.
    const start = new Date("2026-11-25T07:00:00.000Z").getTime();
    vi.useFakeTimers({ toFake: ["Date"], now: start });
    const maxStaleMs = 60_000;
    reader = createEndpointReader({
      parameterName, ssmClient: ssm, lambdaExtension: false,
      refreshIntervalMs: 200, jitter: 0, maxStaleMs, backoff: { initialMs: 50, maxMs: 200 }, requestTimeoutMs: 2_000,
    });
    expect(await reader.endpoints()).toEqual(endpoints);

    // Act 1: the emulator stops; wait until the reader has seen refreshes fail
    await emulator.stop();
    const firstFailure = await nextError(reader);
    await nextError(reader);
    vi.setSystemTime(start + maxStaleMs - 1_000);
    const justBeforeLimit = await reader.endpoints();

    // Act 2: past the stale limit
    await nextError(reader);
    vi.setSystemTime(start + maxStaleMs + 1_000);
    const pastLimit = await reader.endpoints().then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(firstFailure).toMatchObject({ parameterName, source: "ssm", reason: "request-failed" });
    expect(justBeforeLimit).toEqual(endpoints);
    expect(pastLimit).toBeInstanceOf(EndpointsUnavailableError);
    const error = pastLimit as EndpointsUnavailableError;
    expect(error.parameterName).toBe(parameterName);
    expect(error.reason).toBe("request-failed");
    expect(error.failingSince.getTime()).toBe(start);
    expect(error.lastGoodAt?.getTime()).toBe(start);
    expect(error.message).toContain(`since ${new Date(start).toISOString()}`);
    expect(error.message).toContain("older than maxStaleMs (60000 ms)");
    expect(reader.current()?.revision).toBe(3);
  });
});
