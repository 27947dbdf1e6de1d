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

/**
 * The endpoint document cannot be published at all, not even sharded: its manifest would exceed SSM's Advanced tier
 * limit of 8,192 bytes (tens of thousands of endpoints), or one endpoint alone does not fit a shard. The previous
 * document stays in place: a truncated list would silently drop tasks. Retrying cannot help, so the reconcile does
 * not hold its message group back for it (`retryable` is false); the periodic sweep tries again.
 */
export class DocumentTooLargeError extends DiscoverySyncError {
  public override readonly name = "DocumentTooLargeError";
  public readonly retryable = false;
  public constructor(
    service: string,
    parameterName: string,
    public readonly bytes: number,
    endpoints: number,
    draining: number,
    reason: string,
  ) {
    super(
      `endpoint document of service ${service} (${endpoints} endpoints, ${draining} draining, ${bytes} bytes) cannot be ` +
        `published: ${reason}; ${parameterName} keeps its previous document`,
      { service, parameterName, bytes, endpoints, draining, reason },
    );
  }
}

/**
 * The document parameter holds a document of a newer schema version than this writer knows (a newer discovery-sync
 * writes it, another stage say). It is never overwritten with an older format: upgrade this deployment, or give the
 * stages their own parameters. Retrying cannot help (`retryable` is false); Cloud Map and the target groups still
 * converge.
 */
export class NewerDocumentError extends DiscoverySyncError {
  public override readonly name = "NewerDocumentError";
  public readonly retryable = false;
  public constructor(service: string, parameterName: string, public readonly schemaVersion: number) {
    super(
      `${parameterName} (service ${service}) holds a document of schemaVersion ${schemaVersion}, newer than this ` +
        "writer's (1 and 2): it is left as it is; upgrade discovery-sync here, or give each deployment its own parameter",
      { service, parameterName, schemaVersion },
    );
  }
}

/**
 * A configured target group cannot take task IPs: its `TargetType` is not `ip` (an `instance` or `lambda` target
 * group). Nothing is written to it; retrying cannot help until the configuration names an ip target group.
 */
export class TargetGroupTypeError extends DiscoverySyncError {
  public override readonly name = "TargetGroupTypeError";
  public readonly retryable = false;
  public constructor(service: string, targetGroupArn: string, targetType: string | undefined) {
    super(
      `target group ${targetGroupArn} of service ${service} has TargetType ${targetType ?? "(none)"}; discovery-sync ` +
        "registers task IP addresses and needs TargetType ip: nothing was written to it",
      { service, targetGroupArn, targetType },
    );
  }
}

/**
 * Another writer wrote the document parameter between this reconcile's read and its write (two reconciles of one
 * service at once: a direct invoke, or two stages sharing a parameter). Seen from the version PutParameter returned.
 */
export class ConcurrentWriteError extends DiscoverySyncError {
  public override readonly name = "ConcurrentWriteError";
}

/** One or more AWS calls of a reconcile failed; `failures` lists each with its target and cause. */
export class ReconcileError extends DiscoverySyncError {
  public override readonly name = "ReconcileError";
  public constructor(
    service: string,
    public readonly failures: readonly { readonly step: string; readonly error: unknown }[],
  ) {
    super(
      `reconcile of service ${service} failed: ` +
        failures.map((f) => `${f.step}: ${f.error instanceof Error ? f.error.message : String(f.error)}`).join("; "),
      { service, steps: failures.map((f) => f.step) },
      { cause: failures.length === 1 ? failures[0]?.error : new AggregateError(failures.map((f) => f.error)) },
    );
  }
}

/** DescribeTasks returned an older state of a task than an event already reported: ECS has not caught up yet. */
export class StaleReadError extends DiscoverySyncError {
  public override readonly name = "StaleReadError";
}
