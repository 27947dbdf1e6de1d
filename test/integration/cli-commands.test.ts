import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CreateTargetGroupCommand, DeregisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { RegisterInstanceCommand } from "@aws-sdk/client-servicediscovery";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import type { Task } from "@aws-sdk/client-ecs";
import { createReconcileHandler, parseConfig } from "@discovery-sync/core";
import {
  createCloudMapOperations,
  drainFifo,
  findFreePort,
  runServiceTasks,
  stopServiceTask,
  taskIdOf,
  taskIp,
  type CloudMapOperations,
  type World,
} from "@discovery-sync/emulator";
import { run, type CliIo } from "@discovery-sync/cli";
import { CapturingLogger, createPipeline, type Pipeline, type PipelineOptions } from "../support/pipeline.js";
import { testRegion } from "../support/aws.js";

// The CLI's SDK clients take credentials from the standard chain; moto accepts any. No instance metadata lookups.
process.env.AWS_ACCESS_KEY_ID = "testing";
process.env.AWS_SECRET_ACCESS_KEY = "testing";
process.env.AWS_EC2_METADATA_DISABLED = "true";

const ipOf = (task: Task) => taskIp(task)!;
const rawConfig = (worlds: readonly World[]) => ({ services: worlds.map((w) => ({ ...w.serviceConfig })) });

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T = any>(): T;
}

/**
 * Runs the CLI in-process against the pipeline's emulator account (and its task overlay, as the handlers see ECS; and
 * the Cloud Map operations layer the reconciler talks through, when given).
 */
async function cli(
  p: Pipeline,
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
  cloudMapOperations?: CloudMapOperations,
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { DISCOVERY_SYNC_CONFIG: JSON.stringify(rawConfig(p.worlds)), DISCOVERY_SYNC_QUEUE_URL: p.world.reconcileQueueUrl, ...env },
    decorateClients(clients) {
      for (const client of Object.values(clients)) client.middlewareStack.use(p.account.plugin);
      clients.ecs.middlewareStack.use(p.overlay.plugin);
      if (cloudMapOperations !== undefined) clients.serviceDiscovery.middlewareStack.use(cloudMapOperations.plugin);
    },
    decorateLogsClient: (client) => client.middlewareStack.use(p.account.plugin),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 200))),
  };
  const code = await run([...argv, "--endpoint-url", p.account.endpoint, "--region", testRegion], io);
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

async function converged(count: number, options: PipelineOptions = {}) {
  const pipeline = await createPipeline(options);
  const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, count);
  await pipeline.emit(tasks);
  expect((await pipeline.pump()).failures).toBe(0);
  return { pipeline, tasks };
}

/** A hand-made drift: one target deregistered, one stray Cloud Map instance registered. */
async function drift(p: Pipeline, task: Task) {
  await p.clients.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: p.world.targetGroupArns[0]!, Targets: [{ Id: ipOf(task), Port: 50051 }] }));
  await p.clients.serviceDiscovery.send(
    new RegisterInstanceCommand({ ServiceId: p.world.cloudMapServiceId!, InstanceId: "stray-instance", Attributes: { AWS_INSTANCE_IPV4: "10.0.9.9", AWS_INSTANCE_PORT: "50051" } }),
  );
}

describe("discovery-sync status and plan", () => {
  it("status: a converged world exits 0 and shows each task in ECS, Cloud Map, the target group and the document", async () => {
    const { pipeline, tasks } = await converged(2);
    const text = await cli(pipeline, ["status"]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("workflow-agent  converged");
    expect(text.stdout).not.toMatch(/MISSING|EXTRA/);

    const json = await cli(pipeline, ["status", "--json"]);
    expect(json.code).toBe(0);
    const [service] = json.json().services;
    expect(service.drifted).toBe(false);
    expect(service.tasks.map((t: { address: string }) => t.address).sort()).toEqual(tasks.map(ipOf).sort());
    expect(service.cloudMap.instances.map((i: { id: string }) => i.id).sort()).toEqual(tasks.map((t) => taskIdOf(t.taskArn!)).sort());
    expect(service.targetGroups[0].targets.map((t: { state: string }) => t.state)).toEqual(["healthy", "healthy"]);
    expect(service.document).toMatchObject({ state: "valid", revision: 1 });
    expect(service.document.endpoints.map((e: { address: string }) => e.address).sort()).toEqual(tasks.map(ipOf).sort());
    expect(service.writes).toEqual([]);
  });

  it("status: a drifted world exits 1 and names each difference", async () => {
    const { pipeline, tasks } = await converged(2);
    await drift(pipeline, tasks[0]!);
    const text = await cli(pipeline, ["status", "--service", "workflow-agent"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("DRIFTED (2 write(s) to make)");
    const lines = text.stdout.split("\n");
    expect(lines.find((l) => l.includes(ipOf(tasks[0]!)))).toContain("MISSING (register)");
    expect(lines.find((l) => l.includes("10.0.9.9"))).toContain("EXTRA (deregister)");

    const json = (await cli(pipeline, ["status", "--json"])).json();
    expect(json.converged).toBe(false);
    expect(json.services[0].writes).toEqual([
      { target: "cloudmap", action: "deregister", resource: pipeline.world.cloudMapServiceId, item: "stray-instance" },
      { target: "targets", action: "register", resource: pipeline.world.targetGroupArns[0], item: `${ipOf(tasks[0]!)}:50051` },
    ]);
  });

  it("plan lists exactly the writes the following reconcile makes", async () => {
    const { pipeline, tasks } = await converged(2);
    await drift(pipeline, tasks[1]!);
    // Two more tasks whose events never came: registrations, targets and a new document revision to make.
    const started = await runServiceTasks(pipeline.worldClients, pipeline.world, 2);
    const planned = await cli(pipeline, ["plan", "--json"]);
    expect(planned.code).toBe(0);
    const writes: { target: string; action: string; item: string }[] = planned.json().services[0].writes;
    const count = (target: string, action: string) => writes.filter((w) => w.target === target && w.action === action).length;
    expect(writes.filter((w) => w.target === "cloudmap" && w.action === "register").map((w) => w.item).sort()).toEqual(
      started.map((t) => taskIdOf(t.taskArn!)).sort(),
    );
    expect(planned.json().services[0].document).toMatchObject({ kind: "publish", revision: 2, form: "single" });

    // The reconcile handler, through the queue, writes exactly that.
    const sent = await cli(pipeline, ["reconcile", "--service", "workflow-agent"]);
    expect(sent.code).toBe(0);
    expect((await pipeline.pump()).failures).toBe(0);
    const record = pipeline.logger.records.at(-1)!;
    expect(record.triggers).toEqual(["manual"]);
    expect(record.writes).toMatchObject({
      cloudMapRegistered: count("cloudmap", "register"),
      cloudMapDeregistered: count("cloudmap", "deregister"),
      targetsRegistered: count("targets", "register"),
      targetsDeregistered: count("targets", "deregister"),
      parametersWritten: count("ssm", "put"),
      parametersDeleted: count("ssm", "delete"),
    });
    expect(record.writesTotal).toBe(writes.length);
    expect(record.publishedRevision).toBe(2);
    // And nothing is left to plan.
    const after = await cli(pipeline, ["plan", "--json"]);
    expect(after.json().services[0].writes).toEqual([]);
    const state = await pipeline.observe();
    expect(state.targets).toEqual([...tasks, ...started].map((t) => `${ipOf(t)}:50051`).sort());
  });
});

describe("status and plan read what the reconcile reads", () => {
  /** A pipeline whose reconciler (and the CLI, when given the layer) sees Cloud Map's operations run asynchronously. */
  async function withCloudMapOperations() {
    const pipeline = await createPipeline({ targetGroups: 0, retryVisibility: { baseSeconds: 1 } });
    const layer = createCloudMapOperations();
    pipeline.clients.serviceDiscovery.middlewareStack.use(layer.plugin);
    return { pipeline, layer };
  }

  it("a Cloud Map registration in flight for a ready task is not drift: exit 0, shown as registering, nothing to plan", async () => {
    // Prepare: the reconcile registered the task; the operation is held in flight, so ListInstances does not show it.
    const { pipeline, layer } = await withCloudMapOperations();
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await pipeline.emit([task!]);
    expect((await pipeline.pump()).failures).toBe(0);
    const [operation] = layer.inFlight();
    expect(operation).toMatchObject({ type: "REGISTER_INSTANCE", instanceId: taskIdOf(task!.taskArn!) });

    // Act
    const text = await cli(pipeline, ["status"], {}, layer);
    const json = await cli(pipeline, ["status", "--json"], {}, layer);
    const planned = await cli(pipeline, ["plan", "--json"], {}, layer);

    // Assess
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("workflow-agent  converged");
    expect(text.stdout).toContain("1 operation(s) in flight");
    expect(text.stdout.split("\n").find((l) => l.includes(ipOf(task!)))).toContain("registering (in flight)");
    expect(text.stdout).not.toMatch(/MISSING|EXTRA|IN FLIGHT/);
    expect(json.code).toBe(0);
    const [service] = json.json().services;
    expect(service).toMatchObject({ converged: true, drifted: false, writes: [], plan: { unsettled: [] } });
    expect(service.cloudMap.instances).toEqual([]);
    expect(service.cloudMap.operations).toEqual([
      { operationId: operation!.operationId, instanceId: operation!.instanceId, type: "REGISTER_INSTANCE", direction: "as-desired" },
    ]);
    expect(planned.json().services[0]).toMatchObject({ writes: [], unsettled: [] });
    // Still in flight: the CLI only read.
    expect(layer.inFlight().map((op) => op.operationId)).toEqual([operation!.operationId]);
  });

  it("a registration in flight for a task that stopped meanwhile is reported IN FLIGHT (exit 1), not as a write", async () => {
    // Prepare: the task stops while its registration runs; the reconcile publishes the rest and reports the operation.
    const { pipeline, layer } = await withCloudMapOperations();
    const [task] = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    await pipeline.emit([task!]);
    await pipeline.pump();
    const stopped = await stopServiceTask(pipeline.worldClients, pipeline.world, task!.taskArn!);
    await pipeline.emit([stopped], { version: 2 });
    await pipeline.pump({ failedVisibility: "handler", maxRounds: 1 });
    expect(pipeline.logger.records.at(-1)!.error?.reasons).toEqual(["CloudMapOperationInFlightError"]);
    const [operation] = layer.inFlight();

    // Act
    const text = await cli(pipeline, ["status"], {}, layer);
    const json = await cli(pipeline, ["status", "--json"], {}, layer);

    // Assess
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("IN FLIGHT (1 Cloud Map operation(s) doing the opposite of what the tasks want)");
    expect(text.stdout).not.toContain("DRIFTED");
    expect(text.stdout).toContain(`Cloud Map registration of ${taskIdOf(task!.taskArn!)} is in flight (operation ${operation!.operationId})`);
    const [service] = json.json().services;
    expect(service).toMatchObject({ converged: false, drifted: false, writes: [] });
    expect(service.plan.unsettled).toEqual([
      { instanceId: taskIdOf(task!.taskArn!), operationId: operation!.operationId, operation: "REGISTER_INSTANCE", wanted: "deregistered" },
    ]);
  });

  it("a target group of type instance is reported by status naming its ARN (exit 1), and plan writes nothing to it", async () => {
    // Prepare: a converged service, then a target group of type instance added to its configuration.
    const { pipeline, tasks } = await converged(2);
    const created = await pipeline.worldClients.elbv2.send(
      new CreateTargetGroupCommand({ Name: "by-instance", Protocol: "TCP", Port: 50051, VpcId: pipeline.world.vpcId, TargetType: "instance" }),
    );
    const instanceGroup = created.TargetGroups![0]!.TargetGroupArn!;
    const config = rawConfig(pipeline.worlds);
    config.services[0]!.targetGroupArns = [...pipeline.world.targetGroupArns, instanceGroup];
    const env = { DISCOVERY_SYNC_CONFIG: JSON.stringify(config) };

    // Act
    const text = await cli(pipeline, ["status"], env);
    const json = await cli(pipeline, ["status", "--json"], env);
    const planned = await cli(pipeline, ["plan", "--json"], env);

    // Assess
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("DRIFTED (0 write(s) to make, 1 target(s) unreadable or unusable)");
    expect(text.stdout).toContain(`  target group ${instanceGroup} of service workflow-agent has TargetType instance; `);
    const [service] = json.json().services;
    expect(service.failures).toEqual([
      { target: `targets ${instanceGroup}`, error: "TargetGroupTypeError", message: expect.stringContaining("needs TargetType ip") },
    ]);
    // The ip target group is still compared, and converged.
    expect(service.targetGroups.map((g: { arn: string }) => g.arn)).toEqual(pipeline.world.targetGroupArns);
    expect(service.targetGroups[0].targets).toHaveLength(tasks.length);
    expect(planned.json().services[0].writes).toEqual([]);
  });

  it("a stale ECS read is read again, then reported STALE (exit 1), never shown as drift", async () => {
    // Prepare: the task left the ready set at version 2 (the reconcile kept its tombstone); then ECS answers version 1,
    // ready, as an eventually consistent DescribeTasks may.
    const { pipeline, tasks } = await converged(1);
    const taskArn = tasks[0]!.taskArn!;
    pipeline.overlay.set(taskArn, { version: 2, healthStatus: "UNHEALTHY" });
    await pipeline.emit(tasks, { version: 2 });
    expect((await pipeline.pump()).failures).toBe(0);
    expect((await pipeline.observe()).targets).toEqual([]);
    pipeline.overlay.set(taskArn, { version: 1, healthStatus: "HEALTHY" });

    // Act
    const json = await cli(pipeline, ["status", "--json"]);
    const text = await cli(pipeline, ["status"]);

    // Assess
    expect(json.code).toBe(1);
    const [service] = json.json().services;
    expect(service).toMatchObject({ converged: false, drifted: false, writes: [], stale: { taskArn } });
    expect(service.stale.message).toContain(`DescribeTasks returned version 1 of task ${taskArn}, older than version 2`);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("workflow-agent  STALE READ");
    expect(text.stdout).not.toMatch(/DRIFTED|MISSING|EXTRA/);
  });
});

describe("discovery-sync reconcile", () => {
  it("sends a manual trigger through the FIFO queue, grouped by service like the router and the sweep", async () => {
    const pipeline = await createPipeline({ extraServices: [{ service: "billing" }] });
    const sent = await cli(pipeline, ["reconcile", "--all", "--json"]);
    expect(sent.code).toBe(0);
    expect(sent.json().sent.map((s: { service: string }) => s.service)).toEqual(["workflow-agent", "billing"]);
    const received = await pipeline.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: pipeline.world.reconcileQueueUrl!, MaxNumberOfMessages: 10, AttributeNames: ["All"], MessageSystemAttributeNames: ["All"] }),
    );
    const messages = (received.Messages ?? []).map((m) => ({ group: m.Attributes?.MessageGroupId, body: JSON.parse(m.Body!) }));
    expect(messages.map((m) => m.group).sort()).toEqual(["billing", "workflow-agent"]);
    for (const message of messages) {
      expect(message.body).toMatchObject({ schemaVersion: 1, service: message.group, trigger: { kind: "manual" } });
    }
  });

  it("--wait returns 0 once the reconcile Lambda (draining the queue meanwhile) has converged the service", async () => {
    const { pipeline, tasks } = await converged(2);
    await drift(pipeline, tasks[0]!);
    let finished = false;
    const waiting = cli(pipeline, ["reconcile", "--service", "workflow-agent", "--wait", "--timeout", "20s"]).finally(() => (finished = true));
    while (!finished) {
      await pipeline.pump();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const result = await waiting;
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("converged: workflow-agent");
    expect(pipeline.logger.records.some((r) => r.triggers.includes("manual") && r.outcome === "changed")).toBe(true);
    expect((await pipeline.observe()).targets).toContain(`${ipOf(tasks[0]!)}:50051`);
  });

  it("--wait exits 1 at the timeout when nothing consumes the queue, naming what still differs", async () => {
    const { pipeline, tasks } = await converged(1);
    await drift(pipeline, tasks[0]!);
    const result = await cli(pipeline, ["reconcile", "--service", "workflow-agent", "--wait", "--timeout", "600ms"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("workflow-agent has not converged");
    expect(result.stdout).toContain(`targets.register ${ipOf(tasks[0]!)}:50051`);
  });
});

describe("discovery-sync endpoints", () => {
  it("shows what a client reads, by service name or by parameter", async () => {
    const { pipeline, tasks } = await converged(3);
    const byName = await cli(pipeline, ["endpoints", "workflow-agent", "--json"]);
    expect(byName.code).toBe(0);
    const document = byName.json();
    expect(document).toMatchObject({ parameterName: pipeline.world.serviceConfig.parameterName, source: "ssm", revision: 1, draining: [] });
    expect(document.endpoints.map((e: { address: string }) => e.address).sort()).toEqual(tasks.map(ipOf).sort());

    const byParameter = await cli(pipeline, ["endpoints", pipeline.world.serviceConfig.parameterName], { DISCOVERY_SYNC_CONFIG: undefined });
    expect(byParameter.code).toBe(0);
    for (const task of tasks) expect(byParameter.stdout).toContain(ipOf(task));
    expect(byParameter.stdout).toContain("revision 1");
  });

  it("a parameter that does not exist is bad input (exit 2)", async () => {
    const pipeline = await createPipeline({ cloudMap: false, targetGroups: 0 });
    const result = await cli(pipeline, ["endpoints", "/discovery/nothing/endpoints"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("SSM parameter /discovery/nothing/endpoints does not exist");
  });
});

describe("discovery-sync dlq", () => {
  it("lists a dead-lettered reconcile with its service, trigger and receives, and redrive moves it back", async () => {
    // A reconcile that fails on every receive (its cluster is gone) ends in the dead-letter queue.
    const pipeline = await createPipeline({ editConfig: (config) => void (config.services[0]!.cluster = "gone") });
    expect((await cli(pipeline, ["reconcile", "--service", "workflow-agent"])).code).toBe(0);
    await pipeline.pump();
    expect(await pipeline.queueDepth()).toBe(0);

    const listed = await cli(pipeline, ["dlq", "list", "--json"]);
    expect(listed.code).toBe(0);
    expect(listed.json().deadLetterQueueUrl).toBe(pipeline.world.deadLetterQueueUrl);
    const [letter] = listed.json().messages;
    expect(listed.json().messages).toHaveLength(1);
    expect(letter).toMatchObject({ service: "workflow-agent", groupId: "workflow-agent", trigger: "manual", redrivable: true });
    expect(letter.receiveCount).toBeGreaterThanOrEqual(5);
    expect(letter.reason).toContain("failed on each of its");
    // Listing leaves it there.
    expect((await cli(pipeline, ["dlq", "--json"])).json().messages).toHaveLength(1);

    // With the reconcile function's log group, the reason is the error its last failed reconcile logged.
    const failedRecords = pipeline.logger.records.filter((r) => r.outcome === "failed");
    expect(failedRecords.length).toBeGreaterThanOrEqual(5);
    const logs = pipeline.account.client(CloudWatchLogsClient);
    const logGroupName = "/aws/lambda/discovery-sync-reconcile";
    await logs.send(new CreateLogGroupCommand({ logGroupName }));
    await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName: "2026/11/28/[$LATEST]0" }));
    await logs.send(
      new PutLogEventsCommand({
        logGroupName,
        logStreamName: "2026/11/28/[$LATEST]0",
        logEvents: failedRecords.map((record) => ({ timestamp: Date.parse(record.startedAt), message: JSON.stringify({ level: "ERROR", message: "reconcile", reconcile: record }) })),
      }),
    );
    const explained = await cli(pipeline, ["dlq", "list", "--json", "--log-group", logGroupName]);
    expect(explained.code).toBe(0);
    expect(explained.json().messages[0].reason).toBe(`last failed reconcile at ${failedRecords.at(-1)!.startedAt}: ${failedRecords.at(-1)!.error!.message}`);
    expect(explained.json().messages[0].reason).toContain("cluster gone");

    const redriven = await cli(pipeline, ["dlq", "redrive"]);
    expect(redriven.code).toBe(0);
    expect(redriven.stdout).toContain("moved 1 message(s) back");
    expect((await cli(pipeline, ["dlq", "list", "--json"])).json().messages).toHaveLength(0);

    // Back in the work queue, in its group: a reconcile with the cluster fixed takes it.
    const logger = new CapturingLogger();
    const handler = createReconcileHandler({ config: parseConfig(rawConfig(pipeline.worlds)), clients: pipeline.clients, logger });
    const summary = await drainFifo(pipeline.clients.sqs, pipeline.world.reconcileQueueUrl!, handler);
    expect(summary).toMatchObject({ messages: 1, failures: 0 });
    expect(logger.records.map((r) => [r.service, r.triggers])).toEqual([["workflow-agent", ["manual"]]]);
  });
});

describe("bad input: a clear message and a non-zero exit, never a stack trace", () => {
  it("an unknown service (exit 2)", async () => {
    const pipeline = await createPipeline({ cloudMap: false, targetGroups: 0, queue: false });
    const result = await cli(pipeline, ["status", "--service", "billing"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('discovery-sync: error: unknown service "billing": the configuration has workflow-agent\n');
  });

  it("an unreadable configuration (exit 2)", async () => {
    const pipeline = await createPipeline({ cloudMap: false, targetGroups: 0, queue: false });
    const missing = await cli(pipeline, ["status", "--config", "/nonexistent/discovery-sync.json"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read the configuration file "/nonexistent/discovery-sync.json": ENOENT');
    const invalid = await cli(pipeline, ["plan"], { DISCOVERY_SYNC_CONFIG: JSON.stringify({ services: [{ name: "x" }] }) });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain("services[0].cluster");
    expect(invalid.stderr).not.toMatch(/\n\s+at /);
  });

  it("no configuration at all, and no queue URL (exit 2)", async () => {
    const pipeline = await createPipeline({ cloudMap: false, targetGroups: 0, queue: false });
    const none = await cli(pipeline, ["status"], { DISCOVERY_SYNC_CONFIG: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no configuration: pass --config FILE");
    const noQueue = await cli(pipeline, ["reconcile", "--all"], { DISCOVERY_SYNC_QUEUE_URL: undefined });
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toContain("no queue URL: pass --queue-url or set DISCOVERY_SYNC_QUEUE_URL");
  });

  it("no credentials (exit 3)", async () => {
    const pipeline = await createPipeline({ cloudMap: false, targetGroups: 0, queue: false });
    const home = await mkdtemp(join(tmpdir(), "discovery-sync-cli-"));
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_CONFIG_FILE = join(home, "config");
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(home, "credentials");
    try {
      const result = await cli(pipeline, ["status", "--profile", "nobody"]);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/^discovery-sync: error: reading the tasks of ECS service workflow-agent in cluster workflow: no AWS credentials: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      delete process.env.AWS_CONFIG_FILE;
      delete process.env.AWS_SHARED_CREDENTIALS_FILE;
    }
  });

  it("the real bin: an endpoint that is down (exit 3, connection refused)", async () => {
    const port = await findFreePort();
    const dir = await mkdtemp(join(tmpdir(), "discovery-sync-cli-"));
    const configFile = join(dir, "config.json");
    await writeFile(configFile, JSON.stringify({ services: [{ name: "a", cluster: "c", ecsService: "a", port: 50051, parameterName: "/discovery/a/endpoints" }] }));
    const bin = fileURLToPath(new URL("../../packages/cli/bin/discovery-sync.js", import.meta.url));
    const child = spawn(process.execPath, [bin, "status", "--config", configFile, "--endpoint-url", `http://127.0.0.1:${port}`, "--region", testRegion], {
      env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stdout).toBe("");
    expect(code).toBe(3);
    expect(stderr).toContain(`cannot reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
