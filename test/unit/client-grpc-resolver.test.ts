import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as grpc from "@grpc/grpc-js";
import {
  InvalidOptionError,
  type Endpoint,
  type EndpointDocument,
  type EndpointReader,
  type EndpointReaderStatus,
} from "@discovery-sync/client";
import { registerEndpointResolver } from "@discovery-sync/client/grpc";

// The resolver's re-resolution rate limit, without network: a fake EndpointReader behind a resolver created the way a
// grpc-js channel creates it (grpc.experimental.createResolver), and fake timers. grpc-js calls updateResolution()
// whenever a subchannel leaves READY and resets its own backoff after every answer, so an unlimited resolver that
// answers from memory loops answer -> re-resolve -> answer forever.

const a: Endpoint = { address: "10.0.0.1", port: 50051 };
const b: Endpoint = { address: "10.0.0.2", port: 50051 };

interface FakeReader extends EndpointReader {
  /** Calls of endpoints(). */
  endpointCalls: number;
  /** Serves `document` and tells subscribers, as the real reader does after a refresh that found a newer revision. */
  publish(document: EndpointDocument): void;
  readonly subscriberCount: number;
}

function documentOf(revision: number, endpoints: readonly Endpoint[]): EndpointDocument {
  return {
    schemaVersion: 1,
    service: "svc",
    revision,
    generatedAt: "2026-11-25T06:00:00.000Z",
    endpoints,
    draining: [],
  };
}

function fakeReader(initial: EndpointDocument): FakeReader {
  let served = initial;
  let closed = false;
  const subscribers = new Set<(document: EndpointDocument) => void>();
  const fake: FakeReader = {
    parameterName: "/discovery/svc/endpoints",
    endpointCalls: 0,
    get subscriberCount() {
      return subscribers.size;
    },
    async endpoints() {
      fake.endpointCalls += 1;
      return served.endpoints;
    },
    async document() {
      return served;
    },
    current: () => served,
    subscribe(listener) {
      subscribers.add(listener);
      return () => {
        subscribers.delete(listener);
      };
    },
    on: () => () => undefined,
    refresh: async () => undefined,
    status: (): EndpointReaderStatus => ({
      parameterName: fake.parameterName,
      source: "ssm",
      revision: served.revision,
      endpointCount: served.endpoints.length,
      lastGoodAt: new Date(),
      failingSince: undefined,
      lastError: undefined,
      consecutiveFailures: 0,
      closed,
    }),
    close() {
      closed = true;
    },
    publish(document) {
      served = document;
      for (const listener of [...subscribers]) listener(document);
    },
  };
  return fake;
}

interface ListenerCall {
  readonly addresses: string[];
  readonly note: string;
}

/** A ResolverListener that records the addresses of each answer. */
function recordingListener(): { listener: grpc.experimental.ResolverListener; calls: ListenerCall[] } {
  const calls: ListenerCall[] = [];
  const listener: grpc.experimental.ResolverListener = (endpointList, _attributes, _serviceConfig, note) => {
    const addresses = endpointList.ok
      ? endpointList.value.flatMap((endpoint) => endpoint.addresses.map((x) => ("host" in x ? `${x.host}:${x.port}` : x.path)))
      : [`error: ${endpointList.error.details}`];
    calls.push({ addresses, note });
    return true;
  };
  return { listener, calls };
}

/** Lets every pending promise callback run (the resolver answers from a promise), without moving the clock. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

let schemeCounter = 0;
let resolver: grpc.experimental.Resolver | undefined;

/** Registers a fresh scheme backed by `reader` and creates a resolver for `<scheme>:///svc`, as a channel would. */
function resolverFor(reader: EndpointReader, minResolutionIntervalMs?: number) {
  const scheme = `ratelimit-test-${++schemeCounter}`;
  registerEndpointResolver({
    scheme,
    createReader: () => reader,
    ...(minResolutionIntervalMs === undefined ? {} : { minResolutionIntervalMs }),
  });
  const { listener, calls } = recordingListener();
  // grpc-js 1.14.7 does not export parseUri from `experimental`; this is what it makes of "<scheme>:///svc".
  const target: grpc.experimental.GrpcUri = { scheme, authority: "", path: "svc" };
  resolver = grpc.experimental.createResolver(target, listener, {});
  return { resolver, calls };
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-11-25T06:00:00.000Z") });
});

afterEach(() => {
  resolver?.destroy();
  resolver = undefined;
  vi.useRealTimers();
});

describe("re-resolution rate limit", () => {
  it("answers 1,000 re-resolution requests within the interval at most twice", async () => {
    // Prepare
    const reader = fakeReader(documentOf(1, [a]));
    const { resolver: r, calls } = resolverFor(reader);

    // Act: each request is given the chance to be answered before the next one, as grpc-js' loop would.
    for (let i = 0; i < 1_000; i++) {
      r.updateResolution();
      await settle();
    }
    await vi.advanceTimersByTimeAsync(999);

    // Assess
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(2);
    expect(calls[0]?.addresses).toEqual(["10.0.0.1:50051"]);
    expect(reader.endpointCalls).toBe(calls.length);
  });

  it("answers the requests made within the interval once, when it ends", async () => {
    // Prepare
    const reader = fakeReader(documentOf(1, [a]));
    const { resolver: r, calls } = resolverFor(reader);
    r.updateResolution();
    await settle();
    const answeredFirst = calls.length;
    for (let i = 0; i < 1_000; i++) {
      r.updateResolution();
      await settle();
    }
    await vi.advanceTimersByTimeAsync(999);
    const withinInterval = calls.length;

    // Act
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    const afterInterval = calls.length;
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(answeredFirst).toBe(1);
    expect(withinInterval).toBe(1);
    expect(afterInterval).toBe(2);
    // One deferred answer for all 1,000 requests, and nothing more without a new request.
    expect(calls.length).toBe(2);
    expect(calls[1]?.addresses).toEqual(["10.0.0.1:50051"]);
  });

  it("honours a custom minResolutionIntervalMs", async () => {
    // Prepare
    const reader = fakeReader(documentOf(1, [a]));
    const { resolver: r, calls } = resolverFor(reader, 5_000);
    r.updateResolution();
    await settle();

    // Act
    r.updateResolution();
    await vi.advanceTimersByTimeAsync(4_999);
    const before = calls.length;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(before).toBe(1);
    expect(calls.length).toBe(2);
  });

  it("answers every request at once with minResolutionIntervalMs 0", async () => {
    // Prepare
    const reader = fakeReader(documentOf(1, [a]));
    const { resolver: r, calls } = resolverFor(reader, 0);

    // Act
    for (let i = 0; i < 5; i++) {
      r.updateResolution();
      await settle();
    }

    // Assess
    expect(calls.length).toBe(5);
  });

  it("pushes a new revision from subscribe at once, even within the interval", async () => {
    // Prepare
    const reader = fakeReader(documentOf(1, [a]));
    const { resolver: r, calls } = resolverFor(reader);
    r.updateResolution();
    await settle();
    r.updateResolution(); // deferred: inside the interval
    await settle();
    expect(calls.length).toBe(1);

    // Act
    reader.publish(documentOf(2, [a, b]));

    // Assess: pushed synchronously from the reader's notification, without waiting for the interval.
    expect(calls.length).toBe(2);
    expect(calls[1]).toEqual({ addresses: ["10.0.0.1:50051", "10.0.0.2:50051"], note: "revision 2" });
    expect(Date.now()).toBe(new Date("2026-11-25T06:00:00.000Z").getTime());
  });

  it("cancels a deferred answer on destroy()", async () => {
    // Prepare
    const reader = fakeReader(documentOf(1, [a]));
    const { resolver: r, calls } = resolverFor(reader);
    r.updateResolution();
    await settle();
    r.updateResolution(); // deferred until the interval ends
    await settle();

    // Act
    r.destroy();
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(calls.length).toBe(1);
    expect(reader.endpointCalls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    expect(reader.subscriberCount).toBe(0);
    // A revision published after destroy() reaches no listener either.
    reader.publish(documentOf(2, [b]));
    expect(calls.length).toBe(1);
  });

  it.each([
    [-1, "-1"],
    [1.5, "1.5"],
    ["x", '"x"'],
    [86_400_001, "86400001"], // over a day: setTimeout would overflow and fire at once
  ])("refuses minResolutionIntervalMs %j with an error naming the option and value", (value, shown) => {
    // Act
    let caught: unknown;
    try {
      registerEndpointResolver({
        scheme: `ratelimit-invalid-${++schemeCounter}`,
        createReader: () => fakeReader(documentOf(1, [a])),
        minResolutionIntervalMs: value as number,
      });
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(InvalidOptionError);
    const error = caught as InvalidOptionError;
    expect(error.option).toBe("minResolutionIntervalMs");
    expect(error.value).toBe(value);
    expect(error.message).toContain("minResolutionIntervalMs");
    expect(error.message).toContain(`(given ${shown})`);
  });
});

describe("registerEndpointResolver options", () => {
  it("refuses createReader together with readerOptions, which it would otherwise ignore", () => {
    // Act + Assess
    expect(() =>
      registerEndpointResolver({
        scheme: `options-test-${++schemeCounter}`,
        createReader: () => fakeReader(documentOf(1, [a])),
        readerOptions: { refreshIntervalMs: 5_000 },
      }),
    ).toThrow(expect.objectContaining({ name: "InvalidOptionError", option: "readerOptions", value: { refreshIntervalMs: 5_000 } }));
  });

  it.each([
    ["jitter", { jitter: 5 }, "readerOptions.jitter", 5],
    ["a misspelt option", { refreshInterval: 1_000 }, "readerOptions.refreshInterval", 1_000],
    ["a nested option", { backoff: { initialMs: 0 } }, "readerOptions.backoff.initialMs", 0],
  ])("names a bad reader option (%s) as the caller wrote it, under readerOptions", (_case, readerOptions, option, value) => {
    // Act
    let caught: unknown;
    try {
      registerEndpointResolver({ scheme: `options-test-${++schemeCounter}`, readerOptions: readerOptions as never });
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(InvalidOptionError);
    const error = caught as InvalidOptionError;
    expect(error.option).toBe(option);
    expect(error.value).toEqual(value);
    expect(error.message).toContain(`invalid option ${option}:`);
    expect(error.cause).toBeInstanceOf(InvalidOptionError);
    expect((error.cause as InvalidOptionError).option).toBe(option.slice("readerOptions.".length));
  });

  it("names parameterNameTemplate when the template makes an invalid parameter name", () => {
    // Act + Assess
    expect(() =>
      registerEndpointResolver({
        scheme: `options-test-${++schemeCounter}`,
        parameterNameTemplate: "/discovery/{service} endpoints",
      }),
    ).toThrow(
      expect.objectContaining({
        name: "InvalidOptionError",
        option: "parameterNameTemplate",
        value: "/discovery/{service} endpoints",
      }),
    );
  });

  it("accepts a template naming {service} twice, as targets expand every occurrence", () => {
    // Act + Assess
    expect(() =>
      registerEndpointResolver({
        scheme: `options-test-${++schemeCounter}`,
        parameterNameTemplate: "/discovery/{service}/{service}-endpoints",
      }),
    ).not.toThrow();
  });

  it("refuses readerOptions.parameterName: each channel's target names the parameter", () => {
    // Act + Assess
    expect(() =>
      registerEndpointResolver({
        scheme: `options-test-${++schemeCounter}`,
        readerOptions: { parameterName: "/discovery/other/endpoints" } as never,
      }),
    ).toThrow(
      expect.objectContaining({
        name: "InvalidOptionError",
        option: "readerOptions.parameterName",
        value: "/discovery/other/endpoints",
      }),
    );
  });
});
