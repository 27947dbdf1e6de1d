import type { Metrics } from "@aws-lambda-powertools/metrics";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { AwsClients } from "./aws/clients.js";
import {
  CloudMapServiceCache,
  deregisterCloudMapInstance,
  readCloudMapState,
  registerCloudMapInstance,
  unsettledInstanceError,
} from "./aws/cloudmap.js";
import { readServiceTasks, TaskDefinitionCache } from "./aws/ecs.js";
import { publishDocument, readParameter, removeShardsAfterPublish, ShardValueCache } from "./aws/parameter.js";
import { deregisterTargets, describeTargets, registerTargets, TargetGroupTypeCache } from "./aws/targets.js";
import { clusterNameOf, type ServiceConfig } from "./config.js";
import { ConcurrentWriteError, ReconcileError, StaleReadError, TargetGroupTypeError } from "./errors.js";
import type { ReconcileTrigger } from "./messages.js";
import { planReconcile, type ActualState, type DesiredState, type PublishedTask, type ReconcilePlan } from "./plan.js";
import { readTombstones, writeTombstones, writerStateParameterName } from "./aws/writer-state.js";
import { nextTombstones, sameTombstones, staleTaskReads, type Tombstones } from "./tombstones.js";
import { classifyTask, type ObservedTask, type TaskDefinitionFacts } from "./tasks.js";

/** The structured logger the core writes to (Powertools' Logger fits). */
export interface ReconcileLogger {
  debug(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/**
 * The one structured record logged per reconcile (`message: "reconcile"`, the record under the key `reconcile`:
 * Powertools reserves top-level `service` for the application's name). Dashboards and saved queries are
 * built on these field names: keep them stable (documented in docs/reconcile-record.md).
 */
export interface ReconcileRecord {
  readonly service: string;
  readonly cluster: string;
  readonly ecsService: string;
  /** Kinds of the triggers coalesced into this reconcile, for example `["event", "event", "sweep"]`. */
  readonly triggers: readonly ReconcileTrigger["kind"][];
  readonly triggerCount: number;
  /** EventBridge event ids of the event triggers (at most 10 listed). */
  readonly eventIds: readonly string[];
  readonly startedAt: string;
  readonly durationMs: number;
  readonly tasks: { readonly seen: number; readonly ready: number; readonly draining: number; readonly notReady: number; readonly unsupported: number };
  readonly writes: {
    readonly cloudMapRegistered: number;
    readonly cloudMapDeregistered: number;
    readonly targetsRegistered: number;
    readonly targetsDeregistered: number;
    /** Document revisions published (0 or 1). */
    readonly documentsPublished: number;
    /** PutParameter calls: the single value, or the changed shards and the manifest. */
    readonly parametersWritten: number;
    /** Shard parameters deleted (no longer named by the published manifest). */
    readonly parametersDeleted: number;
  };
  /** Every write call's items: registrations, deregistrations, parameters written and deleted. */
  readonly writesTotal: number;
  /** The revision published by this reconcile, or "unchanged" when the document already said the same. */
  readonly publishedRevision: number | "unchanged";
  /** The revision readers hold after this reconcile (undefined when none could be published yet). */
  readonly documentRevision: number | undefined;
  readonly documentBytes: number | undefined;
  readonly documentTier: "Standard" | "Advanced" | undefined;
  /** The form of the document this reconcile published or found: `single` (schema 1) or `sharded` (schema 2). */
  readonly documentForm: "single" | "sharded" | undefined;
  /** Shards of the document (0 in the single form). */
  readonly documentShards: number | undefined;
  /** Times the document was found written by another writer meanwhile and published again (see ConcurrentWriteError). */
  readonly concurrentWrites: number;
  /**
   * Seconds the published document has gone unconfirmed: 0 when this reconcile found it equal to the ready tasks or
   * published a new one; when it differs and could not be replaced, the seconds since its `generatedAt` (an upper
   * bound: it was last written then); undefined when the reconcile failed before it could compare, or there is no
   * readable document. The stale-document alarm is built on it.
   */
  readonly documentAgeSeconds: number | undefined;
  /** converged: nothing to write; changed: writes made; failed: an error (see `error`). */
  readonly outcome: "converged" | "changed" | "failed";
  readonly error?: { readonly name: string; readonly message: string; readonly reasons: readonly string[] };
}

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

const defaultStaleReadRetryDelaysMs = [250, 500, 1_000, 2_000];
// What a reconcile after the last wait still needs: reads, plan, writes (the bench measures ~1-4 s at 1,000 tasks).
const reconcileReserveMs = 10_000;

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

const defaultTaskDefinitions = new TaskDefinitionCache();
const defaultCloudMapServices = new CloudMapServiceCache();
const defaultShardValues = new ShardValueCache();
const defaultTargetGroupTypes = new TargetGroupTypeCache();
/** Reads and writes of one reconcile when its document keeps being overwritten by another writer meanwhile. */
const maxConcurrentWriteRounds = 3;

async function definitionFacts(
  tasks: readonly ObservedTask[],
  deps: ReconcileDependencies,
): Promise<Map<string, TaskDefinitionFacts>> {
  const cache = deps.taskDefinitions ?? defaultTaskDefinitions;
  // Only tasks whose readiness depends on it need their definition: running, with UNKNOWN health.
  const arns = new Set(
    tasks
      .filter((t) => t.lastStatus === "RUNNING" && (t.healthStatus ?? "UNKNOWN") === "UNKNOWN" && t.taskDefinitionArn)
      .map((t) => t.taskDefinitionArn as string),
  );
  const entries = await Promise.all([...arns].map(async (arn) => [arn, await cache.get(deps.clients.ecs, arn)] as const));
  return new Map(entries);
}

function assertFreshRead(
  service: ServiceConfig,
  tasks: readonly ObservedTask[],
  triggers: readonly ReconcileTrigger[],
  tombstones: Tombstones,
) {
  // A task remembered out of the ready set, read at an older version: this read would bring it back.
  const [stale] = staleTaskReads(tasks, tombstones);
  if (stale !== undefined) {
    throw new StaleReadError(
      `DescribeTasks returned version ${stale.readVersion} of task ${stale.taskArn}, older than version ` +
        `${stale.rememberedVersion} already seen out of the ready set: ECS has not caught up yet, retrying`,
      { service: service.name, taskArn: stale.taskArn, readVersion: stale.readVersion, rememberedVersion: stale.rememberedVersion },
    );
  }
  // ListTasks already lists it among the tasks told to stop, DescribeTasks still answers an earlier, running state
  // (both are eventually consistent, each on its own): publishing that answer would bring a stopped task back.
  const behind = tasks.find((t) => t.listedAsStopping === true && t.desiredStatus === "RUNNING");
  if (behind !== undefined) {
    throw new StaleReadError(
      `ListTasks lists task ${behind.taskArn} as told to stop, DescribeTasks still answers it running` +
        `${behind.version === undefined ? "" : ` (version ${behind.version})`}: ECS has not caught up yet, retrying`,
      { service: service.name, taskArn: behind.taskArn, readVersion: behind.version },
    );
  }
  const byArn = new Map(tasks.map((t) => [t.taskArn, t]));
  for (const trigger of triggers) {
    if (trigger.taskArn === undefined || trigger.taskVersion === undefined) continue;
    const read = byArn.get(trigger.taskArn);
    if (read?.version !== undefined && read.version < trigger.taskVersion) {
      throw new StaleReadError(
        `DescribeTasks returned version ${read.version} of task ${trigger.taskArn}, older than the event's version ` +
          `${trigger.taskVersion}: ECS has not caught up yet, retrying`,
        { service: service.name, taskArn: trigger.taskArn, readVersion: read.version, eventVersion: trigger.taskVersion },
      );
    }
  }
}

/**
 * The service's tasks, at least as new as every event among the triggers: a stale read is re-read after a short
 * wait, while the invocation has time for it; past that the StaleReadError fails the reconcile (and the queue retries).
 */
async function readFreshTasks(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  tombstones: Tombstones,
  deps: ReconcileDependencies,
): Promise<readonly ObservedTask[]> {
  const delays = deps.staleReadRetryDelaysMs ?? defaultStaleReadRetryDelaysMs;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 0; ; attempt++) {
    const tasks = await readTasksOf(service, deps);
    try {
      assertFreshRead(service, tasks, triggers, tombstones);
      return tasks;
    } catch (error) {
      const delay = delays[attempt];
      const timeLeft = deps.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
      if (!(error instanceof StaleReadError) || delay === undefined || timeLeft < delay + reconcileReserveMs) throw error;
      deps.logger.debug("stale read, reading again", { serviceName: service.name, attempt: attempt + 1, delayMs: delay, ...error.context });
      await sleep(delay);
    }
  }
}

/**
 * The tombstones of the service's document. Unreadable state is logged and read as none: it only adds safety, and
 * must not stop a reconcile.
 */
async function readTombstonesOf(service: ServiceConfig, deps: ReconcileDependencies): Promise<Tombstones> {
  try {
    return await readTombstones(deps.clients.ssm, service.parameterName);
  } catch (error) {
    deps.logger.warn("writer state unreadable", {
      serviceName: service.name,
      parameterName: service.parameterName,
      reason: error instanceof Error ? error.message : String(error),
    });
    return new Map();
  }
}

/**
 * Stores the tombstones this reconcile adds, before anything is published: a later reconcile with a stale read of
 * one of these tasks must find it. Written only when they changed (a task left the ready set, or came back).
 */
async function rememberTombstones(
  service: ServiceConfig,
  previous: Tombstones,
  tasks: readonly ObservedTask[],
  desired: DesiredState,
  actual: ActualState,
  now: Date,
  deps: ReconcileDependencies,
): Promise<{ step: string; error: unknown }[]> {
  const published = actual.parameter?.kind === "valid" ? actual.parameter.document.endpoints : [];
  const next = nextTombstones(
    previous,
    tasks,
    new Set(desired.ready.map((t) => t.taskId)),
    new Set(published.flatMap((e) => (e.taskId === undefined ? [] : [e.taskId]))),
    now.getTime(),
  );
  if (sameTombstones(previous, next)) return [];
  try {
    await writeTombstones(deps.clients.ssm, service.parameterName, next);
    return [];
  } catch (error) {
    return [{ step: `ssm.put ${writerStateParameterName(service.parameterName)}`, error }];
  }
}

/** The service's tasks; without them nothing can be decided, so a failure fails the reconcile, naming what was read. */
async function readTasksOf(service: ServiceConfig, deps: ReconcileDependencies): Promise<readonly ObservedTask[]> {
  try {
    return await readServiceTasks(deps.clients.ecs, service);
  } catch (error) {
    throw new ReconcileError(service.name, [{ step: `ecs.read cluster ${service.cluster} service ${service.ecsService}`, error }]);
  }
}

/**
 * Reads each target on its own: one that cannot be read (deleted, misconfigured, denied) is reported as a failure
 * naming it and left out of the actual state, so it is neither planned nor written while the others converge.
 */
async function readActual(
  service: ServiceConfig,
  deps: ReconcileDependencies,
  verifyShards: boolean,
): Promise<{ actual: ActualState; failures: { step: string; error: unknown }[] }> {
  const { clients } = deps;
  const failures: { step: string; error: unknown }[] = [];
  const guarded = async <T>(step: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      failures.push({ step, error });
      return undefined;
    }
  };
  const serviceId = service.cloudMapServiceId;
  const [cloudMap, targetGroups, parameter] = await Promise.all([
    serviceId === undefined
      ? undefined
      : guarded(`cloudmap.read ${serviceId}`, () =>
          // The operations in flight first, then the instances (Register/Deregister are asynchronous).
          readCloudMapState(clients.serviceDiscovery, serviceId, deps.cloudMapServices ?? defaultCloudMapServices),
        ),
    Promise.all(
      (service.targetGroupArns ?? []).map((arn) =>
        guarded(`targets.read ${arn}`, async () => {
          const [targetType, targets] = await Promise.all([
            (deps.targetGroupTypes ?? defaultTargetGroupTypes).targetType(clients.elbv2, arn),
            describeTargets(clients.elbv2, arn),
          ]);
          if (targetType !== "ip") throw new TargetGroupTypeError(service.name, arn, targetType);
          return { arn, targets };
        }),
      ),
    ),
    guarded(`ssm.read ${service.parameterName}`, () => {
      const cache = deps.shardValues ?? defaultShardValues;
      // Shards cached by version are trusted by event-driven reconciles; the sweep, the repair path, reads every
      // shard again, so a shard deleted or rewritten by hand is noticed within one sweep period.
      if (verifyShards) cache.retain(service.parameterName, new Set());
      return readParameter(clients.ssm, service.parameterName, cache);
    }),
  ]);
  const actual: ActualState = {
    ...(cloudMap === undefined ? {} : { cloudMap }),
    targetGroups: targetGroups.filter((group) => group !== undefined),
    ...(parameter === undefined ? {} : { parameter }),
  };
  return { actual, failures };
}

interface AppliedWrites {
  cloudMapRegistered: number;
  cloudMapDeregistered: number;
  targetsRegistered: number;
  targetsDeregistered: number;
  documentsPublished: number;
  parametersWritten: number;
  parametersDeleted: number;
  publishedRevision: number | "unchanged";
  documentTier: "Standard" | "Advanced" | undefined;
  /** The document was written by another writer between this round's read and its write. */
  conflict: boolean;
  failures: { step: string; error: unknown }[];
}

/** Runs one write; a failure is collected (and `false` returned) so the other writes still run. */
async function attempt(writes: AppliedWrites, step: string, action: () => Promise<unknown>): Promise<boolean> {
  try {
    await action();
    return true;
  } catch (error) {
    writes.failures.push({ step, error });
    return false;
  }
}

/**
 * Carries out a plan. Every write is attempted even when another fails, and every failure is collected:
 * the reconcile then fails as a whole, so the message is retried and nothing is silently dropped.
 */
async function applyPlan(service: ServiceConfig, plan: ReconcilePlan, deps: ReconcileDependencies): Promise<AppliedWrites> {
  const { clients } = deps;
  const writes: AppliedWrites = {
    cloudMapRegistered: 0,
    cloudMapDeregistered: 0,
    targetsRegistered: 0,
    targetsDeregistered: 0,
    documentsPublished: 0,
    parametersWritten: 0,
    parametersDeleted: 0,
    publishedRevision: "unchanged",
    documentTier: undefined,
    conflict: false,
    failures: [],
  };
  const serviceId = service.cloudMapServiceId;
  const cloudMapWrites =
    plan.cloudMap === undefined || serviceId === undefined
      ? []
      : [
          ...plan.cloudMap.register.map((registration) =>
            attempt(writes, `cloudmap.register ${registration.instanceId}`, () =>
              registerCloudMapInstance(clients.serviceDiscovery, serviceId, registration, service.name),
            ).then((ok) => ok && writes.cloudMapRegistered++),
          ),
          ...plan.cloudMap.deregister.map((instanceId) =>
            attempt(writes, `cloudmap.deregister ${instanceId}`, () =>
              deregisterCloudMapInstance(clients.serviceDiscovery, serviceId, instanceId, service.name),
            ).then((ok) => ok && writes.cloudMapDeregistered++),
          ),
        ];
  // An operation in flight that the desired state no longer agrees with is not undone (no request while it runs):
  // reported, retryable, so the message comes back shortly and the next reconcile finishes the job.
  if (serviceId !== undefined) {
    for (const unsettled of plan.cloudMap?.unsettled ?? []) {
      writes.failures.push({ step: `cloudmap.pending ${unsettled.instanceId}`, error: unsettledInstanceError(service.name, serviceId, unsettled) });
    }
  }
  const targetWrites = plan.targetGroups.flatMap((group) => [
    ...(group.deregister.length === 0
      ? []
      : [
          attempt(writes, `targets.deregister ${group.arn}`, () => deregisterTargets(clients.elbv2, group.arn, group.deregister)).then(
            (ok) => ok && (writes.targetsDeregistered += group.deregister.length),
          ),
        ]),
    ...(group.register.length === 0
      ? []
      : [
          attempt(writes, `targets.register ${group.arn}`, () => registerTargets(clients.elbv2, group.arn, group.register)).then(
            (ok) => ok && (writes.targetsRegistered += group.register.length),
          ),
        ]),
  ]);
  await Promise.all([...cloudMapWrites, ...targetWrites]);

  // The document reflects ECS, not Cloud Map or the target groups, so it is published even when one of
  // those writes failed: clients then stop using a draining task as early as possible.
  const document = plan.document;
  const name = service.parameterName;
  if (document.kind === "publish") {
    let published: number | undefined;
    await attempt(writes, `ssm.put ${name}`, async () => {
      const outcome = await publishDocument(clients.ssm, name, document, deps.shardValues ?? defaultShardValues);
      writes.parametersWritten += outcome.parametersWritten;
      writes.conflict = outcome.conflict;
      if (outcome.conflict) return;
      writes.documentsPublished = 1;
      writes.publishedRevision = document.document.revision;
      writes.documentTier = outcome.tier;
      published = outcome.version;
    });
    const publishedVersion: number | undefined = published;
    if (publishedVersion !== undefined) {
      await attempt(writes, `ssm.delete-shards ${name}`, async () => {
        writes.parametersDeleted += await removeShardsAfterPublish(clients.ssm, name, document, publishedVersion);
      });
    }
  } else if (document.kind === "too-large" || document.kind === "refused") {
    writes.failures.push({ step: `ssm.put ${service.parameterName}`, error: document.error });
  }
  return writes;
}

function summariseTasks(service: ServiceConfig, tasks: readonly ObservedTask[], facts: Map<string, TaskDefinitionFacts>, logger: ReconcileLogger) {
  const ready: PublishedTask[] = [];
  const draining: PublishedTask[] = [];
  let notReady = 0;
  let unsupported = 0;
  for (const task of tasks) {
    const verdict = classifyTask(task, task.taskDefinitionArn === undefined ? undefined : facts.get(task.taskDefinitionArn));
    const published = (address: string): PublishedTask => ({
      taskId: task.taskId,
      taskArn: task.taskArn,
      address,
      ...(task.availabilityZone === undefined ? {} : { zone: task.availabilityZone }),
    });
    switch (verdict.kind) {
      case "ready":
        ready.push(published(verdict.address));
        break;
      case "draining":
        draining.push(published(verdict.address));
        break;
      case "unsupported":
        unsupported++;
        logger.warn("task skipped", { serviceName: service.name, taskArn: task.taskArn, reason: verdict.reason });
        break;
      case "not-ready":
        notReady++;
        logger.debug("task not ready", { serviceName: service.name, taskArn: task.taskArn, reason: verdict.reason });
        break;
    }
  }
  return { desired: { ready, draining } satisfies DesiredState, notReady, unsupported };
}

function documentAgeSeconds(
  plan: ReconcilePlan | undefined,
  writes: AppliedWrites | undefined,
  actual: ActualState | undefined,
  now: Date,
): number | undefined {
  if (plan === undefined) return undefined;
  if (plan.document.kind === "unchanged" || (writes?.documentsPublished ?? 0) > 0) return 0;
  if (actual?.parameter?.kind !== "valid") return undefined;
  const generatedMs = Date.parse(actual.parameter.document.generatedAt);
  return Number.isNaN(generatedMs) ? undefined : Math.max(0, Math.round((now.getTime() - generatedMs) / 1000));
}

function errorSummary(error: unknown): NonNullable<ReconcileRecord["error"]> {
  const err = error instanceof Error ? error : new Error(String(error));
  const reasons =
    err instanceof ReconcileError
      ? err.failures.map((f) => (f.error instanceof Error ? f.error.name : "Error"))
      : [err.name];
  return { name: err.name, message: err.message, reasons: [...new Set(reasons)] };
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
  let tasks: readonly ObservedTask[] = [];
  let summary: ReturnType<typeof summariseTasks> | undefined;
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
      const tombstones = await readTombstonesOf(service, deps);
      tasks = await readFreshTasks(service, triggers, tombstones, deps);
      const facts = await definitionFacts(tasks, deps);
      summary = summariseTasks(service, tasks, facts, deps.logger);
      const read = await readActual(service, deps, triggers.some((trigger) => trigger.kind !== "event"));
      actual = read.actual;
      plan = planReconcile(service, summary.desired, actual, now());
      if (actual.parameter?.kind === "invalid" && plan.document.kind === "publish") {
        // Say what was wrong with what we replace: it may be a hand edit somebody wants to know about.
        deps.logger.warn("document replaced", { serviceName: service.name, parameterName: service.parameterName, reason: actual.parameter.reason });
      }
      const stateFailure = await rememberTombstones(service, tombstones, tasks, summary.desired, actual, now(), deps);
      const roundWrites = await applyPlan(service, plan, deps);
      roundWrites.failures.unshift(...read.failures, ...stateFailure);
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
  const writesTotal = writes === undefined
    ? 0
    : writes.cloudMapRegistered + writes.cloudMapDeregistered + writes.targetsRegistered + writes.targetsDeregistered +
      writes.parametersWritten + writes.parametersDeleted;
  const documentPlan = plan?.document;
  const heldRevision =
    writes?.publishedRevision !== undefined && writes.publishedRevision !== "unchanged"
      ? writes.publishedRevision
      : actual?.parameter?.kind === "valid"
        ? actual.parameter.document.revision
        : undefined;
  const record: ReconcileRecord = {
    service: service.name,
    cluster: clusterNameOf(service.cluster),
    ecsService: service.ecsService,
    triggers: triggers.map((t) => t.kind),
    triggerCount: triggers.length,
    eventIds: triggers.flatMap((t) => (t.eventId === undefined ? [] : [t.eventId])).slice(0, 10),
    startedAt: started.toISOString(),
    durationMs: Math.round(performance.now() - startedMs),
    tasks: {
      seen: tasks.length,
      ready: summary?.desired.ready.length ?? 0,
      draining: summary?.desired.draining.length ?? 0,
      notReady: summary?.notReady ?? 0,
      unsupported: summary?.unsupported ?? 0,
    },
    writes: {
      cloudMapRegistered: writes?.cloudMapRegistered ?? 0,
      cloudMapDeregistered: writes?.cloudMapDeregistered ?? 0,
      targetsRegistered: writes?.targetsRegistered ?? 0,
      targetsDeregistered: writes?.targetsDeregistered ?? 0,
      documentsPublished: writes?.documentsPublished ?? 0,
      parametersWritten: writes?.parametersWritten ?? 0,
      parametersDeleted: writes?.parametersDeleted ?? 0,
    },
    writesTotal,
    publishedRevision: writes?.publishedRevision ?? "unchanged",
    documentRevision: heldRevision,
    documentBytes: documentPlan?.kind === "publish" ? documentPlan.bytes : documentPlan?.kind === "too-large" ? documentPlan.error.bytes : undefined,
    documentTier: writes?.documentTier,
    ...documentShape(documentPlan, actual),
    concurrentWrites,
    documentAgeSeconds: documentAgeSeconds(plan, writes, actual, now()),
    outcome: error !== undefined ? "failed" : writesTotal === 0 ? "converged" : "changed",
    ...(error === undefined ? {} : { error: errorSummary(error) }),
  };
  if (error === undefined) deps.logger.info("reconcile", { reconcile: record });
  else deps.logger.error("reconcile", { reconcile: record });
  if (deps.metrics !== undefined) emitReconcileMetrics(deps.metrics, record);
  return error === undefined ? { record } : { record, error, retryable: isRetryable(error) };
}

/** A failure is worth retrying unless every cause says otherwise (`retryable: false`). */
function isRetryable(error: Error): boolean {
  const causes = error instanceof ReconcileError ? error.failures.map((f) => f.error) : [error];
  return causes.some((cause) => (cause as { retryable?: unknown } | null)?.retryable !== false);
}

function documentShape(plan: ReconcilePlan["document"] | undefined, actual: ActualState | undefined) {
  if (plan?.kind === "publish") {
    return { documentForm: plan.form, documentShards: plan.form === "sharded" ? plan.shards.length : 0 };
  }
  if (plan?.kind === "unchanged" && actual?.parameter?.kind === "valid") {
    const sharded = actual.parameter.sharded;
    return { documentForm: sharded === undefined ? "single" : "sharded", documentShards: sharded?.manifest.shards.length ?? 0 } as const;
  }
  return { documentForm: undefined, documentShards: undefined };
}

function mergeWrites(earlier: AppliedWrites, later: AppliedWrites): AppliedWrites {
  return {
    cloudMapRegistered: earlier.cloudMapRegistered + later.cloudMapRegistered,
    cloudMapDeregistered: earlier.cloudMapDeregistered + later.cloudMapDeregistered,
    targetsRegistered: earlier.targetsRegistered + later.targetsRegistered,
    targetsDeregistered: earlier.targetsDeregistered + later.targetsDeregistered,
    documentsPublished: later.documentsPublished,
    parametersWritten: earlier.parametersWritten + later.parametersWritten,
    parametersDeleted: earlier.parametersDeleted + later.parametersDeleted,
    publishedRevision: later.publishedRevision,
    documentTier: later.documentTier,
    conflict: later.conflict,
    failures: [...earlier.failures, ...later.failures],
  };
}

/** Names of the CloudWatch metrics (EMF) emitted per reconcile, all with dimension `Service`. */
export const reconcileMetricNames = {
  /** Seconds, see {@link ReconcileRecord.documentAgeSeconds}; not emitted when the reconcile could not tell. */
  documentAgeSeconds: "DocumentAgeSeconds",
  succeeded: "ReconcileSucceeded",
  failed: "ReconcileFailed",
  durationMs: "ReconcileDurationMs",
  /** Dimensions `Service` and `Target` (CloudMap, TargetGroup, Ssm). */
  writes: "Writes",
  readyEndpoints: "ReadyEndpoints",
  drainingEndpoints: "DrainingEndpoints",
  tasksSeen: "TasksSeen",
} as const;

/**
 * Emits a reconcile's metrics as CloudWatch embedded metric format (one EMF blob per dimension set).
 *
 * @example
 * ```ts
 * emitReconcileMetrics(new Metrics({ namespace: "DiscoverySync" }), record);
 * ```
 */
export function emitReconcileMetrics(metrics: Metrics, record: ReconcileRecord): void {
  // A single-metric instance publishes its blob as soon as the metric is added, so each carries its own
  // dimension set; a batch of several services thus never mixes their dimensions.
  const emit = (name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number, dimensions: Record<string, string> = {}) => {
    const single = metrics.singleMetric();
    single.addDimensions({ Service: record.service, ...dimensions });
    single.addMetric(name, unit, value);
  };
  emit(record.outcome === "failed" ? reconcileMetricNames.failed : reconcileMetricNames.succeeded, MetricUnit.Count, 1);
  emit(reconcileMetricNames.durationMs, MetricUnit.Milliseconds, record.durationMs);
  emit(reconcileMetricNames.readyEndpoints, MetricUnit.Count, record.tasks.ready);
  emit(reconcileMetricNames.drainingEndpoints, MetricUnit.Count, record.tasks.draining);
  emit(reconcileMetricNames.tasksSeen, MetricUnit.Count, record.tasks.seen);
  if (record.documentAgeSeconds !== undefined) {
    emit(reconcileMetricNames.documentAgeSeconds, MetricUnit.Seconds, record.documentAgeSeconds);
  }
  emit(reconcileMetricNames.writes, MetricUnit.Count, record.writes.cloudMapRegistered + record.writes.cloudMapDeregistered, { Target: "CloudMap" });
  emit(reconcileMetricNames.writes, MetricUnit.Count, record.writes.targetsRegistered + record.writes.targetsDeregistered, { Target: "TargetGroup" });
  emit(reconcileMetricNames.writes, MetricUnit.Count, record.writes.parametersWritten + record.writes.parametersDeleted, { Target: "Ssm" });
}
