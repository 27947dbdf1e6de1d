/**
 * Services of any size, and documents other writers touched: the sharded form end to end on the emulator, read back
 * through `@discovery-sync/client`, with every outcome read back from the emulator.
 */
import { describe, expect, it, vi } from "vitest";
import {
  DeleteParameterCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import type { Task } from "@aws-sdk/client-ecs";
import { compareEndpoints, createEndpointReader, shardParameterName, shardPath, type EndpointReader } from "@discovery-sync/client";
import {
  createAwsClients,
  planReconcile,
  publishDocument,
  readParameter,
  reconcileService,
  ShardValueCache,
  type PublishedTask,
  type ServiceConfig,
} from "@discovery-sync/core";
import { requestCounter, runServiceTasks, stopServiceTask, taskIdOf, taskIp } from "@discovery-sync/emulator";
import { isolatedAccount, type IsolatedAccount } from "../support/aws.js";
import { CapturingLogger, createPipeline, type Pipeline } from "../support/pipeline.js";

/** Addresses in the order the document lists them (numeric). */
const documentOrder = (tasks: readonly Task[]) =>
  tasks.map((t) => ({ address: taskIp(t)!, port: 0 })).sort(compareEndpoints).map((e) => e.address);

/** A reader of the pipeline's document with an SSM client (and request counter) of its own. */
function readerOf(pipeline: Pipeline | { account: IsolatedAccount; parameterName: string }, refreshIntervalMs = 30_000) {
  const account = pipeline.account;
  const parameterName = "world" in pipeline ? pipeline.world.serviceConfig.parameterName : pipeline.parameterName;
  const ssm = account.client(SSMClient);
  const counter = requestCounter();
  ssm.middlewareStack.use(counter.plugin);
  const reader = createEndpointReader({ parameterName, ssmClient: ssm, lambdaExtension: false, refreshIntervalMs, jitter: 0 });
  return { reader, counter };
}

async function sweepAndPump(pipeline: Pipeline, id: string) {
  await pipeline.sweep({ id });
  const summary = await pipeline.pump();
  expect(summary.failures).toBe(0);
}

async function shardNamesIn(ssm: SSMClient, parameterName: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: "Path", Option: "OneLevel", Values: [shardPath(parameterName)] }],
        MaxResults: 50,
        ...(token === undefined ? {} : { NextToken: token }),
      }),
    );
    names.push(...(page.Parameters ?? []).map((p) => p.Name!));
    token = page.NextToken;
  } while (token !== undefined);
  return names.sort();
}

describe("services of any size", () => {
  it(
    "1,000 running tasks: published as shards, read back through the client, 2 PutParameter per stopped task, shrunk to 10 without leftovers",
    async () => {
      const pipeline = await createPipeline();
      const name = pipeline.world.serviceConfig.parameterName;
      const writes = requestCounter();
      pipeline.clients.ssm.middlewareStack.use(writes.plugin);
      const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, 1_000);
      await sweepAndPump(pipeline, "sweep-1000");

      const published = await pipeline.observe();
      expect(published.instanceIds).toHaveLength(1_000);
      // The emulator hands out random addresses: two tasks may share one, and so one target.
      expect(published.targets).toHaveLength(new Set(tasks.map((t) => taskIp(t))).size);
      expect(published.shardCount).toBeGreaterThanOrEqual(15);
      expect(published.document?.endpoints.map((e) => e.address)).toEqual(documentOrder(tasks));
      expect(await shardNamesIn(pipeline.clients.ssm, name)).toHaveLength(published.shardCount!);

      const { reader, counter } = readerOf(pipeline);
      expect((await reader.endpoints()).map((e) => e.address)).toEqual(documentOrder(tasks));
      expect(reader.current()).toMatchObject({ schemaVersion: 2, revision: published.document!.revision, epoch: published.document!.epoch });
      // One manifest, then the shards in tens.
      expect(counter.byCommand).toEqual({ GetParameterCommand: 1, GetParametersCommand: Math.ceil(published.shardCount! / 10) });
      // An unchanged document costs one small request per refresh.
      await reader.refresh();
      expect(counter.byCommand).toEqual({ GetParameterCommand: 2, GetParametersCommand: Math.ceil(published.shardCount! / 10) });

      const putsBefore = writes.count("PutParameterCommand");
      const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, tasks[0]!.taskArn!);
      await pipeline.emit([stopped]);
      expect((await pipeline.pump()).failures).toBe(0);
      expect(writes.count("PutParameterCommand") - putsBefore).toBe(2);
      expect(pipeline.logger.records.at(-1)?.writes).toMatchObject({ documentsPublished: 1, parametersWritten: 2, parametersDeleted: 0 });

      await reader.refresh();
      expect((await reader.endpoints()).map((e) => e.address)).toEqual(documentOrder(tasks.slice(1)));
      // The changed snapshot: the manifest and the one rewritten shard.
      expect(counter.byCommand).toEqual({ GetParameterCommand: 3, GetParametersCommand: Math.ceil(published.shardCount! / 10) + 1 });

      for (const task of tasks.slice(1, 991)) await stopServiceTask(pipeline.worldClients, pipeline.world, task.taskArn!);
      await sweepAndPump(pipeline, "sweep-10");
      const shrunk = await pipeline.observe();
      expect(shrunk.shardCount).toBe(0);
      expect(shrunk.document?.endpoints.map((e) => e.address)).toEqual(documentOrder(tasks.slice(991)));
      expect(await shardNamesIn(pipeline.clients.ssm, name)).toEqual([]);
      expect(pipeline.logger.records.at(-1)?.writes.parametersDeleted).toBe(published.shardCount);
      await reader.refresh();
      expect(reader.current()).toMatchObject({ schemaVersion: 1 });
      expect((await reader.endpoints()).map((e) => e.address)).toEqual(documentOrder(tasks.slice(991)));
      reader.close();
    },
    240_000,
  );

  it("5,000 endpoints and 5,000 draining at the document layer: shards of at most 4 KB, read back whole", async () => {
    const account = isolatedAccount();
    const ssm = account.client(SSMClient);
    const parameterName = "/discovery/huge/endpoints";
    const service: ServiceConfig = { name: "huge", cluster: "workflow", clusterName: "workflow", ecsService: "huge", port: 50051, parameterName };
    const task = (i: number): PublishedTask => ({
      taskId: i.toString(16).padStart(32, "0"),
      taskArn: `arn:aws:ecs:us-east-1:${account.accountId}:task/workflow/${i.toString(16).padStart(32, "0")}`,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      zone: ["us-east-1a", "us-east-1b", "us-east-1c"][i % 3]!,
    });
    const desired = { ready: Array.from({ length: 5_000 }, (_, i) => task(i)), draining: Array.from({ length: 5_000 }, (_, i) => task(10_000 + i)) };
    const plan = planReconcile(service, desired, { targetGroups: [], parameter: await readParameter(ssm, parameterName) }, new Date()).document;
    expect(plan).toMatchObject({ kind: "publish", form: "sharded" });
    if (plan.kind !== "publish" || plan.form !== "sharded") return;
    expect(Math.max(...plan.shards.map((s) => s.bytes))).toBeLessThanOrEqual(4_096);
    const outcome = await publishDocument(ssm, parameterName, plan);
    expect(outcome).toMatchObject({ version: 1, conflict: false, parametersWritten: plan.shards.length + 1 });
    expect(await shardNamesIn(ssm, parameterName)).toHaveLength(plan.shards.length);

    const { reader, counter } = readerOf({ account, parameterName });
    const document = await reader.document();
    expect(document.endpoints).toHaveLength(5_000);
    expect(document.draining).toHaveLength(5_000);
    expect(document.endpoints.map((e) => e.taskId)).toEqual(plan.document.endpoints.map((e) => e.taskId));
    expect(counter.byCommand).toEqual({ GetParameterCommand: 1, GetParametersCommand: Math.ceil(plan.shards.length / 10) });
    reader.close();
  });
});

describe("documents other writers touched", () => {
  async function converged(count: number) {
    const pipeline = await createPipeline();
    const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, count);
    await sweepAndPump(pipeline, "sweep-start");
    return { pipeline, tasks, name: pipeline.world.serviceConfig.parameterName };
  }

  /**
   * Waits until the reader serves exactly `tasks` (and, when given, that revision and epoch), within `withinMs`: one
   * refresh interval and a margin.
   */
  async function follows(reader: EndpointReader, tasks: readonly Task[], withinMs: number, order?: { revision: number; epoch: number | undefined }) {
    await vi.waitFor(
      async () => {
        expect((await reader.endpoints()).map((e) => e.address)).toEqual(documentOrder(tasks));
        if (order !== undefined) expect(reader.current()).toMatchObject(order);
      },
      { timeout: withinMs, interval: 20 },
    );
  }

  it("a running reader follows the next published list after the parameter is restored to an older value, or deleted and recreated", async () => {
    const { pipeline, tasks, name } = await converged(3);
    const ssm = pipeline.clients.ssm;
    const oldValue = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter!.Value!;
    // Two more revisions: the reader holds the third.
    const more = await runServiceTasks(pipeline.worldClients, pipeline.world, 2);
    await sweepAndPump(pipeline, "sweep-grow-1");
    const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, more[0]!.taskArn!);
    await pipeline.emit([stopped]);
    await pipeline.pump();
    const live = [...tasks, more[1]!];
    const { reader } = readerOf(pipeline, 300);
    await follows(reader, live, 1_000);
    const held = reader.current()!;
    expect(held.revision).toBe(3);

    // Restored by hand to revision 1: the reader never goes back to it.
    await ssm.send(new PutParameterCommand({ Name: name, Value: oldValue, Type: "String", Overwrite: true }));
    await reader.refresh();
    expect(reader.current()).toBe(held);
    // The next reconcile publishes above the SSM version in a new epoch, and the reader takes it within an interval.
    await sweepAndPump(pipeline, "sweep-after-restore");
    const republished = (await pipeline.observe()).document!;
    expect(republished.revision).toBe(5);
    expect(republished.epoch).toBeGreaterThan(held.epoch!);
    await follows(reader, live, 600, { revision: 5, epoch: republished.epoch });

    // Deleted and recreated: revision 1 again, in a new epoch the reader takes although it holds revision 5.
    await ssm.send(new DeleteParameterCommand({ Name: name }));
    const late = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await sweepAndPump(pipeline, "sweep-after-delete");
    const recreated = (await pipeline.observe()).document!;
    expect(recreated.revision).toBe(1);
    expect(recreated.epoch).toBeGreaterThan(republished.epoch!);
    await follows(reader, [...live, ...late], 600, { revision: 1, epoch: recreated.epoch });
    expect(reader.status()).toMatchObject({ revision: 1, epoch: recreated.epoch, consecutiveFailures: 0 });
    reader.close();
  });

  it("a shard deleted by hand is noticed by the next reconcile, which republishes, and the reader follows", async () => {
    const { pipeline, tasks, name } = await converged(120);
    const before = await pipeline.observe();
    expect(before.shardCount).toBeGreaterThan(1);
    const { reader } = readerOf(pipeline, 300);
    await follows(reader, tasks, 2_000);
    await pipeline.clients.ssm.send(new DeleteParameterCommand({ Name: shardParameterName(name, 1) }));
    const more = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await sweepAndPump(pipeline, "sweep-after-shard-delete");
    const after = await pipeline.observe();
    expect(after.document?.epoch).toBeGreaterThan(before.document!.epoch!);
    expect(after.document?.revision).toBeGreaterThan(before.document!.revision);
    await follows(reader, [...tasks, ...more], 600, { revision: after.document!.revision, epoch: after.document!.epoch });
    reader.close();
  });

  it("two overlapping reconciles of one service never leave a higher revision with older content, nor readers on it", async () => {
    const { pipeline, tasks, name } = await converged(3);
    const service = pipeline.config.services[0]!;

    // A second writer (a direct invoke, say) whose PutParameter of the document is held back.
    const slowClients = createAwsClients({ clientConfig: pipeline.account.clientConfig, plugins: [pipeline.account.plugin] });
    slowClients.ecs.middlewareStack.use(pipeline.overlay.plugin);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    slowClients.ssm.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Name?: string };
        if ((context as { commandName?: string }).commandName === "PutParameterCommand" && input.Name === name) {
          holding();
          await released;
        }
        return next(args);
      },
      { step: "initialize", name: "holdDocumentPut" },
    );

    const fourth = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    const slowLogger = new CapturingLogger();
    const slow = reconcileService(service, [{ kind: "sweep", at: new Date().toISOString() }], {
      clients: slowClients,
      logger: slowLogger,
      shardValues: new ShardValueCache(),
    });
    await held; // it read 4 tasks and is about to publish them

    const fifth = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await sweepAndPump(pipeline, "sweep-fast");
    const fast = (await pipeline.observe()).document!;
    expect(fast.endpoints).toHaveLength(5);
    const { reader } = readerOf(pipeline, 300);
    const all = [...tasks, ...fourth, ...fifth];
    await follows(reader, all, 1_000);

    release();
    const result = await slow;
    expect(result.error).toBeUndefined();
    expect(result.record.concurrentWrites).toBe(1);
    expect(slowLogger.entries.some((e) => e.message === "document written concurrently")).toBe(true);

    const final = await pipeline.observe();
    expect(final.document?.endpoints.map((e) => e.address)).toEqual(documentOrder(all));
    expect(final.document!.revision).toBeGreaterThan(fast.revision);
    expect(final.document!.revision).toBeGreaterThanOrEqual(final.parameterVersion!);
    await follows(reader, all, 600, { revision: final.document!.revision, epoch: final.document!.epoch });
    expect(Object.keys(final.instances).sort()).toEqual(all.map((t) => taskIdOf(t.taskArn!)).sort());
    reader.close();
  });
});
