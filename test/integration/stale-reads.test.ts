/**
 * ECS reads are eventually consistent: DescribeTasks can answer an older state of a task than one already seen. A
 * stopped task read at such an older version (still RUNNING, healthy) must never come back into the document, Cloud
 * Map or a target group, even when the reconcile was triggered by another task's event.
 */
import { describe, expect, it } from "vitest";
import type { Task } from "@aws-sdk/client-ecs";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { writerStateParameterName } from "@discovery-sync/core";
import { runServiceTasks, stopServiceTask, taskIdOf, taskIp } from "@discovery-sync/emulator";
import { createPipeline, type Pipeline } from "../support/pipeline.js";

/** Every document value and Cloud Map registration the reconciler writes, in order. */
function recordWrites(pipeline: Pipeline) {
  const writes: { kind: "document" | "register"; text: string }[] = [];
  const name = pipeline.world.serviceConfig.parameterName;
  pipeline.clients.ssm.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Name?: string; Value?: string };
      if ((context as { commandName?: string }).commandName === "PutParameterCommand" && input.Name?.startsWith(name) && !input.Name.endsWith("/state")) {
        writes.push({ kind: "document", text: String(input.Value) });
      }
      return next(args);
    },
    { step: "initialize", name: "recordDocumentWrites" },
  );
  pipeline.clients.serviceDiscovery.middlewareStack.add(
    (next, context) => async (args) => {
      if ((context as { commandName?: string }).commandName === "RegisterInstanceCommand") {
        writes.push({ kind: "register", text: String((args.input as { InstanceId?: string }).InstanceId) });
      }
      return next(args);
    },
    { step: "initialize", name: "recordRegistrations" },
  );
  return writes;
}

/** Every task ARN the reconciler asks DescribeTasks about, in order. */
function recordDescribedTasks(pipeline: Pipeline): string[] {
  const described: string[] = [];
  pipeline.clients.ecs.middlewareStack.add(
    (next, context) => async (args) => {
      if ((context as { commandName?: string }).commandName === "DescribeTasksCommand") described.push(...((args.input as { tasks?: string[] }).tasks ?? []));
      return next(args);
    },
    { step: "initialize", name: "recordDescribedTasks" },
  );
  return described;
}

async function startedAndStopped(options: Parameters<typeof createPipeline>[0] = {}) {
  const pipeline = await createPipeline(options);
  const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, 2);
  for (const task of tasks) pipeline.overlay.set(task.taskArn!, { version: 2 });
  await pipeline.sweep({ id: "sweep-start" });
  expect((await pipeline.pump()).failures).toBe(0);
  const [victim, survivor] = tasks as [Task, Task];
  const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, victim.taskArn!);
  pipeline.overlay.set(victim.taskArn!, { version: 5 });
  await pipeline.emit([stopped], { version: 5 });
  expect((await pipeline.pump()).failures).toBe(0);
  expect((await pipeline.observe()).document?.endpoints.map((e) => e.address)).toEqual([taskIp(survivor)]);
  return { pipeline, victim, survivor };
}

describe("stale reads of tasks already out of the ready set", () => {
  it("a stale read of a stopped task is read again until ECS caught up: the task never comes back", async () => {
    let catchUp = (): void => undefined;
    const waits: number[] = [];
    const { pipeline, victim, survivor } = await startedAndStopped({
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 2) catchUp();
      },
    });
    const state = await pipeline.clients.ssm.send(new GetParameterCommand({ Name: writerStateParameterName(pipeline.world.serviceConfig.parameterName) }));
    expect(JSON.parse(state.Parameter!.Value!).tombstones).toEqual([[taskIdOf(victim.taskArn!), 5, expect.any(Number)]]);

    const writes = recordWrites(pipeline);
    const described = recordDescribedTasks(pipeline);
    // ECS lags: the stopped task reads as RUNNING at an older version, while a new task starts.
    pipeline.overlay.set(victim.taskArn!, { version: 3, lastStatus: "RUNNING", desiredStatus: "RUNNING" });
    catchUp = () => pipeline.overlay.set(victim.taskArn!, { version: 5, lastStatus: "STOPPED", desiredStatus: "STOPPED" });
    const [fresh] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    pipeline.overlay.set(fresh!.taskArn!, { version: 1 });
    await pipeline.emit([fresh!], { version: 1 });
    expect((await pipeline.pump()).failures).toBe(0);
    // The new task's reconcile does not even describe the stopped one: ListTasks lists it as told to stop, and nothing
    // published names it any more, so no read of it could bring it back.
    expect(described).not.toContain(victim.taskArn);
    expect(waits).toEqual([]);

    // The sweep describes every task told to stop: it gets the stale answer, recognises it from the tombstone, and
    // reads again until ECS caught up.
    await pipeline.sweep({ id: "sweep-after-lag" });
    expect((await pipeline.pump()).failures).toBe(0);
    expect(described).toContain(victim.taskArn);
    expect(waits).toEqual([250, 500]);
    const victimIp = taskIp(victim)!;
    expect(writes.filter((w) => w.kind === "document" && w.text.includes(`"${victimIp}"`))).toEqual([]);
    expect(writes.filter((w) => w.kind === "register").map((w) => w.text)).toEqual([taskIdOf(fresh!.taskArn!)]);
    const observed = await pipeline.observe();
    expect(observed.document?.endpoints.map((e) => e.address).sort()).toEqual([taskIp(survivor), taskIp(fresh!)].sort());
    expect(Object.keys(observed.instances).sort()).toEqual([taskIdOf(survivor.taskArn!), taskIdOf(fresh!.taskArn!)].sort());
  });

  it("while ECS stays behind, the reconcile fails without writing anything, and the queue retries it", async () => {
    const { pipeline, victim } = await startedAndStopped({ staleReadRetryDelaysMs: [1] });
    const writes = recordWrites(pipeline);
    pipeline.overlay.set(victim.taskArn!, { version: 4, lastStatus: "RUNNING", desiredStatus: "RUNNING" });
    await pipeline.sweep({ id: "sweep-stale" });
    const summary = await pipeline.pump({ maxRounds: 1 });
    expect(summary.failures).toBe(1);
    expect(pipeline.logger.records.at(-1)?.error).toMatchObject({ name: "StaleReadError" });
    expect(pipeline.logger.records.at(-1)?.error?.message).toContain(`version 4 of task ${victim.taskArn}, older than version 5`);
    expect(writes).toEqual([]);
  });
});
