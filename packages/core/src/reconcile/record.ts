/**
 * The record step of a reconcile: the one structured record logged per reconcile, and its EMF metrics. Pure but for
 * the metrics object it is given.
 */
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { ServiceConfig } from "../config.js";
import { ReconcileError } from "../errors.js";
import type { ReconcileTrigger } from "../messages.js";
import type { ActualState, ReconcilePlan } from "../plan.js";
import type { TaskSummary } from "../tasks.js";
import { writesTotalOf, type AppliedWrites } from "./apply.js";

/**
 * The one structured record logged per reconcile (`message: "reconcile"`, the record under the key `reconcile`:
 * Powertools reserves top-level `service` for the application's name). Dashboards and saved queries are
 * built on these field names: keep them stable (documented in docs/reconcile-record.md).
 */
export interface ReconcileRecord {
  readonly service: string;
  readonly cluster: string;
  readonly ecsService: string;
  /** Kinds of the triggers coalesced into this reconcile, for example `["event", "event", "sweep"]`. */
  readonly triggers: readonly ReconcileTrigger["kind"][];
  readonly triggerCount: number;
  /** EventBridge event ids of the event triggers (at most 10 listed). */
  readonly eventIds: readonly string[];
  readonly startedAt: string;
  readonly durationMs: number;
  readonly tasks: { readonly seen: number; readonly ready: number; readonly draining: number; readonly notReady: number; readonly unsupported: number };
  readonly writes: {
    readonly cloudMapRegistered: number;
    readonly cloudMapDeregistered: number;
    readonly targetsRegistered: number;
    readonly targetsDeregistered: number;
    /** Document revisions published (0 or 1). */
    readonly documentsPublished: number;
    /** PutParameter calls: the single value, or the changed shards and the manifest. */
    readonly parametersWritten: number;
    /** Shard parameters deleted (no longer named by the published manifest). */
    readonly parametersDeleted: number;
  };
  /** Every write call's items: registrations, deregistrations, parameters written and deleted. */
  readonly writesTotal: number;
  /** The revision published by this reconcile, or "unchanged" when the document already said the same. */
  readonly publishedRevision: number | "unchanged";
  /** The revision readers hold after this reconcile (undefined when none could be published yet). */
  readonly documentRevision: number | undefined;
  readonly documentBytes: number | undefined;
  readonly documentTier: "Standard" | "Advanced" | undefined;
  /** The form of the document this reconcile published or found: `single` (schema 1) or `sharded` (schema 2). */
  readonly documentForm: "single" | "sharded" | undefined;
  /** Shards of the document (0 in the single form). */
  readonly documentShards: number | undefined;
  /** Times the document was found written by another writer meanwhile and published again (see ConcurrentWriteError). */
  readonly concurrentWrites: number;
  /**
   * Seconds the published document has gone unconfirmed: 0 when this reconcile found it equal to the ready tasks or
   * published a new one; when it differs and could not be replaced, the seconds since its `generatedAt` (an upper
   * bound: it was last written then); undefined when the reconcile failed before it could compare, or there is no
   * readable document. The stale-document alarm is built on it.
   */
  readonly documentAgeSeconds: number | undefined;
  /** converged: nothing to write; changed: writes made; failed: an error (see `error`). */
  readonly outcome: "converged" | "changed" | "failed";
  readonly error?: { readonly name: string; readonly message: string; readonly reasons: readonly string[] };
}

/** What a reconcile saw and did, from which its record is built. */
export interface ReconcileOutcome {
  readonly service: ServiceConfig;
  readonly triggers: readonly ReconcileTrigger[];
  readonly startedAt: Date;
  readonly durationMs: number;
  /** When the record is made (the document's age is measured to it). */
  readonly now: Date;
  readonly tasksSeen: number;
  readonly summary: TaskSummary | undefined;
  readonly actual: ActualState | undefined;
  readonly plan: ReconcilePlan | undefined;
  readonly writes: AppliedWrites | undefined;
  readonly concurrentWrites: number;
  readonly error: Error | undefined;
}

/**
 * The reconcile record of an outcome. Pure.
 *
 * @example
 * ```ts
 * logger.info("reconcile", { reconcile: buildReconcileRecord(outcome) });
 * ```
 */
export function buildReconcileRecord(outcome: ReconcileOutcome): ReconcileRecord {
  const { service, triggers, writes, plan, actual, summary, error } = outcome;
  const writesTotal = writesTotalOf(writes);
  const documentPlan = plan?.document;
  const heldRevision =
    writes?.publishedRevision !== undefined && writes.publishedRevision !== "unchanged"
      ? writes.publishedRevision
      : actual?.parameter?.kind === "valid"
        ? actual.parameter.document.revision
        : undefined;
  const skipped = summary?.skipped ?? [];
  return {
    service: service.name,
    cluster: service.clusterName,
    ecsService: service.ecsService,
    triggers: triggers.map((t) => t.kind),
    triggerCount: triggers.length,
    eventIds: triggers.flatMap((t) => (t.eventId === undefined ? [] : [t.eventId])).slice(0, 10),
    startedAt: outcome.startedAt.toISOString(),
    durationMs: Math.round(outcome.durationMs),
    tasks: {
      seen: outcome.tasksSeen,
      ready: summary?.desired.ready.length ?? 0,
      draining: summary?.desired.draining.length ?? 0,
      notReady: skipped.filter((s) => s.kind === "not-ready").length,
      unsupported: skipped.filter((s) => s.kind === "unsupported").length,
    },
    writes: {
      cloudMapRegistered: writes?.cloudMapRegistered ?? 0,
      cloudMapDeregistered: writes?.cloudMapDeregistered ?? 0,
      targetsRegistered: writes?.targetsRegistered ?? 0,
      targetsDeregistered: writes?.targetsDeregistered ?? 0,
      documentsPublished: writes?.documentsPublished ?? 0,
      parametersWritten: writes?.parametersWritten ?? 0,
      parametersDeleted: writes?.parametersDeleted ?? 0,
    },
    writesTotal,
    publishedRevision: writes?.publishedRevision ?? "unchanged",
    documentRevision: heldRevision,
    documentBytes: documentPlan?.kind === "publish" ? documentPlan.bytes : documentPlan?.kind === "too-large" ? documentPlan.error.bytes : undefined,
    documentTier: writes?.documentTier,
    ...documentShape(documentPlan, actual),
    concurrentWrites: outcome.concurrentWrites,
    documentAgeSeconds: documentAgeSeconds(plan, writes, actual, outcome.now),
    outcome: error !== undefined ? "failed" : writesTotal === 0 ? "converged" : "changed",
    ...(error === undefined ? {} : { error: errorSummary(error) }),
  };
}

function documentAgeSeconds(
  plan: ReconcilePlan | undefined,
  writes: AppliedWrites | undefined,
  actual: ActualState | undefined,
  now: Date,
): number | undefined {
  if (plan === undefined) return undefined;
  if (plan.document.kind === "unchanged" || (writes?.documentsPublished ?? 0) > 0) return 0;
  if (actual?.parameter?.kind !== "valid") return undefined;
  const generatedMs = Date.parse(actual.parameter.document.generatedAt);
  return Number.isNaN(generatedMs) ? undefined : Math.max(0, Math.round((now.getTime() - generatedMs) / 1000));
}

function errorSummary(error: unknown): NonNullable<ReconcileRecord["error"]> {
  const err = error instanceof Error ? error : new Error(String(error));
  const reasons =
    err instanceof ReconcileError
      ? err.failures.map((f) => (f.error instanceof Error ? f.error.name : "Error"))
      : [err.name];
  return { name: err.name, message: err.message, reasons: [...new Set(reasons)] };
}

/** A failure is worth retrying unless every cause says otherwise (`retryable: false`). */
export function isRetryable(error: Error): boolean {
  const causes = error instanceof ReconcileError ? error.failures.map((f) => f.error) : [error];
  return causes.some((cause) => (cause as { retryable?: unknown } | null)?.retryable !== false);
}

function documentShape(plan: ReconcilePlan["document"] | undefined, actual: ActualState | undefined) {
  if (plan?.kind === "publish") {
    return { documentForm: plan.form, documentShards: plan.form === "sharded" ? plan.shards.length : 0 };
  }
  if (plan?.kind === "unchanged" && actual?.parameter?.kind === "valid") {
    const sharded = actual.parameter.sharded;
    return { documentForm: sharded === undefined ? "single" : "sharded", documentShards: sharded?.manifest.shards.length ?? 0 } as const;
  }
  return { documentForm: undefined, documentShards: undefined };
}

/** Names of the CloudWatch metrics (EMF) emitted per reconcile, all with dimension `Service`. */
export const reconcileMetricNames = {
  /** Seconds, see {@link ReconcileRecord.documentAgeSeconds}; not emitted when the reconcile could not tell. */
  documentAgeSeconds: "DocumentAgeSeconds",
  succeeded: "ReconcileSucceeded",
  failed: "ReconcileFailed",
  durationMs: "ReconcileDurationMs",
  /** Dimensions `Service` and `Target` (CloudMap, TargetGroup, Ssm). */
  writes: "Writes",
  readyEndpoints: "ReadyEndpoints",
  drainingEndpoints: "DrainingEndpoints",
  tasksSeen: "TasksSeen",
} as const;

/**
 * Emits a reconcile's metrics as CloudWatch embedded metric format (one EMF blob per dimension set).
 *
 * @example
 * ```ts
 * emitReconcileMetrics(new Metrics({ namespace: "DiscoverySync" }), record);
 * ```
 */
export function emitReconcileMetrics(metrics: Metrics, record: ReconcileRecord): void {
  // A single-metric instance publishes its blob as soon as the metric is added, so each carries its own
  // dimension set; a batch of several services thus never mixes their dimensions.
  const emit = (name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number, dimensions: Record<string, string> = {}) => {
    const single = metrics.singleMetric();
    single.addDimensions({ Service: record.service, ...dimensions });
    single.addMetric(name, unit, value);
  };
  emit(record.outcome === "failed" ? reconcileMetricNames.failed : reconcileMetricNames.succeeded, MetricUnit.Count, 1);
  emit(reconcileMetricNames.durationMs, MetricUnit.Milliseconds, record.durationMs);
  emit(reconcileMetricNames.readyEndpoints, MetricUnit.Count, record.tasks.ready);
  emit(reconcileMetricNames.drainingEndpoints, MetricUnit.Count, record.tasks.draining);
  emit(reconcileMetricNames.tasksSeen, MetricUnit.Count, record.tasks.seen);
  if (record.documentAgeSeconds !== undefined) {
    emit(reconcileMetricNames.documentAgeSeconds, MetricUnit.Seconds, record.documentAgeSeconds);
  }
  emit(reconcileMetricNames.writes, MetricUnit.Count, record.writes.cloudMapRegistered + record.writes.cloudMapDeregistered, { Target: "CloudMap" });
  emit(reconcileMetricNames.writes, MetricUnit.Count, record.writes.targetsRegistered + record.writes.targetsDeregistered, { Target: "TargetGroup" });
  emit(reconcileMetricNames.writes, MetricUnit.Count, record.writes.parametersWritten + record.writes.parametersDeleted, { Target: "Ssm" });
}
