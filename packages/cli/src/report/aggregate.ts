import type { ReportRecord } from "./records.js";

/** The outcomes of a reconcile, in the order the report lists them. */
export const outcomes = ["converged", "changed", "failed"] as const;
export type Outcome = (typeof outcomes)[number];

/** One reconcile on the timeline. */
export interface TimelinePoint {
  readonly at: number;
  readonly durationMs: number;
  readonly outcome: Outcome;
  readonly writesTotal: number;
}

/** Ready and draining endpoints a successful reconcile saw. */
export interface EndpointPoint {
  readonly at: number;
  readonly ready: number;
  readonly draining: number;
}

/** Writes made to one target kind, as the `Writes` metric's `Target` dimension names them. */
export interface TargetWrites {
  readonly target: "CloudMap" | "TargetGroup" | "Ssm";
  /** Registrations (Cloud Map, targets) or parameters written (SSM). */
  readonly added: number;
  /** Deregistrations (Cloud Map, targets) or shard parameters deleted (SSM). */
  readonly removed: number;
}

/** A failed reconcile. */
export interface Failure {
  readonly startedAt: string;
  readonly name: string;
  readonly message: string;
  readonly reasons: readonly string[];
}

/** A sweep-triggered reconcile that wrote: drift no event had reported. */
export interface SweepRepair {
  readonly startedAt: string;
  readonly writesTotal: number;
  readonly cloudMap: number;
  readonly targets: number;
  readonly parameters: number;
}

/** Everything the report shows about one service. */
export interface ServiceSummary {
  readonly service: string;
  readonly reconciles: number;
  readonly outcomeCounts: Readonly<Record<Outcome, number>>;
  readonly firstAt: string;
  readonly lastAt: string;
  readonly durationP50Ms: number;
  readonly durationP99Ms: number;
  readonly timeline: readonly TimelinePoint[];
  readonly endpoints: readonly EndpointPoint[];
  readonly writesByTarget: readonly TargetWrites[];
  readonly documentsPublished: number;
  readonly lastDocumentRevision: number | undefined;
  readonly failures: readonly Failure[];
  /** Failures per reason (`error.reasons`, else `error.name`), most frequent first. */
  readonly failureReasons: readonly { readonly reason: string; readonly count: number }[];
  readonly sweepRepairs: readonly SweepRepair[];
}

/**
 * The nearest-rank percentile (`p` from 0 to 100) of a list of numbers: a value that occurred, never an interpolation.
 *
 * @example
 * ```ts
 * percentile([5, 1, 3], 50); // 3
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/**
 * Whether a reconcile repaired drift the sweep found: all its triggers were sweeps (no event that could explain its
 * writes was coalesced into it) and it wrote something.
 */
export function isSweepRepair(record: { readonly triggers: readonly string[]; readonly writesTotal: number }): boolean {
  return record.triggers.length > 0 && record.triggers.every((kind) => kind === "sweep") && record.writesTotal > 0;
}

/**
 * Summarises the reconcile records per service, services in name order, each service's records in time order.
 *
 * @example
 * ```ts
 * const [summary] = summarizeServices(parseLogLines(lines).records);
 * console.log(summary.service, summary.durationP99Ms, summary.failures.length);
 * ```
 */
export function summarizeServices(records: readonly ReportRecord[]): ServiceSummary[] {
  const byService = new Map<string, ReportRecord[]>();
  for (const record of records) {
    const list = byService.get(record.service) ?? [];
    list.push(record);
    byService.set(record.service, list);
  }
  return [...byService.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, list]) => summarizeService(service, [...list].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt))));
}

function summarizeService(service: string, records: readonly ReportRecord[]): ServiceSummary {
  const outcomeCounts: Record<Outcome, number> = { converged: 0, changed: 0, failed: 0 };
  for (const record of records) outcomeCounts[record.outcome] += 1;
  const durations = records.map((record) => record.durationMs);
  const sum = (pick: (record: ReportRecord) => number): number => records.reduce((total, record) => total + pick(record), 0);
  const failures = records
    .filter((record) => record.outcome === "failed")
    .map((record) => ({
      startedAt: record.startedAt,
      name: record.error?.name ?? "Error",
      message: record.error?.message ?? "(no error in the record)",
      reasons: record.error?.reasons ?? [],
    }));
  const reasonCounts = new Map<string, number>();
  for (const failure of failures) {
    for (const reason of failure.reasons.length > 0 ? failure.reasons : [failure.name]) {
      reasonCounts.set(reason, (reasonCounts.get(reason) ?? 0) + 1);
    }
  }
  const withRevision = records.filter((record) => record.documentRevision !== undefined);
  return {
    service,
    reconciles: records.length,
    outcomeCounts,
    firstAt: records[0]?.startedAt ?? "",
    lastAt: records[records.length - 1]?.startedAt ?? "",
    durationP50Ms: percentile(durations, 50),
    durationP99Ms: percentile(durations, 99),
    timeline: records.map((record) => ({
      at: Date.parse(record.startedAt),
      durationMs: record.durationMs,
      outcome: record.outcome,
      writesTotal: record.writesTotal,
    })),
    // A failed reconcile may have failed before it read ECS and then counts no task: plotting it would show a false
    // drop to zero endpoints.
    endpoints: records
      .filter((record) => record.outcome !== "failed")
      .map((record) => ({ at: Date.parse(record.startedAt), ready: record.tasks.ready, draining: record.tasks.draining })),
    writesByTarget: [
      { target: "CloudMap", added: sum((r) => r.writes.cloudMapRegistered), removed: sum((r) => r.writes.cloudMapDeregistered) },
      { target: "TargetGroup", added: sum((r) => r.writes.targetsRegistered), removed: sum((r) => r.writes.targetsDeregistered) },
      { target: "Ssm", added: sum((r) => r.writes.parametersWritten), removed: sum((r) => r.writes.parametersDeleted) },
    ],
    documentsPublished: sum((r) => r.writes.documentsPublished),
    lastDocumentRevision: withRevision[withRevision.length - 1]?.documentRevision,
    failures,
    failureReasons: [...reasonCounts.entries()]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
    sweepRepairs: records.filter(isSweepRepair).map((record) => ({
      startedAt: record.startedAt,
      writesTotal: record.writesTotal,
      cloudMap: record.writes.cloudMapRegistered + record.writes.cloudMapDeregistered,
      targets: record.writes.targetsRegistered + record.writes.targetsDeregistered,
      parameters: record.writes.parametersWritten + record.writes.parametersDeleted,
    })),
  };
}
