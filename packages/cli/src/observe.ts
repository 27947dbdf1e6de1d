import {
  CloudMapServiceCache,
  defaultStaleReadRetryDelaysMs,
  DiscoverySyncError,
  planReconcile,
  readFreshState,
  ReconcileError,
  requestLimit,
  ServiceTaskArnCache,
  ShardValueCache,
  StaleReadError,
  summariseTasks,
  TargetGroupTypeCache,
  TaskDefinitionCache,
  type CloudMapInstance,
  type DesiredState,
  type ParameterState,
  type PendingInstanceOperation,
  type ReconcileContext,
  type ReconcileLogger,
  type ReconcilePlan,
  type ReconcileTrigger,
  type ServiceConfig,
  type ServiceRead,
  type StepFailure,
  type TargetGroupTarget,
  type TaskSummary,
  type UnsettledInstance,
} from "@discovery-sync/core";
import type { AwsContext } from "./aws.js";
import type { CliError } from "./errors.js";
import { plannedWrites, type PlannedWrite } from "./plan-view.js";

/** One ECS task of the service and how it counts (the core's readiness rule, through `summariseTasks`). */
export interface TaskView {
  readonly taskId: string;
  readonly taskArn: string;
  readonly address: string | undefined;
  readonly zone: string | undefined;
  readonly lastStatus: string | undefined;
  readonly desiredStatus: string | undefined;
  readonly verdict: "ready" | "draining" | "not-ready" | "unsupported";
  /** Why a task is not ready or unsupported. */
  readonly reason?: string;
}

/** A target that could not be read (or is not usable): it is left out of the plan, as the reconcile does, and reported. */
export interface ReadFailure {
  /** `cloudmap <srv-id>`, `targets <arn>` or `ssm <parameter>`. */
  readonly target: string;
  /** The error's name: `TargetGroupTypeError` for a target group that is not of type ip, the SDK's error name otherwise. */
  readonly error: string;
  readonly message: string;
}

/**
 * A Cloud Map Register/DeregisterInstance still in flight, and whether it takes the instance where the ready tasks
 * want it (`as-desired`: not drift, the reconcile counts it as done) or the other way (`opposite`: the reconcile
 * reports it and comes back once it finished).
 */
export interface CloudMapOperationView extends PendingInstanceOperation {
  readonly direction: "as-desired" | "opposite";
}

/** Why ECS could not be compared: its reads stayed older than what the reconcile already knows (see `assertFreshRead`). */
export interface StaleRead {
  readonly message: string;
  readonly taskArn?: string;
}

/**
 * Everything `status` and `plan` know of one service: ECS (desired), the three targets (actual) and the writes the
 * pure planner would make now, all read by the reconcile's own read step.
 */
export interface ServiceObservation {
  readonly service: ServiceConfig;
  readonly observedAt: Date;
  /** Empty when the read was stale (see `stale`). */
  readonly tasks: readonly TaskView[];
  readonly desired: DesiredState;
  /** Undefined when the service has no Cloud Map service, it could not be read (see `failures`), or the read was stale. */
  readonly cloudMap?: {
    readonly serviceId: string;
    readonly instances: readonly CloudMapInstance[];
    readonly operations: readonly CloudMapOperationView[];
  };
  /** The target groups that could be read (of type ip). */
  readonly targetGroups: readonly { readonly arn: string; readonly targets: readonly TargetGroupTarget[] }[];
  /** Undefined when the parameter could not be read, or the read was stale. */
  readonly parameter?: ParameterState;
  /** Undefined when the read was stale: a reconcile now would write nothing and be retried. */
  readonly plan?: ReconcilePlan;
  readonly writes: readonly PlannedWrite[];
  readonly failures: readonly ReadFailure[];
  /** Cloud Map operations in flight that do the opposite of what the tasks want (the plan's `unsettled`). */
  readonly inFlight: readonly UnsettledInstance[];
  /** Set when ECS's reads stayed stale through every retry: nothing was compared. */
  readonly stale?: StaleRead;
  /** What the read step logged as a warning (an unreadable writer state, for instance). */
  readonly warnings: readonly string[];
  /** The pure planner has writes to make, a target could not be read, or the document cannot be published. */
  readonly drifted: boolean;
  /** Not drifted, no Cloud Map operation in flight against the tasks' wishes, and ECS's read was fresh. */
  readonly converged: boolean;
}

/** Caches that last for one CLI run, the same kinds a reconcile Lambda keeps per container. */
export interface ObserveCaches {
  readonly taskDefinitions: TaskDefinitionCache;
  readonly cloudMapServices: CloudMapServiceCache;
  readonly shardValues: ShardValueCache;
  readonly targetGroupTypes: TargetGroupTypeCache;
  readonly serviceTasks: ServiceTaskArnCache;
}

/** Fresh caches for one run. */
export function createObserveCaches(): ObserveCaches {
  return {
    taskDefinitions: new TaskDefinitionCache(),
    cloudMapServices: new CloudMapServiceCache(),
    shardValues: new ShardValueCache(),
    targetGroupTypes: new TargetGroupTypeCache(),
    serviceTasks: new ServiceTaskArnCache(),
  };
}

/** How {@link observeService} waits before reading a stale ECS again. */
export interface ObserveOptions {
  /** @default the reconcile Lambda's default, 250, 500, 1,000 and 2,000 ms */
  readonly staleReadRetryDelaysMs?: readonly number[];
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Keeps what the read step logs: warnings are shown with the service; debug and info lines are the Lambda's business. */
class CollectingLogger implements ReconcileLogger {
  public readonly warnings: string[] = [];
  public debug(): void {}
  public info(): void {}
  public warn(message: string, attributes: Record<string, unknown>): void {
    this.warnings.push(typeof attributes.reason === "string" ? `${message}: ${attributes.reason}` : message);
  }
  public error(message: string, attributes: Record<string, unknown>): void {
    this.warn(message, attributes);
  }
}

/**
 * Reads one service with the reconcile's own read step (`readFreshState`, as a `manual` trigger: every stopping task
 * described, every shard read) and plans with the same pure planner, writing nothing. So it sees what a reconcile now
 * would see: Cloud Map operations in flight, target groups of the wrong type, stale ECS reads (read again after the
 * reconcile's waits, then reported rather than compared).
 *
 * @example
 * ```ts
 * const observation = await observeService(aws, service, createObserveCaches(), new Date());
 * if (!observation.converged) console.log(observation.writes, observation.inFlight, observation.stale);
 * ```
 * @throws {CliError} when ECS cannot be read (without the tasks nothing can be decided).
 */
export async function observeService(
  aws: AwsContext,
  service: ServiceConfig,
  caches: ObserveCaches,
  now: Date,
  options: ObserveOptions = {},
): Promise<ServiceObservation> {
  const logger = new CollectingLogger();
  const context: ReconcileContext = { clients: aws.clients, logger, ...caches, limit: requestLimit() };
  const triggers: ReconcileTrigger[] = [{ kind: "manual", at: now.toISOString() }];
  const retry = {
    // The Lambda's own waits: ECS usually catches up within a second or two, and an operator would rather wait that
    // long than be told "stale".
    delaysMs: options.staleReadRetryDelaysMs ?? defaultStaleReadRetryDelaysMs,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
  };
  let read: ServiceRead;
  try {
    read = await readFreshState(service, triggers, context, retry);
  } catch (error) {
    if (error instanceof StaleReadError) return staleObservation(service, now, error, logger.warnings);
    throw ecsFailure(aws, service, error);
  }

  const summary = summariseTasks(read.tasks, read.definitions);
  const plan = planReconcile(service, summary.desired, read.actual, now);
  const writes = plannedWrites(service, plan);
  const failures = read.failures.map((failure) => readFailure(aws, failure));
  const inFlight = plan.cloudMap?.unsettled ?? [];
  const opposite = new Set(inFlight.map((u) => u.operationId));
  const serviceId = service.cloudMapServiceId;
  const cloudMap = read.actual.cloudMap;
  const documentBlocked = plan.document.kind === "too-large" || plan.document.kind === "refused";
  const drifted = writes.length > 0 || failures.length > 0 || documentBlocked;
  return {
    service,
    observedAt: now,
    tasks: taskViews(read, summary),
    desired: summary.desired,
    ...(cloudMap === undefined || serviceId === undefined
      ? {}
      : {
          cloudMap: {
            serviceId,
            instances: cloudMap.instances,
            operations: (cloudMap.pendingOperations ?? []).map((op) => ({ ...op, direction: opposite.has(op.operationId) ? "opposite" : "as-desired" })),
          },
        }),
    targetGroups: read.actual.targetGroups,
    ...(read.actual.parameter === undefined ? {} : { parameter: read.actual.parameter }),
    plan,
    writes,
    failures,
    inFlight,
    warnings: logger.warnings,
    drifted,
    converged: !drifted && inFlight.length === 0,
  };
}

function staleObservation(service: ServiceConfig, now: Date, error: StaleReadError, warnings: readonly string[]): ServiceObservation {
  const taskArn = error.context.taskArn;
  return {
    service,
    observedAt: now,
    tasks: [],
    desired: { ready: [], draining: [] },
    targetGroups: [],
    writes: [],
    failures: [],
    inFlight: [],
    stale: { message: error.message, ...(typeof taskArn === "string" ? { taskArn } : {}) },
    warnings,
    drifted: false,
    converged: false,
  };
}

/** The reconcile's read fails whole only on ECS (the task listing, a description, a task definition). */
function ecsFailure(aws: AwsContext, service: ServiceConfig, error: unknown): CliError {
  const failure = error instanceof ReconcileError ? error.failures[0] : undefined;
  const definition = /^ecs\.read task definition (.+)$/.exec(failure?.step ?? "")?.[1];
  const doing =
    definition === undefined
      ? `reading the tasks of ECS service ${service.ecsService} in cluster ${service.cluster}`
      : `reading task definition ${definition} of ECS service ${service.ecsService}`;
  return aws.failure(failure?.error ?? error, doing);
}

/** A target the read step could not read (`cloudmap.read srv-...`), named for the operator. */
function readFailure(aws: AwsContext, failure: StepFailure): ReadFailure {
  const target = failure.step.replace(/^(\w+)\.read /, "$1 ");
  const error = failure.error;
  const name = error instanceof Error ? error.name : "Error";
  // Our own errors (a target group not of type ip) already name the resource and the service; AWS's get the context.
  const message = error instanceof DiscoverySyncError ? error.message : aws.failure(error, `reading ${target}`).message;
  return { target, error: name, message };
}

function taskViews(read: ServiceRead, summary: TaskSummary): TaskView[] {
  const published = new Map<string, { verdict: "ready" | "draining"; address: string }>();
  for (const task of summary.desired.ready) published.set(task.taskArn, { verdict: "ready", address: task.address });
  for (const task of summary.desired.draining) published.set(task.taskArn, { verdict: "draining", address: task.address });
  const skipped = new Map(summary.skipped.map((s) => [s.taskArn, s]));
  return read.tasks
    .map((task): TaskView => {
      const base = {
        taskId: task.taskId,
        taskArn: task.taskArn,
        zone: task.availabilityZone,
        lastStatus: task.lastStatus,
        desiredStatus: task.desiredStatus,
      };
      const entry = published.get(task.taskArn);
      if (entry !== undefined) return { ...base, address: entry.address, verdict: entry.verdict };
      const left = skipped.get(task.taskArn);
      return { ...base, address: task.privateIpv4, verdict: left?.kind ?? "not-ready", ...(left === undefined ? {} : { reason: left.reason }) };
    })
    .sort((a, b) => a.taskId.localeCompare(b.taskId));
}
