import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { findFreePort } from "@discovery-sync/emulator";
import { Registry } from "prom-client";
import { InvalidOptionError } from "@discovery-sync/client";
import { registerEndpointResolver } from "@discovery-sync/client/grpc";
import { grpcCallMetrics, type GrpcCallMetricsOptions } from "@discovery-sync/client/prometheus";
import { jsonUnaryService, listenOnLoopback } from "../support/grpc.js";

// grpcCallMetrics with real @grpc/grpc-js servers on 127.0.0.1: every number asserted is read back by scraping the
// registry (registry.metrics(), the text Prometheus would fetch) after real calls, failures included.

interface Request {
  /** Status code the server answers with instead of OK. */
  readonly fail?: number;
  /** How long the server holds the call before answering. */
  readonly delayMs?: number;
}
const testService = jsonUnaryService<Request>("Worker", "work");
const WorkerClient = grpc.makeGenericClientConstructor(testService, "Worker");

interface TestServer {
  readonly port: number;
  calls: number;
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(): Promise<TestServer> {
  const server = new grpc.Server();
  const state = { port: 0, calls: 0 };
  server.addService(testService, {
    work: (call: grpc.ServerUnaryCall<Request, object>, callback: grpc.sendUnaryData<object>) => {
      state.calls += 1;
      const { fail, delayMs = 0 } = call.request;
      setTimeout(() => {
        if (fail === undefined) callback(null, {});
        else callback({ code: fail, details: `asked to fail with ${grpc.status[fail]}` });
      }, delayMs);
    },
  });
  const port = await listenOnLoopback(server);
  cleanups.push(() => server.forceShutdown());
  return Object.assign(state, { port });
}

let schemeCounter = 0;

/** A client through the resolver (endpoints from an environment override) with the metrics interceptor. */
function connect(endpoints: readonly string[], metricsOptions: GrpcCallMetricsOptions) {
  const variable = "METRICS_TEST_ENDPOINTS";
  const registration = registerEndpointResolver({
    scheme: `metrics-${++schemeCounter}`,
    readerOptions: { envOverride: variable, env: { [variable]: endpoints.join(",") }, lambdaExtension: false },
  });
  const client = new WorkerClient(registration.target("worker"), grpc.credentials.createInsecure(), {
    ...registration.channelOptions,
    interceptors: [grpcCallMetrics(metricsOptions)],
  });
  cleanups.push(() => client.close());
  return client;
}

function work(client: grpc.Client, request: Request): Promise<grpc.status> {
  return new Promise((resolve) => {
    (client as unknown as Record<string, Function>).work!(request, { deadline: Date.now() + 5_000 }, (error: grpc.ServiceError | null) =>
      resolve(error === null ? grpc.status.OK : error.code),
    );
  });
}

/** The value of one sample of the scraped text, by metric name and exact labels; undefined when absent. */
async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await registry.metrics();
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = (match[2] ?? "").split(/,(?=[a-z_]+=")/).filter((pair) => pair !== "").sort().join(",");
    if (found === wanted) return Number(match[3]);
  }
  return undefined;
}

/** Every label value of `label` among the samples of `name`. */
async function labelValues(registry: Registry, name: string, label: string): Promise<string[]> {
  const text = await registry.metrics();
  const values = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const match = new RegExp(`${label}="([^"]*)"`).exec(line);
    if (match !== null) values.add(match[1]!);
  }
  return [...values].sort();
}

const method = { grpc_service: "discoverysync.test.Worker", grpc_method: "Work" };

describe("grpcCallMetrics with real servers on 127.0.0.1", () => {
  it("counts calls, failures by status and calls in flight, and times every call", async () => {
    // Prepare
    const server = await startServer();
    const registry = new Registry();
    const client = connect([`127.0.0.1:${server.port}`], { registry });

    // Act: 12 OK, 3 NOT_FOUND, 2 PERMISSION_DENIED, then one slow call scraped while in flight
    for (let i = 0; i < 12; i++) expect(await work(client, {})).toBe(grpc.status.OK);
    for (let i = 0; i < 3; i++) expect(await work(client, { fail: grpc.status.NOT_FOUND })).toBe(grpc.status.NOT_FOUND);
    for (let i = 0; i < 2; i++) expect(await work(client, { fail: grpc.status.PERMISSION_DENIED })).toBe(grpc.status.PERMISSION_DENIED);
    const slow = work(client, { delayMs: 300 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const inFlightDuringSlowCall = await sample(registry, "grpc_client_calls_in_flight", method);
    await slow;

    // Assess
    expect(inFlightDuringSlowCall).toBe(1);
    expect(await sample(registry, "grpc_client_calls_in_flight", method)).toBe(0);
    expect(await sample(registry, "grpc_client_call_duration_seconds_count", { ...method, grpc_code: "OK" })).toBe(13);
    expect(await sample(registry, "grpc_client_call_duration_seconds_count", { ...method, grpc_code: "NOT_FOUND" })).toBe(3);
    expect(await sample(registry, "grpc_client_call_failures_total", { ...method, grpc_code: "NOT_FOUND" })).toBe(3);
    expect(await sample(registry, "grpc_client_call_failures_total", { ...method, grpc_code: "PERMISSION_DENIED" })).toBe(2);
    expect(await sample(registry, "grpc_client_call_failures_total", { ...method, grpc_code: "OK" })).toBeUndefined();
    // The slow call (300 ms) lies above the 0.25 s bucket: one OK call is not in it.
    const upTo250ms = await sample(registry, "grpc_client_call_duration_seconds_bucket", { ...method, grpc_code: "OK", le: "0.25" });
    expect(upTo250ms).toBe(12);
    expect(server.calls).toBe(18);
  });

  it("counts a call that reached no server as UNAVAILABLE, with endpoint none", async () => {
    // Prepare: a port nothing listens on
    const port = await findFreePort();
    const registry = new Registry();
    const client = connect([`127.0.0.1:${port}`], { registry, perEndpoint: true });

    // Act
    const code = await work(client, {});

    // Assess
    expect(code).toBe(grpc.status.UNAVAILABLE);
    expect(await sample(registry, "grpc_client_call_failures_total", { ...method, grpc_code: "UNAVAILABLE", endpoint: "none" })).toBe(1);
    expect(await sample(registry, "grpc_client_calls_in_flight", method)).toBe(0);
  });

  it("labels calls by the endpoint that answered, matching each server's own count", async () => {
    // Prepare
    const servers = await Promise.all([startServer(), startServer(), startServer()]);
    const registry = new Registry();
    const client = connect(servers.map((s) => `127.0.0.1:${s.port}`), { registry, perEndpoint: true });

    // Act
    for (let i = 0; i < 60; i++) await work(client, {});
    for (let i = 0; i < 6; i++) await work(client, { fail: grpc.status.ABORTED });

    // Assess
    for (const server of servers) {
      const endpoint = `127.0.0.1:${server.port}`;
      const ok = (await sample(registry, "grpc_client_call_duration_seconds_count", { ...method, grpc_code: "OK", endpoint })) ?? 0;
      const aborted = (await sample(registry, "grpc_client_call_failures_total", { ...method, grpc_code: "ABORTED", endpoint })) ?? 0;
      expect(ok + aborted).toBe(server.calls);
      expect(server.calls).toBeGreaterThan(0);
    }
    expect(await labelValues(registry, "grpc_client_call_duration_seconds_count", "endpoint")).toEqual(
      servers.map((s) => `127.0.0.1:${s.port}`).sort(),
    );
  });

  it("bounds the endpoint label: beyond maxEndpoints calls count as other until an endpoint has been idle for idleMs", async () => {
    // Prepare: room for one endpoint; a second server joins
    const [first, second] = await Promise.all([startServer(), startServer()]);
    const registry = new Registry();
    const options = { registry, perEndpoint: { maxEndpoints: 1, idleMs: 1_000 } };
    const toFirst = connect([`127.0.0.1:${first!.port}`], options);
    const toSecond = connect([`127.0.0.1:${second!.port}`], options);
    const firstLabel = { ...method, grpc_code: "OK", endpoint: `127.0.0.1:${first!.port}` };
    const secondLabel = { ...method, grpc_code: "OK", endpoint: `127.0.0.1:${second!.port}` };

    // Act 1: the first endpoint takes the only place; the second is "other" while the first is busy
    for (let i = 0; i < 3; i++) await work(toFirst, {});
    for (let i = 0; i < 2; i++) await work(toSecond, {});
    const otherWhileBusy = await sample(registry, "grpc_client_call_duration_seconds_count", { ...method, grpc_code: "OK", endpoint: "other" });
    const firstWhileBusy = await sample(registry, "grpc_client_call_duration_seconds_count", firstLabel);

    // Act 2: once the first has been idle for idleMs, the second takes its place and the first's series go
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await work(toSecond, {});

    // Assess
    expect(firstWhileBusy).toBe(3);
    expect(otherWhileBusy).toBe(2);
    expect(await sample(registry, "grpc_client_call_duration_seconds_count", firstLabel)).toBeUndefined();
    expect(await sample(registry, "grpc_client_call_duration_seconds_count", secondLabel)).toBe(1);
    expect((await labelValues(registry, "grpc_client_call_duration_seconds_count", "endpoint")).length).toBeLessThanOrEqual(2);
  });

  it("shares metrics between interceptors of one registry, and refuses a second with another label set", () => {
    const registry = new Registry();
    grpcCallMetrics({ registry });
    grpcCallMetrics({ registry });
    expect(() => grpcCallMetrics({ registry, perEndpoint: true })).toThrow(InvalidOptionError);
    expect(() => grpcCallMetrics({ registry, perEndpoint: true, prefix: "edge_grpc_client_" })).not.toThrow();
    expect(() => grpcCallMetrics({ registry, buckets: [1, 0.5] })).toThrow(/buckets/);
    expect(() => grpcCallMetrics({ registry, perEndpoint: { maxEndpoints: 0 } })).toThrow(/perEndpoint.maxEndpoints/);
  });
});
