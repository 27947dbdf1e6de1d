/**
 * A `@grpc/grpc-js` name resolver backed by endpoint readers. A subpath export (`@discovery-sync/client/grpc`)
 * because it needs the optional peer dependency `@grpc/grpc-js` (pinned to 1.14: the resolver API changed shape in
 * 1.14.0, to one listener function).
 *
 * Why a resolver: gRPC multiplexes every call on one HTTP/2 connection, so an NLB alone does not spread calls over
 * tasks, and grpc-js' DNS resolver re-resolves only when connections fail (it keeps calling dead tasks until then).
 * This resolver pushes every new list to the channel as soon as the reader sees it, and asks for `round_robin`.
 *
 * It also makes channels resilient, with defaults a caller can override: a retry policy for `UNAVAILABLE` and
 * `CANCELLED` (sent in
 * the service config with every list), keepalive settings safe against servers' ping limits
 * (`registration.channelOptions`), and a bounded wait for the first ready connection (`registration.waitForReady`).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { createEndpointReader, type EndpointReader, type EndpointReaderOptions } from "./reader.js";
import type { Endpoint } from "./document.js";
import { InvalidOptionError } from "./errors.js";
import {
  ChannelNotReadyError,
  discoveryChannelOptions,
  discoveryServiceConfig,
  type KeepaliveOptions,
  type RetryPolicyOptions,
} from "./grpc-channel.js";
import {
  assertKnownKeys,
  assertRecord,
  integerInRange,
  nonEmptyString,
  ssmParameterName,
} from "./validate.js";

// The channel configuration lives in grpc-channel.ts; this subpath is where users import it from.
export {
  ChannelNotReadyError,
  discoveryChannelOptions,
  discoveryServiceConfig,
  type KeepaliveOptions,
  type RetryPolicyOptions,
} from "./grpc-channel.js";

type ResolverListener = grpc.experimental.ResolverListener;
type GrpcUri = grpc.experimental.GrpcUri;

/**
 * Options of {@link registerEndpointResolver}.
 *
 * @example
 * ```ts
 * const options: EndpointResolverOptions = {
 *   scheme: "discovery",
 *   parameterNameTemplate: "/discovery/{service}/endpoints",
 *   readerOptions: { refreshIntervalMs: 15_000 },
 * };
 * ```
 */
export interface EndpointResolverOptions {
  /** URI scheme to register. @default "discovery" */
  readonly scheme?: string;
  /**
   * How `discovery:///<service>` maps to a parameter name; `{service}` is replaced. Targets whose path starts with
   * `/` (`discovery:////discovery/x/endpoints`) name the parameter directly. @default "/discovery/{service}/endpoints"
   */
  readonly parameterNameTemplate?: string;
  /** Options for the readers created per parameter (all but `parameterName`). Not with `createReader`. */
  readonly readerOptions?: Omit<EndpointReaderOptions, "parameterName">;
  /** Builds the reader for a parameter instead (shared by every channel of that parameter). Not with `readerOptions`. */
  readonly createReader?: (parameterName: string) => EndpointReader;
  /** Load-balancing policy sent as the service config. @default "round_robin" */
  readonly loadBalancingPolicy?: "round_robin" | "pick_first";
  /**
   * Least time between two answers to a channel's re-resolution requests; requests within it are answered once, when
   * it ends. New revisions are pushed at once regardless. 0 to 86 400 000 (1 day). @default 1000
   */
  readonly minResolutionIntervalMs?: number;
  /**
   * Retry policy of every call, sent in the service config; `false` sends none (grpc-js then only retries calls that
   * never reached a server). @default {@link RetryPolicyOptions}' defaults: 3 attempts on UNAVAILABLE and CANCELLED, throttled
   */
  readonly retryPolicy?: RetryPolicyOptions | false;
  /** Keepalive of `registration.channelOptions`; `false` leaves grpc-js' defaults (no pings). @default {@link KeepaliveOptions}' defaults */
  readonly keepalive?: KeepaliveOptions | false;
  /**
   * Default time limit of `registration.waitForReady()`, 1 to 600 000 ms (the reference design waits 5 s for a
   * ready connection). @default 5 000
   */
  readonly readyTimeoutMs?: number;
}

/**
 * What {@link registerEndpointResolver} returns.
 *
 * @example
 * ```ts
 * const registration = registerEndpointResolver();
 * const client = new MyServiceClient(registration.target("workflow-agent"), grpc.credentials.createInsecure());
 * ```
 */
export interface EndpointResolverRegistration {
  /** The scheme registered. */
  readonly scheme: string;
  /** The channel target for a service name, for example `discovery:///workflow-agent`. */
  target(service: string): string;
  /** The reader behind a parameter while any channel uses it (for status and metrics). */
  readerFor(parameterName: string): EndpointReader | undefined;
  /**
   * Channel options to create clients with: the keepalive settings (`grpc.keepalive_time_ms`, ...). A new object
   * each time, so callers may add their own options to it.
   */
  readonly channelOptions: grpc.ChannelOptions;
  /**
   * Waits until the client's channel has a ready connection (connecting it if idle): the first endpoints were
   * read and one of them answered. Rejects with {@link ChannelNotReadyError} after `timeoutMs` (default the
   * registration's `readyTimeoutMs`), naming the target, the channel's state and, when the endpoint list could not
   * be read, the reader's last error. Calls need not wait for it: they wait for the first list themselves, and fail
   * fast with `UNAVAILABLE` when it cannot be read. Use it at start-up, to fail (or report unready) early.
   */
  waitForReady(client: grpc.Client, timeoutMs?: number): Promise<void>;
}

/**
 * Registers a gRPC resolver scheme (default `discovery`) with `grpc.experimental.registerResolver`. Channels to
 * `discovery:///workflow-agent` then connect to the ready endpoints of `/discovery/workflow-agent/endpoints`,
 * balanced with `round_robin`, and follow every change of the list. Channels of one parameter share one reader
 * (one refresh loop), which is closed when its last channel closes. Registering the same scheme again replaces
 * the previous registration for new channels.
 *
 * @example
 * ```ts
 * import * as grpc from "@grpc/grpc-js";
 * import { registerEndpointResolver } from "@discovery-sync/client/grpc";
 *
 * registerEndpointResolver();
 * const client = new WorkflowAgentClient("discovery:///workflow-agent", grpc.credentials.createInsecure());
 * ```
 */
export function registerEndpointResolver(options: EndpointResolverOptions = {}): EndpointResolverRegistration {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as Record<string, unknown>, [
    "scheme",
    "parameterNameTemplate",
    "readerOptions",
    "createReader",
    "loadBalancingPolicy",
    "minResolutionIntervalMs",
    "retryPolicy",
    "keepalive",
    "readyTimeoutMs",
  ]);
  const scheme = options.scheme === undefined ? "discovery" : nonEmptyString("scheme", options.scheme);
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new InvalidOptionError("scheme", scheme, "expected a URI scheme");
  const template = options.parameterNameTemplate ?? "/discovery/{service}/endpoints";
  if (typeof template !== "string" || !template.includes("{service}")) {
    throw new InvalidOptionError("parameterNameTemplate", template, "expected a string containing {service}");
  }
  const policy = options.loadBalancingPolicy ?? "round_robin";
  if (policy !== "round_robin" && policy !== "pick_first") {
    throw new InvalidOptionError("loadBalancingPolicy", policy, 'expected "round_robin" or "pick_first"');
  }
  // At most a day, like refreshIntervalMs: beyond 2^31 - 1 ms Node's setTimeout would fire at once.
  const minResolutionIntervalMs = integerInRange("minResolutionIntervalMs", options.minResolutionIntervalMs, 1_000, 0, 86_400_000);
  if (options.createReader !== undefined && options.readerOptions !== undefined) {
    // readerOptions would be ignored silently: the reader is whatever createReader builds.
    throw new InvalidOptionError("readerOptions", options.readerOptions, "give createReader or readerOptions, not both");
  }
  const readerOptions = options.readerOptions ?? {};
  assertRecord("readerOptions", readerOptions as unknown);
  const fixedName = (readerOptions as { parameterName?: unknown }).parameterName;
  if (fixedName !== undefined) {
    throw new InvalidOptionError(
      "readerOptions.parameterName",
      fixedName,
      "leave it out; each channel's target names the parameter",
    );
  }
  const build =
    options.createReader ?? ((parameterName: string) => createEndpointReader({ ...readerOptions, parameterName }));
  if (typeof build !== "function") throw new InvalidOptionError("createReader", build, "expected a function");
  // Validate reader options now, not on the first channel: a bad option should fail at start-up.
  if (options.createReader === undefined) {
    try {
      build(template.replaceAll("{service}", "validation")).close();
    } catch (error) {
      if (!(error instanceof InvalidOptionError)) throw error;
      // The parameter name comes from the template (readerOptions.parameterName was refused above).
      if (error.option === "parameterName") {
        throw new InvalidOptionError("parameterNameTemplate", template, error.expectation, { cause: error });
      }
      // The reader names its own option (`jitter`); the caller wrote `readerOptions.jitter`.
      throw new InvalidOptionError(`readerOptions.${error.option}`, error.value, error.expectation, { cause: error });
    }
  }

  const serviceConfig = discoveryServiceConfig(policy, options.retryPolicy);
  const channelOptions = discoveryChannelOptions(options.keepalive);
  const readyTimeoutMs = integerInRange("readyTimeoutMs", options.readyTimeoutMs, 5_000, 1, 600_000);
  const shared = new Map<string, { reader: EndpointReader; users: number }>();

  /** `discovery:///svc` -> the template's parameter; `discovery:////a/b` -> `/a/b`. Throws for anything else. */
  const parameterFor = (target: GrpcUri): string => {
    const path = target.path;
    const expected = `expected ${scheme}:///<service> or ${scheme}:///<parameter name starting with />`;
    if (!path.startsWith("/") && (path.length === 0 || path.includes("/"))) {
      throw new InvalidOptionError("target", grpc.experimental.uriToString(target), expected);
    }
    const parameterName = path.startsWith("/") ? path : template.replaceAll("{service}", path);
    try {
      return ssmParameterName("target", parameterName);
    } catch (error) {
      throw new InvalidOptionError("target", grpc.experimental.uriToString(target), expected, { cause: error });
    }
  };
  const acquire = (parameterName: string): EndpointReader => {
    let entry = shared.get(parameterName);
    if (entry === undefined) {
      entry = { reader: build(parameterName), users: 0 };
      shared.set(parameterName, entry);
    }
    entry.users += 1;
    return entry.reader;
  };
  const release = (parameterName: string): void => {
    const entry = shared.get(parameterName);
    if (entry === undefined) return;
    entry.users -= 1;
    if (entry.users <= 0) {
      shared.delete(parameterName);
      entry.reader.close();
    }
  };

  class EndpointResolver implements grpc.experimental.Resolver {
    readonly #parameterName: string;
    readonly #listener: ResolverListener;
    #reader: EndpointReader | undefined;
    #unsubscribe: (() => void) | undefined;
    #resolving = false;
    /** When the last re-resolution was answered (ms since epoch), and the timer of one deferred until allowed. */
    #lastAnsweredAt = Number.NEGATIVE_INFINITY;
    #deferred: NodeJS.Timeout | undefined;
    /** Bumped by destroy(): answers of an earlier generation are dropped, as the Resolver contract requires. */
    #generation = 0;

    public constructor(target: GrpcUri, listener: ResolverListener) {
      this.#parameterName = parameterFor(target);
      this.#listener = listener;
      // No listener call here: grpc-js forbids calling it synchronously from the constructor.
    }

    /** Called by the Channel constructor: a malformed target fails there, synchronously, with a clear error. */
    public static getDefaultAuthority(target: GrpcUri): string {
      const segments = parameterFor(target).split("/").filter((s) => s.length > 0);
      if (segments.length === 0) {
        throw new InvalidOptionError("target", grpc.experimental.uriToString(target), `expected ${scheme}:///<service>`);
      }
      const last = segments.at(-1)!;
      return last === "endpoints" && segments.length > 1 ? segments.at(-2)! : last;
    }

    public updateResolution(): void {
      if (this.#reader === undefined) {
        let reader: EndpointReader;
        try {
          reader = acquire(this.#parameterName);
        } catch (error) {
          // A throwing createReader: report it as a resolution failure, on a later tick (never synchronously).
          const generation = this.#generation;
          setImmediate(() => {
            if (generation === this.#generation) this.#fail(error);
          });
          return;
        }
        this.#reader = reader;
        const generation = this.#generation;
        // Called from the reader's refresh (never synchronously from here): push each newer list at once.
        this.#unsubscribe = reader.subscribe((document) => {
          if (generation === this.#generation) this.#push(document.endpoints, `revision ${document.revision}`);
        });
      }
      if (this.#resolving || this.#deferred !== undefined) return;
      // grpc-js asks again whenever a subchannel leaves READY, and resets its own backoff after every answer; it counts
      // on resolvers to rate-limit (its DNS resolver waits 30 s). An answer from memory is immediate, so without this
      // limit a channel connecting to a new address loops answer -> re-resolve -> answer and starves the event loop.
      const wait = this.#lastAnsweredAt + minResolutionIntervalMs - Date.now();
      if (wait > 0) {
        this.#deferred = setTimeout(() => {
          this.#deferred = undefined;
          this.updateResolution();
        }, wait);
        this.#deferred.unref();
        return;
      }
      this.#resolving = true;
      this.#lastAnsweredAt = Date.now();
      const generation = this.#generation;
      // endpoints() answers from memory once loaded; a promise, so the listener is never called synchronously.
      this.#reader.endpoints().then(
        (endpoints) => {
          this.#resolving = false;
          if (generation === this.#generation) this.#push(endpoints, "");
        },
        (error: unknown) => {
          this.#resolving = false;
          if (generation === this.#generation) this.#fail(error);
        },
      );
    }

    public destroy(): void {
      this.#generation += 1;
      this.#resolving = false;
      clearTimeout(this.#deferred);
      this.#deferred = undefined;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      if (this.#reader !== undefined) release(this.#parameterName);
      this.#reader = undefined;
    }

    /** Resolution failed: calls fail with UNAVAILABLE and the reader's message (which parameter, why, since when). */
    #fail(error: unknown): void {
      const message = error instanceof Error ? error.message : String(error);
      this.#listener(
        grpc.experimental.statusOrFromError({ code: grpc.status.UNAVAILABLE, details: message }),
        {},
        null,
        message,
      );
    }

    #push(endpoints: readonly Endpoint[], note: string): void {
      const list = endpoints.map((endpoint) => ({ addresses: [{ host: endpoint.address, port: endpoint.port }] }));
      this.#listener(
        grpc.experimental.statusOrFromValue(list),
        {},
        grpc.experimental.statusOrFromValue(serviceConfig),
        list.length === 0 ? `${this.#parameterName} lists no ready endpoints` : note,
      );
    }
  }

  /** The parameter behind a channel target string of this scheme, if it is one. */
  const parameterOfTarget = (target: string): string | undefined => {
    const prefix = `${scheme}://`;
    if (!target.startsWith(prefix)) return undefined;
    const rest = target.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) return undefined;
    try {
      return parameterFor({ scheme, authority: rest.slice(0, slash), path: rest.slice(slash + 1) });
    } catch {
      return undefined;
    }
  };

  // async, so that a bad argument rejects like every other failure of the wait instead of throwing synchronously.
  const waitForReady = async (client: grpc.Client, timeoutMs: number = readyTimeoutMs): Promise<void> => {
    const wait = integerInRange("timeoutMs", timeoutMs, readyTimeoutMs, 1, 600_000);
    if (!(client instanceof grpc.Client)) throw new InvalidOptionError("client", client, "expected a @grpc/grpc-js Client");
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + wait, (error) => {
        if (error === undefined || error === null) {
          resolve();
          return;
        }
        const channel = client.getChannel();
        const target = channel.getTarget();
        const state = grpc.connectivityState[channel.getConnectivityState(false)];
        const parameterName = parameterOfTarget(target);
        const status = parameterName === undefined ? undefined : shared.get(parameterName)?.reader.status();
        const readerError = status?.lastError;
        let detail = "";
        if (readerError !== undefined) detail = `; reading the endpoints failed: ${readerError.message}`;
        else if (status?.source !== undefined && status.endpointCount === 0) detail = `; ${parameterName} lists no ready endpoints`;
        else if (status?.source !== undefined) {
          detail = `; none of the ${status.endpointCount} endpoints of ${parameterName} accepted a connection`;
        } else if (status !== undefined) detail = `; the first read of ${parameterName} has not finished`;
        reject(new ChannelNotReadyError(target, String(state), wait, detail, { cause: readerError ?? error }));
      });
    });
  };

  grpc.experimental.registerResolver(scheme, EndpointResolver);
  return {
    scheme,
    target: (service: string) => `${scheme}:///${nonEmptyString("service", service)}`,
    readerFor: (parameterName: string) => shared.get(parameterName)?.reader,
    get channelOptions() {
      return { ...channelOptions };
    },
    waitForReady,
  };
}
