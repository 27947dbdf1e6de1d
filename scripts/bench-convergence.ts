/**
 * The "Convergence after a transient fault" section of `npm run bench` (see `scripts/bench.ts`).
 *
 * How long after a transient fault ends until the service is right again: Cloud Map, the target group and the
 * document equal the ready tasks. One service of 3 ready tasks, converged; then the faults start (the fault proxy
 * of `@discovery-sync/emulator`, in front of the emulator, on every ECS, SSM, Cloud Map and ELBv2 call of the
 * reconciler), one task stops and one starts, and their events are routed; the SQS poller runs all along (every
 * 100 ms, as Lambda's would, failed messages left to their visibility timeout); after the fault window the faults
 * end, and the time until the emulator holds the ready tasks everywhere is measured.
 *
 * Two reconcilers side by side, in two accounts, under the same faults at the same time:
 *
 * - **current**: the reconcile handler as deployed (its queue URL given: a failed message comes back after 5 s,
 *   doubling per receive up to 5 min; stale reads re-read inside the invocation after 250/500/1000/2000 ms);
 * - **previous**: the same handler without its queue URL, so a failed message comes back only when the queue's
 *   visibility timeout ends, as before commit 8546401.
 *
 * Both have the SDK retries of `createAwsClients` (adaptive mode, 6 attempts). The work queue's visibility timeout
 * is shortened to {@link queueVisibilitySeconds} s in both worlds to keep the bench short; the deployed queue's is
 * 6 × the function timeout (180 s with the default 30 s), which only the previous behaviour waits out.
 */
import { performance } from "node:perf_hooks";
import { DescribeTasksCommand } from "@aws-sdk/client-ecs";
import { DescribeTargetHealthCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ListInstancesCommand } from "@aws-sdk/client-servicediscovery";
import { GetQueueAttributesCommand, SetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { Context, SQSEvent } from "aws-lambda";
import {
  createAwsClients,
  createReconcileHandler,
  createRouteHandler,
  parseConfig,
  readParameter,
  type ReconcileLogger,
  type ReconcileRecord,
} from "@discovery-sync/core";
import {
  accountPlugin,
  createTaskOverlay,
  createWorldClients,
  drainFifo,
  emulatorCredentials,
  provisionWorld,
  randomAccountId,
  runServiceTasks,
  startFaultProxy,
  stopServiceTask,
  taskIdOf,
  taskIp,
  taskOverlayTransform,
  taskStateChangeEvent,
  type FaultProxy,
  type FaultRule,
  type RunningEmulator,
  type TaskOverlay,
} from "@discovery-sync/emulator";

const region = "us-east-1";
/** The work queue's own visibility timeout in the bench (the deployed queue's is 180 s). */
export const queueVisibilitySeconds = 20;
/** How long after the faults end a reconciler may take before it counts as not converged. */
const convergenceTimeoutMs = 150_000;
const pollIntervalMs = 200;
const services = ["ecs", "ssm", "servicediscovery", "elasticloadbalancing"];

/** One fault pattern, held for each of several lengths of time. */
export interface ConvergenceScenario {
  readonly label: string;
  readonly rules: readonly FaultRule[];
  /** How long the faults last, one world per length and reconciler. */
  readonly windowsMs: readonly number[];
}

/** The scenarios measured, in order. */
export const convergenceScenarios: readonly ConvergenceScenario[] = [
  {
    // Every call fails: the SDK's retries of server errors and resets (100 ms base) give up within seconds.
    label: "500, 503 or connection reset on every call",
    rules: [
      { kind: "internal-error", rate: 0.34, services },
      { kind: "service-unavailable", rate: 0.5, services },
      { kind: "connection-reset", rate: 1, services },
    ],
    windowsMs: [5_000, 10_000, 15_000, 20_000, 30_000, 45_000],
  },
  {
    label: "DescribeTasks answering the state before the change, every time",
    rules: [{ kind: "lagging-read", rate: 1, lag: { maxSteps: 1, maxAgeMs: 600_000 } }],
    windowsMs: [5_000, 10_000, 20_000, 30_000],
  },
  { label: "throttling on every call", rules: [{ kind: "throttling", rate: 1, services }], windowsMs: [10_000, 30_000] },
  {
    label: "500, 503 or connection reset on 60 % of calls",
    rules: [
      { kind: "internal-error", rate: 0.2, services },
      { kind: "service-unavailable", rate: 0.25, services },
      { kind: "connection-reset", rate: 0.25, services },
    ],
    windowsMs: [10_000],
  },
];

type Variant = "current" | "previous";

/** What one reconciler did in one scenario, for one length of the faults. */
export interface ConvergenceMeasurement {
  readonly scenario: ConvergenceScenario;
  readonly windowMs: number;
  readonly variant: Variant;
  /** ms from the end of the faults until everything equalled the ready tasks; undefined: not within the timeout. */
  readonly convergedAfterMs: number | undefined;
  /** ms from the start of the faults until the first reconcile failed; undefined: none failed. */
  readonly firstFailureAfterMs: number | undefined;
  readonly reconciles: number;
  readonly failedReconciles: number;
  /** Highest receive count of a message handed to the reconciler. */
  readonly maxReceives: number;
  /** The longest reconcile (the record's `durationMs`) from the start of the faults on. */
  readonly longestReconcileMs: number;
  readonly deadLettered: number;
}

class CountingLogger implements ReconcileLogger {
  public readonly records: ReconcileRecord[] = [];
  /** `performance.now()` when each failed reconcile ended. */
  public readonly failedAt: number[] = [];
  public debug(): void {}
  public info(message: string, attributes: Record<string, unknown>): void {
    if (message === "reconcile") this.records.push(attributes.reconcile as ReconcileRecord);
  }
  public warn(): void {}
  public error(message: string, attributes: Record<string, unknown>): void {
    if (message !== "reconcile") return;
    this.records.push(attributes.reconcile as ReconcileRecord);
    this.failedAt.push(performance.now());
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Registry {
  readonly worlds: Map<string, { overlay: TaskOverlay; taskArns: () => Iterable<string> }>;
}

/** One world, its reconciler (current or previous), and the model of its tasks. */
async function setUp(emulator: RunningEmulator, proxy: FaultProxy, registry: Registry, variant: Variant) {
  const accountId = randomAccountId();
  const plugin = accountPlugin(accountId);
  const direct = { endpoint: emulator.endpoint, region, credentials: emulatorCredentials, disableHostPrefix: true, maxAttempts: 1 };
  const worldClients = createWorldClients(direct, [plugin]);
  const world = await provisionWorld(worldClients, {});
  const queueUrl = world.reconcileQueueUrl!;
  await worldClients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { VisibilityTimeout: String(queueVisibilitySeconds) } }));
  const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
  worldClients.ecs.middlewareStack.use(overlay.plugin);
  const live = new Map<string, { version: number }>();
  const allArns: string[] = [];
  registry.worlds.set(accountId, { overlay, taskArns: () => allArns });
  // The reconciler's clients go through the proxy, with the SDK retry settings it is deployed with.
  const clients = createAwsClients({ clientConfig: { endpoint: proxy.endpoint, region, credentials: emulatorCredentials }, plugins: [plugin] });
  const config = parseConfig({ services: [{ ...world.serviceConfig }] });
  const logger = new CountingLogger();
  const proxiedQueueUrl = proxy.proxied(queueUrl);
  const handler = createReconcileHandler({ config, clients, logger, ...(variant === "current" ? { queueUrl: proxiedQueueUrl } : {}) });
  let maxReceives = 0;
  // The context carries the invocation's remaining time: without it the handler sets no deadline on its AWS calls and
  // stops re-reading stale tasks at no particular time, which is not how it runs on Lambda.
  const reconcile = (event: SQSEvent, context: Context) => {
    for (const record of event.Records) maxReceives = Math.max(maxReceives, Number(record.attributes.ApproximateReceiveCount));
    return handler(event, context);
  };
  const route = createRouteHandler({ config, sqs: clients.sqs, queueUrl: proxiedQueueUrl, logger });
  const emit = async (taskArn: string) => {
    const version = live.get(taskArn)?.version ?? overlay.get(taskArn)?.version ?? 1;
    const [described] = (await worldClients.ecs.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: [taskArn] }))).tasks ?? [];
    const event = taskStateChangeEvent(described!, { account: accountId, region, version });
    const result = await route(event);
    if (result.outcome !== "enqueued") throw new Error(`event of ${taskArn} not enqueued: ${JSON.stringify(result)}`);
  };
  const start = async (count: number) => {
    const tasks = await runServiceTasks(worldClients, world, count);
    for (const task of tasks) {
      allArns.push(task.taskArn!);
      live.set(task.taskArn!, { version: 1 });
      overlay.set(task.taskArn!, { version: 1 });
    }
    return tasks.map((t) => t.taskArn!);
  };
  const stop = async (taskArn: string) => {
    await stopServiceTask(worldClients, world, taskArn);
    const version = (live.get(taskArn)?.version ?? 1) + 1;
    overlay.set(taskArn, { version, desiredStatus: "STOPPED", lastStatus: "STOPPED" });
    live.delete(taskArn);
    return version;
  };
  const ips = new Map<string, string>();
  const converged = async (): Promise<boolean> => {
    const ready = [...live.keys()];
    for (const arn of ready) {
      if (!ips.has(arn)) {
        const [task] = (await worldClients.ecs.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: [arn] }))).tasks ?? [];
        ips.set(arn, taskIp(task!)!);
      }
    }
    const wantedIds = ready.map(taskIdOf).sort().join(",");
    const wantedTargets = ready.map((arn) => `${ips.get(arn)}:${world.port}`).sort().join(",");
    const instances = (await worldClients.serviceDiscovery.send(new ListInstancesCommand({ ServiceId: world.cloudMapServiceId! }))).Instances ?? [];
    if (instances.map((i) => i.Id!).sort().join(",") !== wantedIds) return false;
    const health = await worldClients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: world.targetGroupArns[0]! }));
    if ((health.TargetHealthDescriptions ?? []).map((d) => `${d.Target?.Id}:${d.Target?.Port}`).sort().join(",") !== wantedTargets) return false;
    const parameter = await readParameter(worldClients.ssm, world.serviceConfig.parameterName);
    return parameter.kind === "valid" && parameter.document.endpoints.map((e) => e.taskId).sort().join(",") === wantedIds;
  };
  const poll = () => drainFifo(worldClients.sqs, queueUrl, reconcile, { queueArn: world.reconcileQueueArn!, failedVisibility: "handler", maxRounds: 10 });
  const deadLettered = async () => {
    const attributes = await worldClients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: world.deadLetterQueueUrl!, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
    );
    return Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  };
  const close = () => {
    registry.worlds.delete(accountId);
    for (const client of Object.values(clients)) client.destroy();
  };
  return { accountId, variant, logger, start, stop, emit, live, converged, poll, deadLettered, close, receives: () => maxReceives };
}

type Reconciler = Awaited<ReturnType<typeof setUp>>;

/** Polls like Lambda's poller until `done()`; returns when it said so. */
async function pollUntil(reconciler: Reconciler, done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    await reconciler.poll();
    if (await done()) return true;
    if (performance.now() > deadline) return false;
    await sleep(pollIntervalMs);
  }
}

/** One world under one scenario's faults for one length of time. */
async function measureCase(
  proxy: FaultProxy,
  reconciler: Reconciler,
  scenario: ConvergenceScenario,
  windowMs: number,
): Promise<ConvergenceMeasurement> {
  // The faults start, for this world only; one task stops, one starts, and their events arrive.
  const rules = scenario.rules.map((rule) => proxy.addRule({ ...rule, accounts: [reconciler.accountId] }));
  const faultsStartedAt = performance.now();
  const failuresBefore = reconciler.logger.failedAt.length;
  const recordsBefore = reconciler.logger.records.length;
  const [victim] = [...reconciler.live.keys()];
  await reconciler.stop(victim!);
  await reconciler.emit(victim!);
  for (const arn of await reconciler.start(1)) await reconciler.emit(arn);
  let faultsEndedAt: number | undefined;
  const timer = setTimeout(() => {
    for (const rule of rules) rule.disable();
    faultsEndedAt = performance.now();
  }, windowMs);
  let convergedAt: number | undefined;
  try {
    await pollUntil(
      reconciler,
      async () => {
        if (faultsEndedAt === undefined) return false;
        if (await reconciler.converged()) {
          convergedAt = performance.now();
          return true;
        }
        return false;
      },
      windowMs + convergenceTimeoutMs,
    );
  } finally {
    clearTimeout(timer);
    for (const rule of rules) rule.disable();
  }
  const records = reconciler.logger.records;
  const firstFailure = reconciler.logger.failedAt[failuresBefore];
  return {
    scenario,
    windowMs,
    variant: reconciler.variant,
    convergedAfterMs: convergedAt === undefined || faultsEndedAt === undefined ? undefined : convergedAt - faultsEndedAt,
    firstFailureAfterMs: firstFailure === undefined ? undefined : firstFailure - faultsStartedAt,
    reconciles: records.length,
    failedReconciles: records.filter((record) => record.outcome === "failed").length,
    maxReceives: reconciler.receives(),
    longestReconcileMs: Math.max(0, ...records.slice(recordsBefore).map((record) => record.durationMs)),
    deadLettered: await reconciler.deadLettered(),
  };
}

/**
 * Measures every scenario, for each of its lengths of time, with both reconcilers: one world each, all at once (in
 * accounts of their own, each with faults of its own), through one fault proxy. Returns the measurements in the order
 * of the scenarios, their lengths, current before previous.
 *
 * @example
 * ```ts
 * const rows = await measureConvergence(emulator, (line) => process.stderr.write(`${line}\n`));
 * ```
 */
export async function measureConvergence(emulator: RunningEmulator, progress: (line: string) => void): Promise<ConvergenceMeasurement[]> {
  const registry: Registry = { worlds: new Map() };
  const proxy = await startFaultProxy({ upstream: emulator.endpoint, seed: 20261128, transform: taskOverlayTransform((account) => registry.worlds.get(account ?? "")) });
  const cases = convergenceScenarios.flatMap((scenario) =>
    scenario.windowsMs.flatMap((windowMs) => (["current", "previous"] as const).map((variant) => ({ scenario, windowMs, variant }))),
  );
  const reconcilers: Reconciler[] = [];
  try {
    progress(`convergence: provisioning ${cases.length} worlds ...`);
    for (let i = 0; i < cases.length; i += 4) {
      reconcilers.push(...(await Promise.all(cases.slice(i, i + 4).map((c) => setUp(emulator, proxy, registry, c.variant)))));
    }
    // Each converged on 3 ready tasks, no faults.
    await Promise.all(
      reconcilers.map(async (r) => {
        for (const arn of await r.start(3)) await r.emit(arn);
        if (!(await pollUntil(r, r.converged, 60_000))) throw new Error(`the ${r.variant} reconciler did not converge before the faults`);
      }),
    );
    const longest = Math.max(...cases.map((c) => c.windowMs));
    progress(`convergence: faults on, for 5 to ${longest / 1000} s; waiting for every world to converge (at most ${(longest + convergenceTimeoutMs) / 1000} s) ...`);
    return await Promise.all(cases.map((c, i) => measureCase(proxy, reconcilers[i]!, c.scenario, c.windowMs)));
  } finally {
    for (const r of reconcilers) r.close();
    await proxy.close();
  }
}

const seconds = (ms: number | undefined) => (ms === undefined ? `not within ${convergenceTimeoutMs / 1000} s` : `${(ms / 1000).toFixed(1)} s`);

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The deployed work queue's visibility timeout: 6 × the reconcile function's default 30 s timeout. */
export const deployedVisibilitySeconds = 180;

/**
 * What the previous behaviour would take with the deployed queue's visibility timeout, derived from a measurement with
 * the bench's shorter one: a message that failed first `firstFailureAfterMs` after the faults began is hidden until
 * 180 s later, then reconciled (as long in the bench as the rest: the measured wait minus the time it was hidden past
 * the end here is not worth modelling, a few hundred ms). Without a failure the measurement stands.
 */
export function previousWithDeployedVisibility(r: ConvergenceMeasurement): number | undefined {
  if (r.firstFailureAfterMs === undefined) return r.convergedAfterMs;
  const back = r.firstFailureAfterMs + deployedVisibilitySeconds * 1000;
  return back > r.windowMs ? back - r.windowMs : r.convergedAfterMs;
}

/**
 * The markdown table of {@link measureConvergence}'s rows: per scenario, one line per length of the faults with both
 * reconcilers side by side, then the mean over those lengths.
 */
export function convergenceTable(rows: readonly ConvergenceMeasurement[]): string[] {
  const lines = [
    `| faults on the reconciler's ECS, SSM, Cloud Map and ELBv2 calls | for | converged after the faults ended: current | previous, queue visibility ${queueVisibilitySeconds} s (measured) | previous, ${deployedVisibilitySeconds} s (derived) | reconciles (failed): current | previous | most receives of a message: current | previous | longest reconcile: current | previous |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const receives = (r: ConvergenceMeasurement) => `${r.maxReceives}${r.deadLettered > 0 ? ` (${r.deadLettered} dead-lettered)` : ""}`;
  const derived = (ms: number | undefined) => (ms === undefined ? "-" : `≈ ${(ms / 1000).toFixed(0)} s`);
  for (const scenario of convergenceScenarios) {
    const current = rows.filter((r) => r.scenario === scenario && r.variant === "current");
    const previous = rows.filter((r) => r.scenario === scenario && r.variant === "previous");
    for (const windowMs of scenario.windowsMs) {
      const c = current.find((r) => r.windowMs === windowMs);
      const p = previous.find((r) => r.windowMs === windowMs);
      if (c === undefined || p === undefined) continue;
      lines.push(
        `| ${scenario.label} | ${windowMs / 1000} s | ${seconds(c.convergedAfterMs)} | ${seconds(p.convergedAfterMs)} | ${derived(previousWithDeployedVisibility(p))} | ` +
          `${c.reconciles} (${c.failedReconciles}) | ${p.reconciles} (${p.failedReconciles}) | ${receives(c)} | ${receives(p)} | ` +
          `${seconds(c.longestReconcileMs)} | ${seconds(p.longestReconcileMs)} |`,
      );
    }
    if (scenario.windowsMs.length > 1) {
      const mean = (values: readonly (number | undefined)[]) =>
        values.some((v) => v === undefined) ? undefined : values.reduce<number>((sum, v) => sum + v!, 0) / values.length;
      const mc = mean(current.map((r) => r.convergedAfterMs));
      const mp = mean(previous.map((r) => r.convergedAfterMs));
      const md = mean(previous.map(previousWithDeployedVisibility));
      const ratio = (m: number | undefined) => (mc === undefined || m === undefined || mc < 500 ? "" : ` (${(m / mc).toFixed(1)} × current)`);
      lines.push(`| ${scenario.label}: **mean** | | **${seconds(mc)}** | **${seconds(mp)}**${ratio(mp)} | **${derived(md)}**${ratio(md)} | | | | | | |`);
    }
  }
  return lines;
}

/**
 * Measures and prints the section (called by `scripts/bench.ts` with its `say`).
 *
 * @example
 * ```ts
 * await convergenceSection(emulator, say);
 * ```
 */
export async function convergenceSection(emulator: RunningEmulator, say: (line?: string) => void): Promise<void> {
  const startedAt = Date.now();
  const rows = await measureConvergence(emulator, (line) => process.stderr.write(`${line}\n`));
  say();
  say("## Convergence after a transient fault: retry delays of the reconcile handler");
  say();
  for (const line of convergenceTable(rows)) say(line);
  say();
  say(`- command: \`npm run bench\` (${new Date().toISOString()}, ${((Date.now() - startedAt) / 1000).toFixed(1)} s for this section)`);
  say(
    "- one service of 3 ready tasks on moto, converged; the faults start, one task stops and one starts, their events are routed; " +
      `the poller (\`drainFifo\`, failed messages left to their visibility) runs every ${pollIntervalMs} ms; time from the end of the faults ` +
      "until Cloud Map, the target group and the document equal the ready tasks",
  );
  say(
    "- current: the handler with its queue URL (failed messages back after 5 s, doubling per receive); previous: without it, back after " +
      `the queue's visibility timeout, here ${queueVisibilitySeconds} s; the ${deployedVisibilitySeconds} s column (the deployed queue's, 6 × the 30 s ` +
      "function timeout) is derived: first failure after the faults began + 180 s − the time the faults lasted; both: `createAwsClients` SDK " +
      "retries (adaptive, 6 attempts), stale-read re-reads after 250/500/1000/2000 ms",
  );
}
