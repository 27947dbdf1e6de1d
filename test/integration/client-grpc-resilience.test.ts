import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { findFreePort } from "@discovery-sync/emulator";
import { ChannelNotReadyError, registerEndpointResolver, type RetryPolicyOptions } from "@discovery-sync/client/grpc";
import { isolatedAccount } from "../support/aws.js";
import { SSMClient } from "@aws-sdk/client-ssm";
import { callContinuously, jsonUnaryService, listenOnLoopback, until, whoAmI } from "../support/grpc.js";

// Resilient channels with real @grpc/grpc-js servers on 127.0.0.1. The endpoint list comes from the reader's
// envOverride (a fixed list, no SSM), so a killed server stays listed: only the retry policy can save its calls.

const echoService = jsonUnaryService<{ server?: string }>("WhoAmI", "whoAmI");
const WhoAmIClient = grpc.makeGenericClientConstructor(echoService, "WhoAmI");

interface TestServer {
  readonly name: string;
  readonly port: number;
  /** Calls received. */
  calls: number;
  /** Calls received and not answered yet. */
  pending: number;
  /** Set: the server answers nothing more. */
  hung: boolean;
  readonly server: grpc.Server;
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A server that answers each call after `delayMs`, so calls are in flight on it at any moment. Once `hung` is set it
 * answers nothing more: a server dying then has calls in flight and none half answered (a call whose response headers
 * already reached the client is committed, and gRPC never retries it, whatever the policy).
 */
async function startServer(name: string, delayMs: number): Promise<TestServer> {
  const server = new grpc.Server();
  const state = { name, port: 0, calls: 0, pending: 0, hung: false, server };
  server.addService(echoService, {
    whoAmI: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      state.calls += 1;
      state.pending += 1;
      setTimeout(() => {
        if (state.hung) return;
        state.pending -= 1;
        callback(null, { server: name });
      }, delayMs);
    },
  });
  const port = await listenOnLoopback(server);
  cleanups.push(() => server.forceShutdown());
  return Object.assign(state, { port });
}

let schemeCounter = 0;

/** A resolver whose readers serve 127.0.0.1:`ports` from an environment override, and a client on its channel options. */
function connect(ports: readonly number[], retryPolicy?: RetryPolicyOptions | false) {
  const variable = "RESILIENCE_TEST_ENDPOINTS";
  const registration = registerEndpointResolver({
    scheme: `resilience-${++schemeCounter}`,
    ...(retryPolicy === undefined ? {} : { retryPolicy }),
    readerOptions: {
      envOverride: variable,
      env: { [variable]: ports.map((port) => `127.0.0.1:${port}`).join(",") },
      lambdaExtension: false,
    },
  });
  const client = new WhoAmIClient(registration.target("workflow-agent"), grpc.credentials.createInsecure(), registration.channelOptions);
  cleanups.push(() => client.close());
  return { registration, client };
}

/** Kills `victim` with forceShutdown while 8 workers call, once every server has answered; returns the load. */
async function killMidRun(retryPolicy?: RetryPolicyOptions | false) {
  const servers = await Promise.all(["a", "b", "c"].map((name) => startServer(name, 20)));
  const [, victim] = servers as [TestServer, TestServer, TestServer];
  const { registration, client } = connect(
    servers.map((s) => s.port),
    retryPolicy,
  );
  await registration.waitForReady(client);
  const load = callContinuously(client, 8);
  await until(() => servers.every((s) => s.calls >= 20), "every server has answered 20 calls");
  await until(() => victim.pending >= 2, "calls are in flight on the victim");
  victim.hung = true;
  // Answers already being written when it hung finish (their timers ran); what is pending now stays unanswered.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const inFlightOnVictim = victim.pending;
  victim.server.forceShutdown();
  const survivors = servers.filter((s) => s !== victim);
  const survivorCallsAtKill = survivors.reduce((sum, s) => sum + s.calls, 0);
  await until(() => survivors.reduce((sum, s) => sum + s.calls, 0) >= survivorCallsAtKill + 300, "300 more calls were answered");
  load.stop();
  await load.done;
  return { load, inFlightOnVictim, victim };
}

describe("resilient channels with real servers on 127.0.0.1", () => {
  it("loses no call when a server dies with calls in flight: the default retry policy sends them to another", async () => {
    // Act
    const { load, inFlightOnVictim } = await killMidRun();

    // Assess
    expect(inFlightOnVictim).toBeGreaterThanOrEqual(2); // the kill did cut calls short
    expect(load.failures.map((e) => `${grpc.status[e.code]}: ${e.details}`)).toEqual([]);
    expect(load.succeeded).toBeGreaterThan(300);
    console.log(`server killed with ${inFlightOnVictim} calls in flight: ${load.succeeded} calls succeeded, ${load.failures.length} failed`);
  }, 60_000);

  it("fails the calls in flight on a dying server without a retry policy (what the default saves)", async () => {
    // Act
    const { load, inFlightOnVictim } = await killMidRun(false);

    // Assess: the same kill, with retries off, fails the calls cut short. grpc-js reports a server's forceShutdown
    // as CANCELLED (the server resets the streams) or UNAVAILABLE (the connection dropped first).
    expect(inFlightOnVictim).toBeGreaterThanOrEqual(2);
    expect(load.failures.length).toBeGreaterThan(0);
    for (const failure of load.failures) expect(["CANCELLED", "UNAVAILABLE"]).toContain(grpc.status[failure.code]);
  }, 60_000);

  it("waitForReady resolves once a server answers, and rejects naming the target and the reader's error", async () => {
    // Prepare: a server for the first resolver; for the second, a parameter that does not exist in the emulator
    const server = await startServer("only", 0);
    const { registration, client } = connect([server.port]);
    const ssmClient = isolatedAccount().client(SSMClient);
    const missing = registerEndpointResolver({
      scheme: `resilience-${++schemeCounter}`,
      readyTimeoutMs: 3_000,
      readerOptions: { ssmClient, lambdaExtension: false, backoff: { initialMs: 100, maxMs: 200 } },
    });
    const unready = new WhoAmIClient(missing.target("nowhere"), grpc.credentials.createInsecure(), missing.channelOptions);
    cleanups.push(() => unready.close());

    // Act
    await registration.waitForReady(client, 2_000);
    const error = await missing.waitForReady(unready).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    expect(error).toBeInstanceOf(ChannelNotReadyError);
    expect(error).toMatchObject({ target: "resilience-" + schemeCounter + ":///nowhere", timeoutMs: 3_000 });
    expect((error as ChannelNotReadyError).state).not.toBe("READY");
    expect((error as Error).message).toContain("/discovery/nowhere/endpoints");
    expect((error as Error).message).toContain("not-found");
  }, 30_000);

  it("waitForReady says when the endpoints were read but none accepted a connection", async () => {
    // Prepare: the list names a port nothing listens on
    const port = await findFreePort();
    const { registration, client } = connect([port]);

    // Act
    const error = await registration.waitForReady(client, 1_000).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(ChannelNotReadyError);
    expect((error as Error).message).toContain("none of the 1 endpoints of /discovery/workflow-agent/endpoints accepted a connection");
  }, 30_000);
});
