/**
 * Reconcile records for the report's tests, typed with the core's `ReconcileRecord` so that a change of the record's
 * contract breaks these tests at compile time, and written as the Powertools Logger writes them.
 */
import type { ReconcileRecord } from "@discovery-sync/core";

type Writes = ReconcileRecord["writes"];
const noWrites: Writes = {
  cloudMapRegistered: 0,
  cloudMapDeregistered: 0,
  targetsRegistered: 0,
  targetsDeregistered: 0,
  documentsPublished: 0,
  parametersWritten: 0,
  parametersDeleted: 0,
};

/** A record of a converged reconcile, changed by `overrides`. */
export function reconcileRecord(overrides: Partial<Omit<ReconcileRecord, "writes">> & { writes?: Partial<Writes> } = {}): ReconcileRecord {
  const writes = { ...noWrites, ...overrides.writes };
  const writesTotal =
    writes.cloudMapRegistered + writes.cloudMapDeregistered + writes.targetsRegistered + writes.targetsDeregistered +
    writes.parametersWritten + writes.parametersDeleted;
  return {
    service: "workflow-agent",
    cluster: "workflow",
    ecsService: "workflow-agent",
    triggers: ["event"],
    triggerCount: 1,
    eventIds: [],
    startedAt: "2026-11-25T06:00:00.000Z",
    durationMs: 50,
    tasks: { seen: 3, ready: 3, draining: 0, notReady: 0, unsupported: 0 },
    publishedRevision: "unchanged",
    documentRevision: 1,
    documentBytes: undefined,
    documentTier: undefined,
    documentForm: "single",
    documentShards: 0,
    concurrentWrites: 0,
    documentAgeSeconds: 0,
    outcome: writesTotal > 0 ? "changed" : "converged",
    ...overrides,
    writes,
    writesTotal,
  };
}

/** The log line Powertools Logger prints for a record (INFO, or ERROR when it failed). */
export function logLine(record: ReconcileRecord): string {
  return JSON.stringify({
    level: record.outcome === "failed" ? "ERROR" : "INFO",
    message: "reconcile",
    timestamp: record.startedAt,
    service: "discovery-sync",
    sampling_rate: 0,
    component: "reconciler",
    reconcile: record,
  });
}

const minute = 60_000;
const at = (minutes: number, seconds = 0): string => new Date(Date.parse("2026-11-25T06:00:00.000Z") + minutes * minute + seconds * 1000).toISOString();

/**
 * Two services' reconciles over half an hour: scale-up, a rolling replacement, failures (a stale read, a throttled
 * and a too-large document), a sweep repair, a sweep that found nothing, and an event coalesced with a sweep.
 */
export function sampleRecords(): ReconcileRecord[] {
  const agent = "workflow-agent";
  const billing = "billing";
  return [
    reconcileRecord({ service: agent, startedAt: at(0), durationMs: 120, tasks: { seen: 3, ready: 3, draining: 0, notReady: 0, unsupported: 0 },
      writes: { cloudMapRegistered: 3, targetsRegistered: 3, documentsPublished: 1, parametersWritten: 1 }, publishedRevision: 1, documentRevision: 1 }),
    reconcileRecord({ service: agent, startedAt: at(5), durationMs: 95, tasks: { seen: 6, ready: 3, draining: 3, notReady: 0, unsupported: 0 },
      writes: { cloudMapRegistered: 3, cloudMapDeregistered: 3, targetsRegistered: 3, targetsDeregistered: 3, documentsPublished: 1, parametersWritten: 1 },
      publishedRevision: 2, documentRevision: 2 }),
    reconcileRecord({ service: agent, startedAt: at(6), durationMs: 2400, outcome: "failed", tasks: { seen: 0, ready: 0, draining: 0, notReady: 0, unsupported: 0 },
      error: { name: "StaleReadError", message: "ecs.read cluster workflow service workflow-agent: read older than event", reasons: ["StaleReadError"] } }),
    reconcileRecord({ service: agent, startedAt: at(7), durationMs: 60, tasks: { seen: 3, ready: 3, draining: 0, notReady: 0, unsupported: 0 },
      writes: { documentsPublished: 1, parametersWritten: 1 }, publishedRevision: 3, documentRevision: 3 }),
    reconcileRecord({ service: agent, startedAt: at(10), durationMs: 40, triggers: ["sweep"],
      writes: { cloudMapRegistered: 1, cloudMapDeregistered: 1, targetsDeregistered: 1 }, documentRevision: 3 }),
    reconcileRecord({ service: agent, startedAt: at(15), durationMs: 30, triggers: ["sweep"], documentRevision: 3 }),
    reconcileRecord({ service: agent, startedAt: at(16), durationMs: 45, triggers: ["event", "sweep"], tasks: { seen: 4, ready: 4, draining: 0, notReady: 0, unsupported: 0 },
      writes: { cloudMapRegistered: 1, targetsRegistered: 1, documentsPublished: 1, parametersWritten: 1 }, publishedRevision: 4, documentRevision: 4 }),
    reconcileRecord({ service: billing, startedAt: at(2), durationMs: 80, tasks: { seen: 2, ready: 2, draining: 0, notReady: 0, unsupported: 0 },
      writes: { cloudMapRegistered: 2, documentsPublished: 1, parametersWritten: 1 }, publishedRevision: 1, documentRevision: 1 }),
    reconcileRecord({ service: billing, startedAt: at(12), durationMs: 300, outcome: "failed",
      error: { name: "ReconcileError", message: "1 step failed: targets.register arn:aws:elasticloadbalancing:...: Rate exceeded", reasons: ["ThrottlingException"] } }),
    reconcileRecord({ service: billing, startedAt: at(20), durationMs: 150, outcome: "failed",
      error: { name: "ReconcileError", message: "2 steps failed: ssm.put /discovery/billing/endpoints; targets.register ...",
        reasons: ["DocumentTooLargeError", "ThrottlingException"] } }),
    reconcileRecord({ service: billing, startedAt: at(25), durationMs: 70, triggers: ["manual"] }),
  ];
}

/** Lines that are not reconcile records, as a Lambda log group holds them among the records. */
export const otherLogLines = [
  "START RequestId: 6d1b5d7e-1c2d-4a0b-9a8e-3f1b2c3d4e5f Version: $LATEST",
  JSON.stringify({ level: "WARN", message: "task skipped", service: "discovery-sync", component: "reconciler" }),
  "END RequestId: 6d1b5d7e-1c2d-4a0b-9a8e-3f1b2c3d4e5f",
  '{"level":"INFO","message":"reconcile","reconcile":{"service":"broken"}}',
];
