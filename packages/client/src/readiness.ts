/**
 * When an ECS task may receive traffic: the one readiness rule of discovery-sync, shared by the reconciler (which
 * publishes the endpoint document; `@discovery-sync/core` re-exports these names) and the ECS API fallback of this
 * package (`@discovery-sync/client/ecs`), so that a client reading ECS directly serves exactly the tasks the document
 * would list. Pure: no I/O, and no import of the AWS SDK. The task and task definition shapes below are the parts of
 * `@aws-sdk/client-ecs`'s `Task` and `TaskDefinition` the rule reads, declared structurally, so the SDK's objects
 * (and an EventBridge event's `detail`) are accepted as they are while this subpath needs no SDK installed.
 *
 * @module
 */

/**
 * The fields of an ECS task (DescribeTasks' `Task`, or a task state change event's `detail`) that readiness reads.
 * The SDK's `Task` is assignable to it.
 *
 * @example
 * ```ts
 * const task: EcsTaskFields = (await ecs.send(new DescribeTasksCommand({ cluster, tasks: [arn] }))).tasks![0]!;
 * ```
 */
export interface EcsTaskFields {
  readonly taskArn?: string | undefined;
  readonly group?: string | undefined;
  readonly lastStatus?: string | undefined;
  readonly desiredStatus?: string | undefined;
  readonly healthStatus?: string | undefined;
  readonly availabilityZone?: string | undefined;
  readonly taskDefinitionArn?: string | undefined;
  readonly version?: number | undefined;
  readonly attachments?:
    | ReadonlyArray<{
        readonly type?: string | undefined;
        readonly details?: ReadonlyArray<{ readonly name?: string | undefined; readonly value?: string | undefined }> | undefined;
      }>
    | undefined;
  readonly containers?:
    | ReadonlyArray<{
        readonly networkInterfaces?: ReadonlyArray<{ readonly privateIpv4Address?: string | undefined }> | undefined;
      }>
    | undefined;
}

/**
 * The fields of an ECS task definition (DescribeTaskDefinition's `taskDefinition`) that readiness reads. The SDK's
 * `TaskDefinition` is assignable to it.
 *
 * @example
 * ```ts
 * const definition: EcsTaskDefinitionFields = { networkMode: "awsvpc", containerDefinitions: [{ healthCheck: { command: ["CMD", "true"] } }] };
 * ```
 */
export interface EcsTaskDefinitionFields {
  readonly networkMode?: string | undefined;
  readonly containerDefinitions?:
    | ReadonlyArray<{ readonly healthCheck?: { readonly command?: readonly string[] | undefined } | undefined }>
    | undefined;
}

/**
 * What readiness needs to know of one ECS task, taken from DescribeTasks (or an event's detail) by
 * {@link observeTask}. Pure data.
 *
 * @example
 * ```ts
 * const observed: ObservedTask = observeTask(task);
 * ```
 */
export interface ObservedTask {
  readonly taskArn: string;
  /** Last segment of the task ARN; the Cloud Map instance id and the document's `taskId`. */
  readonly taskId: string;
  /** `service:NAME` for service tasks, `family:NAME` for RunTask tasks. */
  readonly group: string | undefined;
  readonly lastStatus: string | undefined;
  readonly desiredStatus: string | undefined;
  /** HEALTHY | UNHEALTHY | UNKNOWN, or undefined when ECS did not say. */
  readonly healthStatus: string | undefined;
  readonly availabilityZone: string | undefined;
  readonly taskDefinitionArn: string | undefined;
  /** Private IPv4 address of the task's ENI (awsvpc). Undefined before the ENI is attached, or in other modes. */
  readonly privateIpv4: string | undefined;
  /** True when the task has an ENI attachment, that is, runs in awsvpc network mode. */
  readonly hasEni: boolean;
  /** ECS's per-task version: higher means a later state. */
  readonly version: number | undefined;
}

/**
 * What the task definition tells about readiness.
 *
 * @example
 * ```ts
 * const facts: TaskDefinitionFacts = { networkMode: "awsvpc", hasContainerHealthCheck: false };
 * ```
 */
export interface TaskDefinitionFacts {
  /** `awsvpc`, `bridge`, `host` or `none`. */
  readonly networkMode: string | undefined;
  /** True when any container of the definition defines a health check. */
  readonly hasContainerHealthCheck: boolean;
}

/**
 * How a task counts: `ready` tasks get traffic, `draining` ones are on their way out (no new work), the others get
 * nothing, with the reason.
 *
 * @example
 * ```ts
 * const verdict: TaskClass = classifyTask(observed, facts);
 * if (verdict.kind === "ready") connect(verdict.address);
 * ```
 */
export type TaskClass =
  | { readonly kind: "ready"; readonly address: string }
  | { readonly kind: "draining"; readonly address: string }
  | { readonly kind: "not-ready"; readonly reason: string }
  | { readonly kind: "unsupported"; readonly reason: string };

/**
 * The id at the end of a task ARN (`arn:aws:ecs:r:a:task/cluster/ID` or the old `task/ID`): the Cloud Map instance id
 * and the document's `taskId`.
 *
 * @example
 * ```ts
 * taskIdOf("arn:aws:ecs:us-east-1:123456789012:task/workflow/0a1b2c"); // "0a1b2c"
 * ```
 */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf("/") + 1);
}

// A task asked to stop is still alive (and may serve in-flight work) until its containers are stopped.
const drainingStatuses = new Set(["RUNNING", "DEACTIVATING", "STOPPING"]);

const eniAttachmentTypes = new Set(["eni", "ElasticNetworkInterface"]);

/** The ENI attachment of an awsvpc task (`eni` in DescribeTasks, `ElasticNetworkInterface` in some event details). */
function eniAttachmentOf(task: Pick<EcsTaskFields, "attachments">) {
  return (task.attachments ?? []).find((a) => a.type !== undefined && eniAttachmentTypes.has(a.type));
}

/**
 * The private IPv4 address of an awsvpc task's ENI: the `privateIPv4Address` detail of its ENI attachment, the one
 * place both DescribeTasks and the task state change event carry it. Undefined before the ENI is attached.
 *
 * @example
 * ```ts
 * eniAddressOf({ attachments: [{ type: "eni", details: [{ name: "privateIPv4Address", value: "10.0.1.5" }] }] }); // "10.0.1.5"
 * ```
 */
export function eniAddressOf(task: Pick<EcsTaskFields, "attachments">): string | undefined {
  return eniAttachmentOf(task)?.details?.find((d) => d.name === "privateIPv4Address")?.value;
}

/**
 * Extracts what readiness needs from a DescribeTasks task (or an event's detail).
 *
 * @example
 * ```ts
 * const observed = observeTask(describeTasksOutput.tasks[0]);
 * ```
 */
export function observeTask(task: EcsTaskFields): ObservedTask {
  const taskArn = task.taskArn ?? "";
  const attachmentIp = eniAddressOf(task);
  // Event details and DescribeTasks both carry the IP in the attachment; the container's network interface
  // is a second source that AWS fills in too (moto leaves it empty).
  const containerIp = task.containers?.flatMap((c) => c.networkInterfaces ?? []).find((n) => n.privateIpv4Address)
    ?.privateIpv4Address;
  return {
    taskArn,
    taskId: taskIdOf(taskArn),
    group: task.group,
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    healthStatus: task.healthStatus,
    availabilityZone: task.availabilityZone,
    taskDefinitionArn: task.taskDefinitionArn,
    privateIpv4: attachmentIp ?? containerIp,
    hasEni: eniAttachmentOf(task) !== undefined,
    version: task.version,
  };
}

/**
 * What a task definition tells about readiness: its network mode, and whether any container defines a health check
 * (with one, ECS reports UNKNOWN health until the check passes; without one, UNKNOWN forever). Pure.
 *
 * @example
 * ```ts
 * const { taskDefinition } = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
 * const facts = taskDefinitionFactsOf(taskDefinition ?? {});
 * ```
 */
export function taskDefinitionFactsOf(definition: EcsTaskDefinitionFields): TaskDefinitionFacts {
  return {
    networkMode: definition.networkMode,
    hasContainerHealthCheck: (definition.containerDefinitions ?? []).some((c) => (c.healthCheck?.command?.length ?? 0) > 0),
  };
}

/** ECS's health of a task; a task without a health status counts as UNKNOWN. */
function healthOf(task: ObservedTask): string {
  return task.healthStatus ?? "UNKNOWN";
}

/**
 * True when {@link classifyTask} cannot decide without the task's definition: a running task with UNKNOWN health is
 * ready only if its definition defines no container health check (then ECS never reports HEALTHY). Every other task
 * is decided from the task alone, so task definitions are described for these tasks only. Pure.
 *
 * @example
 * ```ts
 * const arns = new Set(tasks.filter(needsTaskDefinition).map((t) => t.taskDefinitionArn));
 * ```
 */
export function needsTaskDefinition<T extends ObservedTask>(task: T): task is T & { readonly taskDefinitionArn: string } {
  return task.taskDefinitionArn !== undefined && task.lastStatus === "RUNNING" && healthOf(task) === "UNKNOWN";
}

/**
 * Decides whether a task receives traffic. Pure.
 *
 * - ready: lastStatus and desiredStatus RUNNING, an IP, not UNHEALTHY, and either HEALTHY or (UNKNOWN and the task
 *   definition defines no container health check: then ECS can never report HEALTHY).
 * - draining: desiredStatus STOPPED while the task still runs and has an IP: clients stop sending new work before the
 *   task dies.
 * - unsupported: tasks outside awsvpc network mode (their address needs the container instance's IP).
 *
 * @example
 * ```ts
 * classifyTask(observed, { networkMode: "awsvpc", hasContainerHealthCheck: false }); // { kind: "ready", address: "10.0.1.5" }
 * ```
 */
export function classifyTask(task: ObservedTask, definition: TaskDefinitionFacts | undefined): TaskClass {
  const networkMode = definition?.networkMode ?? (task.hasEni ? "awsvpc" : undefined);
  if (networkMode !== undefined && networkMode !== "awsvpc") {
    return { kind: "unsupported", reason: `network mode ${networkMode} is not supported yet (only awsvpc)` };
  }
  if (networkMode === undefined && task.lastStatus === "RUNNING") {
    return { kind: "unsupported", reason: "task has no ENI attachment, so it is not in awsvpc network mode" };
  }
  if (task.desiredStatus === "STOPPED") {
    if (task.privateIpv4 !== undefined && task.lastStatus !== undefined && drainingStatuses.has(task.lastStatus)) {
      return { kind: "draining", address: task.privateIpv4 };
    }
    if (task.lastStatus === "STOPPED") return { kind: "not-ready", reason: "stopped" };
    return { kind: "not-ready", reason: `told to stop (lastStatus ${task.lastStatus ?? "unknown"})` };
  }
  if (task.lastStatus !== "RUNNING") return { kind: "not-ready", reason: `lastStatus ${task.lastStatus ?? "unknown"}` };
  if (task.desiredStatus !== "RUNNING") {
    return { kind: "not-ready", reason: `desiredStatus ${task.desiredStatus ?? "unknown"}` };
  }
  if (task.privateIpv4 === undefined) return { kind: "not-ready", reason: "no private IPv4 address yet" };
  const health = healthOf(task);
  if (health === "UNHEALTHY") return { kind: "not-ready", reason: "healthStatus UNHEALTHY" };
  if (health === "UNKNOWN") {
    // The one case that needs the definition (see needsTaskDefinition).
    if (definition === undefined) return { kind: "not-ready", reason: "health UNKNOWN and task definition not known" };
    if (definition.hasContainerHealthCheck) {
      return { kind: "not-ready", reason: "health UNKNOWN while the task definition defines a health check" };
    }
  } else if (health !== "HEALTHY") {
    return { kind: "not-ready", reason: `healthStatus ${health}` };
  }
  return { kind: "ready", address: task.privateIpv4 };
}
