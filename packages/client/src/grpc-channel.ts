/**
 * The pure channel configuration of the `discovery:///` resolver (`@discovery-sync/client/grpc`, which re-exports all
 * of it): the service config with its retry policy, the keepalive channel options, and the error of a channel that
 * did not become ready. Apart from the resolver so that each can be read and tested on its own; it needs
 * `@grpc/grpc-js` only for its status names and types.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { DiscoveryClientError, InvalidOptionError } from "./errors.js";
import { assertKnownKeys, assertRecord, integerInRange, optionalBoolean } from "./validate.js";

type ServiceConfig = grpc.ServiceConfig;

/**
 * Retry policy of every call on a resolver's channels, sent to grpc-js in the service config (gRPC's `retryPolicy`
 * and `retryThrottling`). grpc-js retries a call only while no response headers have arrived from the server, so
 * a retry never repeats a call whose answer had started, and never retries a call the caller cancelled or whose
 * deadline passed. A unary call that a server took but never answered (the server died) is retried, though: make
 * such methods idempotent, or give `retryableStatusCodes` without them, or `retryPolicy: false`.
 *
 * @example
 * ```ts
 * const retryPolicy: RetryPolicyOptions = { maxAttempts: 2, retryableStatusCodes: ["UNAVAILABLE", "RESOURCE_EXHAUSTED"] };
 * ```
 */
export interface RetryPolicyOptions {
  /**
   * Attempts per call, the first included, 2 to 5 (grpc-js caps it at 5). Three: when a task dies, the calls in
   * flight on it are retried on another task, with one more attempt left if that one is dying too (a rolling
   * deploy replaces several at once). @default 3
   */
  readonly maxAttempts?: number;
  /** Upper bound of the first retry's delay (each delay is random between 0 and its bound), 1 to 60 000 ms. @default 100 */
  readonly initialBackoffMs?: number;
  /** Largest bound of a retry's delay, from `initialBackoffMs` to 600 000 ms. @default 1 000 */
  readonly maxBackoffMs?: number;
  /** Factor by which the bound grows per retry, 1 to 10. @default 2 */
  readonly backoffMultiplier?: number;
  /**
   * gRPC status names to retry (`"UNAVAILABLE"`, ...; not `"OK"`). `CANCELLED` is in the default because a server
   * that shuts down (grpc-js `forceShutdown`, a task stopped before its calls finished) resets the streams in
   * flight, which grpc-js reports as `CANCELLED: Call cancelled`, not `UNAVAILABLE`; the caller's own cancellations
   * are never retried. @default ["UNAVAILABLE", "CANCELLED"]
   */
  readonly retryableStatusCodes?: readonly string[];
  /**
   * gRPC retry throttling per channel: each failed call takes a token, each success gives back `tokenRatio`, and
   * retries stop while fewer than half of `maxTokens` are left, so a whole-service outage is not multiplied by
   * `maxAttempts`. `maxTokens` 1 to 1 000, `tokenRatio` 0.001 to 1. `false`: never throttle.
   * @default { maxTokens: 100, tokenRatio: 0.1 }: retries stop after about 50 more failures than 10 x successes
   */
  readonly throttling?: { readonly maxTokens: number; readonly tokenRatio: number } | false;
}

/**
 * Keepalive of a resolver's channels (`registration.channelOptions`). Servers limit pings: gRPC C-core (Python, C++,
 * Ruby...) and Go servers accept at most one ping per 5 minutes while they send no data, and one per 2 hours on a
 * connection without calls, and close the connection (GOAWAY `too_many_pings`, failing the calls on it) after two
 * or three pings too early. grpc-js servers do not enforce it. Choose a shorter `timeMs` only for servers
 * configured to permit it (Go `keepalive.EnforcementPolicy.MinTime`, C-core
 * `grpc.http2.min_recv_ping_interval_without_data_ms`).
 *
 * @example
 * ```ts
 * // Servers of your own that permit a ping every 30 s (EnforcementPolicy{MinTime: 30 * time.Second}):
 * const keepalive: KeepaliveOptions = { timeMs: 30_000, timeoutMs: 10_000 };
 * ```
 */
export interface KeepaliveOptions {
  /**
   * Time between pings on a connection with calls in flight (`grpc.keepalive_time_ms`), 10 000 to 86 400 000 ms.
   * 330 s: above the 5-minute minimum that default servers enforce (with a margin for timer and network jitter),
   * and below the NLB's 350-second TCP idle timeout, so a quiet long-lived stream through an NLB stays open.
   * Unanswered, a ping fails the connection's calls after `timeoutMs` instead of leaving them hanging.
   * @default 330 000
   */
  readonly timeMs?: number;
  /** How long to wait for a ping's answer before closing the connection (`grpc.keepalive_timeout_ms`), 1 000 to 600 000 ms. @default 20 000 */
  readonly timeoutMs?: number;
  /**
   * Ping connections without calls too (`grpc.keepalive_permit_without_calls`). Off: default servers allow such
   * pings only every 2 hours, and the resolver already drops connections to tasks that left the document.
   * @default false
   */
  readonly permitWithoutCalls?: boolean;
}

/**
 * A channel had no ready connection within the time given to `registration.waitForReady` (`@discovery-sync/client/grpc`).
 * `cause` is the reader's last error when the endpoint list could not be read, else grpc-js' error.
 *
 * @example
 * ```ts
 * try {
 *   await registration.waitForReady(client);
 * } catch (error) {
 *   if (error instanceof ChannelNotReadyError) console.error(error.target, error.state, error.timeoutMs);
 *   throw error;
 * }
 * ```
 */
export class ChannelNotReadyError extends DiscoveryClientError {
  public override readonly name = "ChannelNotReadyError";
  /** The channel's target, for example `discovery:///workflow-agent`. */
  public readonly target: string;
  /** The channel's connectivity state when the wait ended: `IDLE`, `CONNECTING`, `TRANSIENT_FAILURE` or `SHUTDOWN`. */
  public readonly state: string;
  /** How long was waited, in ms. */
  public readonly timeoutMs: number;
  public constructor(target: string, state: string, timeoutMs: number, detail: string, options?: { cause?: unknown }) {
    super(`channel ${target} was not ready within ${timeoutMs} ms (state ${state})${detail}`, options);
    this.target = target;
    this.state = state;
    this.timeoutMs = timeoutMs;
  }
}

const defaultRetryPolicy = {
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 1_000,
  backoffMultiplier: 2,
  retryableStatusCodes: ["UNAVAILABLE", "CANCELLED"],
  throttling: { maxTokens: 100, tokenRatio: 0.1 },
} as const;

/**
 * The service config a resolver sends with every list: the load-balancing policy, and the retry policy for every
 * method (a method config whose name is `{}` applies to all). Pure; exported for tests and for channels built
 * without the resolver (`grpc.service_config`).
 *
 * @throws {InvalidOptionError} naming the retry option and the value given.
 * @example
 * ```ts
 * const channelOptions = { "grpc.service_config": JSON.stringify(discoveryServiceConfig("round_robin", {})) };
 * ```
 */
export function discoveryServiceConfig(
  loadBalancingPolicy: "round_robin" | "pick_first",
  retryPolicy: RetryPolicyOptions | false | undefined,
): ServiceConfig {
  const loadBalancingConfig = [{ [loadBalancingPolicy]: {} }];
  if (retryPolicy === false) return { loadBalancingConfig, methodConfig: [] };
  const options = retryPolicy ?? {};
  assertRecord("retryPolicy", options as unknown);
  assertKnownKeys("retryPolicy", options as Record<string, unknown>, Object.keys(defaultRetryPolicy));
  const maxAttempts = integerInRange("retryPolicy.maxAttempts", options.maxAttempts, defaultRetryPolicy.maxAttempts, 2, 5);
  const initialBackoffMs = integerInRange(
    "retryPolicy.initialBackoffMs",
    options.initialBackoffMs,
    defaultRetryPolicy.initialBackoffMs,
    1,
    60_000,
  );
  const maxBackoffMs = integerInRange(
    "retryPolicy.maxBackoffMs",
    options.maxBackoffMs,
    Math.max(defaultRetryPolicy.maxBackoffMs, initialBackoffMs),
    initialBackoffMs,
    600_000,
  );
  const multiplier = options.backoffMultiplier ?? defaultRetryPolicy.backoffMultiplier;
  if (typeof multiplier !== "number" || !(multiplier >= 1 && multiplier <= 10)) {
    throw new InvalidOptionError("retryPolicy.backoffMultiplier", multiplier, "expected a number from 1 to 10");
  }
  const codes = options.retryableStatusCodes ?? defaultRetryPolicy.retryableStatusCodes;
  const statusNames = Object.keys(grpc.status).filter((key) => Number.isNaN(Number(key)) && key !== "OK");
  if (!Array.isArray(codes) || codes.length === 0 || codes.some((code) => !statusNames.includes(code as string))) {
    throw new InvalidOptionError(
      "retryPolicy.retryableStatusCodes",
      codes,
      `expected a non-empty array of gRPC status names (${statusNames.join(", ")})`,
    );
  }
  const config: ServiceConfig = {
    loadBalancingConfig,
    methodConfig: [
      {
        name: [{}],
        retryPolicy: {
          maxAttempts,
          initialBackoff: seconds(initialBackoffMs),
          maxBackoff: seconds(maxBackoffMs),
          backoffMultiplier: multiplier,
          retryableStatusCodes: [...new Set(codes)],
        },
      },
    ],
  };
  const throttling = options.throttling === undefined ? defaultRetryPolicy.throttling : options.throttling;
  if (throttling === false) return config;
  assertRecord("retryPolicy.throttling", throttling as unknown);
  assertKnownKeys("retryPolicy.throttling", throttling as Record<string, unknown>, ["maxTokens", "tokenRatio"]);
  const { maxTokens, tokenRatio } = throttling;
  if (typeof maxTokens !== "number" || !(maxTokens >= 1 && maxTokens <= 1_000)) {
    throw new InvalidOptionError("retryPolicy.throttling.maxTokens", maxTokens, "expected a number from 1 to 1000");
  }
  if (typeof tokenRatio !== "number" || !(tokenRatio >= 0.001 && tokenRatio <= 1)) {
    throw new InvalidOptionError("retryPolicy.throttling.tokenRatio", tokenRatio, "expected a number from 0.001 to 1");
  }
  return { ...config, retryThrottling: { maxTokens, tokenRatio } };
}

/** Duration in the service config's protobuf JSON form: `0.1s`. */
function seconds(ms: number): string {
  return `${ms / 1_000}s`;
}

/**
 * Keepalive channel options (`grpc.keepalive_time_ms`, `grpc.keepalive_timeout_ms`,
 * `grpc.keepalive_permit_without_calls`) from {@link KeepaliveOptions}; `false` gives none. Pure.
 *
 * @throws {InvalidOptionError} naming the keepalive option and the value given.
 * @example
 * ```ts
 * const client = new WorkflowAgentClient("discovery:///workflow-agent", credentials, discoveryChannelOptions({}));
 * ```
 */
export function discoveryChannelOptions(keepalive: KeepaliveOptions | false | undefined): grpc.ChannelOptions {
  if (keepalive === false) return {};
  const options = keepalive ?? {};
  assertRecord("keepalive", options as unknown);
  assertKnownKeys("keepalive", options as Record<string, unknown>, ["timeMs", "timeoutMs", "permitWithoutCalls"]);
  return {
    "grpc.keepalive_time_ms": integerInRange("keepalive.timeMs", options.timeMs, 330_000, 10_000, 86_400_000),
    "grpc.keepalive_timeout_ms": integerInRange("keepalive.timeoutMs", options.timeoutMs, 20_000, 1_000, 600_000),
    "grpc.keepalive_permit_without_calls": optionalBoolean(
      "keepalive.permitWithoutCalls",
      options.permitWithoutCalls,
      false,
    )
      ? 1
      : 0,
  };
}
