/**
 * Errors of `@discovery-sync/client`. Every error the package throws or reports is an instance of
 * {@link DiscoveryClientError}, so callers can tell ours from anything else with one `instanceof`.
 */

/**
 * Base class of every error this package throws or reports. `name` is set on each subclass (stack traces and
 * logs show it), and `cause` carries the underlying error (an SDK error, a DNS error, a parse error); a summary of
 * several failures ({@link EndpointsUnavailableError}) names the last one as `lastError` instead.
 *
 * @example
 * ```ts
 * try {
 *   await reader.endpoints();
 * } catch (error) {
 *   if (error instanceof DiscoveryClientError) console.error(error.name, error.message, error.cause);
 * }
 * ```
 */
export class DiscoveryClientError extends Error {
  public override readonly name: string = "DiscoveryClientError";
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * An option given to {@link createEndpointReader} (or to a fallback, picker or integration) is invalid.
 * Thrown synchronously, before anything is fetched, and names the option and the value given, like a `TypeError`.
 *
 * @example
 * ```ts
 * try {
 *   createEndpointReader({ parameterName: "/discovery/a/endpoints", jitter: 2 });
 * } catch (error) {
 *   if (error instanceof InvalidOptionError) console.error(error.option, error.value); // "jitter", 2
 * }
 * ```
 */
export class InvalidOptionError extends DiscoveryClientError {
  public override readonly name = "InvalidOptionError";
  /** Name of the offending option, for example `refreshIntervalMs` or `envOverride`. */
  public readonly option: string;
  /** The value that was given. */
  public readonly value: unknown;
  /** What a valid value looks like, for example `expected an integer from 100 to 86400000`. */
  public readonly expectation: string;
  public constructor(option: string, value: unknown, expectation: string, options?: { cause?: unknown }) {
    super(`invalid option ${option}: ${expectation} (given ${describeValue(value)})`, options);
    this.option = option;
    this.value = value;
    this.expectation = expectation;
  }
}

/**
 * Why a refresh failed. Used in {@link EndpointsUnavailableError}, in `error` events and as the `reason` label of
 * the failure metric.
 *
 * - `not-found`: the SSM parameter does not exist (yet).
 * - `invalid-document`: the value is not a valid endpoint document (not JSON, wrong schema, bad address or port).
 * - `throttled`: SSM answered ThrottlingException; the account's shared Get* budget is exhausted.
 * - `access-denied`: the caller may not read the parameter (or its shards).
 * - `request-failed`: any other failure reaching SSM or the Lambda extension (network, timeout, 5xx).
 * - `fallback-failed`: an opt-in fallback (Cloud Map, DNS) failed or found no endpoints.
 */
export type FailureReason =
  | "not-found"
  | "invalid-document"
  | "throttled"
  | "access-denied"
  | "request-failed"
  | "fallback-failed";

/**
 * One failed attempt to fetch the endpoint list from one source. Reported through the reader's `error` event and
 * `onError` callback, and kept as the `lastError` of {@link EndpointsUnavailableError}.
 *
 * @example
 * ```ts
 * reader.on("error", (error) => {
 *   log.warn({ parameter: error.parameterName, source: error.source, reason: error.reason }, error.message);
 * });
 * ```
 */
export class EndpointRefreshError extends DiscoveryClientError {
  public override readonly name = "EndpointRefreshError";
  /** The SSM parameter the reader serves. */
  public readonly parameterName: string;
  /** Where the failed read went: `ssm`, `lambda-extension`, or a fallback's name such as `cloudmap` or `dns`. */
  public readonly source: string;
  /** What kind of failure it was. */
  public readonly reason: FailureReason;
  public constructor(
    parameterName: string,
    source: string,
    reason: FailureReason,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`reading endpoints of ${JSON.stringify(parameterName)} from ${source} failed (${reason}): ${detail}`, options);
    this.parameterName = parameterName;
    this.source = source;
    this.reason = reason;
  }
}

/**
 * `endpoints()` cannot give a list it can vouch for: there was never a good one, or the last good one is older
 * than `maxStaleMs` and refreshes keep failing. Says which parameter, what failed (`reason`, `lastError`) and since when
 * (`failingSince`). The reader never answers a failure with a silently empty list.
 *
 * @example
 * ```ts
 * try {
 *   await reader.endpoints();
 * } catch (error) {
 *   if (error instanceof EndpointsUnavailableError) {
 *     console.error(error.parameterName, error.reason, error.failingSince.toISOString(), error.lastGoodAt);
 *   }
 * }
 * ```
 */
export class EndpointsUnavailableError extends DiscoveryClientError {
  public override readonly name = "EndpointsUnavailableError";
  /** The SSM parameter the reader serves. */
  public readonly parameterName: string;
  /** Reason of the most recent failure. */
  public readonly reason: FailureReason;
  /** When the current run of failures began (the first failure after the last success). */
  public readonly failingSince: Date;
  /** When the list held was last confirmed good, or `undefined` when no good list was ever loaded. */
  public readonly lastGoodAt: Date | undefined;
  readonly #lastError: EndpointRefreshError;
  /**
   * The most recent failure; its own `cause` is the underlying error (the AWS SDK's, with its `$metadata`).
   *
   * Deliberately not this error's `cause`, and a getter rather than an own property: Node prints an uncaught error
   * with its own properties and its whole `cause` chain, each with its stack (neither `util.inspect.custom` nor a
   * `cause` getter changes that), which made about 50 lines of one failure. The message already names the last
   * failure and its AWS error, so an uncaught one prints a few lines; code that wants the chain asks for it here.
   */
  public get lastError(): EndpointRefreshError {
    return this.#lastError;
  }
  public constructor(
    parameterName: string,
    lastError: EndpointRefreshError,
    failingSince: Date,
    lastGoodAt: Date | undefined,
    maxStaleMs: number,
  ) {
    const held =
      lastGoodAt === undefined
        ? "no good endpoint list was ever loaded"
        : `the last good list, from ${lastGoodAt.toISOString()}, is older than maxStaleMs (${maxStaleMs} ms)`;
    super(
      `no usable endpoints for SSM parameter ${JSON.stringify(parameterName)}: ` +
        `${lastError.reason} since ${failingSince.toISOString()}; ${held}. Last error: ${lastError.message}`,
    );
    this.#lastError = lastError;
    this.parameterName = parameterName;
    this.reason = lastError.reason;
    this.failingSince = failingSince;
    this.lastGoodAt = lastGoodAt;
  }
}

/**
 * The reader was closed; it no longer serves endpoints.
 *
 * @example
 * ```ts
 * reader.close();
 * await reader.endpoints().catch((e) => e instanceof ReaderClosedError); // true
 * ```
 */
export class ReaderClosedError extends DiscoveryClientError {
  public override readonly name = "ReaderClosedError";
  /** The SSM parameter the closed reader served. */
  public readonly parameterName: string;
  public constructor(parameterName: string) {
    super(`the endpoint reader of ${JSON.stringify(parameterName)} is closed`);
    this.parameterName = parameterName;
  }
}

/**
 * An underlying error in one line, named by its class when it has one of its own: the AWS SDK's exceptions carry the
 * AWS error code as `name` (`ParameterNotFound`, `NamespaceNotFound`, `ClusterNotFoundException`), which their
 * messages often leave out.
 *
 * @example
 * ```ts
 * describeError(Object.assign(new Error("Namespace not found"), { name: "NamespaceNotFound" })); // "NamespaceNotFound: Namespace not found"
 * ```
 * @internal
 */
export function describeError(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof name !== "string" || name === "" || name === "Error") return message;
  return message.startsWith(`${name}:`) || message === name ? message : `${name}: ${message}`;
}

/**
 * Short, bounded rendering of a value for error messages.
 *
 * @internal
 */
export function describeValue(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `${value}n`;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) text = String(value);
  if (typeof value === "number" && !Number.isFinite(value)) text = String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
