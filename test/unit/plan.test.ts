import { describe, expect, it } from "vitest";
import {
  buildShardManifest,
  countDocumentPuts,
  countPlannedWrites,
  DocumentTooLargeError,
  instanceAttributes,
  planReconcile,
  type ActualState,
  type DesiredState,
  type ParameterState,
  type PublishedTask,
  type ServiceConfig,
} from "@discovery-sync/core";
import { parseEndpointDocument, serializeEndpointDocument } from "@discovery-sync/client/document";

const tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/wa/0123456789abcdef";
const service: ServiceConfig = {
  name: "workflow-agent",
  cluster: "workflow",
  clusterName: "workflow",
  ecsService: "workflow-agent",
  port: 50051,
  cloudMapServiceId: "srv-0123456789abcdef",
  targetGroupArns: [tg],
  parameterName: "/discovery/workflow-agent/endpoints",
};
const now = new Date("2026-11-23T12:00:00.000Z");
const many = (n: number, from = 0) =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { ...task(i), address: `10.0.${Math.floor(i / 250)}.${i % 250}`, taskId: `${"t".repeat(24)}${String(i).padStart(8, "0")}` };
  });
const task = (n: number, zone = "us-east-1a"): PublishedTask => ({
  taskId: `task${n}`,
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/workflow/task${n}`,
  address: `10.0.1.${n}`,
  zone,
});
const empty: ActualState = { cloudMap: { instances: [], customHealth: true }, targetGroups: [{ arn: tg, targets: [] }], parameter: { kind: "missing" } };

/** The actual state a fully applied plan leaves behind. */
function converged(desired: DesiredState, revision: number): ActualState {
  const first = planReconcile(service, desired, empty, now);
  if (first.document.kind !== "publish") throw new Error("expected a publish");
  return {
    cloudMap: {
      customHealth: true,
      instances: desired.ready.map((t) => ({ id: t.taskId, attributes: instanceAttributes(service, t, false) })),
    },
    targetGroups: [{ arn: tg, targets: desired.ready.map((t) => ({ id: t.address, port: 50051, state: "healthy" })) }],
    parameter: { kind: "valid", version: revision, document: { ...first.document.document, revision } },
  };
}

describe("planReconcile", () => {
  it("registers every ready task everywhere and publishes revision 1 from nothing", () => {
    const plan = planReconcile(service, { ready: [task(3), task(2)], draining: [] }, empty, now);
    expect(plan.cloudMap?.register.map((r) => r.instanceId)).toEqual(["task3", "task2"]);
    expect(plan.cloudMap?.register[0]?.attributes).toEqual({
      AWS_INSTANCE_IPV4: "10.0.1.3",
      AWS_INSTANCE_PORT: "50051",
      AVAILABILITY_ZONE: "us-east-1a",
      ECS_TASK_ARN: "arn:aws:ecs:us-east-1:123456789012:task/workflow/task3",
      ECS_CLUSTER_NAME: "workflow",
      ECS_SERVICE_NAME: "workflow-agent",
      AWS_INIT_HEALTH_STATUS: "HEALTHY",
    });
    expect(plan.targetGroups[0]?.register).toEqual([{ id: "10.0.1.3", port: 50051 }, { id: "10.0.1.2", port: 50051 }]);
    expect(plan.document).toMatchObject({ kind: "publish", form: "single" });
    if (plan.document.kind !== "publish" || plan.document.form !== "single") return;
    expect(plan.document.overwrite).toBe(false);
    expect(plan.document.minimumTier).toBe("Standard");
    expect(parseEndpointDocument(plan.document.text)).toEqual({
      schemaVersion: 1,
      service: "workflow-agent",
      revision: 1,
      epoch: now.getTime(),
      generatedAt: "2026-11-23T12:00:00.000Z",
      endpoints: [
        { address: "10.0.1.2", port: 50051, zone: "us-east-1a", taskId: "task2" },
        { address: "10.0.1.3", port: 50051, zone: "us-east-1a", taskId: "task3" },
      ],
      draining: [],
    });
  });

  it("plans zero writes for a converged service, whatever the time", () => {
    const desired = { ready: [task(1), task(2)], draining: [] };
    const plan = planReconcile(service, desired, converged(desired, 4), new Date("2027-01-01T00:00:00Z"));
    expect(countPlannedWrites(plan)).toBe(0);
    expect(plan.document).toEqual({ kind: "unchanged", revision: 4, epoch: now.getTime() });
  });

  it("takes a draining task out of Cloud Map and the target group at once and lists it as draining", () => {
    const before = { ready: [task(1), task(2)], draining: [] };
    const plan = planReconcile(service, { ready: [task(1)], draining: [task(2)] }, converged(before, 4), now);
    expect(plan.cloudMap).toEqual({ register: [], deregister: ["task2"] });
    expect(plan.targetGroups[0]).toMatchObject({ register: [], deregister: [{ id: "10.0.1.2", port: 50051 }] });
    expect(plan.document.kind === "publish" && plan.document.document).toMatchObject({
      revision: 5,
      endpoints: [{ taskId: "task1" }],
      draining: [{ address: "10.0.1.2", taskId: "task2" }],
    });
  });

  it("removes what no ready task backs (drift), and re-registers changed attributes", () => {
    const desired = { ready: [task(1)], draining: [] };
    const actual = converged(desired, 2);
    const drifted: ActualState = {
      ...actual,
      cloudMap: {
        customHealth: false,
        instances: [
          { id: "task1", attributes: { ...instanceAttributes(service, task(1), false), AWS_INSTANCE_IPV4: "10.9.9.9" } },
          { id: "hand-made", attributes: { AWS_INSTANCE_IPV4: "10.0.9.9" } },
        ],
      },
      targetGroups: [
        {
          arn: tg,
          targets: [
            { id: "10.0.1.1", port: 50051, state: "healthy" },
            { id: "10.0.7.7", port: 50051, state: "healthy" },
            { id: "10.0.8.8", port: 50051, state: "draining" },
            { id: "10.0.1.1", port: 8080, state: "healthy" },
          ],
        },
      ],
    };
    const plan = planReconcile(service, desired, drifted, now);
    expect(plan.cloudMap?.register.map((r) => r.attributes.AWS_INSTANCE_IPV4)).toEqual(["10.0.1.1"]);
    expect(plan.cloudMap?.deregister).toEqual(["hand-made"]);
    expect(plan.targetGroups[0]?.register).toEqual([]);
    expect(plan.targetGroups[0]?.deregister).toEqual([{ id: "10.0.7.7", port: 50051 }, { id: "10.0.1.1", port: 8080 }]);
    expect(plan.document.kind).toBe("unchanged");
  });

  it("tolerates the emulator's duplicate instances of one id", () => {
    const desired = { ready: [task(1)], draining: [] };
    const actual = converged(desired, 1);
    const duplicated: ActualState = { ...actual, cloudMap: { customHealth: false, instances: [...actual.cloudMap!.instances, ...actual.cloudMap!.instances] } };
    expect(countPlannedWrites(planReconcile(service, desired, duplicated, now))).toBe(0);
  });

  it("publishes an empty list for a service with no tasks", () => {
    const plan = planReconcile(service, { ready: [], draining: [] }, converged({ ready: [task(1)], draining: [] }, 3), now);
    expect(plan.document.kind === "publish" && plan.document.document).toMatchObject({ revision: 4, endpoints: [], draining: [] });
  });

  it("replaces an unreadable document with a revision above its SSM version", () => {
    const plan = planReconcile(service, { ready: [], draining: [] }, { ...empty, parameter: { kind: "invalid", version: 12, reason: "not JSON" } }, now);
    expect(plan.document.kind === "publish" && plan.document.document.revision).toBe(13);
    expect(plan.document.kind === "publish" && plan.document.overwrite).toBe(true);
  });

  it("chooses the form and tier by size: one Standard value up to 4,096 bytes, one Advanced up to 8,192, shards above", () => {
    const sizes = [30, 70, 150].map((n) => planReconcile(service, { ready: many(n), draining: [] }, empty, now).document);
    expect(sizes[0]).toMatchObject({ kind: "publish", form: "single", minimumTier: "Standard" });
    expect(sizes[0]?.kind === "publish" && sizes[0].bytes).toBeLessThanOrEqual(4096);
    expect(sizes[1]).toMatchObject({ kind: "publish", form: "single", minimumTier: "Advanced" });
    expect(sizes[1]?.kind === "publish" && sizes[1].bytes).toBeGreaterThan(4096);
    expect(sizes[2]).toMatchObject({ kind: "publish", form: "sharded", minimumTier: "Standard" });
    if (sizes[2]?.kind !== "publish" || sizes[2].form !== "sharded") return;
    expect(sizes[2].shards.length).toBeGreaterThan(1);
    expect(sizes[2].shards.every((shard) => shard.changed && shard.bytes <= 4096)).toBe(true);
    expect(sizes[2].shards.flatMap((shard) => shard.endpoints)).toHaveLength(150);
  });

  it("leaves Cloud Map alone when the service has none configured", () => {
    const plan = planReconcile({ ...service, cloudMapServiceId: undefined }, { ready: [task(1)], draining: [] }, { targetGroups: [], parameter: { kind: "missing" } }, now);
    expect(plan.cloudMap).toBeUndefined();
    expect(plan.targetGroups).toEqual([]);
    expect(countPlannedWrites(plan)).toBe(1);
  });
});

/** Desired state of `n` ready tasks whose document is exactly `bytes` long, by lengthening the first task's zone. */
function desiredOfBytes(n: number, bytes: number): DesiredState {
  const ready = many(n);
  const measure = (tasks: PublishedTask[]) => {
    const plan = planReconcile(service, { ready: tasks, draining: [] }, empty, now).document;
    if (plan.kind !== "publish") throw new Error("expected a publish");
    return Buffer.byteLength(serializeEndpointDocument(plan.document), "utf8");
  };
  const padding = bytes - measure(ready);
  if (padding < 0) throw new Error(`${n} tasks already take more than ${bytes} bytes`);
  ready[0] = { ...ready[0]!, zone: `${ready[0]!.zone}${"z".repeat(padding)}` };
  expect(measure(ready)).toBe(bytes);
  return { ready, draining: [] };
}

/** The actual state after `plan` was applied with every shard written at `version` (sharded) or the value at `version`. */
function applied(plan: ReturnType<typeof planReconcile>["document"], version: number): ParameterState {
  if (plan.kind !== "publish") throw new Error("expected a publish");
  if (plan.form === "single") return { kind: "valid", version, document: plan.document };
  const versions = new Map(plan.shards.map((shard) => [shard.index, plan.keptVersions.get(shard.index) ?? version]));
  const manifest = buildShardManifest(plan.document, plan.shards, versions);
  return { kind: "valid", version, document: plan.document, sharded: { manifest, shards: plan.shards } };
}

describe("planReconcile: the document's form at the size boundaries", () => {
  it.each([
    [4_096, "single", "Standard"],
    [4_097, "single", "Advanced"],
    [8_192, "single", "Advanced"],
    [8_193, "sharded", "Standard"],
  ] as const)("a document of exactly %i bytes is published %s, %s", (bytes, form, tier) => {
    const plan = planReconcile(service, desiredOfBytes(Math.floor(bytes / 110), bytes), empty, now).document;
    expect(plan).toMatchObject({ kind: "publish", form, minimumTier: tier });
    if (plan.kind === "publish" && plan.form === "single") expect(plan.bytes).toBe(bytes);
  });

  it("refuses, as one clear error that retrying cannot fix, an endpoint too large for any shard", () => {
    const ready = many(200);
    ready[7] = { ...ready[7]!, zone: "z".repeat(5_000) };
    const plan = planReconcile(service, { ready, draining: [] }, empty, now).document;
    expect(plan.kind).toBe("too-large");
    if (plan.kind !== "too-large") return;
    expect(plan.error).toBeInstanceOf(DocumentTooLargeError);
    expect(plan.error.retryable).toBe(false);
    expect(plan.error.message).toMatch(/200 endpoints, 0 draining.*more than a shard of 4096 bytes holds; \/discovery\/workflow-agent\/endpoints keeps its previous document/);
  });
});

describe("planReconcile: sharded documents change O(1) parameters", () => {
  const thousand = { ready: many(1_000), draining: [] };
  const published = applied(planReconcile(service, thousand, empty, now).document, 1);

  it("publishes 1,000 endpoints as shards of at most 4,096 bytes, then converges", () => {
    const first = planReconcile(service, thousand, empty, now).document;
    expect(first.kind === "publish" && first.form === "sharded" && first.shards.length).toBeGreaterThanOrEqual(15);
    expect(planReconcile(service, thousand, { ...empty, parameter: published }, now).document.kind).toBe("unchanged");
  });

  it.each([
    ["one task stops", { ready: many(999), draining: [] }],
    ["one task starts draining", { ready: many(999), draining: many(1, 999) }],
    ["one task starts", { ready: many(1_001), draining: [] }],
  ])("%s: one shard and the manifest are written", (_, desired) => {
    const plan = planReconcile(service, desired, { ...empty, parameter: published }, now).document;
    expect(plan).toMatchObject({ kind: "publish", form: "sharded", obsoleteShards: [] });
    expect(countDocumentPuts(plan)).toBe(2);
  });

  it("shrinking to 10 endpoints goes back to one value and deletes every shard after publishing", () => {
    const plan = planReconcile(service, { ready: many(10), draining: [] }, { ...empty, parameter: published }, now).document;
    expect(plan).toMatchObject({ kind: "publish", form: "single" });
    if (published.kind !== "valid") return;
    expect(plan.kind === "publish" && plan.obsoleteShards).toEqual(published.sharded?.manifest.shards.map((ref) => ref.index));
  });
});

describe("planReconcile: revisions and epochs", () => {
  const desired = { ready: [task(1), task(2)], draining: [] };
  const epoch = now.getTime() - 86_400_000;
  const documentAt = (revision: number, withEpoch: number | null = epoch) => ({
    schemaVersion: 1 as const,
    service: "workflow-agent",
    revision,
    ...(withEpoch === null ? {} : { epoch: withEpoch }),
    generatedAt: "2026-11-20T00:00:00.000Z",
    endpoints: desired.ready.map((t) => ({ address: t.address, port: 50051, zone: t.zone, taskId: t.taskId })),
    draining: [],
  });
  const planFor = (parameter: ActualState["parameter"], tasks: DesiredState = desired) =>
    planReconcile(service, tasks, { ...empty, parameter }, now).document;

  it("continues the epoch while revision and SSM version agree (our own writes)", () => {
    expect(planFor({ kind: "valid", version: 9, document: documentAt(9) })).toMatchObject({ kind: "unchanged", revision: 9, epoch });
    expect(planFor({ kind: "valid", version: 9, document: documentAt(9) }, { ready: [task(1)], draining: [] })).toMatchObject({
      kind: "publish",
      document: { revision: 10, epoch },
      baseVersion: 9,
    });
  });

  it("starts a new epoch at revision 1 when the parameter was deleted", () => {
    expect(planFor({ kind: "missing" })).toMatchObject({ kind: "publish", overwrite: false, baseVersion: 0, document: { revision: 1, epoch: now.getTime() } });
  });

  it("an older document restored by hand is replaced, even with the same list, above the SSM version and in a new epoch", () => {
    const plan = planFor({ kind: "valid", version: 43, document: documentAt(5) });
    expect(plan).toMatchObject({ kind: "publish", document: { revision: 44, epoch: now.getTime() } });
  });

  it("a parameter recreated by hand with a copied document gets a new epoch and a revision above the copy's", () => {
    expect(planFor({ kind: "valid", version: 1, document: documentAt(40) })).toMatchObject({ kind: "publish", document: { revision: 41, epoch: now.getTime() } });
  });

  it("a new epoch is above the old one even when the writer's clock is behind it", () => {
    const future = now.getTime() + 60_000;
    expect(planFor({ kind: "valid", version: 1, document: documentAt(3, future) })).toMatchObject({ document: { epoch: future + 1 } });
  });

  it("a document from before epochs existed is republished once with one", () => {
    expect(planFor({ kind: "valid", version: 4, document: documentAt(4, null) })).toMatchObject({ kind: "publish", document: { revision: 5, epoch: now.getTime() } });
  });

  it("a manifest with broken shards is replaced above its revision and epoch, and its shards are cleaned up", () => {
    const plan = planFor({ kind: "invalid", version: 7, reason: "torn", head: { epoch, revision: 30 }, shardIndexes: [0, 1, 2] });
    expect(plan).toMatchObject({ kind: "publish", form: "single", document: { revision: 31, epoch: now.getTime() }, obsoleteShards: [0, 1, 2] });
  });
});
