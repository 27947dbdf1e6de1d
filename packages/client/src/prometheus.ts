/**
 * Prometheus metrics for endpoint readers. A subpath export (`@discovery-sync/client/prometheus`) because it needs
 * the optional peer dependency `prom-client`.
 *
 * @module
 */
import { Counter, Gauge, register as defaultRegistry, type Registry } from "prom-client";
import type { EndpointReader } from "./reader.js";
import { InvalidOptionError } from "./errors.js";
import { assertKnownKeys, assertRecord } from "./validate.js";

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
  const registry = options.registry ?? defaultRegistry;
  const candidate = registry as Partial<Registry> | null;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof candidate.registerMetric !== "function" ||
    typeof candidate.getSingleMetric !== "function"
  ) {
    throw new InvalidOptionError("registry", registry, "expected a prom-client Registry");
  }
  const prefix = options.prefix ?? "discovery_client_";
  if (typeof prefix !== "string" || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new InvalidOptionError("prefix", prefix, "expected a Prometheus metric name prefix");
  }
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
