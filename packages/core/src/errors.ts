/**
 * Base class of every error discovery-sync's core raises. `context` says what was being done to what.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof DiscoverySyncError) logger.error(e.message, { context: e.context }); }
 * ```
 */
export class DiscoverySyncError extends Error {
  public override readonly name: string = "DiscoverySyncError";
  public constructor(
    message: string,
    public readonly context: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The configuration is invalid; `issues` lists every wrong field with the value given. */
export class ConfigError extends DiscoverySyncError {
  public override readonly name = "ConfigError";
  public constructor(
    message: string,
    public readonly issues: readonly ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super(message, { issues }, options);
  }
}

/** One wrong field of a configuration. */
export interface ConfigIssue {
  /** Path of the field, for example `services[0].port`. */
  readonly path: string;
  /** What is wrong. */
  readonly message: string;
  /** The value given, when there was one. */
  readonly given?: unknown;
}
