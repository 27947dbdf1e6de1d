import { describe, expect, it, vi } from "vitest";
import { RegisterInstanceCommand } from "@aws-sdk/client-servicediscovery";
import { DeregisterTargetsCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { Task } from "@aws-sdk/client-ecs";
import { runForeignTask, runServiceTasks, stopServiceTask, taskIdOf, taskIp, taskStateChangeEvent } from "@discovery-sync/emulator";
import { compareEndpoints } from "@discovery-sync/client/document";
import { createPipeline, reconcileRecord, type Pipeline } from "../support/pipeline.js";
import { testRegion } from "../support/aws.js";

const ipOf = (task: Task) => taskIp(task)!;
const sortedIps = (tasks: readonly Task[]) => tasks.map(ipOf).sort();
/** The order the document lists addresses in (numeric). */
const documentOrder = (tasks: readonly Task[]) =>
  tasks.map((t) => ({ address: ipOf(t), port: 0 })).sort(compareEndpoints).map((e) => e.address);

/** A target group ARN in the pipeline's own account and Region that does not exist. */
function goneTargetGroup(config: { services: Record<string, unknown>[] }): string {
  const existing = (config.services[0]!.targetGroupArns as string[])[0]!;
  return existing.replace(/targetgroup\/[^/]+\/[0-9a-f]+$/, "targetgroup/gone/0123456789abcdef");
}

async function scaledTo(count: number, options: Parameters<typeof createPipeline>[0] = {}) {
  const pipeline = await createPipeline(options);
  const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, count);
  await pipeline.emit(tasks);
  const summary = await pipeline.pump();
  expect(summary.failures).toBe(0);
  return { pipeline, tasks };
}

function expectConvergedOn(state: Awaited<ReturnType<Pipeline["observe"]>>, tasks: readonly Task[], port = 50051) {
  expect(Object.keys(state.instances).sort()).toEqual(tasks.map((t) => taskIdOf(t.taskArn!)).sort());
  expect(Object.values(state.instances).sort()).toEqual(sortedIps(tasks));
  expect(state.targets).toEqual(tasks.map((t) => `${ipOf(t)}:${port}`).sort());
  expect(state.document?.endpoints.map((e) => e.address)).toEqual(documentOrder(tasks));
}

describe("reconcile pipeline on the emulator", () => {
  it("scales 0 -> 3: every ready task in Cloud Map, the target group and the document", async () => {
    const { pipeline, tasks } = await scaledTo(3);
    const state = await pipeline.observe();
    expectConvergedOn(state, tasks);
    expect(state.document).toMatchObject({ schemaVersion: 1, service: "workflow-agent", revision: 1, draining: [] });
    const zones = new Set(Object.values(pipeline.world.zonesBySubnet));
    for (const endpoint of state.document!.endpoints) {
      expect(endpoint.port).toBe(50051);
      expect(zones.has(endpoint.zone!)).toBe(true);
      expect(tasks.map((t) => taskIdOf(t.taskArn!))).toContain(endpoint.taskId);
    }
    expect(state.parameterTier).toBe("Standard");
    // Three events, one message group: coalesced or not, the record says what was written.
    const written = pipeline.logger.records.reduce((n, r) => n + r.writes.cloudMapRegistered, 0);
    expect(written).toBe(3);
  });

  it("stops one: it leaves every target and the document gains a revision", async () => {
    const { pipeline, tasks } = await scaledTo(3);
    const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, tasks[1]!.taskArn!);
    await pipeline.emit([stopped]);
    await pipeline.pump();
    const state = await pipeline.observe();
    expectConvergedOn(state, [tasks[0]!, tasks[2]!]);
    expect(state.document?.revision).toBe(2);
  });

  it("absorbs duplicate events: the queue deduplicates, and a late duplicate changes nothing", async () => {
    const pipeline = await createPipeline();
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    const id = "6f1d3c3e-0000-4000-8000-000000000001";
    await pipeline.emit([task!], { id, version: 2 });
    await pipeline.emit([task!], { id, version: 2 });
    expect(await pipeline.queueDepth()).toBe(1);
    await pipeline.pump();
    const before = await pipeline.observe();
    await pipeline.emit([task!], { id: "6f1d3c3e-0000-4000-8000-000000000002", version: 2 });
    await pipeline.pump();
    const after = await pipeline.observe();
    expectConvergedOn(after, [task!]);
    expect(after.parameterVersion).toBe(before.parameterVersion);
    expect(after.instanceIds).toHaveLength(1);
    expect(pipeline.logger.records.at(-1)).toMatchObject({ outcome: "converged", writesTotal: 0, publishedRevision: "unchanged" });
  });

  it("handles events out of order: a STOPPED event before the RUNNING one of the same task", async () => {
    const { pipeline, tasks } = await scaledTo(2);
    const [keep, victim] = tasks as [Task, Task];
    const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, victim.taskArn!);
    await pipeline.emit([stopped], { version: 5 });
    await pipeline.pump();
    await pipeline.emit([victim], { version: 3, overrides: { lastStatus: "RUNNING", desiredStatus: "RUNNING" } });
    await pipeline.pump();
    const state = await pipeline.observe();
    expectConvergedOn(state, [keep]);
    expect(state.document?.endpoints.map((e) => e.taskId)).not.toContain(taskIdOf(victim.taskArn!));
  });

  it("keeps an unhealthy task out, and lets it in once healthy", async () => {
    const pipeline = await createPipeline();
    const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, 3);
    pipeline.overlay.set(tasks[0]!.taskArn!, { healthStatus: "UNHEALTHY" });
    await pipeline.emit(tasks);
    await pipeline.pump();
    expectConvergedOn(await pipeline.observe(), tasks.slice(1));
    pipeline.overlay.set(tasks[0]!.taskArn!, { healthStatus: "HEALTHY" });
    await pipeline.emit([tasks[0]!]);
    await pipeline.pump();
    expectConvergedOn(await pipeline.observe(), tasks);
  });

  it("treats health UNKNOWN as ready only when the task definition has no health check", async () => {
    const withCheck = await createPipeline({ containerHealthCheck: true });
    const checked = await runServiceTasks(withCheck.worldClients, withCheck.world, 1);
    withCheck.overlay.set(checked[0]!.taskArn!, { healthStatus: "UNKNOWN" });
    await withCheck.emit(checked);
    await withCheck.pump();
    expect((await withCheck.observe()).document?.endpoints).toEqual([]);

    const withoutCheck = await createPipeline({ containerHealthCheck: false });
    const unchecked = await runServiceTasks(withoutCheck.worldClients, withoutCheck.world, 1);
    withoutCheck.overlay.set(unchecked[0]!.taskArn!, { healthStatus: "UNKNOWN" });
    await withoutCheck.emit(unchecked);
    await withoutCheck.pump();
    expectConvergedOn(await withoutCheck.observe(), unchecked);
  });

  it("takes a draining task (desiredStatus STOPPED, still RUNNING) out at once and lists it as draining", async () => {
    const { pipeline, tasks } = await scaledTo(3);
    const draining = tasks[2]!;
    pipeline.overlay.set(draining.taskArn!, { desiredStatus: "STOPPED", lastStatus: "RUNNING" });
    await pipeline.emit([draining], { version: 4 });
    await pipeline.pump();
    const state = await pipeline.observe();
    expectConvergedOn(state, tasks.slice(0, 2));
    expect(state.document?.draining).toEqual([
      { address: ipOf(draining), port: 50051, zone: pipeline.world.zonesBySubnet[draining.attachments![0]!.details!.find((d) => d.name === "subnetId")!.value!], taskId: taskIdOf(draining.taskArn!) },
    ]);
    expect(state.document?.revision).toBe(2);
  });

  it("repairs drift in Cloud Map and in the target group on the sweep", async () => {
    const { pipeline, tasks } = await scaledTo(2);
    const serviceId = pipeline.world.cloudMapServiceId!;
    const targetGroupArn = pipeline.world.targetGroupArns[0]!;
    await pipeline.clients.serviceDiscovery.send(
      new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: "hand-made", Attributes: { AWS_INSTANCE_IPV4: "10.0.9.9" } }),
    );
    await pipeline.clients.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: "10.0.9.8", Port: 50051 }] }));
    await pipeline.clients.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: ipOf(tasks[0]!), Port: 50051 }] }));
    const drifted = await pipeline.observe();
    expect(drifted.instances["hand-made"]).toBe("10.0.9.9");
    expect(drifted.targets).toContain("10.0.9.8:50051");

    await pipeline.sweep({ id: "sweep-1" });
    await pipeline.pump();
    const repaired = await pipeline.observe();
    expectConvergedOn(repaired, tasks);
    expect(repaired.document?.revision).toBe(1);
    expect(pipeline.logger.records.at(-1)).toMatchObject({
      triggers: ["sweep"],
      outcome: "changed",
      writes: { cloudMapDeregistered: 1, targetsRegistered: 1, targetsDeregistered: 1, documentsPublished: 0 },
    });
  });

  it("makes no write at all when converged: the SSM version stays", async () => {
    const { pipeline, tasks } = await scaledTo(3);
    const before = await pipeline.observe();
    await pipeline.sweep({ id: "sweep-a" });
    await pipeline.pump();
    await pipeline.emit(tasks);
    await pipeline.pump();
    const after = await pipeline.observe();
    expect(after).toEqual(before);
    const last = pipeline.logger.records.slice(-2);
    // A converged reconcile confirms the document: its age restarts at 0 without a write.
    expect(last.map((r) => [r.outcome, r.writesTotal, r.publishedRevision, r.documentAgeSeconds])).toEqual([
      ["converged", 0, "unchanged", 0],
      ["converged", 0, "unchanged", 0],
    ]);
  });

  it("publishes an empty list for a service with no tasks", async () => {
    const pipeline = await createPipeline();
    await pipeline.sweep({ id: "sweep-empty" });
    await pipeline.pump();
    const state = await pipeline.observe();
    expect(state.document).toMatchObject({ revision: 1, endpoints: [], draining: [] });
    expect(state.instanceIds).toEqual([]);
    expect(state.targets).toEqual([]);
  });

  it("rejects malformed events and ignores foreign ones without enqueuing anything", async () => {
    const pipeline = await createPipeline();
    const foreign = await runForeignTask(pipeline.worldClients, pipeline.world);
    const foreignEvent = taskStateChangeEvent(foreign, { account: pipeline.account.accountId, region: testRegion });
    await expect(pipeline.route(foreignEvent)).resolves.toMatchObject({ outcome: "ignored" });
    await expect(pipeline.route({ ...foreignEvent, detail: { ...foreignEvent.detail, group: "service:someone-else" } })).resolves.toMatchObject({
      outcome: "ignored",
    });
    for (const malformed of [null, "text", {}, { ...foreignEvent, detail: "x" }, { ...foreignEvent, source: "aws.ec2" }]) {
      await expect(pipeline.route(malformed)).resolves.toMatchObject({ outcome: "rejected" });
    }
    expect(await pipeline.queueDepth()).toBe(0);
    // The foreign task is in the cluster (moto's ListTasks ignores serviceName): the reconcile must still skip it.
    await pipeline.sweep({ id: "sweep-foreign" });
    await pipeline.pump();
    expect((await pipeline.observe()).document?.endpoints).toEqual([]);
    expect(pipeline.logger.entries.filter((e) => e.message === "event rejected")).toHaveLength(5);
  });

  it("moves to the Advanced tier past 4 KB and to shards past 8 KB, with Cloud Map and the target group alike", async () => {
    const { pipeline } = await scaledTo(50);
    const advanced = await pipeline.observe();
    expect(advanced.parameterTier).toBe("Advanced");
    expect(advanced.shardCount).toBe(0);
    expect(advanced.document?.endpoints).toHaveLength(50);
    const raw = await pipeline.clients.ssm.send(new GetParameterCommand({ Name: pipeline.world.serviceConfig.parameterName }));
    expect(Buffer.byteLength(raw.Parameter!.Value!)).toBeGreaterThan(4096);
    expect(pipeline.logger.records.at(-1)?.documentAgeSeconds).toBe(0);

    const more = await runServiceTasks(pipeline.worldClients, pipeline.world, 40);
    await pipeline.emit(more.slice(0, 1));
    expect((await pipeline.pump()).failures).toBe(0);
    const after = await pipeline.observe();
    expect(after.document?.endpoints).toHaveLength(90);
    expect(after.document?.revision).toBe(advanced.document!.revision + 1);
    expect(after.shardCount).toBeGreaterThan(1);
    // The manifest at the parameter stays Advanced: SSM never downgrades a tier.
    expect(after.parameterTier).toBe("Advanced");
    expect(pipeline.logger.records.at(-1)).toMatchObject({ outcome: "changed", documentForm: "sharded", documentAgeSeconds: 0 });
    expect(after.instanceIds).toHaveLength(90);
  });

  it("a document that cannot be published at all fails once, alarmed, without holding its message group back", async () => {
    const { pipeline, tasks } = await scaledTo(2);
    const before = await pipeline.observe();
    // One endpoint too large for one parameter and for any shard (a 9,000-character zone): no form of the document can hold it.
    const [giant] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    pipeline.overlay.set(giant!.taskArn!, { availabilityZone: "z".repeat(9_000) });
    await pipeline.emit([giant!]);
    const summary = await pipeline.pump();
    expect(summary.failures).toBe(0);
    expect(await pipeline.queueDepth()).toBe(0);
    const failed = pipeline.logger.records.at(-1);
    expect(failed).toMatchObject({ outcome: "failed", error: { name: "ReconcileError", reasons: ["DocumentTooLargeError"] } });
    expect(failed?.error?.message).toMatch(/more than a shard of 4096 bytes holds; \/discovery\/.*keeps its previous document/);
    const after = await pipeline.observe();
    // Never a truncated list: the previous document stays; the target group still follows ECS.
    expect(after.document).toEqual(before.document);
    expect(after.targets).toHaveLength(3);

    // The next event of the service is not stuck behind it.
    pipeline.overlay.clear(giant!.taskArn!);
    await pipeline.emit([tasks[0]!]);
    expect((await pipeline.pump()).failures).toBe(0);
    expect((await pipeline.observe()).document?.endpoints).toHaveLength(3);
  });

  it("brings a failed message back after seconds, growing with each receive, not after the queue's visibility timeout", async () => {
    const pipeline = await createPipeline({
      retryVisibility: { baseSeconds: 1, maxSeconds: 2 },
      editConfig: (config) => {
        config.services[0]!.targetGroupArns = [goneTargetGroup(config)];
      },
    });
    await pipeline.sweep({ id: "sweep-fails" });
    const first = await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 });
    expect(first.failures).toBe(1);
    // Hidden for 1 s (the queue's own timeout is 180 s), then back for its second receive.
    const started = Date.now();
    expect((await pipeline.pump({ failedVisibility: "handler" })).messages).toBe(0);
    await vi.waitFor(async () => expect((await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 })).messages).toBe(1), {
      timeout: 5_000,
      interval: 200,
    });
    const backAfterMs = Date.now() - started;
    expect(backAfterMs).toBeGreaterThanOrEqual(700);
    expect(backAfterMs).toBeLessThan(4_000);
    // The second failure hides it for 2 s.
    const again = Date.now();
    await vi.waitFor(async () => expect((await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 })).messages).toBe(1), {
      timeout: 6_000,
      interval: 200,
    });
    expect(Date.now() - again).toBeGreaterThanOrEqual(1_500);
  });

  it("does not let one failing service block the others in a batch", async () => {
    const pipeline = await createPipeline({
      extraServices: [{ service: "billing" }],
      editConfig: (config) => {
        // A target group that does not exist: every reconcile of "billing" fails to read it.
        config.services[1]!.targetGroupArns = [goneTargetGroup(config)];
      },
    });
    const [agentWorld, billingWorld] = pipeline.worlds as [typeof pipeline.world, typeof pipeline.world];
    const agentTasks = await runServiceTasks(pipeline.worldClients, agentWorld, 2);
    const billingTasks = await runServiceTasks(pipeline.worldClients, billingWorld, 1);
    await pipeline.emit([billingTasks[0]!, agentTasks[0]!, agentTasks[1]!]);
    const summary = await pipeline.pump();
    expect(summary.failures).toBeGreaterThan(0);
    expectConvergedOn(await pipeline.observe(agentWorld), agentTasks);
    // The broken target group fails alone: billing's Cloud Map service and document still follow its tasks.
    const billingState = await pipeline.observe(billingWorld);
    expect(billingState.document?.endpoints.map((e) => e.address)).toEqual([ipOf(billingTasks[0]!)]);
    expect(Object.keys(billingState.instances)).toEqual([taskIdOf(billingTasks[0]!.taskArn!)]);
    // The failed service's message was retried until the redrive policy moved it to the dead-letter queue; the
    // other service's messages were each handled once.
    expect(await pipeline.queueDepth()).toBe(0);
    const dlq = await pipeline.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: agentWorld.deadLetterQueueUrl!, MaxNumberOfMessages: 10 }),
    );
    expect((dlq.Messages ?? []).map((m) => JSON.parse(m.Body!).service)).toEqual(["billing"]);
    const billing = pipeline.logger.records.filter((r) => r.service === "billing");
    expect(billing.every((r) => r.outcome === "failed")).toBe(true);
    // The error names the service and the resource.
    expect(billing[0]?.error?.message).toMatch(/^reconcile of service billing failed: targets\.read arn:aws:elasticloadbalancing:.*:targetgroup\/gone\//);
  });

  it("reports failures per message group, from the failing group's first message on, and drops unparseable ones", async () => {
    const pipeline = await createPipeline({
      extraServices: [{ service: "billing" }],
      editConfig: (config) => {
        config.services[1]!.targetGroupArns = [goneTargetGroup(config)];
      },
    });
    const record = (id: string, service: string, body?: string) => reconcileRecord(pipeline, id, service, body);
    const response = await pipeline.reconcile({
      Records: [
        record("1", "workflow-agent"),
        record("2", "billing"),
        record("3", "workflow-agent", "{not json"),
        record("4", "workflow-agent"),
        record("5", "billing"),
      ],
    });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "2" }, { itemIdentifier: "5" }]);
    // One reconcile per service however many messages it had.
    expect(pipeline.logger.records.map((r) => [r.service, r.triggerCount]).sort()).toEqual([
      ["billing", 2],
      ["workflow-agent", 2],
    ]);
    expect(pipeline.logger.entries.find((e) => e.message === "message dropped")?.attributes).toMatchObject({ messageId: "3" });
    expect((await pipeline.observe()).document?.revision).toBe(1);
  });

  it("re-reads a stale DescribeTasks inside the invocation, and publishes once ECS caught up", async () => {
    let caughtUp = (): void => undefined;
    const waits: number[] = [];
    const pipeline = await createPipeline({
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 2) caughtUp();
      },
    });
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    pipeline.overlay.set(task!.taskArn!, { version: 2 });
    caughtUp = () => pipeline.overlay.set(task!.taskArn!, { version: 3 });
    const body = JSON.stringify({
      schemaVersion: 1,
      service: "workflow-agent",
      trigger: { kind: "event", eventId: "e-3", taskArn: task!.taskArn, taskVersion: 3, at: new Date().toISOString() },
    });
    const response = await pipeline.reconcile({ Records: [reconcileRecord(pipeline, "1", "workflow-agent", body)] });
    expect(response.batchItemFailures).toEqual([]);
    expect(waits).toEqual([250, 500]);
    expectConvergedOn(await pipeline.observe(), [task!]);
  });

  it("fails a reconcile whose DescribeTasks stays older than its event, so the queue retries it", async () => {
    const pipeline = await createPipeline({ staleReadRetryDelaysMs: [1, 1] });
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    pipeline.overlay.set(task!.taskArn!, { version: 2 });
    const event = taskStateChangeEvent(pipeline.overlay.apply([task!])[0]!, {
      account: pipeline.account.accountId,
      region: testRegion,
      version: 3,
    });
    const body = JSON.stringify({
      schemaVersion: 1,
      service: "workflow-agent",
      trigger: { kind: "event", eventId: event.id, taskArn: task!.taskArn, taskVersion: 3, at: event.time },
    });
    const stale = await pipeline.reconcile({ Records: [reconcileRecord(pipeline, "1", "workflow-agent", body)] });
    expect(stale.batchItemFailures).toEqual([{ itemIdentifier: "1" }]);
    expect(pipeline.logger.records.at(-1)?.error).toMatchObject({ name: "StaleReadError" });
    expect((await pipeline.observe()).document).toBeUndefined();

    pipeline.overlay.set(task!.taskArn!, { version: 3 });
    const fresh = await pipeline.reconcile({ Records: [reconcileRecord(pipeline, "2", "workflow-agent", body)] });
    expect(fresh.batchItemFailures).toEqual([]);
    expectConvergedOn(await pipeline.observe(), [task!]);
  });
});

/** An SQS FIFO record as Lambda delivers it; the body defaults to a manual reconcile request of the service. */
