import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Task } from "@aws-sdk/client-ecs";
import {
  createEndpointReader,
  type Endpoint,
  type EndpointDocument,
  type EndpointReader,
} from "@discovery-sync/client";
import { registerEndpointResolver } from "@discovery-sync/client/grpc";
import { runServiceTasks, stopServiceTask, taskIdOf, taskIp } from "@discovery-sync/emulator";
import { createPipeline, type Pipeline } from "../support/pipeline.js";
import { callContinuously, jsonUnaryService, listenOnLoopback, until } from "../support/grpc.js";

// The promise client-side discovery is adopted for: a rolling deploy costs no failed call. Real @grpc/grpc-js servers
// on 127.0.0.1 stand in for ECS tasks; a client calls without pause through the `discovery:` resolver, whose reader
// reads the real document from the emulator's SSM; every task is replaced through the real pipeline (event -> router
// -> FIFO queue -> reconcile -> document). The document lists the emulator's task addresses (10.x), which the test
// maps to each task's loopback server before the channel sees them: nothing ever dials a 10.x address.
//
// Each old task drains the way ECS drains it: desiredStatus STOPPED while it still runs, and it keeps serving for
// `drainMs` (the service's stop timeout, the NLB's deregistration delay) before its server is killed
// (forceShutdown) and the task reported STOPPED. The reader refreshes every `refreshIntervalMs`, well within
// `drainMs`, so the client has stopped sending a draining task new calls before it stops.

const refreshIntervalMs = 250;
const drainMs = 1_500;
const servicePort = 50051;

const taskService = jsonUnaryService<{ task?: string }>("WhoAmI", "whoAmI");
const WhoAmIClient = grpc.makeGenericClientConstructor(taskService, "WhoAmI");

/** A loopback gRPC server standing in for one ECS task. */
interface TaskServer {
  readonly taskId: string;
  /** The task's address in the emulator (and the document): never dialled. */
  readonly taskAddress: string;
  readonly loopback: Endpoint;
  readonly server: grpc.Server;
  calls: number;
  /** Calls received and not answered yet. */
  pending: number;
  /** When the last call arrived (ms since 1970). */
  lastCallAt: number | undefined;
  /** When the task turned draining (desiredStatus STOPPED), once it did. */
  drainingAt: number | undefined;
  /** When the pipeline (route, queue, reconcile) had finished with the event that made it draining. */
  publishedDrainingAt: number | undefined;
  /** Calls that arrived after the task turned draining. */
  callsWhileDraining: number;
  /** Calls in flight when the server was killed (each failed, or retried elsewhere). */
  cutByStop: number | undefined;
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startTaskServer(task: Task): Promise<TaskServer> {
  const server = new grpc.Server();
  const state: TaskServer = {
    taskId: taskIdOf(task.taskArn!),
    taskAddress: taskIp(task)!,
    loopback: { address: "127.0.0.1", port: 0 },
    server,
    calls: 0,
    pending: 0,
    lastCallAt: undefined,
    drainingAt: undefined,
    publishedDrainingAt: undefined,
    callsWhileDraining: 0,
    cutByStop: undefined,
  };
  server.addService(taskService, {
    whoAmI: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      state.calls += 1;
      state.pending += 1;
      state.lastCallAt = Date.now();
      if (state.drainingAt !== undefined) state.callsWhileDraining += 1;
      // A little work, so that calls are in flight on every task at any moment.
      setTimeout(() => {
        state.pending -= 1;
        callback(null, { task: state.taskId });
      }, 5);
    },
  });
  const port = await listenOnLoopback(server);
  cleanups.push(() => server.forceShutdown());
  return Object.assign(state, { loopback: { address: "127.0.0.1", port } });
}

/**
 * A reader that serves `reader`'s documents with each task address replaced by its loopback server, so the channel
 * dials 127.0.0.1 only. Addresses without a server are left out and recorded in `unmapped` (the test asserts none).
 */
function loopbackReader(reader: EndpointReader, servers: ReadonlyMap<string, TaskServer>, unmapped: Endpoint[]): EndpointReader {
  const mapList = (endpoints: readonly Endpoint[]): Endpoint[] =>
    endpoints.flatMap((endpoint) => {
      const server = servers.get(`${endpoint.address}:${endpoint.port}`);
      if (server === undefined) {
        unmapped.push(endpoint);
        return [];
      }
      return [server.loopback];
    });
  const mapDocument = (document: EndpointDocument): EndpointDocument => ({
    ...document,
    endpoints: mapList(document.endpoints),
    draining: mapList(document.draining),
  });
  return {
    parameterName: reader.parameterName,
    endpoints: async () => mapList(await reader.endpoints()),
    document: async () => mapDocument(await reader.document()),
    current: () => {
      const document = reader.current();
      return document === undefined ? undefined : mapDocument(document);
    },
    subscribe: (listener) => reader.subscribe((document) => listener(mapDocument(document))),
    on: (event, listener) => reader.on(event, listener),
    refresh: () => reader.refresh(),
    status: () => reader.status(),
    close: () => reader.close(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `count` new tasks, each with its loopback server started before the pipeline publishes it. */
async function startTasks(pipeline: Pipeline, servers: Map<string, TaskServer>, count: number): Promise<Task[]> {
  const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, count);
  for (const task of tasks) {
    const server = await startTaskServer(task);
    servers.set(`${server.taskAddress}:${servicePort}`, server);
  }
  await pipeline.emit(tasks, { version: 2 });
  const summary = await pipeline.pump();
  expect(summary.failures).toBe(0);
  return tasks;
}

describe("a rolling deploy through the real pipeline", () => {
  it("replaces every task while a client calls continuously, and no call fails", async () => {
    // Prepare: three tasks published, a client calling them through the resolver
    const pipeline = await createPipeline();
    const servers = new Map<string, TaskServer>();
    const oldTasks = await startTasks(pipeline, servers, 3);
    const unmapped: Endpoint[] = [];
    const ssmClient = pipeline.account.client(SSMClient);
    const registration = registerEndpointResolver({
      scheme: "rolling-deploy",
      createReader: (parameterName) =>
        loopbackReader(
          createEndpointReader({ parameterName, ssmClient, lambdaExtension: false, refreshIntervalMs, jitter: 0.1 }),
          servers,
          unmapped,
        ),
    });
    const client = new WhoAmIClient(registration.target("workflow-agent"), grpc.credentials.createInsecure(), registration.channelOptions);
    cleanups.push(() => client.close());
    await registration.waitForReady(client);
    const load = callContinuously(client, 4);
    const serverOf = (task: Task) => servers.get(`${taskIp(task)}:${servicePort}`)!;
    await until(() => oldTasks.every((task) => serverOf(task).calls >= 20), "every old task has answered 20 calls");
    const recordsBefore = pipeline.logger.records.length;

    // Act: the deployment replaces one task at a time: start a new one, drain an old one, stop it after drainMs
    const newTasks: Task[] = [];
    for (const old of oldTasks) {
      const [fresh] = await startTasks(pipeline, servers, 1);
      newTasks.push(fresh!);
      const oldServer = serverOf(old);
      pipeline.overlay.set(old.taskArn!, { desiredStatus: "STOPPED", lastStatus: "RUNNING", version: 3 });
      oldServer.drainingAt = Date.now();
      await pipeline.emit([old]);
      expect((await pipeline.pump()).failures).toBe(0);
      oldServer.publishedDrainingAt = Date.now();
      await sleep(Math.max(0, oldServer.drainingAt + drainMs - Date.now()));
      oldServer.cutByStop = oldServer.pending;
      oldServer.server.forceShutdown();
      pipeline.overlay.set(old.taskArn!, { lastStatus: "STOPPED", version: 4 });
      const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, old.taskArn!);
      await pipeline.emit([stopped]);
      expect((await pipeline.pump()).failures).toBe(0);
    }
    const newCallsAfterDeploy = newTasks.map((task) => serverOf(task).calls);
    await until(
      () => newTasks.every((task, i) => serverOf(task).calls >= newCallsAfterDeploy[i]! + 20),
      "every new task has answered 20 more calls",
    );
    load.stop();
    await load.done;

    // Report (measured, not asserted: timings depend on the machine)
    const document = (await pipeline.observe()).document;
    const lines = oldTasks.map((task) => {
      const server = serverOf(task);
      const lastNewCall = server.lastCallAt! - server.drainingAt!;
      const published = server.publishedDrainingAt! - server.drainingAt!;
      return (
        `  task ${server.taskId.slice(0, 8)}: last new call ${lastNewCall} ms after it turned draining ` +
        `(pipeline done after ${published} ms, stopped after ${drainMs} ms), ` +
        `${server.callsWhileDraining} calls while draining, ${server.cutByStop} in flight when stopped`
      );
    });
    console.log(
      [
        `rolling deploy of ${oldTasks.length} tasks, reader refresh ${refreshIntervalMs} ms, drain ${drainMs} ms:`,
        `  ${load.succeeded} calls succeeded, ${load.failures.length} failed`,
        ...lines,
      ].join("\n"),
    );

    // Assess
    expect(load.failures.map((e) => `${grpc.status[e.code]}: ${e.details}`)).toEqual([]);
    expect(unmapped).toEqual([]); // every address the channel saw was a loopback server's
    for (const task of oldTasks) expect(serverOf(task).calls).toBeGreaterThanOrEqual(20);
    for (const task of newTasks) expect(serverOf(task).calls).toBeGreaterThanOrEqual(20);
    expect(document?.endpoints.map((e) => e.taskId).sort()).toEqual(newTasks.map((t) => taskIdOf(t.taskArn!)).sort());
    expect(document?.draining).toEqual([]);
    expect(pipeline.logger.records.length).toBeGreaterThan(recordsBefore);
    // The last publish may be younger than the reader's last refresh: it holds it within a refresh interval.
    const reader = registration.readerFor(pipeline.world.serviceConfig.parameterName);
    await until(() => reader?.status().revision === document?.revision, `the reader holds revision ${document?.revision}`, 10 * refreshIntervalMs);
    expect(reader?.status()).toMatchObject({
      source: "ssm",
      endpointCount: 3,
      revision: document?.revision,
    });
  }, 120_000);
});
