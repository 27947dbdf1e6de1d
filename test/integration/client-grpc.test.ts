import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation, service as healthServiceDefinition } from "grpc-health-check";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { serializeEndpointDocument, type Endpoint } from "@discovery-sync/client";
import { registerEndpointResolver } from "@discovery-sync/client/grpc";
import { isolatedAccount } from "../support/aws.js";
import { requestCounter } from "@discovery-sync/emulator";
import { jsonUnaryService, listenOnLoopback, whoAmI } from "../support/grpc.js";

// Real gRPC servers on 127.0.0.1 behind the package's resolver, with the endpoint document in the emulator's SSM.
// Every assertion about where calls went is made from the servers' own call counters.

const service = "workflow-agent";
const parameterName = `/discovery/${service}/endpoints`;

/** A tiny unary service, defined without a .proto: JSON in, JSON out. */
const whoAmIService = jsonUnaryService<{ server?: string }>("WhoAmI", "whoAmI");
const WhoAmIClient = grpc.makeGenericClientConstructor(whoAmIService, "WhoAmI");
const HealthClient = grpc.makeGenericClientConstructor(
  healthServiceDefinition as unknown as grpc.ServiceDefinition,
  "Health",
);

interface TestServer {
  readonly name: string;
  readonly endpoint: Endpoint;
  /** WhoAmI calls this server has answered. */
  calls: number;
  readonly health: HealthImplementation;
  readonly server: grpc.Server;
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(name: string): Promise<TestServer> {
  const server = new grpc.Server();
  const health = new HealthImplementation({ "": "SERVING" });
  health.addToServer(server);
  const state: TestServer = { name, endpoint: { address: "127.0.0.1", port: 0 }, calls: 0, health, server };
  server.addService(whoAmIService, {
    whoAmI: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      state.calls += 1;
      callback(null, { server: name });
    },
  });
  const port = await listenOnLoopback(server);
  cleanups.push(() => server.forceShutdown());
  return Object.assign(state, { endpoint: { address: "127.0.0.1", port } });
}

/** Asks a server's standard health service (grpc.health.v1.Health/Check) for its overall status. */
function healthOf(server: TestServer): Promise<string> {
  const client = new HealthClient(`127.0.0.1:${server.endpoint.port}`, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    (client as unknown as Record<string, Function>).Check!({ service: "" }, { deadline: Date.now() + 5_000 }, (error: grpc.ServiceError | null, reply: { status: string }) => {
      client.close();
      if (error === null) resolve(reply.status);
      else reject(error);
    });
  });
}

/** What the reconcile pipeline does for real, in miniature: publish the servers whose health check says SERVING. */
async function publishServing(ssm: SSMClient, revision: number, fleet: readonly TestServer[]): Promise<Endpoint[]> {
  const statuses = await Promise.all(fleet.map((server) => healthOf(server)));
  const endpoints = fleet.filter((_, i) => statuses[i] === "SERVING").map((server) => server.endpoint);
  const value = serializeEndpointDocument({
    schemaVersion: 1,
    service,
    revision,
    generatedAt: new Date().toISOString(),
    endpoints: [...endpoints].sort((x, y) => x.port - y.port),
    draining: [],
  });
  await ssm.send(new PutParameterCommand({ Name: parameterName, Value: value, Type: "String", Overwrite: true }));
  return endpoints;
}

/** Makes calls, one at a time, until `condition` holds; fails after `timeoutMs` saying what it waited for. */
async function callUntil(client: grpc.Client, condition: () => boolean, what: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let made = 0;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms (${made} calls) waiting until ${what}`);
    await whoAmI(client);
    made += 1;
  }
  return made;
}

async function callTimes(client: grpc.Client, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await whoAmI(client);
}

const counts = (servers: readonly TestServer[]): number[] => servers.map((server) => server.calls);

function setUp(scheme: string) {
  const account = isolatedAccount();
  const writer = account.client(SSMClient);
  const readerSsm = account.client(SSMClient);
  const counter = requestCounter();
  readerSsm.middlewareStack.use(counter.plugin);
  const registration = registerEndpointResolver({
    scheme,
    readerOptions: {
      ssmClient: readerSsm,
      lambdaExtension: false,
      refreshIntervalMs: 300,
      jitter: 0.1,
      backoff: { initialMs: 100, maxMs: 300 },
    },
  });
  const connect = (): grpc.Client => {
    const client = new WhoAmIClient(registration.target(service), grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    return client;
  };
  return { writer, counter, registration, connect };
}

describe("gRPC resolver with real servers on 127.0.0.1", () => {
  it(
    "spreads calls over every published server, stops calling one that leaves the list, and calls one that joins",
    async () => {
      // Prepare: three healthy servers, published as revision 1
      const { writer, counter, registration, connect } = setUp("discovery-it");
      const [a, b, c] = await Promise.all([startServer("a"), startServer("b"), startServer("c")]);
      const fleet = [a!, b!, c!];
      expect(await publishServing(writer, 1, fleet)).toHaveLength(3);
      const client = connect();
      const reader = () => registration.readerFor(parameterName);

      // Act 1: calls reach every server (round_robin, asked for by the resolver's service config)
      await callUntil(client, () => fleet.every((s) => s.calls > 0), "every server has answered a call");
      const beforeSpread = counts(fleet);
      await callTimes(client, 90);
      const spread = counts(fleet).map((n, i) => n - beforeSpread[i]!);

      // Act 2: b reports NOT_SERVING, so revision 2 lists only a and c; b keeps running and would still answer
      b!.health.setStatus("", "NOT_SERVING");
      expect((await publishServing(writer, 2, fleet)).map((e) => e.port)).not.toContain(b!.endpoint.port);
      await callUntil(client, () => reader()?.status().revision === 2, "the channel's reader holds revision 2");
      const bAtRevision2 = b!.calls;
      const othersAtRevision2 = counts([a!, c!]);
      await callTimes(client, 60);
      const bAfterLeaving = b!.calls - bAtRevision2;
      const othersAfterLeaving = counts([a!, c!]).map((n, i) => n - othersAtRevision2[i]!);

      // Act 3: a new server d joins as revision 3
      const d = await startServer("d");
      await publishServing(writer, 3, [a!, b!, c!, d]);
      await callUntil(client, () => d.calls > 0, "the new server has answered a call");
      await callTimes(client, 60);

      // Assess
      expect(Math.min(...spread)).toBeGreaterThanOrEqual(20); // 90 calls over 3 ready servers: about 30 each
      expect(bAfterLeaving).toBe(0);
      expect(Math.min(...othersAfterLeaving)).toBeGreaterThanOrEqual(20); // 60 calls over a and c
      expect(b!.calls).toBe(bAtRevision2);
      expect(d.calls).toBeGreaterThanOrEqual(15); // about a third of the last 60 calls
      expect(reader()?.status()).toMatchObject({ revision: 3, endpointCount: 3, source: "ssm" });
      // The channel read SSM on its refresh interval, never per call.
      expect(counter.count("GetParameterCommand")).toBeLessThan(counts([a!, b!, c!, d]).reduce((x, y) => x + y) / 4);
    },
    60_000,
  );

  it("shares one reader between channels to the same service and closes it with the last channel", async () => {
    // Prepare
    const { writer, registration, connect } = setUp("discovery-shared");
    const server = await startServer("only");
    await publishServing(writer, 1, [server]);
    const first = connect();
    const second = connect();

    // Act
    await Promise.all([whoAmI(first), whoAmI(second)]);
    const shared = registration.readerFor(parameterName);
    first.close();
    const afterFirstClosed = registration.readerFor(parameterName);
    second.close();
    await callUntilClosed(() => shared?.status().closed === true);

    // Assess
    expect(server.calls).toBe(2);
    expect(shared).toBeDefined();
    expect(afterFirstClosed).toBe(shared);
    expect(registration.readerFor(parameterName)).toBeUndefined();
  });

  it("fails calls fast with UNAVAILABLE naming the parameter when nothing is published", async () => {
    // Prepare
    const { connect } = setUp("discovery-missing");
    const client = connect();

    // Act
    const error = (await whoAmI(client).then(
      () => undefined,
      (e: unknown) => e,
    )) as grpc.ServiceError | undefined;

    // Assess
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.details).toContain(parameterName);
    expect(error?.details).toContain("not-found");
  });

  it("refuses a malformed target when the channel is created", () => {
    const { registration } = setUp("discovery-bad");
    expect(() => new WhoAmIClient(`${registration.scheme}:///a/b`, grpc.credentials.createInsecure())).toThrow(
      /invalid option target/,
    );
  });
});

/** Waits (without making calls) until `condition` holds: grpc-js destroys resolvers on a later tick after close(). */
async function callUntilClosed(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the reader to close`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
