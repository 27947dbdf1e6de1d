/**
 * Prometheus metrics for endpoint readers and for the gRPC calls made through them. A subpath export
 * (`@discovery-sync/client/prometheus`) because it needs the optional peer dependency `prom-client`.
 * {@link grpcCallMetrics} also needs `@grpc/grpc-js`, loaded only when it is called, so reader metrics work without it.
 *
 * @module
 */
import { createRequire } from "node:module";
import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from "prom-client";
import type * as Grpc from "@grpc/grpc-js";
import type { EndpointReader } from "./reader.js";
import { DiscoveryClientError, InvalidOptionError } from "./errors.js";
import { assertKnownKeys, assertRecord, integerInRange, isRecord } from "./validate.js";

/**
 * Options of {@link registerReaderMetrics}.
 *
 * @example
 * ```ts
 * registerReaderMetrics(reader, { registry: new Registry(), prefix: "myapp_discovery_" });
 * ```
 */
export interface ReaderMetricsOptions {
  /** Registry to register in. @default prom-client's global registry */
  readonly registry?: Registry;
  /** Prefix of every metric name. @default "discovery_client_" */
  readonly prefix?: string;
}

interface RegistryMetrics {
  readonly refreshes: Counter<"parameter" | "source">;
  readonly failures: Counter<"parameter" | "source" | "reason">;
  readonly readers: Set<EndpointReader>;
}

/** One set of metric objects per registry and prefix, shared by every reader registered there. */
const perRegistry = new WeakMap<Registry, Map<string, RegistryMetrics>>();

/**
 * Exports a reader's health as Prometheus metrics (label `parameter` = the SSM parameter name):
 *
 * - `discovery_client_refreshes_total{parameter,source}`: successful refreshes.
 * - `discovery_client_refresh_failures_total{parameter,source,reason}`: failed reads, by {@link FailureReason}.
 * - `discovery_client_seconds_since_last_good_refresh{parameter}`: age of the list served (alert on it: a list
 *   that stops being refreshed is the failure that looks like success).
 * - `discovery_client_endpoints{parameter}`: ready endpoints served.
 * - `discovery_client_revision{parameter}`: document revision held.
 * - `discovery_client_epoch{parameter}`: epoch of the document held (ms since 1970; it changes when the parameter
 *   was deleted, recreated or restored by hand, and revisions then start again).
 *
 * Gauges are computed when scraped. Several readers may share one registry. Returns a function that stops
 * exporting this reader.
 *
 * @example
 * ```ts
 * import { register } from "prom-client";
 * import { registerReaderMetrics } from "@discovery-sync/client/prometheus";
 *
 * const stop = registerReaderMetrics(reader);
 * // GET /metrics -> await register.metrics()
 * ```
 */
export function registerReaderMetrics(reader: EndpointReader, options: ReaderMetricsOptions = {}): () => void {
  if (typeof reader !== "object" || reader === null || typeof reader.status !== "function") {
    throw new InvalidOptionError("reader", reader, "expected an EndpointReader");
  }
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as Record<string, unknown>, ["registry", "prefix"]);
  const registry = checkedRegistry(options.registry);
  const prefix = checkedPrefix(options.prefix, "discovery_client_");
  let byPrefix = perRegistry.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    perRegistry.set(registry, byPrefix);
  }
  let metrics = byPrefix.get(prefix);
  if (metrics === undefined) {
    metrics = createMetrics(registry, prefix);
    byPrefix.set(prefix, metrics);
  }
  const { refreshes, failures, readers } = metrics;
  readers.add(reader);
  const parameter = reader.parameterName;
  const offRefresh = reader.on("refresh", ({ source }) => refreshes.inc({ parameter, source }));
  const offError = reader.on("error", (error) =>
    failures.inc({ parameter, source: error.source, reason: error.reason }),
  );
  return () => {
    offRefresh();
    offError();
    readers.delete(reader);
  };
}

function createMetrics(registry: Registry, prefix: string): RegistryMetrics {
  const readers = new Set<EndpointReader>();
  const gauge = (name: string, help: string, value: (reader: EndpointReader) => number | undefined) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ["parameter"],
      registers: [registry],
      collect() {
        this.reset();
        for (const reader of readers) {
          const v = value(reader);
          if (v !== undefined) this.set({ parameter: reader.parameterName }, v);
        }
      },
    });
  gauge("seconds_since_last_good_refresh", "Seconds since the endpoint list was last confirmed good.", (reader) => {
    const at = reader.status().lastGoodAt;
    return at === undefined ? undefined : Math.max(0, (Date.now() - at.getTime()) / 1_000);
  });
  gauge("endpoints", "Ready endpoints the reader serves.", (reader) => reader.status().endpointCount);
  gauge("revision", "Revision of the endpoint document held.", (reader) => reader.status().revision);
  gauge("epoch", "Epoch of the endpoint document held (ms since 1970); revisions count within an epoch.", (reader) => reader.status().epoch ?? 0);
  return {
    refreshes: new Counter({
      name: `${prefix}refreshes_total`,
      help: "Successful refreshes of the endpoint list.",
      labelNames: ["parameter", "source"],
      registers: [registry],
    }),
    failures: new Counter({
      name: `${prefix}refresh_failures_total`,
      help: "Failed reads of the endpoint list, by source and reason.",
      labelNames: ["parameter", "source", "reason"],
      registers: [registry],
    }),
    readers,
  };
}

function checkedRegistry(value: unknown): Registry {
  const registry = value ?? defaultRegistry;
  const candidate = registry as Partial<Registry> | null;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof candidate.registerMetric !== "function" ||
    typeof candidate.getSingleMetric !== "function"
  ) {
    throw new InvalidOptionError("registry", registry, "expected a prom-client Registry");
  }
  return registry as Registry;
}

function checkedPrefix(value: unknown, fallback: string): string {
  const prefix = value ?? fallback;
  if (typeof prefix !== "string" || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new InvalidOptionError("prefix", prefix, "expected a Prometheus metric name prefix");
  }
  return prefix;
}

/**
 * Options of {@link grpcCallMetrics}.
 *
 * @example
 * ```ts
 * const options: GrpcCallMetricsOptions = { registry, perEndpoint: { maxEndpoints: 200 } };
 * ```
 */
export interface GrpcCallMetricsOptions {
  /** Registry to register in. @default prom-client's global registry */
  readonly registry?: Registry;
  /** Prefix of every metric name. @default "grpc_client_" */
  readonly prefix?: string;
  /**
   * Add an `endpoint` label (the peer that answered, `10.0.1.5:50051`) to the duration histogram and the failure
   * counter. `true` or `{ maxEndpoints, idleMs }` bound its values: at most `maxEndpoints` endpoints (1 to 10 000,
   * default 100) have series at a time; a new endpoint takes the place of one not called for `idleMs` (1 000 to
   * 86 400 000, default 600 000: tasks replaced by a deploy), whose series are removed, and is counted as `other`
   * while none is that idle. A call that reached no endpoint is labelled `none`. @default false
   */
  readonly perEndpoint?: boolean | { readonly maxEndpoints?: number; readonly idleMs?: number };
  /** Bucket bounds of the duration histogram, in seconds. @default 0.005 to 10 s, prom-client's defaults */
  readonly buckets?: readonly number[];
}

interface CallMetricSet {
  readonly inFlight: Gauge<"grpc_service" | "grpc_method">;
  readonly duration: Histogram<string>;
  readonly failures: Counter<string>;
  readonly endpoints: EndpointLabels | undefined;
}

/** One set of call metrics per registry and prefix, shared by every interceptor made for them. */
const callMetricsPerRegistry = new WeakMap<Registry, Map<string, CallMetricSet>>();

/**
 * A `@grpc/grpc-js` client interceptor that records every call as Prometheus metrics, named after Prometheus'
 * conventions (base units, `_total` for counters) and the labels of go-grpc-prometheus (`grpc_service`,
 * `grpc_method`, `grpc_code`):
 *
 * - `grpc_client_calls_in_flight{grpc_service,grpc_method}` (gauge): calls started and not finished;
 * - `grpc_client_call_duration_seconds{grpc_service,grpc_method,grpc_code[,endpoint]}` (histogram): the time of each
 *   call from start to status, retries included (a retried call is one call), by the status it ended with; its
 *   `_count` counts calls;
 * - `grpc_client_call_failures_total{grpc_service,grpc_method,grpc_code[,endpoint]}` (counter): calls that ended
 *   with a status other than `OK`, by status name (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, ...).
 *
 * Several interceptors (channels) may share a registry and prefix; they then share the metrics. Needs
 * `@grpc/grpc-js`, loaded when this is called.
 *
 * @throws {InvalidOptionError} for a bad option, or a `perEndpoint` unlike that of metrics already registered
 *   under the prefix. {@link DiscoveryClientError} when `@grpc/grpc-js` is not installed.
 * @example
 * ```ts
 * import * as grpc from "@grpc/grpc-js";
 * import { registerEndpointResolver } from "@discovery-sync/client/grpc";
 * import { grpcCallMetrics } from "@discovery-sync/client/prometheus";
 *
 * const registration = registerEndpointResolver();
 * const client = new WorkflowAgentClient(registration.target("workflow-agent"), grpc.credentials.createInsecure(), {
 *   ...registration.channelOptions,
 *   interceptors: [grpcCallMetrics({ perEndpoint: true })],
 * });
 * ```
 */
export function grpcCallMetrics(options: GrpcCallMetricsOptions = {}): Grpc.Interceptor {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as Record<string, unknown>, ["registry", "prefix", "perEndpoint", "buckets"]);
  const registry = checkedRegistry(options.registry);
  const prefix = checkedPrefix(options.prefix, "grpc_client_");
  const perEndpoint = checkedPerEndpoint(options.perEndpoint);
  const buckets = checkedBuckets(options.buckets);
  const grpc = loadGrpc();

  let byPrefix = callMetricsPerRegistry.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    callMetricsPerRegistry.set(registry, byPrefix);
  }
  let metrics = byPrefix.get(prefix);
  if (metrics === undefined) {
    metrics = createCallMetrics(registry, prefix, perEndpoint, buckets);
    byPrefix.set(prefix, metrics);
  } else if ((metrics.endpoints === undefined) !== (perEndpoint === undefined)) {
    // One metric name has one label set: a histogram with and one without `endpoint` cannot share the name.
    throw new InvalidOptionError(
      "perEndpoint",
      options.perEndpoint,
      `the same as the interceptors already recording under prefix ${prefix} in this registry (${
        metrics.endpoints === undefined ? "without" : "with"
      } the endpoint label), or another prefix`,
    );
  }
  const { inFlight, duration, failures, endpoints } = metrics;

  return (callOptions, nextCall) => {
    const { service, method } = splitMethodPath(callOptions.method_definition.path);
    const call = nextCall(callOptions);
    let startedAt: bigint | undefined;
    return new grpc.InterceptingCall(call, {
      start(metadata, listener, next) {
        startedAt = process.hrtime.bigint();
        inFlight.inc({ grpc_service: service, grpc_method: method });
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            // grpc-js gives every call exactly one status; the guard keeps a misbehaving interceptor further down
            // from counting a call twice or pushing the gauge below zero.
            if (startedAt !== undefined) {
              const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
              startedAt = undefined;
              inFlight.dec({ grpc_service: service, grpc_method: method });
              const code = grpc.status[status.code] ?? String(status.code);
              const labels: Record<string, string> = { grpc_service: service, grpc_method: method, grpc_code: code };
              if (endpoints !== undefined) labels.endpoint = endpoints.labelFor(call.getPeer(), labels);
              duration.observe(labels, seconds);
              if (status.code !== grpc.status.OK) failures.inc(labels);
            }
            nextStatus(status);
          },
        });
      },
    });
  };
}

/** `/pkg.Service/Method` -> `pkg.Service`, `Method`. */
function splitMethodPath(path: string): { service: string; method: string } {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return match === null ? { service: "", method: path } : { service: match[1]!, method: match[2]! };
}

/**
 * Loads `@grpc/grpc-js` when call metrics are asked for, not when this module is imported: reader metrics must work
 * in applications without gRPC. `require` is grpc-js' own format (CommonJS), so the application's `import` of it
 * and this one share one instance.
 */
function loadGrpc(): typeof Grpc {
  try {
    return createRequire(import.meta.url)("@grpc/grpc-js") as typeof Grpc;
  } catch (error) {
    throw new DiscoveryClientError(
      "grpcCallMetrics needs the optional peer dependency @grpc/grpc-js; install it (npm install @grpc/grpc-js)",
      { cause: error },
    );
  }
}

function checkedPerEndpoint(value: unknown): { maxEndpoints: number; idleMs: number } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { maxEndpoints: 100, idleMs: 600_000 };
  if (!isRecord(value)) {
    throw new InvalidOptionError("perEndpoint", value, "expected true, false or { maxEndpoints?, idleMs? }");
  }
  assertKnownKeys("perEndpoint", value, ["maxEndpoints", "idleMs"]);
  return {
    maxEndpoints: integerInRange("perEndpoint.maxEndpoints", value.maxEndpoints, 100, 1, 10_000),
    idleMs: integerInRange("perEndpoint.idleMs", value.idleMs, 600_000, 1_000, 86_400_000),
  };
}

function checkedBuckets(value: unknown): number[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((bound, i) => typeof bound !== "number" || !(bound > 0) || !Number.isFinite(bound) || (i > 0 && bound <= value[i - 1]))
  ) {
    throw new InvalidOptionError("buckets", value, "expected increasing positive numbers of seconds");
  }
  return [...(value as number[])];
}

function createCallMetrics(
  registry: Registry,
  prefix: string,
  perEndpoint: { maxEndpoints: number; idleMs: number } | undefined,
  buckets: number[] | undefined,
): CallMetricSet {
  const labelNames = ["grpc_service", "grpc_method", "grpc_code", ...(perEndpoint === undefined ? [] : ["endpoint"])];
  const duration = new Histogram({
    name: `${prefix}call_duration_seconds`,
    help: "Duration of gRPC calls from start to status, retries included, by the status they ended with.",
    labelNames,
    registers: [registry],
    ...(buckets === undefined ? {} : { buckets }),
  });
  const failures = new Counter({
    name: `${prefix}call_failures_total`,
    help: "gRPC calls that ended with a status other than OK, by status.",
    labelNames,
    registers: [registry],
  });
  return {
    inFlight: new Gauge({
      name: `${prefix}calls_in_flight`,
      help: "gRPC calls started and not finished.",
      labelNames: ["grpc_service", "grpc_method"],
      registers: [registry],
    }),
    duration,
    failures,
    endpoints:
      perEndpoint === undefined
        ? undefined
        : new EndpointLabels(perEndpoint.maxEndpoints, perEndpoint.idleMs, (labels) => {
            duration.remove(labels);
            failures.remove(labels);
          }),
  };
}

/**
 * The `endpoint` label's values, bounded: tasks come and go with every deploy, and each address would otherwise add
 * series forever. At most `maxEndpoints` endpoints hold a value; a new one replaces the endpoint called least
 * recently if that one was idle for `idleMs` (its series are removed), and is `other` while none was.
 */
class EndpointLabels {
  readonly #maxEndpoints: number;
  readonly #idleMs: number;
  readonly #removeSeries: (labels: Record<string, string>) => void;
  /** Endpoint -> when last called (ms) and the label sets of its series. Map order is least recently used first. */
  readonly #endpoints = new Map<string, { lastCalledAt: number; series: Map<string, Record<string, string>> }>();

  public constructor(maxEndpoints: number, idleMs: number, removeSeries: (labels: Record<string, string>) => void) {
    this.#maxEndpoints = maxEndpoints;
    this.#idleMs = idleMs;
    this.#removeSeries = removeSeries;
  }

  /** The label value for a call answered by `peer` with `labels` (without `endpoint`), remembering its series. */
  public labelFor(peer: string, labels: Readonly<Record<string, string>>): string {
    // grpc-js names the peer `host:port`; before any attempt reached one it gives "unknown" or the channel target.
    if (!/^(\[[0-9a-fA-F:.]+\]|[^/:\[\]]+):\d+$/.test(peer)) return "none";
    const now = Date.now();
    let entry = this.#endpoints.get(peer);
    if (entry === undefined) {
      if (this.#endpoints.size >= this.#maxEndpoints && !this.#evictIdle(now)) return "other";
      entry = { lastCalledAt: now, series: new Map() };
    } else {
      this.#endpoints.delete(peer); // re-inserted below: most recently used last
    }
    entry.lastCalledAt = now;
    this.#endpoints.set(peer, entry);
    const key = `${labels.grpc_service}/${labels.grpc_method}/${labels.grpc_code}`;
    if (!entry.series.has(key)) entry.series.set(key, { ...labels, endpoint: peer });
    return peer;
  }

  #evictIdle(now: number): boolean {
    const [oldest] = this.#endpoints;
    if (oldest === undefined || now - oldest[1].lastCalledAt < this.#idleMs) return false;
    this.#endpoints.delete(oldest[0]);
    for (const labels of oldest[1].series.values()) this.#removeSeries(labels);
    return true;
  }
}
