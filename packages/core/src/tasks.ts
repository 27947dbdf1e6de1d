import type { Task } from "@aws-sdk/client-ecs";

/**
 * What the reconcile needs to know of one ECS task, taken from DescribeTasks (or an event's detail).
 * Pure data: building and classifying it does no I/O.
 */
export interface ObservedTask {
  readonly taskArn: string;
  /** Last segment of the task ARN; the Cloud Map instance id. */
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
  /**
   * True when ListTasks listed the task among those told to stop (desiredStatus STOPPED) and not among the running
   * ones: a DescribeTasks answer that still says desiredStatus RUNNING is then older than the listing.
   */
  readonly listedAsStopping?: boolean;
}

/** The id at the end of a task ARN (`arn:aws:ecs:r:a:task/cluster/ID` or the old `task/ID`). */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf("/") + 1);
}

// A task asked to stop is still alive (and may serve in-flight work) until its containers are stopped.
const drainingStatuses = new Set(["RUNNING", "DEACTIVATING", "STOPPING"]);

const eniAttachmentTypes = new Set(["eni", "ElasticNetworkInterface"]);

/**
 * Extracts what the reconcile needs from a DescribeTasks task.
 *
 * @example
 * ```ts
 * const observed = observeTask(describeTasksOutput.tasks[0]);
 * ```
 */
export function observeTask(task: Task): ObservedTask {
  const taskArn = task.taskArn ?? "";
  const eni = (task.attachments ?? []).find((a) => a.type !== undefined && eniAttachmentTypes.has(a.type));
  const attachmentIp = eni?.details?.find((d) => d.name === "privateIPv4Address")?.value;
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
    hasEni: eni !== undefined,
    version: task.version,
  };
}

/** What the task definition tells about readiness. */
export interface TaskDefinitionFacts {
  /** `awsvpc`, `bridge`, `host` or `none`. */
  readonly networkMode: string | undefined;
  /** True when any container of the definition defines a health check. */
  readonly hasContainerHealthCheck: boolean;
}

/** How a task counts for the published state. */
export type TaskClass =
  | { readonly kind: "ready"; readonly address: string }
  | { readonly kind: "draining"; readonly address: string }
  | { readonly kind: "not-ready"; readonly reason: string }
  | { readonly kind: "unsupported"; readonly reason: string };

/**
 * Decides whether a task receives traffic. Pure.
 *
 * - ready: lastStatus and desiredStatus RUNNING, an IP, not UNHEALTHY, and either HEALTHY or (UNKNOWN and the task
 *   definition defines no container health check: then ECS can never report HEALTHY).
 * - draining: desiredStatus STOPPED while the task still runs and has an IP: out of Cloud Map and target groups at
 *   once, listed under `draining` in the document, so clients stop sending new work before the task dies.
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
    return { kind: "not-ready", reason: `stopping (lastStatus ${task.lastStatus ?? "unknown"})` };
  }
  if (task.lastStatus !== "RUNNING") return { kind: "not-ready", reason: `lastStatus ${task.lastStatus ?? "unknown"}` };
  if (task.desiredStatus !== "RUNNING") {
    return { kind: "not-ready", reason: `desiredStatus ${task.desiredStatus ?? "unknown"}` };
  }
  if (task.privateIpv4 === undefined) return { kind: "not-ready", reason: "no private IPv4 address yet" };
  const health = task.healthStatus ?? "UNKNOWN";
  if (health === "UNHEALTHY") return { kind: "not-ready", reason: "healthStatus UNHEALTHY" };
  if (health === "UNKNOWN") {
    if (definition === undefined) return { kind: "not-ready", reason: "health UNKNOWN and task definition not known" };
    if (definition.hasContainerHealthCheck) {
      return { kind: "not-ready", reason: "health UNKNOWN while the task definition defines a health check" };
    }
  } else if (health !== "HEALTHY") {
    return { kind: "not-ready", reason: `healthStatus ${health}` };
  }
  return { kind: "ready", address: task.privateIpv4 };
}
