/**
 * The planner and Cloud Map's asynchronous Register/DeregisterInstance: no request for an instance with an operation
 * in flight, and an operation in flight is never undone (one that disagrees with the desired state is reported
 * unsettled, for a retry once it finished).
 */
import { describe, expect, it } from "vitest";
import {
  countPlannedWrites,
  instanceAttributes,
  planReconcile,
  type ActualState,
  type DesiredState,
  type PendingInstanceOperation,
  type PublishedTask,
  type ServiceConfig,
} from "@discovery-sync/core";

const service: ServiceConfig = {
  name: "workflow-agent",
  cluster: "workflow",
  clusterName: "workflow",
  ecsService: "workflow-agent",
  port: 50051,
  cloudMapServiceId: "srv-0123456789abcdef",
  parameterName: "/discovery/workflow-agent/endpoints",
};
const now = new Date("2026-11-23T12:00:00.000Z");
const task = (n: number): PublishedTask => ({
  taskId: `task${n}`,
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/workflow/task${n}`,
  address: `10.0.1.${n}`,
  zone: "us-east-1a",
});
const registered = (n: number) => ({ id: `task${n}`, attributes: instanceAttributes(service, task(n), false) });
const pending = (n: number, type: PendingInstanceOperation["type"]): PendingInstanceOperation => ({
  operationId: `op-${type === "REGISTER_INSTANCE" ? "r" : "d"}${n}`,
  instanceId: `task${n}`,
  type,
});

/** The Cloud Map part of the plan for these ready tasks, listed instances and pending operations. */
function planCloudMap(ready: readonly number[], instances: readonly number[], pendingOperations?: readonly PendingInstanceOperation[]) {
  const desired: DesiredState = { ready: ready.map(task), draining: [] };
  const actual: ActualState = {
    cloudMap: { instances: instances.map(registered), customHealth: false, ...(pendingOperations === undefined ? {} : { pendingOperations }) },
    targetGroups: [],
  };
  const plan = planReconcile(service, desired, actual, now);
  return { cloudMap: plan.cloudMap!, writes: countPlannedWrites(plan) };
}

describe("planReconcile with Cloud Map operations in flight", () => {
  it("counts a pending registration of a ready task as done: no second RegisterInstance, nothing unsettled", () => {
    // Prepare: task 1 registered; task 2's registration in flight, so ListInstances does not show it yet.
    // Act
    const { cloudMap, writes } = planCloudMap([1, 2], [1], [pending(2, "REGISTER_INSTANCE")]);
    // Assess
    expect(cloudMap.register).toEqual([]);
    expect(cloudMap.deregister).toEqual([]);
    expect(cloudMap.unsettled).toBeUndefined();
    expect(writes).toBe(0);
  });

  it("reports a pending registration of a task no longer ready as unsettled, and sends no request for it", () => {
    // Prepare: task 2 was registered while ready, then stopped before the registration finished.
    // Act
    const { cloudMap, writes } = planCloudMap([1], [1], [pending(2, "REGISTER_INSTANCE")]);
    // Assess: not forgotten (ListInstances does not show it), not deregistered while it runs (DuplicateRequest).
    expect(cloudMap.register).toEqual([]);
    expect(cloudMap.deregister).toEqual([]);
    expect(cloudMap.unsettled).toEqual([{ instanceId: "task2", operationId: "op-r2", operation: "REGISTER_INSTANCE", wanted: "deregistered" }]);
    expect(writes).toBe(0);
  });

  it("does not deregister a listed instance whose re-registration is in flight, and reports it when unwanted", () => {
    // Prepare: task 2 listed (an earlier registration), a registration of it in flight, the task gone meanwhile.
    // Act
    const { cloudMap } = planCloudMap([1], [1, 2], [pending(2, "REGISTER_INSTANCE")]);
    // Assess
    expect(cloudMap.deregister).toEqual([]);
    expect(cloudMap.unsettled?.map((u) => [u.instanceId, u.wanted])).toEqual([["task2", "deregistered"]]);
  });

  it("reports a pending deregistration of a task that is ready again as unsettled, and does not register it meanwhile", () => {
    // Prepare: task 2 still listed (a deregistration in flight is), its task ready again.
    // Act
    const { cloudMap, writes } = planCloudMap([1, 2], [1, 2], [pending(2, "DEREGISTER_INSTANCE")]);
    // Assess
    expect(cloudMap.register).toEqual([]);
    expect(cloudMap.deregister).toEqual([]);
    expect(cloudMap.unsettled).toEqual([{ instanceId: "task2", operationId: "op-d2", operation: "DEREGISTER_INSTANCE", wanted: "registered" }]);
    expect(writes).toBe(0);
  });

  it("counts a pending deregistration of an unwanted instance as done: no second DeregisterInstance", () => {
    // Act: task 2 still listed while its deregistration runs.
    const { cloudMap, writes } = planCloudMap([1], [1, 2], [pending(2, "DEREGISTER_INSTANCE")]);
    // Assess
    expect(cloudMap).toEqual({ register: [], deregister: [] });
    expect(writes).toBe(0);
  });

  it("plans the other instances as usual while some have operations in flight", () => {
    // Act: 3 to register, 4 to deregister, 2 unsettled, 5 pending and wanted.
    const { cloudMap } = planCloudMap([1, 3, 5], [1, 4], [pending(2, "REGISTER_INSTANCE"), pending(5, "REGISTER_INSTANCE")]);
    // Assess
    expect(cloudMap.register.map((r) => r.instanceId)).toEqual(["task3"]);
    expect(cloudMap.deregister).toEqual(["task4"]);
    expect(cloudMap.unsettled?.map((u) => u.instanceId)).toEqual(["task2"]);
  });

  it("plans as before when nothing is in flight (regression guard: the same with or without the change)", () => {
    for (const pendingOperations of [undefined, []]) {
      // Act
      const { cloudMap } = planCloudMap([1, 2], [1, 3], pendingOperations);
      // Assess: exactly the two lists, no `unsettled`.
      expect(cloudMap).toEqual({ register: [{ instanceId: "task2", attributes: instanceAttributes(service, task(2), false) }], deregister: ["task3"] });
      expect(Object.keys(cloudMap).sort()).toEqual(["deregister", "register"]);
    }
  });
});
