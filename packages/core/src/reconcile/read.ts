/**
 * The read step of a reconcile: everything the plan needs, each independent read started at once, so that a
 * reconcile's reads take two serial waves of requests (three on a cold start), not one per kind of read.
 *
 * - wave 1: ListTasks (RUNNING and STOPPED), the document, the writer's tombstones, Cloud Map's operations in flight,
 *   each target group's targets;
 * - wave 2: DescribeTasks (the batches concurrent), Cloud Map's instances (after its operations: see
 *   `readCloudMapState`), the document's shards not cached.
 *
 * Stale reads are recognised here, before anything is written (see {@link readFreshState}).
 */
import { readCloudMapState } from "../aws/cloudmap.js";
import { describeServiceTasks, listServiceTasks, type ListedServiceTasks } from "../aws/ecs.js";
import { readParameter } from "../aws/parameter.js";
import { describeTargets } from "../aws/targets.js";
import { readTombstones } from "../aws/writer-state.js";
import type { ServiceConfig } from "../config.js";
import { ReconcileError, StaleReadError, TargetGroupTypeError } from "../errors.js";
import type { ReconcileTrigger } from "../messages.js";
import type { ActualState, ParameterState, TargetGroupTarget } from "../plan.js";
import { needsTaskDefinition, taskIdOf, type ObservedTask, type TaskDefinitionFacts } from "../tasks.js";
import { staleTaskReads, type Tombstones } from "../tombstones.js";
import type { ReconcileContext, StepFailure } from "./context.js";

/** Everything one read of a service gives the plan. */
export interface ServiceRead {
  /** The service's tasks that were described (see {@link readServiceState} for which stopping ones). */
  readonly tasks: readonly ObservedTask[];
  /** Facts of the task definitions the readiness of `tasks` depends on. */
  readonly definitions: ReadonlyMap<string, TaskDefinitionFacts>;
  readonly tombstones: Tombstones;
  /** The targets that could be read; one that could not is left out and listed in `failures`. */
  readonly actual: ActualState;
  readonly failures: readonly StepFailure[];
}

/** How stale ECS reads are retried within the invocation. */
export interface StaleReadRetry {
  readonly delaysMs: readonly number[];
  /** Time left in the invocation; retries stop short of it. */
  readonly remainingTimeMs?: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

// What a reconcile after the last wait still needs: reads, plan, writes (the bench measures ~1-4 s at 1,000 tasks).
const reconcileReserveMs = 10_000;

/** A read that fails alone: the failure is collected, naming the resource, and the result left undefined. */
async function guarded<T>(failures: StepFailure[], step: string, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    failures.push({ step, error });
    return undefined;
  }
}

/**
 * The tombstones of the service's document. Unreadable state is logged and read as none: it only adds safety, and
 * must not stop a reconcile.
 */
async function readTombstonesOf(service: ServiceConfig, context: ReconcileContext): Promise<Tombstones> {
  try {
    return await readTombstones(context.clients.ssm, service.parameterName);
  } catch (error) {
    context.logger.warn("writer state unreadable", {
      serviceName: service.name,
      parameterName: service.parameterName,
      reason: error instanceof Error ? error.message : String(error),
    });
    return new Map();
  }
}

/** The task ids the published document names (endpoints and draining); undefined when it cannot tell. */
function documentTaskIds(parameter: ParameterState | undefined): ReadonlySet<string> | undefined {
  if (parameter === undefined || parameter.kind === "invalid" || parameter.kind === "newer") return undefined;
  if (parameter.kind === "missing") return new Set();
  const { endpoints, draining } = parameter.document;
  // An endpoint without a task id (written by hand) cannot be matched to a task: describe every stopping one.
  if ([...endpoints, ...draining].some((endpoint) => endpoint.taskId === undefined)) return undefined;
  return new Set([...endpoints, ...draining].map((endpoint) => endpoint.taskId as string));
}

/**
 * The stopping tasks (listed with desiredStatus STOPPED only) worth describing. ECS lists a stopped task for about an
 * hour, so describing them all would read every task of the last hour's deployments on every reconcile. A stopping
 * task matters only while something still names it: the document (as an endpoint, or draining), a Cloud Map instance
 * or operation, or an event of this batch (its version is checked, and its tombstone recorded). One named by none of
 * them is already out of everything published, and stays out whatever it says; a stale read of it cannot bring it
 * back, because ListTasks lists it as told to stop. The sweep (and any trigger that is not an event) describes every
 * one: it is the repair path, and finds a draining task whose events were all lost.
 */
function stoppingTasksNamed(listed: ListedServiceTasks, names: ReadonlySet<string> | undefined): string[] {
  return names === undefined ? [...listed.stopping] : listed.stopping.filter((arn) => names.has(taskIdOf(arn)));
}

/** The service's task listing; without it nothing can be decided, so a failure fails the reconcile, naming what was read. */
async function failingAsEcsRead<T>(service: ServiceConfig, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new ReconcileError(service.name, [{ step: `ecs.read cluster ${service.cluster} service ${service.ecsService}`, error }]);
  }
}

/**
 * The facts of the task definitions the tasks' readiness depends on (see `needsTaskDefinition`), cached per process:
 * a warm reconcile makes no call here. Without them readiness cannot be decided, so a failure fails the reconcile.
 */
async function definitionFacts(
  service: ServiceConfig,
  tasks: readonly ObservedTask[],
  context: ReconcileContext,
): Promise<Map<string, TaskDefinitionFacts>> {
  const arns = new Set(tasks.filter(needsTaskDefinition).map((task) => task.taskDefinitionArn));
  const entries = await Promise.all(
    [...arns].map(async (arn) => {
      try {
        return [arn, await context.taskDefinitions.get(context.clients.ecs, arn)] as const;
      } catch (error) {
        throw new ReconcileError(service.name, [{ step: `ecs.read task definition ${arn}`, error }]);
      }
    }),
  );
  return new Map(entries);
}

/**
 * Reads the service once: its tasks (ECS) and, concurrently, the targets (Cloud Map, target groups, the document) and
 * the writer's tombstones. Each target is read on its own: one that cannot be read (deleted, misconfigured, denied) is
 * reported in `failures` and left out of the actual state, so it is neither planned nor written while the others
 * converge. The tasks are required: an ECS failure rejects with a {@link ReconcileError} naming the read.
 *
 * Tasks listed as running are always described; tasks listed only as told to stop, when something published or an
 * event of the batch still names them (every one of them for a sweep).
 */
export async function readServiceState(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  context: ReconcileContext,
): Promise<ServiceRead> {
  const { clients } = context;
  const repair = triggers.some((trigger) => trigger.kind !== "event");
  const failures: StepFailure[] = [];

  const listing = failingAsEcsRead(service, () => listServiceTasks(clients.ecs, service));
  const tombstones = readTombstonesOf(service, context);
  const serviceId = service.cloudMapServiceId;
  const cloudMap =
    serviceId === undefined
      ? Promise.resolve(undefined)
      : guarded(failures, `cloudmap.read ${serviceId}`, () => readCloudMapState(clients.serviceDiscovery, serviceId, context.cloudMapServices));
  const targetGroups = Promise.all(
    (service.targetGroupArns ?? []).map((arn) =>
      guarded(failures, `targets.read ${arn}`, async (): Promise<{ arn: string; targets: TargetGroupTarget[] }> => {
        const [targetType, targets] = await Promise.all([context.targetGroupTypes.targetType(clients.elbv2, arn), describeTargets(clients.elbv2, arn)]);
        if (targetType !== "ip") throw new TargetGroupTypeError(service.name, arn, targetType);
        return { arn, targets };
      }),
    ),
  );
  const parameter = guarded(failures, `ssm.read ${service.parameterName}`, () => {
    // Shards cached by version are trusted by event-driven reconciles; the sweep, the repair path, reads every
    // shard again, so a shard deleted or rewritten by hand is noticed within one sweep period.
    if (repair) context.shardValues.retain(service.parameterName, new Set());
    return readParameter(clients.ssm, service.parameterName, context.shardValues);
  });

  const listed = await listing;
  const triggerIds = triggers.flatMap((trigger) => (trigger.taskArn === undefined ? [] : [taskIdOf(trigger.taskArn)]));
  // The document and the listing come in the same wave: one DescribeTasks round for the running tasks and the stopping
  // ones the document or the events name. Cloud Map's instances come a wave later; a stopping task only Cloud Map
  // still names (its document write failed, say) is described then, which is rare.
  const documentIds = repair ? undefined : documentTaskIds(await parameter);
  const firstNames = documentIds === undefined ? undefined : new Set([...documentIds, ...triggerIds]);
  const first = stoppingTasksNamed(listed, firstNames);
  const describedFirst = failingAsEcsRead(service, () =>
    describeServiceTasks(clients.ecs, service, listed, [...listed.running, ...first], { limit: context.limit }),
  );
  const cloudMapState = await cloudMap;
  let tasks: ObservedTask[];
  if (firstNames === undefined) {
    tasks = await describedFirst;
  } else {
    const cloudMapIds = [...(cloudMapState?.instances ?? []), ...(cloudMapState?.pendingOperations ?? [])].map((named) =>
      "id" in named ? named.id : named.instanceId,
    );
    const describedIds = new Set(first);
    const later = stoppingTasksNamed(listed, new Set(cloudMapIds)).filter((arn) => !describedIds.has(arn));
    const [firstTasks, laterTasks] = await Promise.all([
      describedFirst,
      later.length === 0
        ? []
        : failingAsEcsRead(service, () => describeServiceTasks(clients.ecs, service, listed, later, { limit: context.limit })),
    ]);
    tasks = [...firstTasks, ...laterTasks];
  }
  const definitions = await definitionFacts(service, tasks, context);
  const parameterState = await parameter;
  const groups = await targetGroups;
  const actual: ActualState = {
    ...(cloudMapState === undefined ? {} : { cloudMap: cloudMapState }),
    targetGroups: groups.filter((group) => group !== undefined),
    ...(parameterState === undefined ? {} : { parameter: parameterState }),
  };
  return { tasks, definitions, tombstones: await tombstones, actual, failures };
}

/**
 * Throws a {@link StaleReadError} when the read is older than what is already known: a task remembered out of the
 * ready set (a tombstone) read at an older version, a task ListTasks lists as told to stop that DescribeTasks still
 * answers running, or a task read older than an event of the batch. Pure.
 *
 * @example
 * ```ts
 * assertFreshRead(service, read.tasks, triggers, read.tombstones); // throws StaleReadError when ECS is behind
 * ```
 */
export function assertFreshRead(
  service: ServiceConfig,
  tasks: readonly ObservedTask[],
  triggers: readonly ReconcileTrigger[],
  tombstones: Tombstones,
): void {
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
 * The service read ({@link readServiceState}), at least as new as every event among the triggers and every tombstone:
 * a stale read is read again, everything afresh, after a short wait while the invocation has time for it (ECS usually
 * catches up within a second or two, and the queue's next delivery of a FIFO group's message can be minutes away);
 * past that the StaleReadError fails the reconcile, before anything was written, and the queue retries.
 */
export async function readFreshState(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  context: ReconcileContext,
  retry: StaleReadRetry,
): Promise<ServiceRead> {
  for (let attempt = 0; ; attempt++) {
    const read = await readServiceState(service, triggers, context);
    try {
      assertFreshRead(service, read.tasks, triggers, read.tombstones);
      return read;
    } catch (error) {
      const delay = retry.delaysMs[attempt];
      const timeLeft = retry.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
      if (!(error instanceof StaleReadError) || delay === undefined || timeLeft < delay + reconcileReserveMs) throw error;
      context.logger.debug("stale read, reading again", { serviceName: service.name, attempt: attempt + 1, delayMs: delay, ...error.context });
      await retry.sleep(delay);
    }
  }
}
