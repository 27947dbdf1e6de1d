/**
 * Cloud Map's Register/DeregisterInstance are asynchronous operations on AWS (one in flight per instance, DuplicateRequest
 * for a second request, ListInstances showing only finished ones); moto finishes them at once. These tests put the
 * emulator layer `createCloudMapOperations` on the reconciler's ServiceDiscovery client, first to check the layer
 * itself, then the reconciler's handling of operations in flight.
 */
import { describe, expect, it } from "vitest";
import {
  DeregisterInstanceCommand,
  DuplicateRequest,
  GetOperationCommand,
  InstanceNotFound,
  ListInstancesCommand,
  ListOperationsCommand,
  RegisterInstanceCommand,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import type { Task } from "@aws-sdk/client-ecs";
import { createCloudMapOperations, requestCounter, runServiceTasks, stopServiceTask, taskIdOf, taskIp, type CloudMapOperations } from "@discovery-sync/emulator";
import { createPipeline, type Pipeline, type PipelineOptions } from "../support/pipeline.js";

const inFlightFilters = (serviceId: string) => [
  { Name: "SERVICE_ID" as const, Condition: "EQ" as const, Values: [serviceId] },
  { Name: "STATUS" as const, Condition: "IN" as const, Values: ["SUBMITTED", "PENDING"] },
];

async function listedIds(client: ServiceDiscoveryClient, serviceId: string): Promise<string[]> {
  const out = await client.send(new ListInstancesCommand({ ServiceId: serviceId }));
  return (out.Instances ?? []).map((i) => i.Id!).sort();
}

/** A pipeline whose reconciler talks to Cloud Map through the layer (and a request counter above it). */
async function layeredPipeline(options: PipelineOptions = {}, layerOptions: Parameters<typeof createCloudMapOperations>[0] = {}) {
  const pipeline = await createPipeline({ targetGroups: 0, retryVisibility: { baseSeconds: 1 }, ...options });
  const layer = createCloudMapOperations(layerOptions);
  const counter = requestCounter();
  pipeline.clients.serviceDiscovery.middlewareStack.use(layer.plugin);
  pipeline.clients.serviceDiscovery.middlewareStack.use(counter.plugin);
  return { pipeline, layer, counter, serviceId: pipeline.world.cloudMapServiceId! };
}

/** Waits for a failed message to come back (its visibility set by the handler) and runs the reconciles it brings. */
async function pumpRetry(pipeline: Pipeline, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const summary = await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 });
    if (summary.batches > 0) return summary;
    if (Date.now() > deadline) throw new Error("no message came back for a retry");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const lastRecord = (pipeline: Pipeline) => pipeline.logger.records.at(-1)!;
const idOf = (task: Task) => taskIdOf(task.taskArn!);

describe("the Cloud Map operations layer on the emulator", () => {
  it("holds a registration in flight: absent from ListInstances, DuplicateRequest for a second request, applied at settle", async () => {
    // Prepare
    const { pipeline, layer, serviceId } = await layeredPipeline();
    const client = pipeline.clients.serviceDiscovery;
    const register = () =>
      client.send(new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: "i-1", Attributes: { AWS_INSTANCE_IPV4: "10.0.1.7" } }));

    // Act
    const { OperationId } = await register();
    const duplicate = await register().catch((error: unknown) => error);
    const listedWhilePending = await listedIds(client, serviceId);
    const first = await client.send(new GetOperationCommand({ OperationId }));
    const second = await client.send(new GetOperationCommand({ OperationId }));
    const inFlight = await client.send(new ListOperationsCommand({ Filters: inFlightFilters(serviceId) }));
    await layer.settle();

    // Assess
    expect(duplicate).toBeInstanceOf(DuplicateRequest);
    expect(duplicate).toMatchObject({ name: "DuplicateRequest", DuplicateOperationId: OperationId, $metadata: { httpStatusCode: 400 } });
    expect(listedWhilePending).toEqual([]);
    expect(first.Operation).toMatchObject({ Id: OperationId, Type: "REGISTER_INSTANCE", Status: "SUBMITTED", Targets: { INSTANCE: "i-1", SERVICE: serviceId } });
    expect(second.Operation?.Status).toBe("PENDING");
    expect(inFlight.Operations).toEqual([{ Id: OperationId, Status: "PENDING" }]);
    expect(await listedIds(client, serviceId)).toEqual(["i-1"]);
    expect((await client.send(new GetOperationCommand({ OperationId }))).Operation?.Status).toBe("SUCCESS");
    expect((await client.send(new ListOperationsCommand({ Filters: inFlightFilters(serviceId) }))).Operations).toEqual([]);
    expect(layer.duplicateRequests).toHaveLength(1);
  });

  it("keeps an instance being deregistered listed until the operation completes (by itself after holdMs)", async () => {
    // Prepare
    const { pipeline, layer, serviceId } = await layeredPipeline({}, { holdMs: 300 });
    const client = pipeline.clients.serviceDiscovery;
    await client.send(new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: "i-2", Attributes: { AWS_INSTANCE_IPV4: "10.0.1.8" } }));
    await layer.settle();

    // Act
    const { OperationId } = await client.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: "i-2" }));
    const listedWhilePending = await listedIds(client, serviceId);
    await new Promise((resolve) => setTimeout(resolve, 400));

    // Assess
    expect(listedWhilePending).toEqual(["i-2"]);
    expect(await listedIds(client, serviceId)).toEqual([]);
    expect((await client.send(new GetOperationCommand({ OperationId }))).Operation).toMatchObject({ Type: "DEREGISTER_INSTANCE", Status: "SUCCESS" });
    // A missing instance is refused at once, as AWS does, not in an operation.
    await expect(client.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: "i-2" }))).rejects.toBeInstanceOf(InstanceNotFound);
  });

  it("pages ListOperations like AWS: a page of operations is taken, then filtered, so pages can be empty", async () => {
    // Prepare: two finished operations, then one in flight, one operation per page.
    const { pipeline, layer, serviceId } = await layeredPipeline({}, { pageSize: 1 });
    const client = pipeline.clients.serviceDiscovery;
    for (const id of ["a", "b"]) {
      await client.send(new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: "10.0.1.9" } }));
    }
    await layer.settle();
    const { OperationId } = await client.send(
      new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: "c", Attributes: { AWS_INSTANCE_IPV4: "10.0.1.10" } }),
    );

    // Act
    const pages: { Id?: string }[][] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListOperationsCommand({ Filters: inFlightFilters(serviceId), NextToken: token }));
      pages.push(page.Operations ?? []);
      token = page.NextToken;
    } while (token !== undefined);

    // Assess
    expect(pages.map((p) => p.map((o) => o.Id))).toEqual([[], [], [OperationId]]);
  });
});

describe("reconcile with Cloud Map operations in flight", () => {
  it("a task that stops while its registration is in flight leaves no instance once the operation completed", async () => {
    // Prepare: the task's registration is submitted and held in flight.
    const { pipeline, layer } = await layeredPipeline();
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await pipeline.emit([task!]);
    await pipeline.pump();
    expect(layer.inFlight().map((op) => [op.type, op.instanceId])).toEqual([["REGISTER_INSTANCE", idOf(task!)]]);

    // Act: the task stops before the registration finished (ListInstances does not show it yet).
    const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, task!.taskArn!);
    await pipeline.emit([stopped], { version: 2 });
    const duringRegistration = await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 });
    const unsettled = lastRecord(pipeline);
    await layer.settle(); // the registration completes: the instance now exists
    await pumpRetry(pipeline); // the retry deregisters it
    await layer.settle();

    // Assess
    expect(duringRegistration).toMatchObject({ failures: 1, errors: [] });
    expect(unsettled.outcome).toBe("failed");
    expect(unsettled.error?.reasons).toEqual(["CloudMapOperationInFlightError"]);
    expect(unsettled.error?.message).toContain(`registration of instance ${idOf(task!)} is still in flight`);
    expect(lastRecord(pipeline)).toMatchObject({ outcome: "changed", writes: { cloudMapDeregistered: 1 } });
    expect((await pipeline.observe()).instanceIds).toEqual([]);
    expect(layer.duplicateRequests).toEqual([]);
  });

  it("a reconcile during an in-flight registration sends no second request and meets no DuplicateRequest", async () => {
    // Prepare: two tasks registered and settled (finished operations in the history, one per ListOperations page),
    // then a third whose registration stays in flight.
    const { pipeline, layer, counter } = await layeredPipeline({}, { pageSize: 1 });
    const first = await runServiceTasks(pipeline.worldClients, pipeline.world, 2);
    await pipeline.emit(first);
    await pipeline.pump();
    await layer.settle();
    const [third] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await pipeline.emit([third!]);
    await pipeline.pump();

    // Act: another event of the task while its registration runs.
    await pipeline.emit([third!], { version: 2 });
    const summary = await pipeline.pump();

    // Assess
    expect(summary).toMatchObject({ failures: 0, errors: [] });
    expect(counter.count("RegisterInstanceCommand")).toBe(3);
    expect(layer.duplicateRequests).toEqual([]);
    expect(lastRecord(pipeline)).toMatchObject({ outcome: "converged", writes: { cloudMapRegistered: 0 } });
    await layer.settle();
    expect((await pipeline.observe()).instanceIds.sort()).toEqual([...first, third!].map(idOf).sort());
  });

  it("a deregistration in flight of a task that is ready again: reported, retried, and the task registered again", async () => {
    // Prepare: the task registered; then unhealthy, so its deregistration is submitted and held.
    const { pipeline, layer } = await layeredPipeline();
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await pipeline.emit([task!]);
    await pipeline.pump();
    await layer.settle();
    pipeline.overlay.set(task!.taskArn!, { healthStatus: "UNHEALTHY" });
    await pipeline.emit([task!], { version: 2 });
    await pipeline.pump();
    expect(layer.inFlight().map((op) => op.type)).toEqual(["DEREGISTER_INSTANCE"]);

    // Act: healthy again while the deregistration runs (ListInstances still shows the instance).
    pipeline.overlay.set(task!.taskArn!, { healthStatus: "HEALTHY" });
    await pipeline.emit([task!], { version: 3 });
    const duringDeregistration = await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 });
    const unsettled = lastRecord(pipeline);
    await layer.settle(); // the deregistration completes: the instance is gone
    await pumpRetry(pipeline); // the retry registers it again
    await layer.settle();

    // Assess
    expect(duringDeregistration).toMatchObject({ failures: 1, errors: [] });
    expect(unsettled.error?.message).toContain(`deregistration of instance ${idOf(task!)} is still in flight`);
    expect((await pipeline.observe()).instances).toEqual({ [idOf(task!)]: taskIp(task!) });
    expect(layer.duplicateRequests).toEqual([]);
  });

  it("a DuplicateRequest is reported naming the instance and the service, retried, and the next reconcile converges", async () => {
    // Prepare: an operation nobody listed runs on the instance when the reconcile registers it.
    const { pipeline, layer, serviceId } = await layeredPipeline();
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    layer.injectDuplicateRequest({ instanceId: idOf(task!) });

    // Act
    await pipeline.emit([task!]);
    const first = await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 });
    const refused = lastRecord(pipeline);
    await pumpRetry(pipeline);
    const retried = lastRecord(pipeline);
    await layer.settle();
    await pipeline.emit([task!], { version: 2 });
    await pipeline.pump();

    // Assess: not thrown past the reconcile (the handler answered a partial batch failure), retryable, named.
    expect(first).toMatchObject({ failures: 1, errors: [] });
    expect(refused.outcome).toBe("failed");
    expect(refused.error?.reasons).toEqual(["CloudMapOperationInFlightError"]);
    expect(refused.error?.message).toContain(`RegisterInstance of instance ${idOf(task!)} answered DuplicateRequest`);
    expect(refused.error?.message).toContain(`Cloud Map service ${serviceId} of service workflow-agent`);
    expect(retried).toMatchObject({ outcome: "changed", writes: { cloudMapRegistered: 1 } });
    expect(lastRecord(pipeline)).toMatchObject({ outcome: "converged", writesTotal: 0 });
    expect((await pipeline.observe()).instances).toEqual({ [idOf(task!)]: taskIp(task!) });
  });
});
