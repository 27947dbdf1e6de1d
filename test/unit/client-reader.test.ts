import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createEndpointReader,
  EndpointRefreshError,
  EndpointsUnavailableError,
  ReaderClosedError,
  type EndpointDocument,
  type EndpointReader,
} from "@discovery-sync/client";
import { deferred, documentText, fakeSsm, notFound, throttling, type FakeSsm } from "./client-fake-ssm.js";

const parameterName = "/discovery/workflow-agent/endpoints";
const a = { address: "10.0.0.1", port: 50051 };
const b = { address: "10.0.0.2", port: 50051 };
const c = { address: "10.0.0.3", port: 50051 };

let ssm: FakeSsm;
let reader: EndpointReader | undefined;

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-11-25T06:00:00.000Z") });
  ssm = fakeSsm();
});

afterEach(() => {
  reader?.close();
  reader = undefined;
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function make(options: Partial<Parameters<typeof createEndpointReader>[0]> = {}): EndpointReader {
  reader = createEndpointReader({
    parameterName,
    ssmClient: ssm.client,
    lambdaExtension: false,
    ...options,
  });
  return reader;
}

describe("cache and single flight", () => {
  it("loads on the first call and answers later calls from memory without a request", async () => {
    // Prepare
    ssm.answer = () => documentText(1, [a, b]);
    const r = make();

    // Act
    const first = await r.endpoints();
    for (let i = 0; i < 100; i++) await r.endpoints();

    // Assess
    expect(first).toEqual([a, b]);
    expect(ssm.calls).toBe(1);
    expect(ssm.names).toEqual([parameterName]);
    expect(r.current()?.revision).toBe(1);
  });

  it("shares one GetParameter among 1,000 concurrent calls on a cold reader", async () => {
    // Prepare
    const pending = deferred<string>();
    ssm.answer = () => pending.promise;
    const r = make();

    // Act
    const calls = Array.from({ length: 1_000 }, () => r.endpoints());
    await vi.advanceTimersByTimeAsync(0);
    pending.resolve(documentText(3, [a]));
    const results = await Promise.all(calls);

    // Assess
    expect(ssm.calls).toBe(1);
    expect(results.every((list) => list.length === 1 && list[0]?.address === a.address)).toBe(true);
  });

  it("returns undefined from current() before the first load, synchronously", () => {
    const r = make();
    expect(r.current()).toBeUndefined();
    expect(ssm.calls).toBe(0);
  });

  it("serves a past-due list at once and revalidates it behind the caller with one request", async () => {
    // Prepare: a loaded reader whose timer did not get to run (a frozen Lambda, a blocked event loop)
    ssm.answer = () => documentText(1, [a]);
    const r = make({ refreshIntervalMs: 30_000, maxStaleMs: 120_000 });
    await r.endpoints();
    vi.setSystemTime(Date.now() + 60_000);
    const next = deferred<string>();
    ssm.answer = () => next.promise;

    // Act
    const served = await Promise.all([r.endpoints(), r.endpoints(), r.endpoints()]);

    // Assess
    expect(served.every((list) => list[0]?.address === a.address)).toBe(true);
    expect(ssm.calls).toBe(2);
    next.resolve(documentText(2, [b]));
    await vi.advanceTimersByTimeAsync(0);
    expect(await r.endpoints()).toEqual([b]);
  });
});

describe("background refresh", () => {
  it("refreshes before the interval elapses, brought forward by at most the jitter", async () => {
    // Prepare: Math.random() = 1 brings the refresh forward by the whole jitter (10 % of 30 s)
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => documentText(1, [a]);
    const r = make({ refreshIntervalMs: 30_000, jitter: 0.1 });
    await r.endpoints();

    // Act + Assess
    await vi.advanceTimersByTimeAsync(26_999);
    expect(ssm.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ssm.calls).toBe(2);
  });

  it("spreads the refreshes of a fleet over the jitter window", async () => {
    // Prepare: two readers that draw different random numbers when they schedule their first refresh
    const random = vi.spyOn(Math, "random").mockReturnValue(0);
    ssm.answer = () => documentText(1, [a]);
    const first = make({ refreshIntervalMs: 10_000, jitter: 0.2 });
    await first.endpoints();
    random.mockReturnValue(0.5);
    const second = createEndpointReader({ parameterName, ssmClient: ssm.client, lambdaExtension: false, refreshIntervalMs: 10_000, jitter: 0.2 });
    await second.endpoints();
    const callsAfterLoad = ssm.calls;

    // Act: 9 s: the second (random 0.5 -> 10 s x (1 - 0.1) = 9 s) refreshes, the first (random 0 -> 10 s) not yet
    await vi.advanceTimersByTimeAsync(9_000);
    const at9s = ssm.calls - callsAfterLoad;
    await vi.advanceTimersByTimeAsync(1_000);
    const at10s = ssm.calls - callsAfterLoad;
    second.close();

    // Assess
    expect(at9s).toBe(1);
    expect(at10s).toBe(2);
  });

  it("notifies subscribers once per newer revision and ignores a lower one (never goes backwards)", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(0);
    const revisions = [documentText(5, [a]), documentText(6, [a, b]), documentText(4, [c]), documentText(6, [a, b])];
    ssm.answer = () => revisions.shift() ?? documentText(6, [a, b]);
    const r = make({ refreshIntervalMs: 1_000 });
    const seen: number[] = [];
    r.subscribe((doc) => seen.push(doc.revision));

    // Act
    await vi.advanceTimersByTimeAsync(0); // subscribe() starts the first load
    await vi.advanceTimersByTimeAsync(3_000); // revisions 6, 4, 6

    // Assess
    expect(ssm.calls).toBe(4);
    expect(seen).toEqual([5, 6]);
    expect(r.current()?.revision).toBe(6);
    expect(await r.endpoints()).toEqual([a, b]);
  });

  it("stops refreshing and releases its timer on close()", async () => {
    // Prepare
    ssm.answer = () => documentText(1, [a]);
    const r = make({ refreshIntervalMs: 1_000 });
    await r.endpoints();
    expect(vi.getTimerCount()).toBe(1);

    // Act
    r.close();
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(vi.getTimerCount()).toBe(0);
    expect(ssm.calls).toBe(1);
    await expect(r.endpoints()).rejects.toBeInstanceOf(ReaderClosedError);
    await expect(r.document()).rejects.toMatchObject({ name: "ReaderClosedError", parameterName });
    expect(r.status().closed).toBe(true);
  });
});

describe("failures, staleness and backoff", () => {
  it("keeps serving the last good list while refreshes fail, and reports each failure with its reason", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => documentText(1, [a, b]);
    const errors: EndpointRefreshError[] = [];
    const callbackErrors: EndpointRefreshError[] = [];
    const r = make({ refreshIntervalMs: 10_000, jitter: 0, maxStaleMs: 60_000, onError: (e) => callbackErrors.push(e) });
    r.on("error", (e) => errors.push(e));
    await r.endpoints();
    ssm.answer = () => {
      throw throttling();
    };

    // Act
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(await r.endpoints()).toEqual([a, b]);
    expect(errors).toHaveLength(1);
    expect(callbackErrors).toEqual(errors);
    expect(errors[0]).toBeInstanceOf(EndpointRefreshError);
    expect(errors[0]?.reason).toBe("throttled");
    expect(errors[0]?.parameterName).toBe(parameterName);
    expect(errors[0]?.message).toContain("ThrottlingException");
    expect(r.status().failingSince?.toISOString()).toBe("2026-11-25T06:00:10.000Z");
  });

  it("retries with doubling backoff, capped, and returns to the normal interval after a success", async () => {
    // Prepare: Math.random() = 1 makes each backoff its full base value
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => documentText(1, [a]);
    const r = make({ refreshIntervalMs: 60_000, jitter: 0, maxStaleMs: Number.POSITIVE_INFINITY, backoff: { initialMs: 1_000, maxMs: 8_000 } });
    await r.endpoints();
    ssm.answer = () => {
      throw throttling();
    };
    const callTimes: number[] = [];
    const start = Date.now();
    r.on("error", () => callTimes.push(Date.now() - start));

    // Act: first failure at 60 s, then retries 1, 2, 4, 8, 8 s later
    await vi.advanceTimersByTimeAsync(60_000 + 1_000 + 2_000 + 4_000 + 8_000 + 8_000);
    ssm.answer = () => documentText(2, [b]);
    await vi.advanceTimersByTimeAsync(8_000);
    const afterRecovery = ssm.calls;
    await vi.advanceTimersByTimeAsync(59_999);
    const beforeNextRefresh = ssm.calls;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(callTimes).toEqual([60_000, 61_000, 63_000, 67_000, 75_000, 83_000]);
    expect(await r.endpoints()).toEqual([b]);
    expect(r.status().consecutiveFailures).toBe(0);
    expect(beforeNextRefresh).toBe(afterRecovery);
    expect(ssm.calls).toBe(afterRecovery + 1);
  });

  it("rejects past maxStaleMs with a typed error naming the parameter, the reason and since when", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => documentText(1, [a]);
    const r = make({ refreshIntervalMs: 10_000, jitter: 0, maxStaleMs: 30_000, backoff: { initialMs: 1_000, maxMs: 5_000 } });
    await r.endpoints();
    ssm.answer = () => {
      throw throttling();
    };

    // Act
    await vi.advanceTimersByTimeAsync(29_000);
    const stillServed = await r.endpoints();
    await vi.advanceTimersByTimeAsync(1_500);
    const error = await r.endpoints().then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(stillServed).toEqual([a]);
    expect(error).toBeInstanceOf(EndpointsUnavailableError);
    const unavailable = error as EndpointsUnavailableError;
    expect(unavailable.parameterName).toBe(parameterName);
    expect(unavailable.reason).toBe("throttled");
    expect(unavailable.failingSince.toISOString()).toBe("2026-11-25T06:00:10.000Z");
    expect(unavailable.lastGoodAt?.toISOString()).toBe("2026-11-25T06:00:00.000Z");
    expect(unavailable.message).toContain(parameterName);
    expect(unavailable.message).toContain("since 2026-11-25T06:00:10.000Z");
    expect(unavailable.lastError).toBeInstanceOf(EndpointRefreshError);
  });

  it("rejects a cold reader whose first load fails, and sends no further request until the backoff retry", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => {
      throw notFound(parameterName);
    };
    const r = make({ backoff: { initialMs: 2_000 } });

    // Act
    const first = await r.endpoints().catch((e: unknown) => e);
    const again = await Promise.all(Array.from({ length: 50 }, () => r.endpoints().catch((e: unknown) => e)));
    const callsDuringBackoff = ssm.calls;
    ssm.answer = () => documentText(1, [c]);
    await vi.advanceTimersByTimeAsync(2_000);

    // Assess
    expect(first).toBeInstanceOf(EndpointsUnavailableError);
    expect((first as EndpointsUnavailableError).reason).toBe("not-found");
    expect((first as EndpointsUnavailableError).lastGoodAt).toBeUndefined();
    expect((first as Error).message).toContain("no good endpoint list was ever loaded");
    expect(again.every((e) => e instanceof EndpointsUnavailableError)).toBe(true);
    expect(callsDuringBackoff).toBe(1);
    expect(ssm.calls).toBe(2);
    expect(await r.endpoints()).toEqual([c]);
  });

  it.each([
    ["not JSON", "{nope", "$"],
    ["unknown schema version", JSON.stringify({ schemaVersion: 3 }), "schemaVersion"],
    ["manifest without its fields", JSON.stringify({ schemaVersion: 2 }), "schemaVersion 2 manifest"],
    ["bad address", documentText(2, [{ address: "10.0.0.300", port: 1 }]), "endpoints[0].address"],
    ["bad port", documentText(2, [{ address: "10.0.0.9", port: 70_000 }]), "endpoints[0].port"],
  ])("keeps the last good list when the document is invalid (%s)", async (_case, value, path) => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => documentText(1, [a]);
    const errors: EndpointRefreshError[] = [];
    const r = make({ refreshIntervalMs: 1_000, jitter: 0 });
    r.on("error", (e) => errors.push(e));
    await r.endpoints();
    ssm.answer = () => value;

    // Act
    await vi.advanceTimersByTimeAsync(1_000);

    // Assess
    expect(await r.endpoints()).toEqual([a]);
    expect(errors[0]?.reason).toBe("invalid-document");
    expect(errors[0]?.message).toContain(path);
    expect(r.current()?.revision).toBe(1);
  });

  it("never answers a failure with an empty list", async () => {
    ssm.answer = () => {
      throw new Error("socket hang up");
    };
    const r = make();
    await expect(r.endpoints()).rejects.toMatchObject({ name: "EndpointsUnavailableError", reason: "request-failed" });
  });

  it("serves an empty list when the document says there are no ready endpoints", async () => {
    ssm.answer = () => documentText(4, []);
    const r = make();
    expect(await r.endpoints()).toEqual([]);
    expect(r.status()).toMatchObject({ revision: 4, endpointCount: 0, source: "ssm" });
  });
});

describe("fallbacks", () => {
  it("tries fallbacks in order when SSM has no usable document, and returns to SSM when it does", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(1);
    ssm.answer = () => {
      throw notFound(parameterName);
    };
    const broken = { name: "broken", resolve: vi.fn(async () => Promise.reject(new Error("down"))) };
    const empty = { name: "empty", resolve: vi.fn(async () => []) };
    const working = { name: "static", resolve: vi.fn(async () => [c]) };
    const errors: string[] = [];
    const docs: EndpointDocument[] = [];
    const r = make({ fallbacks: [broken, empty, working], refreshIntervalMs: 1_000, jitter: 0 });
    r.on("error", (e) => errors.push(`${e.source}:${e.reason}`));
    r.subscribe((doc) => docs.push(doc));

    // Act
    const fromFallback = await r.endpoints();
    const statusOnFallback = r.status();
    ssm.answer = () => documentText(9, [a]);
    await vi.advanceTimersByTimeAsync(1_000);

    // Assess
    expect(fromFallback).toEqual([c]);
    expect(statusOnFallback.source).toBe("static");
    expect(errors).toEqual(["ssm:not-found", "broken:fallback-failed", "empty:fallback-failed"]);
    expect(docs.map((d) => d.revision)).toEqual([0, 9]);
    expect(await r.endpoints()).toEqual([a]);
    expect(r.status().source).toBe("ssm");
  });

  it("rejects when SSM and every fallback fail", async () => {
    ssm.answer = () => {
      throw throttling();
    };
    const r = make({ fallbacks: [{ name: "dns", resolve: async () => Promise.reject(new Error("ENOTFOUND")) }] });
    await expect(r.endpoints()).rejects.toMatchObject({ name: "EndpointsUnavailableError", reason: "fallback-failed" });
  });
});

describe("environment override", () => {
  it("bypasses SSM entirely", async () => {
    const r = make({ envOverride: "WORKFLOW_SERVICE_ENDPOINTS", env: { WORKFLOW_SERVICE_ENDPOINTS: "localhost:50051, 10.1.0.2:7000" } });
    expect(await r.endpoints()).toEqual([
      { address: "10.1.0.2", port: 7000 },
      { address: "localhost", port: 50051 },
    ]);
    expect(r.current()).toMatchObject({ revision: 0, service: "workflow-agent" });
    expect(r.status().source).toBe("env");
    await vi.advanceTimersByTimeAsync(600_000);
    expect(ssm.calls).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("reads SSM when the variable is unset or empty", async () => {
    ssm.answer = () => documentText(1, [a]);
    const r = make({ envOverride: "WORKFLOW_SERVICE_ENDPOINTS", env: { WORKFLOW_SERVICE_ENDPOINTS: "" } });
    expect(await r.endpoints()).toEqual([a]);
    expect(ssm.calls).toBe(1);
  });
});
