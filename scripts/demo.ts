/**
 * `npm start`: the discovery-sync pipeline end to end on the local AWS emulator.
 *
 * Starts moto's server, provisions a world like the reference architecture (VPC, ECS service `workflow-agent` on
 * port 50051, Cloud Map `workflow.local`, an internal NLB with an ip target group, the EventBridge rule and the SQS
 * FIFO queue), then drives a short workload while running the real handlers the way Lambda would:
 *
 *   ECS task change -> (this script emits the event, moto emits none) -> EventBridge rule -> router inbox
 *   -> route handler -> SQS FIFO (MessageGroupId = service) -> reconcile handler -> Cloud Map, NLB, SSM
 *
 * The route and sweep handlers are the modules in `functions/`, imported after the environment points the SDK at
 * the emulator. The reconcile handler is built with the same factory `functions/reconcile.ts` uses, given an ECS
 * client that carries the task overlay: moto has no task health, zone, version or draining state, and the overlay
 * supplies them the way AWS reports them.
 *
 * The handlers log with their real Powertools Loggers. The demo keeps each reconcile record line they print in
 * `demo-output/reconcile-records.jsonl` (JSON lines, as a log group holds them) and prints a one-line summary in its
 * place; at the end it prints `discovery-sync status` for the demo's world and writes the HTML report of the run
 * (`discovery-sync report`) to `demo-output/discovery-sync-report.html`.
 */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { ListInstancesCommand, RegisterInstanceCommand, DeregisterInstanceCommand } from "@aws-sdk/client-servicediscovery";
import { DescribeTargetHealthCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetParameterCommand, ParameterNotFound } from "@aws-sdk/client-ssm";
import {
  createTaskOverlay,
  createWorldClients,
  drainFifo,
  drainInbox,
  emitTaskStateChanges,
  emulatorCredentials,
  provisionWorld,
  runServiceTasks,
  stopServiceTask,
  taskIdOf,
  taskIp,
  type RunningEmulator,
  type TaskPatch,
  type World,
  type WorldClients,
} from "@discovery-sync/emulator";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
// The report's module directly: the CLI package's index pulls in every command and its AWS clients.
import { buildReport, writeReport } from "../packages/cli/src/report/index.js";
import { withEmulator } from "./withEmulator.js";

const region = "us-east-1";
const startedAt = Date.now();
const outputDir = "demo-output";
const recordsFile = path.join(outputDir, "reconcile-records.jsonl");
const reportFile = path.join(outputDir, "discovery-sync-report.html");

// --- output -----------------------------------------------------------------------------------------------------
const bold = (text: string): string => (process.stdout.isTTY ? `\u001b[1m${text}\u001b[0m` : text);
const dim = (text: string): string => (process.stdout.isTTY ? `\u001b[2m${text}\u001b[0m` : text);
const say = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};
const elapsed = (): string => `${((Date.now() - startedAt) / 1000).toFixed(1)}s`;

/** Short, stable names for tasks (t1, t2, ...) so the output can be followed. */
const labels = new Map<string, string>();
const label = (taskArnOrId: string): string => {
  const id = taskIdOf(taskArnOrId);
  let name = labels.get(id);
  if (name === undefined) {
    name = `t${labels.size + 1}`;
    labels.set(id, name);
  }
  return name;
};
const labelOfIp = new Map<string, string>();

// The SDK warns once that its 2027 releases need Node 22; that is not news for a demo.
process.removeAllListeners("warning");
process.on("warning", (warning) => {
  if (!warning.message.startsWith("NodeVersionSupportWarning")) process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

// --- the reconcile records, printed in one line each ---------------------------------------------------------------
interface RecordLike {
  service?: string;
  outcome?: string;
  triggers?: string[];
  tasks?: { seen: number; ready: number; draining: number; notReady: number };
  writes?: { cloudMapRegistered: number; cloudMapDeregistered: number; targetsRegistered: number; targetsDeregistered: number };
  publishedRevision?: number | "unchanged";
  documentRevision?: number;
  durationMs?: number;
  error?: { message: string };
}

function printRecord(record: RecordLike): void {
  const t = record.tasks;
  const w = record.writes;
  const revision = record.publishedRevision === "unchanged" ? `r${String(record.documentRevision ?? "-")} unchanged` : `published r${String(record.publishedRevision)}`;
  const triggers = record.triggers === undefined ? "" : `${record.triggers.length} trigger(s)`;
  say(
    dim(
      `   reconcile ${record.service ?? "?"}: ${record.outcome ?? "?"} (${triggers}, ${String(record.durationMs ?? "?")} ms) ` +
        (t === undefined ? "" : `tasks ${t.seen} seen, ${t.ready} ready, ${t.draining} draining, ${t.notReady} not ready; `) +
        (w === undefined
          ? ""
          : `Cloud Map +${w.cloudMapRegistered}/-${w.cloudMapDeregistered}, targets +${w.targetsRegistered}/-${w.targetsDeregistered}; `) +
        `document ${revision}` +
        (record.error === undefined ? "" : `; ERROR ${record.error.message}`),
    ),
  );
}

/**
 * Takes over the Powertools Loggers' lines, which they print as one JSON object per line to stdout (stderr for
 * ERROR): reconcile records are appended to the records file and summarised, warnings and errors are shown dimmed,
 * and the rest (`event routed`, `sweep`, ...) is left out of the demo's output. Anything else is written as it was.
 * Done at the streams because the Logger prints there itself, through its own Console.
 */
function captureLoggerLines(): void {
  mkdirSync(outputDir, { recursive: true });
  writeFileSync(recordsFile, "");
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      const entry = text.startsWith("{") ? loggerEntry(text) : undefined;
      if (entry === undefined) return write(chunk, ...rest);
      if (entry.message === "reconcile") {
        appendFileSync(recordsFile, `${text.trimEnd()}\n`);
        printRecord((entry.reconcile ?? {}) as RecordLike);
      } else if (entry.level === "WARN" || entry.level === "ERROR" || entry.level === "CRITICAL") {
        write(`${dim(`   ${entry.level.toLowerCase()}: ${text.trimEnd()}`)}\n`);
      }
      return true;
    }) as typeof stream.write;
  }
}

/** A Powertools log line (`{"level":...,"message":...}`), or undefined for any other text. */
function loggerEntry(text: string): { level: string; message: string; reconcile?: unknown } | undefined {
  try {
    const value = JSON.parse(text) as { level?: unknown; message?: unknown; reconcile?: unknown };
    return typeof value.level === "string" && typeof value.message === "string"
      ? { level: value.level, message: value.message, reconcile: value.reconcile }
      : undefined;
  } catch {
    return undefined;
  }
}

// --- reading back what the emulator holds --------------------------------------------------------------------------
interface EndpointLike {
  address: string;
  port: number;
  zone?: string;
  taskId?: string;
}
interface DocumentLike {
  revision: number;
  generatedAt: string;
  endpoints: EndpointLike[];
  draining: EndpointLike[];
}

async function readDocument(clients: WorldClients, world: World): Promise<{ version: number; document: DocumentLike } | undefined> {
  try {
    const out = await clients.ssm.send(new GetParameterCommand({ Name: world.serviceConfig.parameterName }));
    return { version: out.Parameter?.Version ?? 0, document: JSON.parse(out.Parameter?.Value ?? "{}") as DocumentLike };
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw error;
  }
}

async function showState(clients: WorldClients, world: World): Promise<void> {
  const instances: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.serviceDiscovery.send(new ListInstancesCommand({ ServiceId: world.cloudMapServiceId, NextToken: nextToken }));
    for (const instance of page.Instances ?? []) {
      const ip = instance.Attributes?.AWS_INSTANCE_IPV4 ?? "?";
      const name = labels.get(instance.Id ?? "") ?? instance.Id ?? "?";
      instances.push(`${name} ${ip}`);
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);

  const targets: string[] = [];
  for (const targetGroupArn of world.targetGroupArns) {
    const health = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
    for (const target of health.TargetHealthDescriptions ?? []) {
      const ip = target.Target?.Id ?? "?";
      targets.push(`${labelOfIp.get(ip) ?? "??"} ${ip}:${String(target.Target?.Port)} ${target.TargetHealth?.State ?? ""}`.trim());
    }
  }
  const read = await readDocument(clients, world);
  const list = (items: string[]): string => (items.length === 0 ? "(none)" : items.sort().join(", "));
  const endpoint = (e: EndpointLike): string => `${label(e.taskId ?? "?")} ${e.address}:${e.port}${e.zone === undefined ? "" : ` ${e.zone}`}`;
  say(`   Cloud Map instances : ${list(instances)}`);
  say(`   NLB targets         : ${list(targets)}`);
  if (read === undefined) {
    say("   endpoint document   : (not published yet)");
  } else {
    const { document, version } = read;
    say(`   endpoint document   : revision ${document.revision} (SSM version ${version})`);
    say(`     endpoints         : ${list(document.endpoints.map(endpoint))}`);
    say(`     draining          : ${list(document.draining.map(endpoint))}`);
  }
}

// --- main ----------------------------------------------------------------------------------------------------------
async function main(emulator: RunningEmulator): Promise<void> {
  say(dim(`emulator (moto) at ${emulator.endpoint}, log in .emulator-logs/moto-demo.log  [${elapsed()}]`));

  // The handlers build their SDK clients from the standard environment, as in Lambda: point it at the emulator
  // before they are imported. moto's default account (123456789012) is used: no account header needed.
  process.env.AWS_ENDPOINT_URL = emulator.endpoint;
  process.env.AWS_REGION = region;
  process.env.AWS_DEFAULT_REGION = region;
  process.env.AWS_ACCESS_KEY_ID = emulatorCredentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = emulatorCredentials.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  // INFO: the reconcile records are INFO lines (ERROR when a reconcile fails).
  process.env.POWERTOOLS_LOG_LEVEL = "INFO";
  captureLoggerLines();

  const clients = createWorldClients({ endpoint: emulator.endpoint, region, credentials: emulatorCredentials, disableHostPrefix: true });
  const world = await provisionWorld(clients);
  say();
  say(bold("Provisioned (like the reference architecture):"));
  say(`   VPC ${world.vpcId} ${world.vpcCidr}, subnets ${world.subnets.map((s) => `${s.subnetId} (${s.availabilityZone})`).join(", ")}`);
  say(`   ECS cluster ${world.clusterName}, service ${world.ecsServiceName} (Fargate, awsvpc, port ${world.port})`);
  say(`   Cloud Map ${world.service}.${world.namespaceName ?? "?"} (${world.cloudMapServiceId ?? "?"}, A records, TTL 10, MULTIVALUE)`);
  say(`   internal NLB, TCP target group type ip: ${world.targetGroupArns.join(", ")}`);
  say(`   EventBridge rule ${world.ruleName ?? "?"} -> router inbox; SQS FIFO ${world.reconcileQueueUrl ?? "?"}`);
  say(`   endpoint document: SSM ${world.serviceConfig.parameterName}  [${elapsed()}]`);

  process.env.DISCOVERY_SYNC_CONFIG = JSON.stringify({ services: [world.serviceConfig] });
  process.env.DISCOVERY_SYNC_QUEUE_URL = world.reconcileQueueUrl;

  const core = await import("@discovery-sync/core");
  const { handler: route } = await import("../functions/route.js");
  const { handler: sweep } = await import("../functions/sweep.js");

  // The reconcile handler, built as functions/reconcile.ts builds it, but with the overlay on its ECS client.
  const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet });
  const reconcileClients = core.createAwsClients();
  reconcileClients.ecs.middlewareStack.use(overlay.plugin);
  clients.ecs.middlewareStack.use(overlay.plugin);
  const reconcile: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> = core.createReconcileHandler({
    config: core.loadConfigFromEnv(process.env),
    clients: reconcileClients,
    logger: core.createLogger("reconciler"),
  });

  const queueUrl = world.reconcileQueueUrl ?? "";
  const inboxUrl = world.inboxQueueUrl ?? "";

  /** Runs what Lambda would run after events reached the bus, then shows the state. */
  const converge = async (what: string): Promise<void> => {
    const routed = await drainInbox(clients.sqs, inboxUrl, route);
    say(dim(`   ${what}: ${routed === 0 ? "no event" : `${routed} event(s) via EventBridge -> route handler`} -> SQS FIFO -> reconcile handler`));
    const summary = await drainFifo(clients.sqs, queueUrl, reconcile);
    if (summary.failures > 0 || !summary.drained) {
      say(`   ${summary.failures} message(s) failed and were retried; queue ${summary.drained ? "drained" : "NOT drained"}`);
    }
    for (const error of summary.errors) say(`   reconcile handler threw: ${(error as Error).message}`);
    await showState(clients, world);
  };

  /** Tasks change state: tell the overlay (what DescribeTasks shows) and emit the events ECS would emit. */
  const change = async (taskArns: string[], patch: TaskPatch): Promise<void> => {
    await emitTaskStateChanges(clients, world, overlay, taskArns, patch);
  };

  const started = async (count: number): Promise<string[]> => {
    const tasks = await runServiceTasks(clients, world, count);
    return tasks.map((task) => {
      const arn = task.taskArn ?? "";
      const name = label(arn);
      const ip = taskIp(task) ?? "?";
      labelOfIp.set(ip, name);
      return arn;
    });
  };
  const names = (arns: string[]): string => arns.map(label).join(", ");
  let stepNumber = 0;
  const heading = (text: string): void => {
    stepNumber += 1;
    say();
    say(bold(`${stepNumber}. ${text}`) + dim(`  [${elapsed()}]`));
  };

  // 1. Scale 0 -> 3. Fargate reports RUNNING before the container health check passes: not ready yet.
  heading("Scale 0 -> 3: ECS starts three tasks; their health checks have not passed yet");
  const first = await started(3);
  say(`   started ${names(first)}`);
  await change(first, { lastStatus: "RUNNING", healthStatus: "UNKNOWN" });
  await converge("RUNNING, health UNKNOWN");

  heading("Health checks pass: the three tasks become ready");
  await change(first, { healthStatus: "HEALTHY" });
  await converge("health HEALTHY");

  // 2. Rolling replacement: new tasks come up, old ones drain (desiredStatus STOPPED while still RUNNING), then stop.
  heading("Rolling deployment: three new tasks start and pass their health checks");
  const second = await started(3);
  say(`   started ${names(second)}`);
  await change(second, { lastStatus: "RUNNING", healthStatus: "HEALTHY" });
  await converge("new tasks HEALTHY");

  heading(`Rolling deployment: ECS tells the old tasks to stop; they drain while still RUNNING (${names(first)})`);
  await change(first, { desiredStatus: "STOPPED", lastStatus: "RUNNING" });
  await converge("old tasks desiredStatus STOPPED");

  heading("Rolling deployment: the old tasks stop");
  for (const arn of first) await stopServiceTask(clients, world, arn, "Scaling activity initiated by (deployment ecs-svc/rolling)");
  await change(first, { lastStatus: "STOPPED", desiredStatus: "STOPPED", healthStatus: "UNKNOWN", stopCode: "ServiceSchedulerInitiated" });
  await converge("old tasks STOPPED");

  // 3. A task crashes; the service scheduler replaces it.
  const crashed = second[0] ?? "";
  heading(`Crash: ${label(crashed)}'s essential container exits`);
  await stopServiceTask(clients, world, crashed, "Essential container in task exited");
  await change([crashed], { lastStatus: "STOPPED", desiredStatus: "STOPPED", stopCode: "EssentialContainerExited", healthStatus: "UNHEALTHY" });
  await converge("task STOPPED (EssentialContainerExited)");

  heading("ECS starts a replacement task");
  const replacement = await started(1);
  say(`   started ${names(replacement)}`);
  await change(replacement, { lastStatus: "RUNNING", healthStatus: "HEALTHY" });
  await converge("replacement HEALTHY");

  // 4. Drift: someone edits Cloud Map and the target group by hand. No ECS event reports that: the sweep repairs it.
  heading("Drift by hand: a bogus Cloud Map instance, a bogus NLB target, and a real instance deregistered");
  const bogusIp = "10.0.99.99";
  labelOfIp.set(bogusIp, "bogus");
  await clients.serviceDiscovery.send(
    new RegisterInstanceCommand({
      ServiceId: world.cloudMapServiceId,
      InstanceId: "bogus-by-hand",
      Attributes: { AWS_INSTANCE_IPV4: bogusIp, AWS_INSTANCE_PORT: String(world.port) },
    }),
  );
  labels.set("bogus-by-hand", "bogus");
  await clients.elbv2.send(
    new RegisterTargetsCommand({ TargetGroupArn: world.targetGroupArns[0], Targets: [{ Id: bogusIp, Port: world.port }] }),
  );
  const victim = second[1] ?? "";
  await clients.serviceDiscovery.send(new DeregisterInstanceCommand({ ServiceId: world.cloudMapServiceId, InstanceId: taskIdOf(victim) }));
  say(`   registered "bogus" ${bogusIp} in Cloud Map and the target group; deregistered ${label(victim)} from Cloud Map`);
  await showState(clients, world);

  heading("The scheduled sweep runs (one reconcile per configured service, through the same FIFO queue)");
  await sweep({ id: `demo-sweep-${Date.now()}`, source: "aws.scheduler" }, undefined);
  await converge("sweep");

  heading("The next sweep finds nothing to do (no write, document revision unchanged)");
  await sweep({ id: `demo-sweep-${Date.now()}`, source: "aws.scheduler" }, undefined);
  await converge("sweep");

  const final = await readDocument(clients, world);
  say();
  say(bold(`The published endpoint document (SSM ${world.serviceConfig.parameterName}, version ${final?.version ?? "-"}):`));
  say(JSON.stringify(final?.document ?? null, null, 2));

  // `discovery-sync status` for the demo's world, in-process: the configuration and the emulator's endpoint come from
  // the environment set above, and its ECS client gets the task overlay, as the reconcile handler's did.
  say();
  say(bold("discovery-sync status") + dim("  (compares ECS, Cloud Map, the target group and the document; exit 1 on drift)"));
  const cli = await import("@discovery-sync/cli");
  const statusCode = await cli.run(["status"], {
    ...cli.processIo(),
    decorateClients: (statusClients) => statusClients.ecs.middlewareStack.use(overlay.plugin),
  });
  say(dim(`   exit code ${statusCode}${statusCode === 0 ? ": converged" : ": drifted"}`));

  say();
  const lines = readFileSync(recordsFile, "utf8").split("\n");
  const report = buildReport({ lines, sourceDescription: `the demo's run (${recordsFile})` });
  const reportPath = await writeReport(reportFile, report);
  const recordCount = report.services.reduce((total, service) => total + service.reconciles, 0);
  say(bold("The reconcile records of this run and their report (discovery-sync report):"));
  say(`   ${recordCount} reconcile records  ${path.resolve(recordsFile)}`);
  say(`   HTML report          ${reportPath}`);
  say(dim(`   again with: npx discovery-sync report --input ${recordsFile} --output report.html`));
  say();
  say(bold(`Done in ${elapsed()}.`));
}

say(bold("discovery-sync demo: ECS task events -> router -> SQS FIFO -> reconcile -> Cloud Map, NLB, SSM"));
await withEmulator("demo", ".emulator-logs/moto-demo.log", main);
