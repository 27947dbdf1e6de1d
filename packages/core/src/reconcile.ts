/**
 * Reconciles one service: read ({@link readFreshTasks} and {@link readTargets}, side by side), plan (the pure
 * {@link planDocument} and {@link planTargets}), apply ({@link applyDocument}, started as soon as the tasks are read,
 * and {@link applyTargets}) and record ({@link buildReconcileRecord}), each in a module of its own under `reconcile/`.
 */
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { AwsClients } from "./aws/clients.js";
import { CloudMapServiceCache } from "./aws/cloudmap.js";
import { ServiceTaskArnCache, TaskDefinitionCache } from "./aws/ecs.js";
import { ShardValueCache } from "./aws/parameter.js";
import { TargetGroupTypeCache } from "./aws/targets.js";
import { defaultMaxConcurrentRequests, requestLimit } from "./concurrency.js";
import type { ServiceConfig } from "./config.js";
import { ConcurrentWriteError, ReconcileError } from "./errors.js";
import type { ReconcileTrigger } from "./messages.js";
import { planDocument, planTargets, type ActualState, type ReconcilePlan } from "./plan.js";
import { applyDocument, applyTargets, mergeWrites, type AppliedWrites } from "./reconcile/apply.js";
import type { ReconcileContext, ReconcileLogger, StepFailure } from "./reconcile/context.js";
import { assertFreshRead, combineReads, readFreshTasks, readTargets, type TargetsRead } from "./reconcile/read.js";
import { buildReconcileRecord, emitReconcileMetrics, isRetryable, type ReconcileRecord } from "./reconcile/record.js";
import { summariseTasks, type TaskSummary } from "./tasks.js";
import { nextTombstones, sameTombstones } from "./tombstones.js";

export type { ReconcileLogger } from "./reconcile/context.js";
export { emitReconcileMetrics, reconcileMetricNames, type ReconcileRecord } from "./reconcile/record.js";

/** What a reconcile needs besides the service. */
export interface ReconcileDependencies {
  readonly clients: AwsClients;
  readonly logger: ReconcileLogger;
  /** Powertools Metrics; when given, EMF metrics are emitted per reconcile (see {@link emitReconcileMetrics}). */
  readonly metrics?: Metrics;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly taskDefinitions?: TaskDefinitionCache;
  readonly cloudMapServices?: CloudMapServiceCache;
  readonly shardValues?: ShardValueCache;
  readonly targetGroupTypes?: TargetGroupTypeCache;
  /** The tasks each service's last reconcile found running or on their way out (see {@link ServiceTaskArnCache}). */
  readonly serviceTasks?: ServiceTaskArnCache;
  /**
   * Requests of one reconcile in flight at once, at most (DescribeTasks batches, Cloud Map registrations and
   * deregistrations, target group chunks, shard writes): more would only queue in the SDK's socket pool (50 per
   * client by default), which then warns. A small service's requests all fit, so it adds no wait.
   * @default 50
   */
  readonly maxConcurrentRequests?: number;
  /**
   * Waits before re-reading ECS when DescribeTasks is older than an event (ECS reads are eventually consistent and
   * usually catch up within a second or two): retried inside the invocation rather than by the queue, whose next
   * delivery of a FIFO group's message can be minutes away. @default [250, 500, 1000, 2000]
   */
  readonly staleReadRetryDelaysMs?: readonly number[];
  /** Time left in the invocation (Lambda's `context.getRemainingTimeInMillis`); retries stop short of it. */
  readonly remainingTimeMs?: () => number;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The result of {@link reconcileService}: the record, and the error when it failed. */
export interface ReconcileResult {
  readonly record: ReconcileRecord;
  readonly error?: Error;
  /**
   * False when retrying the same message cannot succeed (every failure says `retryable: false`, such as a document
   * too large to publish): the queue should not hold the service's message group back for it.
   */
  readonly retryable?: boolean;
}

/** The waits before re-reading a stale ECS answer (see {@link ReconcileDependencies.staleReadRetryDelaysMs}). */
export const defaultStaleReadRetryDelaysMs: readonly number[] = [250, 500, 1_000, 2_000];
const defaultTaskDefinitions = new TaskDefinitionCache();
const defaultCloudMapServices = new CloudMapServiceCache();
const defaultShardValues = new ShardValueCache();
const defaultTargetGroupTypes = new TargetGroupTypeCache();
const defaultServiceTasks = new ServiceTaskArnCache();
/** Reads and writes of one reconcile when its document keeps being overwritten by another writer meanwhile. */
const maxConcurrentWriteRounds = 3;

function contextOf(deps: ReconcileDependencies): ReconcileContext {
  return {
    clients: deps.clients,
    logger: deps.logger,
    taskDefinitions: deps.taskDefinitions ?? defaultTaskDefinitions,
    cloudMapServices: deps.cloudMapServices ?? defaultCloudMapServices,
    shardValues: deps.shardValues ?? defaultShardValues,
    targetGroupTypes: deps.targetGroupTypes ?? defaultTargetGroupTypes,
    serviceTasks: deps.serviceTasks ?? defaultServiceTasks,
    limit: requestLimit(deps.maxConcurrentRequests ?? defaultMaxConcurrentRequests),
  };
}

/** The failures a thrown error stands for: a ReconcileError's own, or the error as one failed read of ECS. */
function stepFailuresOf(service: ServiceConfig, error: unknown): StepFailure[] {
  if (error instanceof ReconcileError) return [...error.failures];
  return [{ step: `ecs.read cluster ${service.cluster} service ${service.ecsService}`, error }];
}

/**
 * Reconciles one service: reads ECS (desired) and Cloud Map, target groups and the document (actual), plans the
 * difference with the pure {@link planReconcile}, applies it, and logs exactly one reconcile record.
 * Never throws for AWS failures: they come back in `error` (and the record's `outcome: "failed"`).
 *
 * @example
 * ```ts
 * const { record, error } = await reconcileService(service, [{ kind: "sweep", at: new Date().toISOString() }], {
 *   clients: createAwsClients(), logger: new Logger(),
 * });
 * if (error) throw error; // let the queue retry
 * ```
 */
export async function reconcileService(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  deps: ReconcileDependencies,
): Promise<ReconcileResult> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const startedMs = performance.now();
  const context = contextOf(deps);
  const retry = {
    delaysMs: deps.staleReadRetryDelaysMs ?? defaultStaleReadRetryDelaysMs,
    sleep: deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    ...(deps.remainingTimeMs === undefined ? {} : { remainingTimeMs: deps.remainingTimeMs }),
  };
  let tasksSeen = 0;
  let summary: TaskSummary | undefined;
  let actual: ActualState | undefined;
  let writes: AppliedWrites | undefined;
  let plan: ReconcilePlan | undefined;
  let error: Error | undefined;
  let concurrentWrites = 0;
  try {
    // Level-based: each round reads everything afresh. A round ends in another only when the document turned out to
    // be written by another writer meanwhile (SSM has no compare-and-swap): its list may be older than ours, and
    // readers may have taken its revision, so the current truth is published again at once, above both.
    for (let round = 1; ; round++) {
      // The document depends on the tasks path alone, so it is planned and its publish started as soon as that is in.
      // The targets path's reads (but Cloud Map's operations, which come first) start with that publish, or as soon as
      // the tasks path needs a second wave: the Cloud Map and target group writes wait for the tasks anyway, so on AWS
      // this adds no wave, and fewer requests are queued before the document's on an emulator that answers about one
      // at a time. A small service's event then publishes after one wave of reads (see readTasks) instead of two.
      let startTargets!: () => void;
      const targetsMayStart = new Promise<void>((resolve) => (startTargets = resolve));
      const tasks = readFreshTasks(service, triggers, context, retry, { onMoreWaves: startTargets });
      const targets = readTargets(service, context, tasks, targetsMayStart);
      targets.catch(() => undefined); // when the tasks path fails, its error is the one reported, below
      const tasksRead = await tasks;
      const documentSummary = summariseTasks(tasksRead.tasks, tasksRead.definitions);
      const documentPlan = planDocument(service, documentSummary.desired, tasksRead.parameter, now());
      if (tasksRead.parameter?.kind === "invalid" && documentPlan.kind === "publish") {
        // Say what was wrong with what we replace: it may be a hand edit somebody wants to know about.
        deps.logger.warn("document replaced", { serviceName: service.name, parameterName: service.parameterName, reason: tasksRead.parameter.reason });
      }
      const documentWrites = applyDocument(service, documentPlan, context);
      startTargets();
      // What the record says if the targets path fails: the document's part, which is carried out regardless.
      tasksSeen = tasksRead.tasks.length;
      summary = documentSummary;
      actual = { targetGroups: [], ...(tasksRead.parameter === undefined ? {} : { parameter: tasksRead.parameter }) };
      plan = { targetGroups: [], document: documentPlan };
      let targetsRead: TargetsRead;
      try {
        targetsRead = await targets;
        // The stopping tasks only Cloud Map names were described after the others: checked now, before the writes
        // they could affect (the tombstones). A stale one fails this reconcile, which is retried.
        assertFreshRead(service, targetsRead.tasks, triggers, tasksRead.tombstones);
      } catch (caught) {
        // The document's part stands; the failure joins whatever else failed, and fails the reconcile (retried).
        const documentDone = await documentWrites;
        documentDone.failures.unshift(...tasksRead.failures, ...stepFailuresOf(service, caught));
        writes = writes === undefined ? documentDone : mergeWrites(writes, documentDone);
        break;
      }
      const read = combineReads(tasksRead, targetsRead);
      tasksSeen = read.tasks.length;
      summary = targetsRead.tasks.length === 0 ? documentSummary : summariseTasks(read.tasks, read.definitions);
      for (const skipped of summary.skipped) {
        const attributes = { serviceName: service.name, taskArn: skipped.taskArn, reason: skipped.reason };
        if (skipped.kind === "unsupported") deps.logger.warn("task skipped", attributes);
        else deps.logger.debug("task not ready", attributes);
      }
      actual = read.actual;
      // A stopping task is never ready, so the later-described ones change nothing registered: the document's desired
      // state is the one for Cloud Map and the target groups too.
      plan = { ...planTargets(service, documentSummary.desired, actual), document: documentPlan };
      const published = actual.parameter?.kind === "valid" ? actual.parameter.document.endpoints : [];
      const tombstones = nextTombstones(
        read.tombstones,
        read.tasks,
        new Set(summary.desired.ready.map((t) => t.taskId)),
        new Set(published.flatMap((e) => (e.taskId === undefined ? [] : [e.taskId]))),
        now().getTime(),
      );
      const targetWrites = applyTargets(
        service,
        { cloudMap: plan.cloudMap, targetGroups: plan.targetGroups, ...(sameTombstones(read.tombstones, tombstones) ? {} : { tombstones }) },
        context,
      );
      const roundWrites = mergeWrites(await targetWrites, await documentWrites);
      roundWrites.failures.unshift(...read.failures);
      writes = writes === undefined ? roundWrites : mergeWrites(writes, roundWrites);
      if (!roundWrites.conflict) break;
      concurrentWrites++;
      deps.logger.warn("document written concurrently", { serviceName: service.name, parameterName: service.parameterName, round });
      if (round === maxConcurrentWriteRounds) {
        writes.failures.push({
          step: `ssm.put ${service.parameterName}`,
          error: new ConcurrentWriteError(
            `${service.parameterName} was written by another writer during each of ${round} attempts to publish; ` +
              "is another stage or tool writing the same parameter?",
            { service: service.name, parameterName: service.parameterName, attempts: round },
          ),
        });
        break;
      }
    }
    if (writes.failures.length > 0) error = new ReconcileError(service.name, writes.failures);
  } catch (caught) {
    error = caught instanceof Error ? caught : new Error(String(caught));
  }
  const record = buildReconcileRecord({
    service,
    triggers,
    startedAt: started,
    durationMs: performance.now() - startedMs,
    now: now(),
    tasksSeen,
    summary,
    actual,
    plan,
    writes,
    concurrentWrites,
    error,
  });
  if (error === undefined) deps.logger.info("reconcile", { reconcile: record });
  else deps.logger.error("reconcile", { reconcile: record });
  if (deps.metrics !== undefined) emitReconcileMetrics(deps.metrics, record);
  return error === undefined ? { record } : { record, error, retryable: isRetryable(error) };
}
