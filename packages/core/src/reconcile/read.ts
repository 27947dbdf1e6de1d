/**
 * The read step of a reconcile, in two paths:
 *
 * - the **tasks path** ({@link readTasks}): the document with the writer's state (one GetParameters) and ListTasks,
 *   with DescribeTasks of the tasks the service's last reconcile found (then of any named that those miss): everything
 *   the document depends on, so it is published as soon as this is in (one serial wave of requests in the usual case);
 * - the **targets path** ({@link readTargets}): Cloud Map's operations in flight, then its instances (see
 *   `readCloudMapState`), and each target group's targets, needed only for the Cloud Map and target group writes.
 *
 * The reconcile reads Cloud Map's operations at once and holds the targets path's other reads (Cloud Map's instances,
 * which must come after the operations, and the target groups) back until the document's write is sent, or the tasks
 * path needs a second wave, whichever comes first: the writes cannot start before the tasks are known anyway, so on
 * AWS this costs no wave, and fewer requests are queued before the document's on an emulator that answers about one
 * request at a time. Stale reads are recognised before anything that depends on them is written (see
 * {@link readFreshTasks}).
 */
import { readCloudMapState } from "../aws/cloudmap.js";
import {
  describeServiceTasks,
  describeTasksOfService,
  listedTasksOf,
  listServiceTaskArns,
  markListedAsStopping,
  type ListedServiceTasks,
} from "../aws/ecs.js";
import { readDocumentAndState } from "../aws/parameter.js";
import { describeTargets } from "../aws/targets.js";
import type { ServiceConfig } from "../config.js";
import { ReconcileError, StaleReadError, TargetGroupTypeError } from "../errors.js";
import type { ReconcileTrigger } from "../messages.js";
import type { ActualState, ParameterState, TargetGroupTarget } from "../plan.js";
import { needsTaskDefinition, taskIdOf, type ObservedTask, type TaskDefinitionFacts } from "../tasks.js";
import { parseTombstones, staleTaskReads, type Tombstones } from "../tombstones.js";
import type { ReconcileContext, StepFailure } from "./context.js";

/** Everything one read of a service gives the plan (both paths). */
export interface ServiceRead {
  /** The service's tasks that were described (see {@link readTasks} for which stopping ones). */
  readonly tasks: readonly ObservedTask[];
  /** Facts of the task definitions the readiness of `tasks` depends on. */
  readonly definitions: ReadonlyMap<string, TaskDefinitionFacts>;
  readonly tombstones: Tombstones;
  /** The targets that could be read; one that could not is left out and listed in `failures`. */
  readonly actual: ActualState;
  readonly failures: readonly StepFailure[];
}

/** What the tasks path reads: everything the document depends on. */
export interface TasksRead {
  readonly tasks: readonly ObservedTask[];
  readonly definitions: ReadonlyMap<string, TaskDefinitionFacts>;
  readonly tombstones: Tombstones;
  /** The document; undefined when it could not be read (the failure is in `failures`). */
  readonly parameter: ParameterState | undefined;
  readonly listed: ListedServiceTasks;
  /** The service's task ARNs up to the id (from a listed or an event's task), when one was known. */
  readonly arnPrefix: string | undefined;
  /** Every task ARN sent to DescribeTasks (a task of another service is described but not kept in `tasks`). */
  readonly described: ReadonlySet<string>;
  readonly failures: readonly StepFailure[];
}

/** What the targets path reads: Cloud Map and the target groups, and the stopping tasks only Cloud Map still names. */
export interface TargetsRead {
  readonly cloudMap: ActualState["cloudMap"];
  /** The target groups that could be read. */
  readonly targetGroups: ActualState["targetGroups"];
  /** Stopping tasks the tasks path did not describe, named by Cloud Map (see {@link readTargets}). */
  readonly tasks: readonly ObservedTask[];
  readonly definitions: ReadonlyMap<string, TaskDefinitionFacts>;
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
 * The stopping tasks worth describing. ECS lists a stopped task for about an hour, so describing them all would read
 * every task of the last hour's deployments on every reconcile. A stopping task matters only while something still
 * names it: the document (as an endpoint, or draining), a Cloud Map instance or operation, or an event of this batch
 * (its version is checked, and its tombstone recorded). One named by none of them is already out of everything
 * published, and stays out whatever it says; a stale read of it cannot bring it back, because ListTasks does not list
 * it as running. The sweep (and any trigger that is not an event) describes every one ListTasks lists as told to stop
 * (`names` undefined): it is the repair path, and finds a draining task whose events were all lost.
 *
 * Without the STOPPED listing (`listed.stoppedListed` false), every named task that ListTasks does not list as running
 * is described, by the ARN of its id under the service's task ARN prefix.
 */
function stoppingTasksNamed(listed: ListedServiceTasks, names: ReadonlySet<string> | undefined, arnPrefix: string | undefined): string[] {
  if (listed.stoppedListed || names === undefined || arnPrefix === undefined) {
    return names === undefined ? [...listed.stopping] : listed.stopping.filter((arn) => names.has(taskIdOf(arn)));
  }
  const running = new Set(listed.running.map(taskIdOf));
  return [...names].filter((id) => !running.has(id)).map((id) => `${arnPrefix}${id}`);
}

/** A listing without ListTasks' STOPPED answer: the named tasks it does not list as running count as told to stop. */
function stoppingByName(running: readonly string[], names: ReadonlySet<string>, arnPrefix: string): ListedServiceTasks {
  const unlisted: ListedServiceTasks = { running: [...new Set(running)], stopping: [], stoppedListed: false };
  return { ...unlisted, stopping: stoppingTasksNamed(unlisted, names, arnPrefix) };
}

/** `arn:aws:ecs:<region>:<account>:task/<cluster>/` of a task ARN (everything up to its id). */
function taskArnPrefixOf(taskArn: string | undefined): string | undefined {
  return taskArn === undefined ? undefined : taskArn.slice(0, taskArn.lastIndexOf("/") + 1);
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

/** True when a trigger is not an event (a sweep, a manual run): the repair path, which reads everything afresh. */
function isRepair(triggers: readonly ReconcileTrigger[]): boolean {
  return triggers.some((trigger) => trigger.kind !== "event");
}

/** Options of {@link readTasks}. */
export interface ReadTasksOptions {
  /**
   * Called (possibly more than once) as soon as the tasks path knows it needs another serial wave of requests: the
   * first wave did not describe every task it needs, ListTasks has more pages, or a stale read is read again. The
   * reconcile holds the targets path's reads back until then, or until the document's write is sent.
   */
  readonly onMoreWaves?: () => void;
}

/**
 * The tasks path: the document and the writer's tombstones (one GetParameters, sent first) and the service's task
 * listing, then one DescribeTasks round for the running tasks and the stopping ones the document or the events name
 * (every stopping one for a repair, or when the document cannot tell). The tasks are required: an ECS failure rejects
 * with a {@link ReconcileError} naming the read. The document is read on its own: a failure is in `failures`.
 *
 * An event-triggered reconcile of a service this process reconciled before describes the tasks the last one found
 * running or on their way out, and the events' tasks, alongside ListTasks (see `ServiceTaskArnCache`), then only those
 * the listing or the document name that this missed: in the usual case the document's inputs are in after one serial
 * wave instead of two.
 *
 * @example
 * ```ts
 * const read = await readTasks(service, [{ kind: "sweep", at: new Date().toISOString() }], context);
 * ```
 */
export async function readTasks(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  context: ReconcileContext,
  options: ReadTasksOptions = {},
): Promise<TasksRead> {
  const { clients } = context;
  const repair = isRepair(triggers);
  const failures: StepFailure[] = [];
  const triggerArns = triggers.flatMap((trigger) => (trigger.taskArn === undefined ? [] : [trigger.taskArn]));
  const stored = guarded(failures, `ssm.read ${service.parameterName}`, () => {
    // Shards cached by version are trusted by event-driven reconciles; the sweep, the repair path, reads every
    // shard again, so a shard deleted or rewritten by hand is noticed within one sweep period.
    if (repair) context.shardValues.retain(service.parameterName, new Set());
    return readDocumentAndState(clients.ssm, service.parameterName, context.shardValues);
  });
  const onMoreWaves = options.onMoreWaves ?? (() => undefined);
  const listRunning = failingAsEcsRead(service, () => listServiceTaskArns(clients.ecs, service, "RUNNING", { onNextPage: onMoreWaves }));
  const listStopped = () => failingAsEcsRead(service, () => listServiceTaskArns(clients.ecs, service, "STOPPED", { onNextPage: onMoreWaves }));
  // The repair path describes every task told to stop, so it lists them from the start. An event-triggered reconcile
  // describes only the named ones: it needs no listing of them when it knows the ARN of a named task from its id.
  const stopped = repair ? listStopped() : undefined;
  stopped?.catch(() => undefined); // awaited below; a failure of the RUNNING listing is the one reported first
  // Described alongside the listing: what ECS answers for them now is as fresh as if asked after it.
  const guess = repair ? undefined : context.serviceTasks.guess(service, triggerArns);
  if (guess === undefined) onMoreWaves();
  const early = guess === undefined ? undefined : failingAsEcsRead(service, () => describeTasksOfService(clients.ecs, service, guess, { limit: context.limit }));
  early?.catch(() => undefined); // awaited below, after the listing, whose failure is the one reported first
  const [read, running] = await Promise.all([stored, listRunning]);
  const documentIds = repair ? undefined : documentTaskIds(read?.parameter);
  const names = documentIds === undefined ? undefined : new Set([...documentIds, ...triggerArns.map(taskIdOf)]);
  const arnPrefix = taskArnPrefixOf(running[0] ?? triggerArns[0]);
  let listed: ListedServiceTasks;
  if (names !== undefined && arnPrefix !== undefined) {
    listed = stoppingByName(running, names, arnPrefix);
  } else {
    if (stopped === undefined) onMoreWaves();
    listed = listedTasksOf(running, await (stopped ?? listStopped()));
  }
  const arns = [...listed.running, ...stoppingTasksNamed(listed, names, arnPrefix)];
  const guessed = new Set(guess);
  const missed = arns.filter((arn) => !guessed.has(arn));
  if (missed.length > 0) onMoreWaves();
  const [earlyTasks, laterTasks] = await Promise.all([
    early ?? [],
    missed.length === 0 ? [] : failingAsEcsRead(service, () => describeTasksOfService(clients.ecs, service, missed, { limit: context.limit })),
  ]);
  // A guessed task nothing names any more is left out, as if it had not been described.
  const wanted = new Set(arns);
  const tasks = markListedAsStopping(listed, [...earlyTasks.filter((task) => wanted.has(task.taskArn)), ...laterTasks]);
  // A stopped task leaves the document with this reconcile, and nothing names it afterwards: not worth guessing.
  context.serviceTasks.remember(service, [...listed.running, ...tasks.filter((task) => task.lastStatus !== "STOPPED").map((task) => task.taskArn)]);
  return {
    tasks,
    definitions: await definitionFacts(service, tasks, context),
    // Read with the document: when that read fails, the reconcile fails (the failure is recorded) and none are known.
    // parseTombstones reads a value it cannot parse as none: they only add safety, and must not stop a reconcile.
    tombstones: parseTombstones(read?.stateValue),
    parameter: read?.parameter,
    listed,
    arnPrefix,
    described: wanted,
    failures,
  };
}

/**
 * The targets path: Cloud Map's state and each target group's targets, each read on its own: one that cannot be read
 * (deleted, misconfigured, denied) is reported in `failures` and left out, so it is neither planned nor written while
 * the others converge. Once the tasks path is in (`tasks`, a promise so both can run
 * side by side), the stopping tasks only Cloud Map still names (its document write failed, say: rare) are described,
 * so their versions are checked and their tombstones kept. They cannot change what is registered: a task told to
 * stop is never ready. When `start` is given (the reconcile's: see {@link ReadTasksOptions}), only Cloud Map's
 * operations are read before it settles: its instances and the target groups' targets wait for it.
 *
 * @example
 * ```ts
 * const tasks = readTasks(service, triggers, context);
 * const [tasksRead, targetsRead] = await Promise.all([tasks, readTargets(service, context, tasks)]);
 * ```
 */
export async function readTargets(
  service: ServiceConfig,
  context: ReconcileContext,
  tasks: Promise<TasksRead> | TasksRead,
  start: Promise<void> = Promise.resolve(),
): Promise<TargetsRead> {
  const { clients } = context;
  const failures: StepFailure[] = [];
  const serviceId = service.cloudMapServiceId;
  // Cloud Map's operations are read at once: its instances must be listed after them, and the writes wait for both.
  const cloudMap =
    serviceId === undefined
      ? Promise.resolve(undefined)
      : guarded(failures, `cloudmap.read ${serviceId}`, () =>
          readCloudMapState(clients.serviceDiscovery, serviceId, context.cloudMapServices, start),
        );
  const targetGroups = Promise.all(
    (service.targetGroupArns ?? []).map((arn) =>
      guarded(failures, `targets.read ${arn}`, async (): Promise<{ arn: string; targets: TargetGroupTarget[] }> => {
        await start;
        const [targetType, targets] = await Promise.all([context.targetGroupTypes.targetType(clients.elbv2, arn), describeTargets(clients.elbv2, arn)]);
        if (targetType !== "ip") throw new TargetGroupTypeError(service.name, arn, targetType);
        return { arn, targets };
      }),
    ),
  );
  const [cloudMapState, tasksRead] = await Promise.all([cloudMap, tasks]);
  const cloudMapIds = [...(cloudMapState?.instances ?? []), ...(cloudMapState?.pendingOperations ?? [])].map((named) =>
    "id" in named ? named.id : named.instanceId,
  );
  const later = stoppingTasksNamed(tasksRead.listed, new Set(cloudMapIds), tasksRead.arnPrefix).filter((arn) => !tasksRead.described.has(arn));
  // Without the STOPPED listing, what is described here counts as told to stop too (ListTasks does not list it as running).
  const listed = tasksRead.listed.stoppedListed ? tasksRead.listed : { ...tasksRead.listed, stopping: [...tasksRead.listed.stopping, ...later] };
  const laterTasks =
    later.length === 0
      ? []
      : await failingAsEcsRead(service, () => describeServiceTasks(clients.ecs, service, listed, later, { limit: context.limit }));
  return {
    cloudMap: cloudMapState,
    targetGroups: (await targetGroups).filter((group) => group !== undefined),
    tasks: laterTasks,
    definitions: await definitionFacts(service, laterTasks, context),
    failures,
  };
}

/** Both paths of a read as one: the tasks of both, and the actual state the plan compares with. */
export function combineReads(tasksRead: TasksRead, targetsRead: TargetsRead): ServiceRead {
  return {
    tasks: [...tasksRead.tasks, ...targetsRead.tasks],
    definitions: new Map([...tasksRead.definitions, ...targetsRead.definitions]),
    tombstones: tasksRead.tombstones,
    actual: {
      ...(targetsRead.cloudMap === undefined ? {} : { cloudMap: targetsRead.cloudMap }),
      targetGroups: targetsRead.targetGroups,
      ...(tasksRead.parameter === undefined ? {} : { parameter: tasksRead.parameter }),
    },
    failures: [...tasksRead.failures, ...targetsRead.failures],
  };
}

/**
 * Throws a {@link StaleReadError} when the read is older than what is already known: a task remembered out of the
 * ready set (a tombstone) read at an older version, a task ListTasks does not list as running (see `listedAsStopping`)
 * that DescribeTasks answers running, or a task read older than an event of the batch. Pure.
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
  // ListTasks does not list it as running (it lists it as told to stop, or something names it and ListTasks has
  // not listed it yet), DescribeTasks answers it running: both are eventually consistent, each on its own, and
  // publishing either answer could bring a stopped task back or keep a new one out.
  const behind = tasks.find((t) => t.listedAsStopping === true && t.desiredStatus === "RUNNING");
  if (behind !== undefined) {
    throw new StaleReadError(
      `ListTasks does not list task ${behind.taskArn} as running, DescribeTasks answers it running` +
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
 * Runs a read until it is at least as new as every event among the triggers and every tombstone: a stale read (a
 * {@link StaleReadError} from `read`) is read again, everything afresh, after a short wait while the invocation has
 * time for it (ECS usually catches up within a second or two, and the queue's next delivery of a FIFO group's message
 * can be minutes away); past that the StaleReadError is thrown, before anything depending on the read was written,
 * and the queue retries.
 */
async function retryingStaleReads<T>(service: ServiceConfig, context: ReconcileContext, retry: StaleReadRetry, read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const delay = retry.delaysMs[attempt];
      const timeLeft = retry.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
      if (!(error instanceof StaleReadError) || delay === undefined || timeLeft < delay + reconcileReserveMs) throw error;
      context.logger.debug("stale read, reading again", { serviceName: service.name, attempt: attempt + 1, delayMs: delay, ...error.context });
      await retry.sleep(delay);
    }
  }
}

/**
 * The tasks path ({@link readTasks}), at least as new as every event among the triggers and every tombstone (stale
 * reads are read again: see {@link assertFreshRead}). What the reconcile publishes the document from.
 *
 * @example
 * ```ts
 * const read = await readFreshTasks(service, triggers, context, { delaysMs: defaultStaleReadRetryDelaysMs, sleep });
 * ```
 */
export function readFreshTasks(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  context: ReconcileContext,
  retry: StaleReadRetry,
  options: ReadTasksOptions = {},
): Promise<TasksRead> {
  let attempts = 0;
  return retryingStaleReads(service, context, retry, async () => {
    if (attempts++ > 0) options.onMoreWaves?.();
    const read = await readTasks(service, triggers, context, options);
    assertFreshRead(service, read.tasks, triggers, read.tombstones);
    return read;
  });
}

/**
 * Both paths of a read ({@link readTasks} and {@link readTargets}, side by side) as one, at least as new as every
 * event among the triggers and every tombstone (stale reads are read again: see {@link assertFreshRead}). What
 * `discovery-sync status` and `plan` compare.
 *
 * @example
 * ```ts
 * const read = await readFreshState(service, [{ kind: "manual", at: new Date().toISOString() }], context, retry);
 * ```
 */
export function readFreshState(
  service: ServiceConfig,
  triggers: readonly ReconcileTrigger[],
  context: ReconcileContext,
  retry: StaleReadRetry,
): Promise<ServiceRead> {
  return retryingStaleReads(service, context, retry, async () => {
    const tasks = readTasks(service, triggers, context);
    const [tasksRead, targetsRead] = await Promise.all([tasks, readTargets(service, context, tasks)]);
    const read = combineReads(tasksRead, targetsRead);
    assertFreshRead(service, read.tasks, triggers, read.tombstones);
    return read;
  });
}
