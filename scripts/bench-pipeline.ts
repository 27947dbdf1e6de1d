/**
 * `npm run bench:pipeline` (also run by `npm run bench`): discovery-sync's pipeline side by side with a per-event
 * syncer, on the same workloads, in one run against one local emulator (moto). It measures whatever code is in the
 * tree, so it can be run before and after a change.
 *
 * The implementations (`scripts/bench-pipeline-implementations.ts`): discovery-sync's real handlers in-process
 * (task-state rule pattern as synthesised, router, FIFO queue semantics, reconcile) and a per-event syncer
 * (`scripts/per-event-syncer.ts`: every event describes its task, registers or deregisters it in Cloud Map and the
 * target group, and reads, modifies and writes the document). Each runs in worlds of its own (own emulator
 * accounts); every request it sends is counted and timed by a wave counter (`waveCounter` of
 * `@discovery-sync/emulator`, finalizeRequest step: each attempt counts).
 *
 * Workloads, each task event shaped like AWS's (`scripts/task-lifecycle.ts`: 4 events per lastStatus transition,
 * every lastStatus step):
 *
 * 1. **Single-task changes** on a service of 3 ready tasks, repeated: a task's health check passes (it becomes
 *    ready), it is told to stop (it drains), it stops. Each change is one event; propagation is the time from the
 *    router's call (or the syncer's) to the end of the PutParameter that published the document, which is then
 *    read back to check it says what it should. Serial waves and calls are those of handling that one event.
 * 2. **One task's complete lifecycle** (34 events), one lastStatus step at a time: events that reach the queue,
 *    reconciles; the document is checked after the changes that matter (ready, draining, stopped).
 * 3. **A 50-task rolling deploy**: 50 ready tasks replaced by 50 new ones, 10 at a time (the new ten through every
 *    start step, then the old ten through every stop step), the poller picking up after each step. Calls by
 *    operation, writes, PutParameter, serial waves; Cloud Map, the target group and the document are checked to
 *    hold exactly the new tasks at the end.
 * 4. **A converged reconcile of 1,000 ready tasks** (discovery-sync only: the syncer has no reconcile): serial waves.
 * 5. **Cold import** of each handler bundle against an SSM-only handler bundled the same way
 *    (`measureColdImports` of `scripts/bench-coldstart.ts`), and the reconcile handler's piece by piece
 *    (`reconcileBreakdownSources`).
 *
 * Targets of issue 9 are checked and printed ("target met" / "target missed"); timings never fail the run. The run
 * fails only when a step did not do what it measures: a document that does not say what the events said, a
 * converged reconcile that wrote, a deploy that did not converge.
 */
import { cpus, totalmem } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { parseEndpointDocument } from "@discovery-sync/client";
import type { RunningEmulator, WaveMeasurement } from "@discovery-sync/emulator";
import {
  check,
  checkPublished,
  createBenchWorld,
  discoverySync,
  measureRuleAdmission,
  perEventSyncer,
  type BenchWorld,
  type DeliveryStats,
  type Implementation,
} from "./bench-pipeline-implementations.js";
import { coldImportEntries, measureColdImports, reconcileBreakdownSources, ssmOnlyName, type ColdImportRow } from "./bench-coldstart.js";
import {
  eventsPerLifecycle,
  eventsPerTransition,
  startSteps,
  stepLabel,
  stopSteps,
  type LifecycleEvent,
  type LifecycleStep,
} from "./task-lifecycle.js";
import { withEmulator } from "./withEmulator.js";

const command = "npm run bench:pipeline";
/** Repetitions of the single-task changes (3 timed events each, per implementation). */
const repetitions = Number(process.env["BENCH_PIPELINE_REPETITIONS"] ?? 50);
const initialTasks = 3;
const deployTasks = 50;
const deployBatch = 10;
const largeTasks = 1_000;
const roundTripSamples = 200;

/** Issue 9's targets for discovery-sync. */
const targets = {
  singleTaskWaves: 3,
  convergedLargeWaves: 11,
  propagationP50Ms: 25,
  propagationP99Ms: 60,
  reconcilesPerLifecycle: 4,
  coldImportRatio: 1.25,
} as const;

const progressStartedAt = performance.now();
const progress = (line: string): void => {
  process.stderr.write(`[${((performance.now() - progressStartedAt) / 1000).toFixed(1)} s] ${line}\n`);
};

// ---- statistics ------------------------------------------------------------------------------------------------

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  check(values.length > 0, `percentile of no values`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const isWrite = (operation: string): boolean => /^(Register|Deregister|Put|Delete|Update|Create)/.test(operation);

function addCalls(into: Record<string, number>, calls: Readonly<Record<string, number>>): void {
  for (const [operation, count] of Object.entries(calls)) into[operation] = (into[operation] ?? 0) + count;
}

const sum = (calls: Readonly<Record<string, number>>, keep: (operation: string) => boolean = () => true): number =>
  Object.entries(calls).reduce((total, [operation, count]) => total + (keep(operation) ? count : 0), 0);

// ---- 1. single-task changes --------------------------------------------------------------------------------------

type ChangeKind = "ready" | "draining" | "stopped";

interface Sample {
  readonly kind: ChangeKind;
  readonly propagationMs: number;
  /** Of `propagationMs`, the time at least one request was in flight: waiting on the emulator, not on our code. */
  readonly waitingMs: number;
  readonly waves: number;
  readonly calls: Readonly<Record<string, number>>;
}

interface SingleTaskResult {
  readonly samples: Sample[];
}

/** Hands one event to the implementation, times it to the end of the document's PutParameter and checks the result. */
async function timedChange(implementation: Implementation, events: readonly LifecycleEvent[], kind: ChangeKind): Promise<Sample> {
  const { bench } = implementation;
  check(events.length === 1, `expected one event for the ${kind} change, got ${events.length}`);
  const taskId = events[0]!.taskArn.slice(events[0]!.taskArn.lastIndexOf("/") + 1);
  bench.counter.start();
  const startedAt = performance.now();
  await implementation.deliver(events);
  const measurement: WaveMeasurement = bench.counter.stop();
  const published = measurement.requests.filter(
    (request) => request.operation === "PutParameter" && request.input?.["Name"] === bench.service.parameterName && request.endedAt !== undefined,
  );
  const last = published.at(-1);
  check(last !== undefined, `${implementation.name}: the ${kind} event of task ${taskId} published no document (event ${events[0]!.key})`);

  const { Parameter } = await bench.worldClients.ssm.send(new GetParameterCommand({ Name: bench.service.parameterName }));
  const document = parseEndpointDocument(Parameter?.Value ?? "");
  const inEndpoints = document.endpoints.some((e) => e.taskId === taskId);
  const inDraining = document.draining.some((e) => e.taskId === taskId);
  const expected = { ready: [true, false], draining: [false, true], stopped: [false, false] }[kind];
  check(
    inEndpoints === expected[0] && inDraining === expected[1],
    `${implementation.name}: after the ${kind} event the document lists task ${taskId} in endpoints: ${inEndpoints}, draining: ${inDraining}`,
  );
  return {
    kind,
    propagationMs: last.endedAt! - startedAt,
    waitingMs: inFlightMs(measurement, last.endedAt!),
    waves: measurement.waves,
    calls: measurement.callsByOperation,
  };
}

/** How long, up to `until`, at least one of the measured requests was in flight (the union of their intervals). */
function inFlightMs(measurement: WaveMeasurement, until: number): number {
  let total = 0;
  let coveredTo = -Infinity;
  for (const request of [...measurement.requests].sort((a, b) => a.startedAt - b.startedAt)) {
    const start = Math.max(request.startedAt, coveredTo);
    const end = Math.min(request.endedAt ?? until, until);
    if (end > start) total += end - start;
    coveredTo = Math.max(coveredTo, Math.min(request.endedAt ?? until, until));
  }
  return total;
}

function step(label: string): LifecycleStep {
  const found = [...startSteps, ...stopSteps].find((s) => stepLabel(s) === label);
  check(found !== undefined, `no lifecycle step ${label}`);
  return found;
}

/** One repetition: a new task becomes ready, drains, stops; one timed event each. */
async function singleTaskRepetition(implementation: Implementation): Promise<Sample[]> {
  const { driver } = implementation.bench;
  const [taskArn] = await driver.startTasks(1);
  driver.skip([taskArn!], startSteps.slice(0, 4)); // PROVISIONING to RUNNING, health not yet known: not ready
  const samples = [await timedChange(implementation, await driver.step([taskArn!], step("health"), [0]), "ready")];
  samples.push(await timedChange(implementation, await driver.step([taskArn!], step("desiredStopped"), [0]), "draining"));
  driver.skip([taskArn!], stopSteps.slice(1, 4)); // DEACTIVATING to DEPROVISIONING
  samples.push(await timedChange(implementation, await driver.step([taskArn!], step("STOPPED"), [0]), "stopped"));
  return samples;
}

// ---- 2. one task's lifecycle -----------------------------------------------------------------------------------

type LifecycleResult = DeliveryStats;

function statsSince(stats: DeliveryStats, before: DeliveryStats): DeliveryStats {
  return {
    emitted: stats.emitted - before.emitted,
    passedRule: stats.passedRule - before.passedRule,
    sent: stats.sent - before.sent,
    admitted: stats.admitted - before.admitted,
    runs: stats.runs - before.runs,
    failedRuns: stats.failedRuns - before.failedRuns,
  };
}

/** A new task through every step, each step's events delivered together; checks the document after the changes. */
async function taskLifecycle(implementation: Implementation, readyOthers: readonly string[]): Promise<LifecycleResult> {
  const { driver } = implementation.bench;
  const before = { ...implementation.stats };
  const [taskArn] = await driver.startTasks(1);
  for (const lifecycleStep of [...startSteps, ...stopSteps]) {
    await implementation.deliver(await driver.step([taskArn!], lifecycleStep));
    const label = stepLabel(lifecycleStep);
    if (label === "health") await checkPublished(implementation, { ready: [...readyOthers, taskArn!] }, "lifecycle, after the health check passed");
    if (label === "desiredStopped") await checkPublished(implementation, { ready: readyOthers, draining: [taskArn!] }, "lifecycle, once told to stop");
    if (label === "STOPPED") await checkPublished(implementation, { ready: readyOthers }, "lifecycle, once stopped");
  }
  const delta = statsSince(implementation.stats, before);
  check(delta.emitted === eventsPerLifecycle, `${implementation.name}: ${delta.emitted} lifecycle events emitted, not ${eventsPerLifecycle}`);
  return delta;
}

// ---- 3. rolling deploy -------------------------------------------------------------------------------------------

interface DeployResult {
  readonly stats: DeliveryStats;
  readonly measurement: WaveMeasurement;
  readonly handlerMs: number;
}

async function rollingDeploy(implementation: Implementation): Promise<DeployResult> {
  const { driver, counter } = implementation.bench;
  const old = await driver.readyTasks(deployTasks);
  await implementation.converge(old);
  await checkPublished(implementation, { ready: old }, "before the rolling deploy");
  const before = { ...implementation.stats };
  const replacements: string[] = [];
  let handlerMs = 0;
  const deliver = async (events: readonly LifecycleEvent[]) => {
    const startedAt = performance.now();
    await implementation.deliver(events);
    handlerMs += performance.now() - startedAt;
  };
  counter.start();
  for (let start = 0; start < deployTasks; start += deployBatch) {
    const fresh = await driver.startTasks(deployBatch);
    replacements.push(...fresh);
    for (const lifecycleStep of startSteps) await deliver(await driver.step(fresh, lifecycleStep));
    const leaving = old.slice(start, start + deployBatch);
    for (const lifecycleStep of stopSteps) await deliver(await driver.step(leaving, lifecycleStep));
  }
  const measurement = counter.stop();
  await checkPublished(implementation, { ready: replacements }, "after the rolling deploy");
  return { stats: statsSince(implementation.stats, before), measurement, handlerMs };
}

// ---- 4. converged 1,000-task reconcile ---------------------------------------------------------------------------

async function convergedLargeReconcile(bench: BenchWorld, admits: (event: LifecycleEvent) => boolean): Promise<WaveMeasurement> {
  const implementation = discoverySync(bench, admits);
  const tasks = await bench.driver.readyTasks(largeTasks);
  await implementation.converge(tasks);
  const first = implementation.records.at(-1);
  check(first?.tasks.ready === largeTasks, `the first ${largeTasks}-task reconcile saw ${first?.tasks.ready} ready tasks`);
  bench.counter.start();
  await implementation.converge(tasks);
  const measurement = bench.counter.stop();
  const converged = implementation.records.at(-1);
  check(converged?.outcome === "converged", `the converged ${largeTasks}-task reconcile ended ${converged?.outcome}, with ${converged?.writesTotal} writes`);
  check(sum(measurement.callsByOperation, isWrite) === 0, `the converged ${largeTasks}-task reconcile sent write requests: ${JSON.stringify(measurement.callsByOperation)}`);
  return measurement;
}

// ---- emulator round trip -----------------------------------------------------------------------------------------

interface EmulatorTiming {
  /** p50 of one GetParameter. */
  readonly roundTripMs: number;
  /** p50 of 8 GetParameters one after another, and of 8 sent together. */
  readonly sequentialMs: number;
  readonly parallelMs: number;
}

/**
 * The emulator's own pace: a trivial call's round trip, and how much of a wave's parallelism it serves in parallel
 * (moto answers in one Python process, so requests sent together are largely handled one after another).
 */
async function emulatorTiming(bench: BenchWorld): Promise<EmulatorTiming> {
  const ssm = bench.worldClients.ssm;
  const read = () => ssm.send(new GetParameterCommand({ Name: bench.service.parameterName }));
  const timed = async (work: () => Promise<unknown>) => {
    const startedAt = performance.now();
    await work();
    return performance.now() - startedAt;
  };
  for (let i = 0; i < 20; i += 1) await read(); // warms sockets and code up
  const single: number[] = [];
  for (let i = 0; i < roundTripSamples; i += 1) single.push(await timed(read));
  const sequential: number[] = [];
  const parallel: number[] = [];
  for (let i = 0; i < 30; i += 1) {
    sequential.push(await timed(async () => { for (let j = 0; j < 8; j += 1) await read(); }));
    parallel.push(await timed(() => Promise.all(Array.from({ length: 8 }, read))));
  }
  return { roundTripMs: percentile(single, 50), sequentialMs: percentile(sequential, 50), parallelMs: percentile(parallel, 50) };
}

// ---- tables --------------------------------------------------------------------------------------------------------

const ms = (value: number): string => `${value.toFixed(1)} ms`;
const perEvent = (value: number): string => (Number.isInteger(value) ? String(value) : value.toFixed(2));
const verdict = (met: boolean): string => (met ? "target met" : "target missed");
const admissions = (stats: DeliveryStats): string => `${stats.passedRule} / ${stats.sent} / ${stats.admitted} / ${stats.runs}`;

interface Measured {
  readonly names: readonly [string, string];
  readonly single: readonly [SingleTaskResult, SingleTaskResult];
  readonly lifecycle: readonly [LifecycleResult, LifecycleResult];
  readonly deploy: readonly [DeployResult, DeployResult];
  readonly large: WaveMeasurement;
  readonly emulator: EmulatorTiming;
  readonly coldImports: readonly ColdImportRow[];
  readonly failedReconciles: number;
}


/** p50 / p99 propagation of each kind of change, in the order ready, draining, stopped. */
function byKind(result: SingleTaskResult): string {
  return (["ready", "draining", "stopped"] as const)
    .map((kind) => {
      const values = result.samples.filter((sample) => sample.kind === kind).map((sample) => sample.propagationMs);
      return `${percentile(values, 50).toFixed(0)} / ${percentile(values, 99).toFixed(0)}`;
    })
    .join(", ") + " ms";
}

function summaryTable(m: Measured): string[] {
  const propagation = m.single.map((r) => r.samples.map((s) => s.propagationMs));
  const waves = m.single.map((r) => r.samples.map((s) => s.waves));
  const totals = m.single.map(singleTaskCalls);
  const n = m.single[0].samples.length;
  const callsPerEvent = totals.map((calls) => sum(calls) / n);
  const p50 = propagation.map((values) => percentile(values, 50));
  const p99 = propagation.map((values) => percentile(values, 99));
  const medianWaves = waves.map((values) => percentile(values, 50));
  const maxWaves = waves.map((values) => Math.max(...values));
  const [ds, pe] = [0, 1] as const;
  const row = (label: string, a: string, b: string, target = "", met = ""): string => `| ${label} | ${a} | ${b} | ${target} | ${met} |`;
  const lifecycle = m.lifecycle;
  const deploy = m.deploy;
  const tasksReplaced = deployTasks * 2;
  return [
    row("", m.names[ds], m.names[pe], "target (discovery-sync)", "check"),
    "| --- | ---: | ---: | ---: | --- |",
    row(
      `serial waves per single-task event (median / max of ${n})`,
      `${medianWaves[ds]} / ${maxWaves[ds]}`,
      `${medianWaves[pe]} / ${maxWaves[pe]}`,
      `≤ ${targets.singleTaskWaves}`,
      verdict(maxWaves[ds]! <= targets.singleTaskWaves),
    ),
    row(
      `serial waves of a converged ${largeTasks.toLocaleString("en-US")}-task reconcile`,
      String(m.large.waves),
      "- (no reconcile)",
      `≤ ${targets.convergedLargeWaves}`,
      verdict(m.large.waves <= targets.convergedLargeWaves),
    ),
    row("propagation p50 (router call to document published)", ms(p50[ds]!), ms(p50[pe]!), `≤ ${targets.propagationP50Ms} ms`, verdict(p50[ds]! <= targets.propagationP50Ms)),
    row("propagation p99", ms(p99[ds]!), ms(p99[pe]!), `≤ ${targets.propagationP99Ms} ms`, verdict(p99[ds]! <= targets.propagationP99Ms)),
    row(
      "propagation p50 / p99 by change: ready, draining, stopped",
      byKind(m.single[ds]),
      byKind(m.single[pe]),
    ),
    row(
      "share of the propagation spent waiting on the emulator (median)",
      `${(100 * percentile(m.single[ds].samples.map((x) => x.waitingMs / x.propagationMs), 50)).toFixed(0)} %`,
      `${(100 * percentile(m.single[pe].samples.map((x) => x.waitingMs / x.propagationMs), 50)).toFixed(0)} %`,
    ),
    row("emulator round trip p50 (GetParameter)", ms(m.emulator.roundTripMs), ms(m.emulator.roundTripMs)),
    row(
      "emulator: 8 GetParameter one after another / all 8 at once (p50)",
      `${ms(m.emulator.sequentialMs)} / ${ms(m.emulator.parallelMs)}`,
      `${ms(m.emulator.sequentialMs)} / ${ms(m.emulator.parallelMs)}`,
    ),
    row("calls per single-task event (mean)", perEvent(callsPerEvent[ds]!), perEvent(callsPerEvent[pe]!)),
    row(
      "writes / PutParameter per single-task event (mean)",
      `${perEvent(sum(totals[ds]!, isWrite) / n)} / ${perEvent((totals[ds]!["PutParameter"] ?? 0) / n)}`,
      `${perEvent(sum(totals[pe]!, isWrite) / n)} / ${perEvent((totals[pe]!["PutParameter"] ?? 0) / n)}`,
    ),
    row(
      `one task's lifecycle (${eventsPerLifecycle} events): passing the rule / sent by the router / reaching the queue / reconciles (syncer: handler runs)`,
      admissions(lifecycle[ds]),
      admissions(lifecycle[pe]),
      `≤ ${targets.reconcilesPerLifecycle} reconciles`,
      verdict(lifecycle[ds].runs <= targets.reconcilesPerLifecycle),
    ),
    row(
      `${deployTasks}-task rolling deploy (${deploy[ds].stats.emitted} events): passing the rule / sent / reaching the queue / reconciles (syncer: runs)`,
      admissions(deploy[ds].stats),
      admissions(deploy[pe].stats),
    ),
    row(
      `${deployTasks}-task rolling deploy: admitted / reconciles per task (${tasksReplaced} tasks started or stopped)`,
      `${perEvent(deploy[ds].stats.admitted / tasksReplaced)} / ${perEvent(deploy[ds].stats.runs / tasksReplaced)}`,
      `${perEvent(deploy[pe].stats.admitted / tasksReplaced)} / ${perEvent(deploy[pe].stats.runs / tasksReplaced)}`,
    ),
    row(
      `${deployTasks}-task rolling deploy: calls / writes / PutParameter`,
      `${deploy[ds].measurement.calls} / ${sum(deploy[ds].measurement.callsByOperation, isWrite)} / ${deploy[ds].measurement.callsByOperation["PutParameter"] ?? 0}`,
      `${deploy[pe].measurement.calls} / ${sum(deploy[pe].measurement.callsByOperation, isWrite)} / ${deploy[pe].measurement.callsByOperation["PutParameter"] ?? 0}`,
    ),
    row(
      `${deployTasks}-task rolling deploy: serial waves / time in the handlers`,
      `${deploy[ds].measurement.waves} / ${(deploy[ds].handlerMs / 1000).toFixed(1)} s`,
      `${deploy[pe].measurement.waves} / ${(deploy[pe].handlerMs / 1000).toFixed(1)} s`,
    ),
    row("failed reconciles, all workloads (their messages came back at once and were reconciled again)", String(m.failedReconciles), "-"),
  ];
}

/** Calls by operation over every single-task sample of one implementation. */
function singleTaskCalls(result: SingleTaskResult): Record<string, number> {
  const all: Record<string, number> = {};
  for (const sample of result.samples) addCalls(all, sample.calls);
  return all;
}

function callsTable(m: Measured): string[] {
  const n = m.single[0].samples.length;
  const single = m.single.map(singleTaskCalls);
  const deploy = m.deploy.map((r) => r.measurement.callsByOperation);
  const operations = [...new Set([...single, ...deploy, m.large.callsByOperation].flatMap((calls) => Object.keys(calls)))].sort(
    (a, b) => Number(isWrite(a)) - Number(isWrite(b)) || a.localeCompare(b),
  );
  const cell = (calls: Readonly<Record<string, number>>, operation: string, divide = 1) =>
    calls[operation] === undefined ? "-" : perEvent(calls[operation]! / divide);
  return [
    `| operation | ${m.names[0]}: per single-task event | ${m.names[1]}: per single-task event | ${m.names[0]}: ${deployTasks}-task deploy | ${m.names[1]}: ${deployTasks}-task deploy | ${m.names[0]}: converged ${largeTasks.toLocaleString("en-US")}-task reconcile |`,
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...operations.map(
      (operation) =>
        `| ${operation}${isWrite(operation) ? " (write)" : ""} | ${cell(single[0]!, operation, n)} | ${cell(single[1]!, operation, n)} | ${cell(deploy[0]!, operation)} | ${cell(deploy[1]!, operation)} | ${cell(m.large.callsByOperation, operation)} |`,
    ),
  ];
}

function coldImportTable(rows: readonly ColdImportRow[]): string[] {
  return [
    "| bundle | size | source map | cold import, median | × SSM-only | CPU, median | CPU × SSM-only | target | check |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows.map((row) => {
      const reference = row.name === ssmOnlyName;
      return (
        `| ${reference ? "SSM-only handler (`@aws-sdk/client-ssm`)" : row.name} | ${(row.bytes / 1024).toFixed(0)} KiB | ${(row.sourceMapBytes / 1024).toFixed(0)} KiB | ` +
        `${ms(row.medianMs)} | ${row.ratio.toFixed(2)} | ${ms(row.medianCpuMs)} | ${row.cpuRatio.toFixed(2)} | ` +
        `${reference ? "reference" : `≤ ${targets.coldImportRatio}`} | ${reference ? "" : verdict(row.ratio <= targets.coldImportRatio)} |`
      );
    }),
  ];
}

const reconcileHandlerName = "the reconcile handler (functions/reconcile.ts)";

/** The reconcile's cold import piece by piece: each row adds one piece to the one above it. */
function breakdownTable(rows: readonly ColdImportRow[]): string[] {
  const order = [ssmOnlyName, ...Object.keys(reconcileBreakdownSources), reconcileHandlerName];
  const ordered = order.map((name) => rows.find((row) => row.name === name)!);
  return [
    "| bundle | size | cold import, median | × SSM-only | added by the row (× SSM-only) | CPU × SSM-only |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...ordered.map((row, index) => {
      const added = index === 0 ? "" : `+${(row.ratio - ordered[index - 1]!.ratio).toFixed(2)}`;
      const name = row.name === ssmOnlyName ? "SSM-only handler (reference)" : row.name;
      return `| ${name} | ${(row.bytes / 1024).toFixed(0)} KiB | ${ms(row.medianMs)} | ${row.ratio.toFixed(2)} | ${added} | ${row.cpuRatio.toFixed(2)} |`;
    }),
  ];
}

// ---- main ----------------------------------------------------------------------------------------------------------

/**
 * Runs every measurement of the section and prints it (markdown) with `say`. Called by `npm run bench:pipeline` and
 * by `npm run bench`.
 *
 * @example
 * ```ts
 * await withEmulator("bench", logFile, (emulator) => pipelineSection(emulator, say));
 * ```
 */
export async function pipelineSection(emulator: RunningEmulator, say: (line?: string) => void): Promise<void> {
  const startedAt = performance.now();
  progress("pipeline: provisioning worlds ...");
  const worlds: BenchWorld[] = [];
  try {
    for (let i = 0; i < 6; i += 3) worlds.push(...(await Promise.all([0, 1, 2].map(() => createBenchWorld(emulator)))));
    const [probe, dsSmall, peSmall, dsDeploy, peDeploy, large] = worlds as [BenchWorld, BenchWorld, BenchWorld, BenchWorld, BenchWorld, BenchWorld];

    progress("pipeline: the task-state rule's pattern on one lifecycle ...");
    const rule = await measureRuleAdmission(probe);
    const admits = (event: LifecycleEvent) => rule.admitted.has(event.key);

    const implementations = [discoverySync(dsSmall, admits), perEventSyncer(peSmall)] as const;
    const initial: string[][] = [];
    for (const implementation of implementations) {
      const tasks = await implementation.bench.driver.readyTasks(initialTasks);
      await implementation.converge(tasks);
      await checkPublished(implementation, { ready: tasks }, "before the single-task changes");
      initial.push(tasks);
    }
    const emulatorPace = await emulatorTiming(dsSmall);

    progress(`pipeline: single-task changes, ${repetitions} × 3 events per implementation ...`);
    const single: [SingleTaskResult, SingleTaskResult] = [{ samples: [] }, { samples: [] }];
    for (let i = 0; i < repetitions; i += 1) {
      // Alternating, so that both see the same moments of the machine's load.
      for (const [index, implementation] of implementations.entries()) single[index]!.samples.push(...(await singleTaskRepetition(implementation)));
    }
    for (const [index, implementation] of implementations.entries()) await checkPublished(implementation, { ready: initial[index]! }, "after the single-task changes");

    progress("pipeline: one task's complete lifecycle ...");
    const lifecycle = [await taskLifecycle(implementations[0], initial[0]!), await taskLifecycle(implementations[1], initial[1]!)] as const;

    progress(`pipeline: ${deployTasks}-task rolling deploy ...`);
    const deploy = [await rollingDeploy(discoverySync(dsDeploy, admits)), await rollingDeploy(perEventSyncer(peDeploy))] as const;

    progress(`pipeline: converged ${largeTasks}-task reconcile ...`);
    const largeMeasurement = await convergedLargeReconcile(large, admits);

    progress("pipeline: cold imports of the handler bundles (measureColdImports of scripts/bench-coldstart.ts) ...");
    const coldImports = await measureColdImports();
    progress("pipeline: the reconcile handler's cold import, piece by piece ...");
    const breakdown = await measureColdImports({ entries: { [reconcileHandlerName]: coldImportEntries.reconcile }, sources: reconcileBreakdownSources });

    const measured: Measured = {
      names: ["discovery-sync", "per-event syncer"],
      single,
      lifecycle,
      deploy,
      large: largeMeasurement,
      emulator: emulatorPace,
      coldImports,
      failedReconciles: implementations[0].stats.failedRuns + deploy[0].stats.failedRuns,
    };
    const cpu = cpus();
    say("## Pipeline: discovery-sync against a per-event syncer");
    say();
    for (const line of summaryTable(measured)) say(line);
    say();
    say("Calls by operation:");
    say();
    for (const line of callsTable(measured)) say(line);
    say();
    say(
      `Cold import of each handler bundle, bundled with the construct's esbuild settings, each \`await import\` in a fresh \`node\` process, ` +
        `${coldImports[0]?.samplesMs.length ?? 0} per bundle, interleaved (\`measureColdImports\` of scripts/bench-coldstart.ts); the target is on the wall clock:`,
    );
    say();
    for (const line of coldImportTable(coldImports)) say(line);
    say();
    say(
      "What the reconcile handler's cold import is made of: the same measurement, of bundles that each add one piece to the row above " +
        "(`reconcileBreakdownSources` of scripts/bench-coldstart.ts; the ratio of a difference between rows moves by a few hundredths between runs):",
    );
    say();
    for (const line of breakdownTable(breakdown)) say(line);
    say();
    const order = [...startSteps, ...stopSteps].flatMap((s) =>
      Array.from({ length: s.kind === "lastStatus" ? eventsPerTransition : 1 }, (_, i) => `${stepLabel(s)}#${i}`),
    );
    say(`- task-state rule (as synthesised), events of one lifecycle it lets through: ${order.filter((key) => rule.admitted.has(key)).join(", ") || "none"} (${rule.admitted.size} of ${rule.events})`);
    say(`- command: \`${command}\` (${new Date().toISOString()}, ${((performance.now() - startedAt) / 1000).toFixed(1)} s)`);
    say(`- node ${process.version} on ${process.platform}/${process.arch}; CPU: ${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);
    say(
      `- moto server at ${emulator.endpoint}, one account per world; single-task changes on a service of ${initialTasks} ready tasks, ` +
        `${repetitions} repetitions of (ready, draining, stopped) per implementation, alternating; the ${deployTasks}-task deploy replaces ` +
        `${deployBatch} tasks at a time, every lastStatus step emitted with ${eventsPerTransition} events per transition`,
    );
  } finally {
    for (const world of worlds) world.close();
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // The SDK's notice that its 2027 releases need Node 22 says nothing about this benchmark.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  await withEmulator("bench:pipeline", ".emulator-logs/moto-bench-pipeline.log", (emulator) =>
    pipelineSection(emulator, (line = "") => process.stdout.write(`${line}\n`)),
  );
}
