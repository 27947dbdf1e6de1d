import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { emitReconcileMetrics, reconcileMetricNames, type ReconcileRecord } from "@discovery-sync/core";

/** One EMF blob as CloudWatch reads it from a log line. */
interface EmfBlob {
  readonly _aws: { readonly CloudWatchMetrics: readonly { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  readonly [key: string]: unknown;
}

const record: ReconcileRecord = {
  service: "workflow-agent",
  cluster: "workflow",
  ecsService: "workflow-agent",
  triggers: ["event"],
  triggerCount: 1,
  eventIds: ["e-1"],
  startedAt: "2026-11-25T06:27:28.240Z",
  durationMs: 61,
  tasks: { seen: 4, ready: 3, draining: 1, notReady: 0, unsupported: 0 },
  writes: { cloudMapRegistered: 1, cloudMapDeregistered: 1, targetsRegistered: 2, targetsDeregistered: 1, documentsPublished: 1, parametersWritten: 1, parametersDeleted: 0 },
  writesTotal: 6,
  publishedRevision: 8,
  documentRevision: 8,
  documentBytes: 512,
  documentTier: "Standard",
  documentForm: "single",
  documentShards: 0,
  concurrentWrites: 0,
  documentAgeSeconds: 0,
  outcome: "changed",
};

/** Emits the record's metrics and returns the EMF blobs written to stdout, one per line. */
function emitted(input: ReconcileRecord): EmfBlob[] {
  const lines: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split("\n").filter((line) => line.trim() !== ""));
    return true;
  });
  emitReconcileMetrics(new Metrics({ namespace: "DiscoverySync", serviceName: "discovery-sync" }), input);
  vi.restoreAllMocks();
  return lines.map((line) => JSON.parse(line) as EmfBlob);
}

/** metric name (and Target, for Writes) -> { value, unit, dimension names }. */
function byMetric(blobs: readonly EmfBlob[]) {
  const out: Record<string, { value: unknown; unit: string; dimensions: string[] }> = {};
  for (const blob of blobs) {
    const directive = blob._aws.CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe("DiscoverySync");
    for (const metric of directive.Metrics) {
      const key = blob.Target === undefined ? metric.Name : `${metric.Name}/${String(blob.Target)}`;
      out[key] = { value: blob[metric.Name], unit: metric.Unit, dimensions: [...directive.Dimensions[0]!].sort() };
    }
  }
  return out;
}

// These tests read the EMF output, which vitest.config.ts turns off for every other test.
beforeEach(() => vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "false"));
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("emitReconcileMetrics", () => {
  it("emits every metric with the dimension set the alarms and dashboard name: service, Service (and Target)", () => {
    // Act
    const metrics = byMetric(emitted(record));
    // Assess
    expect(metrics).toEqual({
      [reconcileMetricNames.succeeded]: { value: 1, unit: "Count", dimensions: ["Service", "service"] },
      [reconcileMetricNames.durationMs]: { value: 61, unit: "Milliseconds", dimensions: ["Service", "service"] },
      [reconcileMetricNames.readyEndpoints]: { value: 3, unit: "Count", dimensions: ["Service", "service"] },
      [reconcileMetricNames.drainingEndpoints]: { value: 1, unit: "Count", dimensions: ["Service", "service"] },
      [reconcileMetricNames.tasksSeen]: { value: 4, unit: "Count", dimensions: ["Service", "service"] },
      [reconcileMetricNames.documentAgeSeconds]: { value: 0, unit: "Seconds", dimensions: ["Service", "service"] },
      "Writes/CloudMap": { value: 2, unit: "Count", dimensions: ["Service", "Target", "service"] },
      "Writes/TargetGroup": { value: 3, unit: "Count", dimensions: ["Service", "Target", "service"] },
      "Writes/Ssm": { value: 1, unit: "Count", dimensions: ["Service", "Target", "service"] },
    });
  });

  it("carries the configured service and Powertools' service name as dimension values", () => {
    const blobs = emitted(record);
    expect(blobs.every((b) => b.Service === "workflow-agent" && b.service === "discovery-sync")).toBe(true);
  });

  it("counts a failed reconcile as ReconcileFailed and leaves out an age it could not tell", () => {
    // Prepare
    const failed: ReconcileRecord = {
      ...record,
      outcome: "failed",
      documentAgeSeconds: undefined,
      error: { name: "ReconcileError", message: "x", reasons: ["ThrottlingException"] },
    };
    // Act
    const metrics = byMetric(emitted(failed));
    // Assess
    expect(metrics[reconcileMetricNames.failed]?.value).toBe(1);
    expect(metrics[reconcileMetricNames.succeeded]).toBeUndefined();
    expect(metrics[reconcileMetricNames.documentAgeSeconds]).toBeUndefined();
  });

  it("reports a document that could not be replaced with its age", () => {
    const metrics = byMetric(emitted({ ...record, outcome: "failed", documentAgeSeconds: 4200 }));
    expect(metrics[reconcileMetricNames.documentAgeSeconds]).toEqual({ value: 4200, unit: "Seconds", dimensions: ["Service", "service"] });
  });
});
