import { describe, expect, it } from "vitest";
import {
  countPlannedWrites,
  DocumentTooLargeError,
  instanceAttributes,
  planReconcile,
  type ActualState,
  type DesiredState,
  type PublishedTask,
  type ServiceConfig,
} from "@discovery-sync/core";
import { parseEndpointDocument } from "@discovery-sync/client/document";

const tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/wa/0123456789abcdef";
const service: ServiceConfig = {
  name: "workflow-agent",
  cluster: "workflow",
  ecsService: "workflow-agent",
  port: 50051,
  cloudMapServiceId: "srv-0123456789abcdef",
  targetGroupArns: [tg],
  parameterName: "/discovery/workflow-agent/endpoints",
};
const now = new Date("2026-11-23T12:00:00.000Z");
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
    expect(plan.document.kind).toBe("publish");
    if (plan.document.kind !== "publish") return;
    expect(plan.document.overwrite).toBe(false);
    expect(plan.document.minimumTier).toBe("Standard");
    expect(parseEndpointDocument(plan.document.text)).toEqual({
      schemaVersion: 1,
      service: "workflow-agent",
      revision: 1,
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
    expect(plan.document).toEqual({ kind: "unchanged", revision: 4 });
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

  it("chooses the tier by size: Standard up to 4,096 bytes, Advanced up to 8,192, refused above", () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ ...task(i), address: `10.0.${Math.floor(i / 250)}.${i % 250}`, taskId: `${"t".repeat(24)}${i}` }));
    const sizes = [40, 80, 150].map((n) => planReconcile(service, { ready: many(n), draining: [] }, empty, now).document);
    expect(sizes[0]).toMatchObject({ kind: "publish", minimumTier: "Standard" });
    expect(sizes[0]?.kind === "publish" && sizes[0].bytes).toBeLessThanOrEqual(4096);
    expect(sizes[1]).toMatchObject({ kind: "publish", minimumTier: "Advanced" });
    expect(sizes[1]?.kind === "publish" && sizes[1].bytes).toBeGreaterThan(4096);
    expect(sizes[2]?.kind).toBe("too-large");
    if (sizes[2]?.kind !== "too-large") return;
    expect(sizes[2].error).toBeInstanceOf(DocumentTooLargeError);
    expect(sizes[2].error.bytes).toBeGreaterThan(8192);
    expect(sizes[2].error.message).toMatch(/over SSM's Advanced tier limit of 8192 bytes; \/discovery\/workflow-agent\/endpoints keeps its previous document/);
  });

  it("leaves Cloud Map alone when the service has none configured", () => {
    const plan = planReconcile({ ...service, cloudMapServiceId: undefined }, { ready: [task(1)], draining: [] }, { targetGroups: [], parameter: { kind: "missing" } }, now);
    expect(plan.cloudMap).toBeUndefined();
    expect(plan.targetGroups).toEqual([]);
    expect(countPlannedWrites(plan)).toBe(1);
  });
});
