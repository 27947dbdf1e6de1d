import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { type Endpoint, type EndpointDocument, EndpointDocumentError } from "./document.js";
import {
  describeError,
  EndpointRefreshError,
  EndpointsUnavailableError,
  InvalidOptionError,
  ReaderClosedError,
  type FailureReason,
} from "./errors.js";
import { readThroughExtension, resolveLambdaExtension, type LambdaExtensionOptions } from "./lambda-extension.js";
import { readEnvOverride, type EnvOverride } from "./override.js";
import {
  assembleShardedDocument,
  compareDocumentOrder,
  parseStoredDocument,
  shardedDocumentSchemaVersion,
  shardParameterName,
  type ShardManifest,
  type ShardRef,
  type StoredDocument,
} from "./shards.js";
import { readShardValues, shardCacheKey } from "./ssm-shards.js";
import {
  assertKnownKeys,
  assertRecord,
  durationOrInfinity,
  fractionInRange,
  integerInRange,
  nonEmptyString,
  optionalFunction,
  ssmParameterName,
} from "./validate.js";

/**
 * A secondary source of endpoints, tried in order when SSM has no usable document (the parameter is missing, its
 * value is invalid, or SSM cannot be reached). Build one with `dnsFallback()`, `cloudMapFallback()` (from
 * `@discovery-sync/client/cloudmap`) or `ecsFallback()` (from `@discovery-sync/client/ecs`), or implement it yourself.
 *
 * @example
 * ```ts
 * const staticFallback: EndpointFallback = {
 *   name: "static",
 *   resolve: async () => [{ address: "10.0.0.5", port: 50051 }],
 * };
 * ```
 */
export interface EndpointFallback {
  /** Short name used in errors, events and metrics, for example `cloudmap` or `dns`. */
  readonly name: string;
  /**
   * The endpoints this source knows now. Reject (do not return an empty list) when the source failed; an empty
   * list is treated as "this source has nothing" and the next fallback is tried.
   */
  resolve(): Promise<readonly Endpoint[]>;
}

/**
 * Options of {@link createEndpointReader}. Every option is validated when the reader is created.
 *
 * @example
 * ```ts
 * const options: EndpointReaderOptions = {
 *   parameterName: "/discovery/workflow-agent/endpoints",
 *   refreshIntervalMs: 30_000,
 *   maxStaleMs: 10 * 60_000,
 *   envOverride: "WORKFLOW_SERVICE_ENDPOINTS",
 * };
 * ```
 */
export interface EndpointReaderOptions {
  /** Name (or ARN) of the SSM parameter holding the endpoint document, for example `/discovery/<service>/endpoints`. */
  readonly parameterName: string;
  /**
   * The SSM client to read with. Give it to share one client (and its connection pool) across readers, or to set
   * region, credentials, endpoint or middleware.
   * @default a client built from the standard AWS environment (region, credentials, AWS_ENDPOINT_URL_SSM), created
   *   on first use
   */
  readonly ssmClient?: SSMClient;
  /** How often the document is re-read, in ms (100 to 86 400 000). @default 30 000 */
  readonly refreshIntervalMs?: number;
  /**
   * Fraction (0 to < 1) by which each refresh is brought forward at random, so a fleet started together does not
   * refresh in step and spend the account's shared GetParameter budget (about 40 TPS) in bursts. @default 0.1
   */
  readonly jitter?: number;
  /**
   * How long (ms) the last good list may still be served while refreshes fail; past it `endpoints()` rejects with
   * {@link EndpointsUnavailableError}. `Infinity` serves the last good list forever (Eureka's choice; watch the
   * `seconds since last good refresh` metric then).
   *
   * Must be at least `refreshIntervalMs` (an {@link InvalidOptionError} otherwise): the list is only refreshed every
   * `refreshIntervalMs`, so a shorter limit would make every read between the two wait on a new GetParameter
   * instead of answering from memory, and a single failed refresh would leave no list to serve. Give it several
   * intervals (the default is ten) so a list survives a few failed refreshes and their backoff.
   * @default 300 000 (5 minutes), or `refreshIntervalMs` when that is longer
   */
  readonly maxStaleMs?: number;
  /**
   * Environment variables that, when set, replace SSM entirely with fixed endpoints (local development, tests); the
   * reader then never calls SSM and `status().source` is `"env"`. Two forms, both opt-in by name:
   *
   * - `"WORKFLOW_SERVICE_ENDPOINTS"`: one variable holding a list `host:port[,host:port...]`
   *   (`localhost:50051`, `10.0.0.5:50051,[::1]:50052`);
   * - `{ host: "WORKFLOW_SERVICE_HOST", port: "WORKFLOW_SERVICE_PORT" }`: the reference design's pair, one endpoint;
   *   active when the host variable is set, which then requires the port variable (1-65535). A port set without a
   *   host is refused.
   *
   * Host names are allowed. Values are validated when the reader is created: a bad one throws
   * {@link InvalidOptionError} naming the variable (`env WORKFLOW_SERVICE_PORT (envOverride.port)`), the value
   * given and what is accepted. Variables unset or empty, `false` or unset option: the reader reads SSM.
   * @default no override
   */
  readonly envOverride?: EnvOverride | false;
  /** Environment to read `envOverride`, Lambda detection and the extension port from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Tried in order when SSM has no usable document. @default none */
  readonly fallbacks?: readonly EndpointFallback[];
  /**
   * Read through the AWS Parameters and Secrets Lambda extension: `"auto"` does so inside Lambda when a session
   * token is present and falls back to SSM when the extension is not installed; `true` always tries it first;
   * `false` never. @default "auto"
   */
  readonly lambdaExtension?: "auto" | boolean | LambdaExtensionOptions;
  /** Retry delays after a failed refresh: doubling from `initialMs` up to `maxMs`, each randomised by up to half. */
  readonly backoff?: {
    /** @default 1 000 */
    readonly initialMs?: number;
    /** @default refreshIntervalMs */
    readonly maxMs?: number;
  };
  /**
   * Time limit of one request to SSM (the GetParameter of the document or manifest, and each GetParameters of
   * shards), in ms; a hung request must not hold every caller. @default 5 000
   */
  readonly requestTimeoutMs?: number;
  /** Service name put into documents made up from an override or a fallback. @default from parameterName */
  readonly service?: string;
  /** Called with every failed refresh (also emitted as the `error` event). */
  readonly onError?: (error: EndpointRefreshError) => void;
}

/**
 * Where the list served now came from: `ssm`, `lambda-extension`, `env` (the override), or a fallback's name.
 *
 * @example
 * ```ts
 * if (reader.status().source === "env") console.log("using the local override");
 * ```
 */
export type EndpointSourceName = "ssm" | "lambda-extension" | "env" | (string & {});

/**
 * A point-in-time view of a reader's health, for logs, health endpoints and metrics. A plain snapshot: it does not
 * change after `status()` returns.
 *
 * @example
 * ```ts
 * const { epoch, revision, lastGoodAt, failingSince } = reader.status();
 * log.info({ epoch, revision, lastGoodAt, failingSince }, "endpoint reader");
 * ```
 */
export interface EndpointReaderStatus {
  /** The parameter the reader serves (as given to {@link createEndpointReader}). */
  readonly parameterName: string;
  /** Source of the list served, or `undefined` before the first good load. */
  readonly source: EndpointSourceName | undefined;
  /**
   * Epoch of the document held from SSM (0 when none yet, or when the document predates epochs). With
   * `revision` it orders documents: a higher epoch wins whatever its revision. Always set by the readers of
   * {@link createEndpointReader}; optional only so that `EndpointReader` implementations written before epochs
   * (test doubles, wrappers) still compile.
   */
  readonly epoch?: number;
  /** Revision of the document held from SSM, within its `epoch` (0 when none yet). */
  readonly revision: number;
  /** Number of ready endpoints served (from SSM, the override or a fallback). */
  readonly endpointCount: number;
  /** When the list served was last confirmed, or `undefined` before the first good load. */
  readonly lastGoodAt: Date | undefined;
  /** Start of the current run of failures, or `undefined` when the last refresh succeeded. */
  readonly failingSince: Date | undefined;
  /** The most recent failure of the current run, or `undefined` when the last refresh succeeded. */
  readonly lastError: EndpointRefreshError | undefined;
  /** Failed refreshes since the last success. */
  readonly consecutiveFailures: number;
  /** True once {@link EndpointReader.close} was called. */
  readonly closed: boolean;
}

/**
 * Details of a successful refresh (the `refresh` event).
 *
 * @example
 * ```ts
 * reader.on("refresh", ({ source, changed }) => changed && console.log("new list from", source));
 * ```
 */
export interface RefreshEvent {
  readonly source: EndpointSourceName;
  /** True when the list served changed (a newer document by epoch and revision, or a different source). */
  readonly changed: boolean;
  readonly document: EndpointDocument;
}

/**
 * Events of an {@link EndpointReader}.
 *
 * @example
 * ```ts
 * const off = reader.on("error", (error: EndpointRefreshError) => console.warn(error.message));
 * ```
 */
export interface EndpointReaderEvents {
  /** A refresh from one source failed. The reader keeps its last good list and retries with backoff. */
  error: (error: EndpointRefreshError) => void;
  /** A refresh succeeded. */
  refresh: (event: RefreshEvent) => void;
}

/**
 * Reads one service's endpoint document, keeps it in memory and refreshes it in the background.
 * Created by {@link createEndpointReader}.
 *
 * @example
 * ```ts
 * const reader = createEndpointReader({ parameterName: "/discovery/workflow-agent/endpoints" });
 * const list = await reader.endpoints();
 * const off = reader.subscribe((doc) => console.log("revision", doc.revision));
 * reader.close();
 * ```
 */
export interface EndpointReader {
  /** The parameter this reader serves. */
  readonly parameterName: string;
  /**
   * The ready endpoints. The first call loads (concurrent first calls share one load: one GetParameter, plus one
   * GetParameters per 10 shards of a sharded document); later calls answer from memory and never wait on the
   * network while the list is younger than `maxStaleMs`.
   * @throws {EndpointsUnavailableError} when there is no good list, or it is older than `maxStaleMs`.
   * @throws {ReaderClosedError} after {@link EndpointReader.close}.
   */
  endpoints(): Promise<readonly Endpoint[]>;
  /** Like {@link EndpointReader.endpoints} but the whole document (revision, draining endpoints). */
  document(): Promise<EndpointDocument>;
  /** The last known document, synchronously, or `undefined` before the first good load. Never waits. */
  current(): EndpointDocument | undefined;
  /**
   * Calls `listener` whenever a newer document is served (a higher epoch, a higher revision of the same epoch, or
   * a list from another source).
   * Starts loading if nothing did yet. Returns a function that removes the listener.
   */
  subscribe(listener: (document: EndpointDocument) => void): () => void;
  /** Adds an event listener; returns a function that removes it. */
  on<E extends keyof EndpointReaderEvents>(event: E, listener: EndpointReaderEvents[E]): () => void;
  /** Re-reads now (sharing a refresh already under way); resolves when done, whether it succeeded or not. */
  refresh(): Promise<void>;
  /** Health of the reader. */
  status(): EndpointReaderStatus;
  /** Stops background refresh and drops listeners. Timers never keep the process alive anyway. Idempotent. */
  close(): void;
}

const knownOptions = [
  "parameterName",
  "ssmClient",
  "refreshIntervalMs",
  "jitter",
  "maxStaleMs",
  "envOverride",
  "env",
  "fallbacks",
  "lambdaExtension",
  "backoff",
  "requestTimeoutMs",
  "service",
  "onError",
] as const;

/**
 * Creates an {@link EndpointReader}. Validates every option first and throws {@link InvalidOptionError} naming the
 * option and the value given. Creating a reader does no I/O; the first `endpoints()` (or `subscribe()`) loads.
 *
 * @example
 * ```ts
 * import { createEndpointReader } from "@discovery-sync/client";
 *
 * const reader = createEndpointReader({
 *   parameterName: "/discovery/workflow-agent/endpoints",
 *   envOverride: "WORKFLOW_SERVICE_ENDPOINTS", // "localhost:50051" on a laptop
 * });
 * const [first] = await reader.endpoints();
 * ```
 * @see EndpointReaderOptions
 */
export function createEndpointReader(options: EndpointReaderOptions): EndpointReader {
  return new Reader(options);
}

interface Served {
  readonly document: EndpointDocument;
  readonly source: EndpointSourceName;
}

/** What one read of SSM gives: the document to accept and, in the sharded form, its shard values by `index:version`. */
interface PrimaryRead {
  readonly document: EndpointDocument;
  readonly source: EndpointSourceName;
  readonly shardValues?: ReadonlyMap<string, string>;
}

/**
 * How many more times the manifest is read in one refresh when a shard it pins is gone. Each re-read follows a
 * writer that published meanwhile; more would only spend the shared GetParameter budget on a broken parameter.
 */
const manifestRereads = 2;

/** Cache key of one shard version: `index:version`. */
function shardKey(ref: ShardRef): string {
  return shardCacheKey(ref.index, ref.version);
}

/** True when the text is JSON whose schemaVersion is the sharded form's, so its errors are a manifest's. */
function isManifestText(value: string): boolean {
  try {
    const parsed = JSON.parse(value) as { schemaVersion?: unknown } | null;
    return typeof parsed === "object" && parsed?.schemaVersion === shardedDocumentSchemaVersion;
  } catch {
    return false;
  }
}

type Listeners = { [E in keyof EndpointReaderEvents]: Set<EndpointReaderEvents[E]> };

/** @internal The implementation; only the {@link EndpointReader} interface is public. */
class Reader implements EndpointReader {
  public readonly parameterName: string;
  readonly #refreshIntervalMs: number;
  readonly #jitter: number;
  readonly #maxStaleMs: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #requestTimeoutMs: number;
  readonly #service: string;
  readonly #fallbacks: readonly EndpointFallback[];
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #override: EndpointDocument | undefined;
  /** The configured name without a `:version`/`:label` selector: shard names are built on it. */
  readonly #shardBaseName: string;
  #extension: ReturnType<typeof resolveLambdaExtension>;
  #ssmClient: SSMClient | undefined;

  /** The newest document SSM gave us (by epoch, then revision); never replaced by an older one. */
  #ssmDocument: EndpointDocument | undefined;
  /**
   * Shard values of the sharded snapshot held, by `index:version`, so that a new revision costs only the shards it
   * changed. Holds exactly the shards of the last accepted manifest (empty when the single form is held).
   */
  #shardCache: ReadonlyMap<string, string> = new Map();
  #served: Served | undefined;
  #lastGoodAt: number | undefined;
  #failingSince: number | undefined;
  #lastError: EndpointRefreshError | undefined;
  #consecutiveFailures = 0;
  #inFlight: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** True while the timer is a backoff retry: callers then get the last error instead of a new request. */
  #retryScheduled = false;
  #started = false;
  #closed = false;
  readonly #subscribers = new Set<(document: EndpointDocument) => void>();
  readonly #listeners: Listeners = { error: new Set(), refresh: new Set() };

  public constructor(options: EndpointReaderOptions) {
    assertRecord("options", options as unknown);
    if ("withDecryption" in options) {
      // Said apart from the unknown-option message: it was an option once, and a SecureString document never exists.
      throw new InvalidOptionError(
        "withDecryption",
        (options as Record<string, unknown>)["withDecryption"],
        "removed: endpoint documents are String parameters (discovery-sync never writes a SecureString); drop the option",
      );
    }
    assertKnownKeys("", options as unknown as Record<string, unknown>, knownOptions);
    const name = ssmParameterName("parameterName", options.parameterName);
    this.parameterName = name;
    this.#shardBaseName = name.replace(/:[^/:]*$/, "");
    if (options.ssmClient !== undefined && !(options.ssmClient instanceof SSMClient)) {
      const client = options.ssmClient as unknown;
      // Another copy of the SDK fails instanceof; accept anything that can send.
      if (typeof (client as { send?: unknown } | null)?.send !== "function") {
        throw new InvalidOptionError("ssmClient", client, "expected an SSMClient");
      }
    }
    this.#ssmClient = options.ssmClient;
    this.#refreshIntervalMs = integerInRange("refreshIntervalMs", options.refreshIntervalMs, 30_000, 100, 86_400_000);
    this.#jitter = fractionInRange("jitter", options.jitter, 0.1, 1);
    const defaultMaxStaleMs = Math.max(300_000, this.#refreshIntervalMs);
    this.#maxStaleMs = durationOrInfinity("maxStaleMs", options.maxStaleMs, defaultMaxStaleMs, 0);
    if (this.#maxStaleMs < this.#refreshIntervalMs) {
      // The list is only refreshed every refreshIntervalMs: reads past maxStaleMs would wait on GetParameter.
      throw new InvalidOptionError(
        "maxStaleMs",
        options.maxStaleMs,
        `must be at least refreshIntervalMs = ${this.#refreshIntervalMs}, or reads between the two would wait on ` +
          "a new GetParameter instead of answering from memory",
      );
    }
    this.#requestTimeoutMs = integerInRange("requestTimeoutMs", options.requestTimeoutMs, 5_000, 1, 600_000);
    if (options.backoff !== undefined) {
      assertRecord("backoff", options.backoff);
      assertKnownKeys("backoff", options.backoff, ["initialMs", "maxMs"]);
    }
    this.#backoffInitialMs = integerInRange("backoff.initialMs", options.backoff?.initialMs, 1_000, 1, 86_400_000);
    this.#backoffMaxMs = integerInRange(
      "backoff.maxMs",
      options.backoff?.maxMs,
      Math.max(this.#refreshIntervalMs, this.#backoffInitialMs),
      this.#backoffInitialMs,
      86_400_000,
    );
    if (options.env !== undefined) assertRecord("env", options.env);
    this.#env = options.env ?? process.env;
    this.#service =
      options.service === undefined ? serviceFromParameterName(name) : nonEmptyString("service", options.service);
    this.#fallbacks = validateFallbacks(options.fallbacks);
    const onError = optionalFunction<(error: EndpointRefreshError) => void>("onError", options.onError);
    if (onError !== undefined) this.#listeners.error.add(onError);
    this.#extension = resolveLambdaExtension(options.lambdaExtension, this.#env);

    const overridden = readEnvOverride(options.envOverride, this.#env);
    if (overridden !== undefined) {
      this.#override = this.#synthesise(overridden);
      this.#served = { document: this.#override, source: "env" };
      this.#lastGoodAt = Date.now();
    }
  }

  public async endpoints(): Promise<readonly Endpoint[]> {
    return (await this.document()).endpoints;
  }

  public async document(): Promise<EndpointDocument> {
    if (this.#closed) throw new ReaderClosedError(this.parameterName);
    if (this.#override !== undefined) return this.#override;
    const fresh = this.#usable();
    if (fresh !== undefined) return fresh;
    // Cold, or stale past the limit. During a backoff wait, answer with the last error rather than sending another
    // request: a caller that asks in a loop must not turn an outage into a request storm.
    if (this.#inFlight === undefined && this.#retryScheduled && this.#lastError !== undefined) {
      throw this.#unavailable();
    }
    await this.#refresh();
    if (this.#closed) throw new ReaderClosedError(this.parameterName);
    const loaded = this.#usable();
    if (loaded !== undefined) return loaded;
    throw this.#unavailable();
  }

  public current(): EndpointDocument | undefined {
    return this.#served?.document;
  }

  public subscribe(listener: (document: EndpointDocument) => void): () => void {
    if (typeof listener !== "function") throw new InvalidOptionError("listener", listener, "expected a function");
    this.#subscribers.add(listener);
    if (!this.#started && !this.#closed && this.#override === undefined) void this.#refresh();
    return () => {
      this.#subscribers.delete(listener);
    };
  }

  public on<E extends keyof EndpointReaderEvents>(event: E, listener: EndpointReaderEvents[E]): () => void {
    const set = this.#listeners[event] as Set<EndpointReaderEvents[E]> | undefined;
    if (set === undefined) throw new InvalidOptionError("event", event, "expected \"error\" or \"refresh\"");
    if (typeof listener !== "function") throw new InvalidOptionError("listener", listener, "expected a function");
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  public refresh(): Promise<void> {
    if (this.#closed || this.#override !== undefined) return Promise.resolve();
    return this.#refresh();
  }

  public status(): EndpointReaderStatus {
    return {
      parameterName: this.parameterName,
      source: this.#served?.source,
      epoch: this.#ssmDocument?.epoch ?? 0,
      revision: this.#ssmDocument?.revision ?? 0,
      endpointCount: this.#served?.document.endpoints.length ?? 0,
      lastGoodAt: this.#lastGoodAt === undefined ? undefined : new Date(this.#lastGoodAt),
      failingSince: this.#failingSince === undefined ? undefined : new Date(this.#failingSince),
      lastError: this.#lastError,
      consecutiveFailures: this.#consecutiveFailures,
      closed: this.#closed,
    };
  }

  public close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#retryScheduled = false;
    this.#subscribers.clear();
    this.#listeners.error.clear();
    this.#listeners.refresh.clear();
  }

  /** The document to serve without waiting, if the one held is young enough; kicks a refresh when it is due. */
  #usable(): EndpointDocument | undefined {
    if (this.#served === undefined || this.#lastGoodAt === undefined) return undefined;
    const age = Date.now() - this.#lastGoodAt;
    if (age > this.#maxStaleMs) return undefined;
    // Past due (the timer was delayed, say by a frozen Lambda): serve what we have and revalidate behind it.
    if (age >= this.#refreshIntervalMs && this.#inFlight === undefined && !this.#retryScheduled) void this.#refresh();
    return this.#served.document;
  }

  #unavailable(): EndpointsUnavailableError {
    const lastError =
      this.#lastError ?? new EndpointRefreshError(this.parameterName, "ssm", "request-failed", "no refresh completed");
    return new EndpointsUnavailableError(
      this.parameterName,
      lastError,
      new Date(this.#failingSince ?? Date.now()),
      this.#lastGoodAt === undefined ? undefined : new Date(this.#lastGoodAt),
      this.#maxStaleMs,
    );
  }

  /** Single flight: every caller during a refresh shares its promise. The promise never rejects. */
  #refresh(): Promise<void> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    this.#started = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#retryScheduled = false;
    const flight = this.#refreshOnce().finally(() => {
      if (this.#inFlight === flight) this.#inFlight = undefined;
    });
    this.#inFlight = flight;
    return flight;
  }

  async #refreshOnce(): Promise<void> {
    let ok = false;
    let lastError: EndpointRefreshError | undefined;
    try {
      const read = await this.#readPrimary();
      if (this.#closed) return;
      this.#acceptSsm(read);
      ok = true;
    } catch (error) {
      if (this.#closed) return;
      lastError = this.#asRefreshError(error, this.#extension === undefined ? "ssm" : "lambda-extension");
      this.#emitError(lastError);
    }
    for (let i = 0; !ok && i < this.#fallbacks.length; i++) {
      const fallback = this.#fallbacks[i]!;
      try {
        const endpoints = await fallback.resolve();
        if (this.#closed) return;
        if (endpoints.length === 0) throw new Error("no endpoints found");
        this.#acceptFallback(fallback.name, endpoints);
        ok = true;
      } catch (error) {
        if (this.#closed) return;
        lastError = new EndpointRefreshError(
          this.parameterName,
          fallback.name,
          "fallback-failed",
          describeError(error),
          { cause: error },
        );
        this.#emitError(lastError);
      }
    }
    const now = Date.now();
    if (ok) {
      this.#lastGoodAt = now;
      this.#failingSince = undefined;
      this.#lastError = undefined;
      this.#consecutiveFailures = 0;
      // Brought forward by up to `jitter` of the interval: due before the list expires, and spread over a fleet.
      this.#schedule(this.#refreshIntervalMs * (1 - this.#jitter * Math.random()), false);
    } else {
      this.#failingSince ??= now;
      this.#lastError = lastError;
      this.#consecutiveFailures += 1;
      const base = Math.min(this.#backoffMaxMs, this.#backoffInitialMs * 2 ** Math.min(this.#consecutiveFailures - 1, 30));
      this.#schedule(base * (0.5 + 0.5 * Math.random()), true);
    }
  }

  #schedule(delayMs: number, isRetry: boolean): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#retryScheduled = isRetry;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retryScheduled = false;
      void this.#refresh();
    }, Math.max(1, Math.round(delayMs)));
    // Background refresh must never keep a process (or a test runner) alive.
    this.#timer.unref?.();
  }

  /**
   * Reads the configured parameter and, in the sharded form, the shards its manifest pins. When the manifest is no
   * newer than the document held, no shard is read: an unchanged sharded document costs one request, like the
   * single form. A pinned shard version that SSM no longer has means the manifest moved on (or a shard was
   * deleted) while we read: the manifest is read again, at most {@link manifestRereads} times.
   */
  async #readPrimary(): Promise<PrimaryRead> {
    // Shard values fetched during this refresh, kept across manifest re-reads: most shards survive a new revision.
    const fetched = new Map<string, string>();
    let read = await this.#readStored(true);
    for (let rereads = 0; ; rereads++) {
      if (read.stored.form === "single") return { document: read.stored.document, source: read.source };
      const { manifest } = read.stored;
      const held = this.#ssmDocument;
      if (held !== undefined && compareDocumentOrder(manifest, held) <= 0) return { document: held, source: read.source };
      const result = await this.#readShardedDocument(manifest, read.source, fetched);
      if (!("gone" in result)) return result;
      if (rereads === manifestRereads) throw this.#shardGone(manifest, result.gone, rereads + 1);
      // Straight from SSM: the extension would most likely answer the same manifest again, from its cache.
      read = await this.#readStored(false);
    }
  }

  /** The configured parameter's value, parsed: through the Lambda extension when in use and allowed, else from SSM. */
  async #readStored(useExtension: boolean): Promise<{ stored: StoredDocument; source: EndpointSourceName }> {
    if (useExtension && this.#extension !== undefined) {
      const read = await readThroughExtension(this.#extension, this.parameterName, this.#env.AWS_SESSION_TOKEN);
      if (read.kind === "value") return { stored: this.#parse(read.value, "lambda-extension"), source: "lambda-extension" };
      // Not installed: stop trying it. Failed (INIT phase, error answer, timeout): SSM directly, this time only.
      if (read.kind === "absent") this.#extension = undefined;
    }
    let value: string | undefined;
    try {
      const output = await this.#client().send(
        new GetParameterCommand({ Name: this.parameterName }),
        { abortSignal: AbortSignal.timeout(this.#requestTimeoutMs) },
      );
      value = output.Parameter?.Value;
    } catch (error) {
      throw this.#asRefreshError(error, "ssm");
    }
    if (value === undefined) {
      throw new EndpointRefreshError(this.parameterName, "ssm", "invalid-document", "GetParameter returned no value");
    }
    return { stored: this.#parse(value, "ssm"), source: "ssm" };
  }

  #client(): SSMClient {
    return (this.#ssmClient ??= new SSMClient({}));
  }

  #parse(value: string, source: EndpointSourceName): StoredDocument {
    try {
      return parseStoredDocument(value);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A manifest's errors name fields of the sharded form: say that the value was read as one.
      const detail = isManifestText(value) ? `not a valid schemaVersion 2 manifest: ${message}` : message;
      throw new EndpointRefreshError(this.parameterName, source, "invalid-document", detail, { cause: error });
    }
  }

  /**
   * The document a manifest describes, from the shard values held (a shard the new revision did not change keeps
   * its version, so its cached value is still right) and those fetched now; or a pinned shard SSM no longer has.
   */
  async #readShardedDocument(
    manifest: ShardManifest,
    source: EndpointSourceName,
    fetched: Map<string, string>,
  ): Promise<PrimaryRead | { readonly gone: ShardRef }> {
    const known = (ref: ShardRef) => fetched.has(shardKey(ref)) || this.#shardCache.has(shardKey(ref));
    const gone = await this.#fetchShards(manifest.shards.filter((ref) => !known(ref)), fetched);
    if (gone !== undefined) return { gone };
    let assembled = this.#tryAssemble(manifest, fetched);
    const reused = manifest.shards.filter((ref) => !fetched.has(shardKey(ref)));
    if (assembled instanceof EndpointDocumentError && reused.length > 0) {
      // A cached value can be stale under the same index and version: a shard deleted (the list shrank) and created
      // again later starts over at SSM version 1. Fetch the cached ones once before calling the snapshot invalid.
      const goneOnRetry = await this.#fetchShards(reused, fetched);
      if (goneOnRetry !== undefined) return { gone: goneOnRetry };
      assembled = this.#tryAssemble(manifest, fetched);
    }
    if (assembled instanceof EndpointDocumentError) {
      const detail = `sharded revision ${manifest.revision} of epoch ${manifest.epoch}: ${assembled.message}`;
      throw new EndpointRefreshError(this.parameterName, source, "invalid-document", detail, { cause: assembled });
    }
    return { ...assembled, source };
  }

  /** Checks and assembles the snapshot (digest, service, indexes, counts); values fetched now win over cached ones. */
  #tryAssemble(
    manifest: ShardManifest,
    fetched: ReadonlyMap<string, string>,
  ): { document: EndpointDocument; shardValues: ReadonlyMap<string, string> } | EndpointDocumentError {
    const values = manifest.shards.map((ref) => fetched.get(shardKey(ref)) ?? this.#shardCache.get(shardKey(ref)) ?? "");
    try {
      const document = assembleShardedDocument(manifest, values);
      return { document, shardValues: new Map(manifest.shards.map((ref, i) => [shardKey(ref), values[i]!])) };
    } catch (error) {
      if (error instanceof EndpointDocumentError) return error;
      throw error;
    }
  }

  /**
   * Fetches the given shard versions into `into`, always from SSM (the Lambda extension reads one parameter per
   * request). Returns a shard that SSM does not have (deleted, or that version no longer kept), if any.
   */
  async #fetchShards(refs: readonly ShardRef[], into: Map<string, string>): Promise<ShardRef | undefined> {
    try {
      const gone = await readShardValues(this.#client(), this.#shardBaseName, refs, into, {
        abortSignal: () => AbortSignal.timeout(this.#requestTimeoutMs),
      });
      return gone[0];
    } catch (error) {
      throw this.#asRefreshError(error, "ssm");
    }
  }

  #shardGone(manifest: ShardManifest, ref: ShardRef, reads: number): EndpointRefreshError {
    const name = shardParameterName(this.#shardBaseName, ref.index);
    return new EndpointRefreshError(
      this.parameterName,
      "ssm",
      "not-found",
      `shard ${ref.index} version ${ref.version} (${name}:${ref.version}) of sharded revision ${manifest.revision} ` +
        `of epoch ${manifest.epoch} is not in SSM, after reading the manifest ${reads} times: a shard was deleted, or ` +
        "the manifest changes faster than it can be read",
    );
  }

  /**
   * Never go backwards: an older document than the one held (by epoch, then revision) is ignored (a stale replica,
   * an old writer). A higher epoch wins whatever its revision: the parameter was deleted, recreated or restored by
   * hand and its writer started a new incarnation, whose revisions start again.
   */
  #acceptSsm(read: PrimaryRead): void {
    const { document, source } = read;
    const held = this.#ssmDocument;
    if (held === undefined || compareDocumentOrder(document, held) > 0) {
      this.#ssmDocument = document;
      // The cache mirrors the snapshot held: the next manifest shares its unchanged shards, and nothing older.
      this.#shardCache = read.shardValues ?? new Map();
    }
    const serve = this.#ssmDocument!;
    const changed = this.#served === undefined || this.#served.document !== serve;
    this.#served = { document: serve, source };
    this.#emitRefresh({ source, changed, document: serve });
    if (changed) this.#notify(serve);
  }

  #acceptFallback(name: string, endpoints: readonly Endpoint[]): void {
    const previous = this.#served;
    const sameList =
      previous !== undefined &&
      previous.source === name &&
      JSON.stringify(previous.document.endpoints) === JSON.stringify(endpoints);
    const document = sameList ? previous.document : this.#synthesise(endpoints);
    this.#served = { document, source: name };
    this.#emitRefresh({ source: name, changed: !sameList, document });
    if (!sameList) this.#notify(document);
  }

  /** A document for a list that did not come from SSM: revision 0 marks it as such. */
  #synthesise(endpoints: readonly Endpoint[]): EndpointDocument {
    return Object.freeze({
      schemaVersion: 1,
      service: this.#service,
      revision: 0,
      generatedAt: new Date().toISOString(),
      endpoints: Object.freeze([...endpoints]),
      draining: Object.freeze([]),
    });
  }

  #asRefreshError(error: unknown, source: EndpointSourceName): EndpointRefreshError {
    if (error instanceof EndpointRefreshError) return error;
    if (error instanceof EndpointDocumentError) {
      return new EndpointRefreshError(this.parameterName, source, "invalid-document", error.message, { cause: error });
    }
    const name = (error as { name?: unknown } | null)?.name;
    const reason: FailureReason =
      name === "ParameterNotFound" || name === "ParameterVersionNotFound"
        ? "not-found"
        : name === "ThrottlingException" || name === "TooManyRequestsException"
          ? "throttled"
          : name === "AccessDeniedException" || name === "UnrecognizedClientException"
            ? "access-denied"
            : "request-failed";
    return new EndpointRefreshError(this.parameterName, source, reason, describeError(error), { cause: error });
  }

  #emitError(error: EndpointRefreshError): void {
    for (const listener of [...this.#listeners.error]) callSafely(listener, error);
  }

  #emitRefresh(event: RefreshEvent): void {
    for (const listener of [...this.#listeners.refresh]) callSafely(listener, event);
  }

  #notify(document: EndpointDocument): void {
    for (const listener of [...this.#subscribers]) callSafely(listener, document);
  }
}

/**
 * A listener's exception must not break the reader's refresh loop; rethrow it on its own tick so it surfaces as an
 * uncaught exception (like an EventEmitter listener's) instead of vanishing.
 */
function callSafely<A>(listener: (arg: A) => void, arg: A): void {
  try {
    listener(arg);
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

function validateFallbacks(value: unknown): readonly EndpointFallback[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidOptionError("fallbacks", value, "expected an array of fallbacks");
  value.forEach((fallback: unknown, index) => {
    const name = (fallback as Partial<EndpointFallback> | null)?.name;
    const ok =
      typeof fallback === "object" &&
      fallback !== null &&
      typeof name === "string" &&
      name.trim() !== "" &&
      typeof (fallback as EndpointFallback).resolve === "function";
    // The name labels errors, refresh events and metrics: an empty one would make them unreadable.
    if (!ok) throw new InvalidOptionError(`fallbacks[${index}]`, fallback, "expected { name: non-empty string, resolve() }");
  });
  return Object.freeze([...(value as EndpointFallback[])]);
}

/** `/discovery/workflow-agent/endpoints` -> `workflow-agent`: the segment before a trailing `endpoints`. */
function serviceFromParameterName(name: string): string {
  const segments = name.replace(/:[^/:]*$/, "").split("/").filter((s) => s.length > 0);
  const last = segments.at(-1) ?? name;
  if (last === "endpoints" && segments.length >= 2) return segments.at(-2)!;
  return last;
}
