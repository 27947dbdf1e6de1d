/**
 * The "Large services: reconcile and read cost by size" section of `npm run bench` (see `scripts/bench.ts`).
 *
 * End to end on the emulator, in an account of its own per size, for 100 and 1,000 running tasks of one service
 * (Cloud Map + one NLB target group + the endpoint document), with the reconciler of `@discovery-sync/core`
 * (`reconcileService`, warm caches of its own, as one Lambda instance keeps them between invocations):
 *
 * 1. the first reconcile: wall time, SSM requests by command, bytes written to SSM (sum of the PutParameter values);
 * 2. a reader's cold read and an unchanged refresh;
 * 3. one task stopped (StopTask) and reconciled with the event trigger ECS would send: PutParameter calls, time;
 * 4. the reader's refresh after that change;
 * 5. a converged reconcile (a sweep that should write nothing), and a second one (the writer's steady state).
 *
 * At the document layer (no ECS: `planReconcile` on a synthetic desired state, then `publishDocument`), 5,000 ready
 * and 5,000 draining endpoints: first publish, a reader's cold read and unchanged refresh, one endpoint removed and
 * published again, the reader's refresh after it, and two converged passes. Each pass is what a reconcile does for
 * the document: `readParameter` (with the writer's warm shard cache), `planReconcile`, `publishDocument` and
 * `removeShardsAfterPublish`.
 *
 * Every count is read from counters: `requestCounter` (finalizeRequest step, once per request sent) on the writer's
 * and on each reader's own SSMClient, and a middleware in the initialize step that adds up the byte length of each
 * PutParameter `Value` (and remembers the last value written per parameter name, for the shard and manifest sizes).
 */
import { performance } from "node:perf_hooks";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Pluggable } from "@smithy/types";
import { createEndpointReader, shardPath, type EndpointDocument } from "@discovery-sync/client";
import {
  CloudMapServiceCache,
  countDocumentPuts,
  createAwsClients,
  parseConfig,
  planReconcile,
  publishDocument,
  readParameter,
  reconcileService,
  removeShardsAfterPublish,
  ShardValueCache,
  ServiceTaskArnCache,
  TaskDefinitionCache,
  type DesiredState,
  type PublishedTask,
  type ReconcileLogger,
  type ReconcileRecord,
  type ReconcileTrigger,
  type ServiceConfig,
} from "@discovery-sync/core";
import {
  accountPlugin,
  createTaskOverlay,
  createWorldClients,
  emulatorCredentials,
  provisionWorld,
  randomAccountId,
  requestCounter,
  runServiceTasks,
  stopServiceTask,
  taskIdOf,
  type RequestCounter,
  type RunningEmulator,
} from "@discovery-sync/emulator";

const region = "us-east-1";
/** Running tasks of the end-to-end rows. */
export const endToEndSizes = [100, 1_000] as const;
/** Ready (and as many draining) endpoints of the document-layer row. */
export const documentLayerSize = 5_000;

/** The SSM commands reported, in this order. */
const ssmCommands = ["GetParameter", "GetParameters", "PutParameter", "DeleteParameters", "GetParametersByPath", "GetParameterHistory"] as const;
type SsmCommand = (typeof ssmCommands)[number];
type Requests = Record<SsmCommand, number>;

/** One measured step of the writer. */
export interface WriterStep {
  readonly label: string;
  readonly ms: number;
  /** SSM requests the writer sent, by command. */
  readonly requests: Requests;
  /** Sum of the byte lengths of the PutParameter values sent. */
  readonly bytes: number;
  /**
   * Write calls' items: end to end, the reconcile record's `writesTotal` (Cloud Map, targets, parameters written and
   * deleted); at the document layer, parameters written and deleted.
   */
  readonly writes: number;
}

/** Everything one row of the table reports, all measured. */
export interface LargeServiceRow {
  readonly layer: "end to end" | "document layer";
  readonly endpoints: number;
  readonly draining: number;
  readonly form: string;
  readonly shards: number;
  readonly maxShardBytes: number | undefined;
  readonly manifestBytes: number;
  readonly first: WriterStep;
  /** One task stopped (end to end) or one endpoint removed (document layer). */
  readonly change: WriterStep;
  readonly converged: WriterStep;
  /** A second converged pass right after the first: what a warm writer reads once its cache holds every shard. */
  readonly again: WriterStep;
  readonly reader: { readonly cold: Requests; readonly unchanged: Requests; readonly afterChange: Requests };
  /** Setup outside the measured steps (provisioning, RunTask), for the record. */
  readonly setupMs: number;
}

/** Adds up the bytes of every PutParameter Value a client sends, and keeps the last value size per parameter name. */
interface WriteMeter {
  readonly plugin: Pluggable<any, any>;
  readonly lastBytesByName: Map<string, number>;
  total(): number;
}

function writeMeter(): WriteMeter {
  const lastBytesByName = new Map<string, number>();
  let total = 0;
  return {
    lastBytesByName,
    total: () => total,
    plugin: {
      applyToStack(stack) {
        stack.add(
          (next, context) => async (args) => {
            if ((context as { commandName?: string }).commandName === "PutParameterCommand") {
              const input = args.input as { Name?: string; Value?: string };
              const bytes = Buffer.byteLength(input.Value ?? "", "utf8");
              total += bytes;
              if (input.Name !== undefined) lastBytesByName.set(input.Name, bytes);
            }
            return next(args);
          },
          { step: "initialize", name: "benchPutParameterBytes" },
        );
      },
    },
  };
}

/** SSM requests by command since `before` (a copy of `counter.byCommand`). */
function requestsSince(counter: RequestCounter, before: Readonly<Record<string, number>>): Requests {
  const out = {} as Requests;
  for (const command of ssmCommands) {
    const key = `${command}Command`;
    out[command] = (counter.byCommand[key] ?? 0) - (before[key] ?? 0);
  }
  return out;
}

/** Fails the benchmark when a step did not do what it is measured for: a count of the wrong work is no measurement. */
function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`bench (large services): ${what}`);
}

/** The reconciler's logger: keeps nothing but warnings and errors, which it reports. */
const quietLogger: ReconcileLogger = {
  debug() {},
  info() {},
  warn(message, attributes) {
    process.stderr.write(`  warn: ${message} ${JSON.stringify(attributes)}\n`);
  },
  error(message, attributes) {
    const record = attributes.reconcile as ReconcileRecord | undefined;
    process.stderr.write(`  error: ${message} ${JSON.stringify(record?.error ?? attributes)}\n`);
  },
};

/** Client settings and plugin of a fresh emulator account. */
function freshAccount(emulator: RunningEmulator) {
  const accountId = randomAccountId();
  const plugin = accountPlugin(accountId);
  const clientConfig = { endpoint: emulator.endpoint, region, credentials: emulatorCredentials, disableHostPrefix: true, maxAttempts: 1 };
  const ssmClient = (): SSMClient => {
    const client = new SSMClient(clientConfig);
    client.middlewareStack.use(plugin);
    return client;
  };
  return { accountId, plugin, clientConfig, ssmClient };
}

/** A reader with an SSM client and request counter of its own; refreshes only when told to. */
function counted(ssm: SSMClient, parameterName: string) {
  const counter = requestCounter();
  ssm.middlewareStack.use(counter.plugin);
  const reader = createEndpointReader({ parameterName, ssmClient: ssm, lambdaExtension: false, refreshIntervalMs: 3_600_000, jitter: 0 });
  return {
    reader,
    /** Requests of one step. */
    async measure(step: () => Promise<unknown>): Promise<Requests> {
      const before = { ...counter.byCommand };
      await step();
      return requestsSince(counter, before);
    },
  };
}

/** The largest shard and the manifest, from the values last written under the document's names. */
function sizesWritten(meter: WriteMeter, parameterName: string): { maxShardBytes: number | undefined; manifestBytes: number } {
  const prefix = `${shardPath(parameterName)}/`;
  const shardBytes = [...meter.lastBytesByName].filter(([name]) => name.startsWith(prefix)).map(([, bytes]) => bytes);
  return {
    maxShardBytes: shardBytes.length === 0 ? undefined : Math.max(...shardBytes),
    manifestBytes: meter.lastBytesByName.get(parameterName) ?? 0,
  };
}

const taskIdsOf = (document: EndpointDocument): string[] => document.endpoints.flatMap((e) => (e.taskId === undefined ? [] : [e.taskId]));

/** One service of `taskCount` running tasks, end to end through `reconcileService`, in an account of its own. */
export async function endToEndRow(emulator: RunningEmulator, taskCount: number): Promise<LargeServiceRow> {
  const setupStart = performance.now();
  const account = freshAccount(emulator);
  const worldClients = createWorldClients(account.clientConfig, [account.plugin]);
  const world = await provisionWorld(worldClients, { queue: false });
  // moto has no task health or zone: every task is HEALTHY and carries its subnet's zone, as on AWS.
  const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
  worldClients.ecs.middlewareStack.use(overlay.plugin);
  const clients = createAwsClients({ clientConfig: account.clientConfig, plugins: [account.plugin] });
  clients.ecs.middlewareStack.use(overlay.plugin);
  const writes = requestCounter();
  const meter = writeMeter();
  clients.ssm.middlewareStack.use(writes.plugin);
  clients.ssm.middlewareStack.use(meter.plugin);
  const service: ServiceConfig = parseConfig({ services: [world.serviceConfig] }).services[0]!;
  const name = service.parameterName;
  // The caches one warm Lambda instance keeps between invocations, fresh for this service.
  const deps = {
    clients,
    logger: quietLogger,
    shardValues: new ShardValueCache(),
    taskDefinitions: new TaskDefinitionCache(),
    cloudMapServices: new CloudMapServiceCache(),
    serviceTasks: new ServiceTaskArnCache(),
  };
  const tasks = await runServiceTasks(worldClients, world, taskCount);
  const setupMs = performance.now() - setupStart;

  const reconcile = async (label: string, trigger: ReconcileTrigger) => {
    const before = { ...writes.byCommand };
    const bytesBefore = meter.total();
    const start = performance.now();
    const result = await reconcileService(service, [trigger], deps);
    const elapsed = performance.now() - start;
    if (result.error !== undefined) throw result.error;
    const step: WriterStep = {
      label,
      ms: elapsed,
      requests: requestsSince(writes, before),
      bytes: meter.total() - bytesBefore,
      writes: result.record.writesTotal,
    };
    return { record: result.record, step };
  };
  const sweep = (): ReconcileTrigger => ({ kind: "sweep", at: new Date().toISOString() });

  // 1. The first reconcile: every task registered, the whole document published.
  const first = await reconcile("first reconcile", sweep());
  check(first.record.tasks.ready === taskCount, `first reconcile saw ${first.record.tasks.ready} ready tasks, not ${taskCount}`);
  check(first.record.writes.cloudMapRegistered === taskCount, `first reconcile registered ${first.record.writes.cloudMapRegistered} instances`);
  const sizes = sizesWritten(meter, name);

  // 2. A reader: cold read, then an unchanged refresh.
  const { reader, measure } = counted(account.ssmClient(), name);
  let document: EndpointDocument | undefined;
  const readerCold = await measure(async () => (document = await reader.document()));
  check(document?.endpoints.length === taskCount, `the reader read ${document?.endpoints.length} endpoints, not ${taskCount}`);
  const readerUnchanged = await measure(() => reader.refresh());
  check(reader.current() === document, "an unchanged refresh replaced the document");

  // 3. One task stops; the event trigger ECS would send for it.
  const victim = tasks[Math.floor(taskCount / 2)]!;
  const stopped = await stopServiceTask(worldClients, world, victim.taskArn!);
  const change = await reconcile("one task stopped", {
    kind: "event",
    eventId: `bench-stop-${taskIdOf(victim.taskArn!)}`,
    taskArn: victim.taskArn!,
    lastStatus: stopped.lastStatus,
    desiredStatus: stopped.desiredStatus,
    at: new Date().toISOString(),
  });
  check(change.record.tasks.ready === taskCount - 1, `after the stop the reconcile saw ${change.record.tasks.ready} ready tasks`);
  check(change.record.writes.documentsPublished === 1, "the one-task change published no document");

  // 4. The reader's refresh after the change.
  const readerAfterChange = await measure(() => reader.refresh());
  const changed = reader.current();
  check(changed?.endpoints.length === taskCount - 1, `after the change the reader holds ${changed?.endpoints.length} endpoints`);
  check(!taskIdsOf(changed).includes(taskIdOf(victim.taskArn!)), "the reader still lists the stopped task");
  reader.close();

  // 5. A sweep of the converged service.
  const converged = await reconcile("converged reconcile (sweep)", sweep());
  check(converged.record.publishedRevision === "unchanged", "the converged reconcile published a document");
  const again = await reconcile("converged reconcile, again", sweep());
  check(again.record.publishedRevision === "unchanged", "the second converged reconcile published a document");

  for (const client of [...Object.values(worldClients), ...Object.values(clients)]) client.destroy();
  return {
    layer: "end to end",
    endpoints: taskCount,
    draining: 0,
    form: first.record.documentForm ?? "?",
    shards: first.record.documentShards ?? 0,
    ...sizes,
    first: first.step,
    change: change.step,
    converged: converged.step,
    again: again.step,
    reader: { cold: readerCold, unchanged: readerUnchanged, afterChange: readerAfterChange },
    setupMs,
  };
}

/** `count` ready and `count` draining synthetic endpoints, published with `planReconcile` + `publishDocument`. */
export async function documentLayerRow(emulator: RunningEmulator, count: number): Promise<LargeServiceRow> {
  const setupStart = performance.now();
  const account = freshAccount(emulator);
  const ssm = account.ssmClient();
  const writes = requestCounter();
  const meter = writeMeter();
  ssm.middlewareStack.use(writes.plugin);
  ssm.middlewareStack.use(meter.plugin);
  const parameterName = "/discovery/huge/endpoints";
  const service: ServiceConfig = { name: "huge", cluster: "workflow", clusterName: "workflow", ecsService: "huge", port: 50051, parameterName };
  const zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
  const task = (i: number): PublishedTask => {
    const taskId = i.toString(16).padStart(32, "0");
    return {
      taskId,
      taskArn: `arn:aws:ecs:${region}:${account.accountId}:task/workflow/${taskId}`,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      zone: zones[i % zones.length]!,
    };
  };
  const all: DesiredState = {
    ready: Array.from({ length: count }, (_, i) => task(i)),
    draining: Array.from({ length: count }, (_, i) => task(2 * count + i)),
  };
  // The writer's shard cache, kept across steps as a warm reconciler keeps it.
  const shardValues = new ShardValueCache();
  const setupMs = performance.now() - setupStart;

  /** Read, plan, publish and clean up, as one reconcile does for the document. */
  const publish = async (label: string, desired: DesiredState) => {
    const before = { ...writes.byCommand };
    const bytesBefore = meter.total();
    const start = performance.now();
    const parameter = await readParameter(ssm, parameterName, shardValues);
    const plan = planReconcile(service, desired, { targetGroups: [], parameter }, new Date()).document;
    let written = 0;
    let deleted = 0;
    if (plan.kind === "publish") {
      const outcome = await publishDocument(ssm, parameterName, plan, shardValues);
      check(!outcome.conflict, "the document was written concurrently");
      written = outcome.parametersWritten;
      deleted = await removeShardsAfterPublish(ssm, parameterName, plan, outcome.version);
    } else {
      check(plan.kind === "unchanged", `the document could not be planned: ${plan.kind === "too-large" ? plan.error.message : plan.kind}`);
    }
    const elapsed = performance.now() - start;
    const sent = requestsSince(writes, before);
    check(sent.PutParameter === countDocumentPuts(plan), `${label}: ${sent.PutParameter} PutParameter sent, ${countDocumentPuts(plan)} planned`);
    const step: WriterStep = { label, ms: elapsed, requests: sent, bytes: meter.total() - bytesBefore, writes: written + deleted };
    return { plan, step };
  };

  const first = await publish("first publish", all);
  check(first.plan.kind === "publish", "the first plan published nothing");
  const sizes = sizesWritten(meter, parameterName);

  const { reader, measure } = counted(account.ssmClient(), parameterName);
  let document: EndpointDocument | undefined;
  const readerCold = await measure(async () => (document = await reader.document()));
  check(document?.endpoints.length === count && document.draining.length === count, "the reader did not read the whole document");
  const readerUnchanged = await measure(() => reader.refresh());
  check(reader.current() === document, "an unchanged refresh replaced the document");

  const removed = all.ready[Math.floor(count / 2)]!;
  const smaller: DesiredState = { ready: all.ready.filter((t) => t !== removed), draining: all.draining };
  const change = await publish("one endpoint removed", smaller);
  check(change.plan.kind === "publish", "removing one endpoint published nothing");
  const readerAfterChange = await measure(() => reader.refresh());
  check(reader.current()?.endpoints.length === count - 1, "the reader did not follow the change");
  check(!reader.current()!.endpoints.some((e) => e.taskId === removed.taskId), "the reader still lists the removed endpoint");
  reader.close();

  const converged = await publish("converged plan", smaller);
  check(converged.plan.kind === "unchanged", "the converged plan publishes");
  const again = await publish("converged plan, again", smaller);
  check(again.plan.kind === "unchanged", "the second converged plan publishes");
  ssm.destroy();
  return {
    layer: "document layer",
    endpoints: count,
    draining: count,
    form: first.plan.kind === "publish" ? first.plan.form : "?",
    shards: first.plan.kind === "publish" && first.plan.form === "sharded" ? first.plan.shards.length : 0,
    ...sizes,
    first: first.step,
    change: change.step,
    converged: converged.step,
    again: again.step,
    reader: { cold: readerCold, unchanged: readerUnchanged, afterChange: readerAfterChange },
    setupMs,
  };
}

// --- output --------------------------------------------------------------------------------------------------------

const integer = (n: number): string => Math.round(n).toLocaleString("en-US");
const ms = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${integer(n)} ms`);
const bytes = (n: number): string => (n >= 10_240 ? `${(n / 1024).toFixed(0)} KiB` : `${integer(n)} B`);
/** Nonzero counts, `Get 1 · Put 16`; `0` when there were none. */
const short: Record<SsmCommand, string> = {
  GetParameter: "Get",
  GetParameters: "Gets",
  PutParameter: "Put",
  DeleteParameters: "Delete",
  GetParametersByPath: "ByPath",
  GetParameterHistory: "History",
};
const requests = (r: Requests): string => {
  const parts = ssmCommands.filter((c) => r[c] > 0).map((c) => `${short[c]} ${integer(r[c])}`);
  return parts.length === 0 ? "0" : parts.join(" · ");
};
const reads = (r: Requests): string => `${r.GetParameter} + ${r.GetParameters}`;

/** The summary table, then a table of every writer step's SSM requests and time. */
export function largeServiceTables(rows: readonly LargeServiceRow[]): string[] {
  const size = (r: LargeServiceRow): string => `${integer(r.endpoints)}${r.draining > 0 ? ` (+ ${integer(r.draining)} draining)` : ""}`;
  const summary = [
    "| endpoints | measured | form | shards | max shard / manifest | first publish | SSM requests, first publish | bytes written, first publish | PutParameter per one-task change | reader: cold / unchanged / after change (GetParameter + GetParameters) | writes of the converged reconcile |",
    "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      [
        size(r),
        r.layer,
        r.form,
        integer(r.shards),
        `${r.maxShardBytes === undefined ? "-" : bytes(r.maxShardBytes)} / ${bytes(r.manifestBytes)}`,
        ms(r.first.ms),
        requests(r.first.requests),
        bytes(r.first.bytes),
        integer(r.change.requests.PutParameter),
        `${reads(r.reader.cold)} / ${reads(r.reader.unchanged)} / ${reads(r.reader.afterChange)}`,
        integer(r.converged.writes),
      ].join(" | "),
    ).map((line) => `| ${line} |`),
  ];
  const steps = [
    "| endpoints | writer step | time | SSM requests | bytes written | writes |",
    "| --- | --- | ---: | --- | ---: | ---: |",
    ...rows.flatMap((r) =>
      [r.first, r.change, r.converged, r.again].map(
        (step) => `| ${size(r)} | ${step.label} | ${ms(step.ms)} | ${requests(step.requests)} | ${bytes(step.bytes)} | ${integer(step.writes)} |`,
      ),
    ),
  ];
  return [...summary, "", ...steps];
}

/** Runs every row (each in an account of its own) and returns them. */
export async function measureLargeServices(emulator: RunningEmulator, progress: (line: string) => void): Promise<LargeServiceRow[]> {
  const rows: LargeServiceRow[] = [];
  for (const size of endToEndSizes) {
    progress(`large services: ${integer(size)} running tasks end to end ...`);
    rows.push(await endToEndRow(emulator, size));
  }
  progress(`large services: ${integer(documentLayerSize)} + ${integer(documentLayerSize)} endpoints at the document layer ...`);
  rows.push(await documentLayerRow(emulator, documentLayerSize));
  return rows;
}
