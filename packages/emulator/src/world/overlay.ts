/**
 * What AWS's DescribeTasks has and moto's lacks, patched into the ECS client's answers (see {@link createTaskOverlay}).
 */
import type { Task } from "@aws-sdk/client-ecs";
import type { Pluggable } from "@smithy/types";
import { subnetOf, taskIp } from "./tasks.js";

/** Fields of a described task that {@link createTaskOverlay} can set. */
export interface TaskPatch {
  /** Task-level health (moto has none). AWS: UNKNOWN until a container health check passes, or without one. */
  readonly healthStatus?: "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
  /** STOPPED with lastStatus RUNNING models a draining task (moto sets both at once in StopTask). */
  readonly desiredStatus?: string;
  readonly lastStatus?: string;
  readonly availabilityZone?: string;
  /** The task's state-change version, as in its events (moto has none). */
  readonly version?: number;
  readonly stoppedReason?: string;
  readonly stopCode?: "TaskFailedToStart" | "EssentialContainerExited" | "UserInitiated" | "ServiceSchedulerInitiated" | "SpotInterruption" | "TerminationNotice";
}

/** Options of {@link createTaskOverlay}. */
export interface TaskOverlayOptions {
  /**
   * Subnet id to zone (`world.zonesBySubnet`). With it, every task without a patched zone gets the zone of its ENI
   * subnet, as AWS reports it (moto omits `availabilityZone`). @default no zone added
   */
  readonly zonesBySubnet?: Readonly<Record<string, string>>;
  /** A patch applied to every task of the output, under each task's own patch. @default none */
  readonly defaults?: TaskPatch;
  /**
   * Fill `containers[].networkInterfaces` from the ENI attachment when moto leaves it empty (AWS fills both).
   * @default true
   */
  readonly fillNetworkInterfaces?: boolean;
}

/** A DescribeTasks/ListTasks output patcher for the ECS client; see {@link createTaskOverlay}. */
export interface TaskOverlay {
  /** Add to the ECS client only: `clients.ecs.middlewareStack.use(overlay.plugin)`. */
  readonly plugin: Pluggable<any, any>;
  /** Sets (merges into) the patch of one task. */
  set(taskArn: string, patch: TaskPatch): void;
  /** Removes the patch of one task. */
  clear(taskArn: string): void;
  /** The current patch of one task (merged over `defaults`). */
  get(taskArn: string): TaskPatch | undefined;
  /** Applies the overlay to tasks read elsewhere (for example RunTask's output); returns new objects. */
  apply(tasks: readonly Task[]): Task[];
}

const patchedFields = ["healthStatus", "desiredStatus", "lastStatus", "availabilityZone", "version", "stoppedReason", "stopCode"] as const;

/**
 * Creates an overlay that patches the ECS client's DescribeTasks **output** for chosen tasks, to reproduce what
 * AWS has and moto 5.2.1 lacks:
 *
 * - task-level `healthStatus` (moto has none; with a container health check AWS says UNKNOWN until it passes),
 * - `availabilityZone` (moto omits it; given `zonesBySubnet`, every task gets its ENI subnet's zone by default),
 * - `version` (moto has none; AWS increments it on every state change),
 * - a **draining** task: AWS keeps lastStatus RUNNING while desiredStatus is STOPPED for as long as the task
 *   drains; moto's StopTask sets both to STOPPED at once. Patch `desiredStatus: "STOPPED"` on a running task.
 * - `stoppedReason` and `stopCode` (moto has no stopCode).
 *
 * It also keeps ListTasks consistent with patched `desiredStatus`, the way AWS filters: a task patched to
 * desiredStatus STOPPED is removed from ListTasks answers filtered on RUNNING (the default filter) and added to
 * those filtered on STOPPED of its cluster. A patched desiredStatus RUNNING is not re-added to RUNNING lists.
 * And it drops tasks of other clusters from ListTasks: moto 5.2.1 matches the cluster name as a substring of the
 * task's cluster ARN, so cluster `workflow` would also list the tasks of `workflow-2`. (ListTasks without
 * `desiredStatus` still lists moto's STOPPED tasks, where AWS lists RUNNING ones only: ask for a status.)
 *
 * The middleware sits in the deserialize step (priority high, so it wraps the deserializer and sees the typed
 * output). Only the ECS client should carry it. The SDK client is otherwise untouched: requests still reach moto.
 *
 * @example
 * ```ts
 * const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
 * clients.ecs.middlewareStack.use(overlay.plugin);
 * overlay.set(taskArn, { desiredStatus: "STOPPED", version: 3 }); // draining, still RUNNING
 * overlay.set(otherArn, { healthStatus: "UNHEALTHY" });
 * ```
 */
export function createTaskOverlay(options: TaskOverlayOptions = {}): TaskOverlay {
  const patches = new Map<string, TaskPatch>();
  const fillNetworkInterfaces = options.fillNetworkInterfaces ?? true;

  const patchOf = (taskArn: string | undefined): TaskPatch | undefined => {
    const own = taskArn === undefined ? undefined : patches.get(taskArn);
    if (own === undefined && options.defaults === undefined) return undefined;
    return { ...options.defaults, ...own };
  };

  const apply = (tasks: readonly Task[]): Task[] =>
    tasks.map((original) => {
      const task: Task = { ...original };
      if (task.availabilityZone === undefined && options.zonesBySubnet !== undefined) {
        const subnet = subnetOf(task);
        const zone = subnet === undefined ? undefined : options.zonesBySubnet[subnet];
        if (zone !== undefined) task.availabilityZone = zone;
      }
      if (fillNetworkInterfaces && task.containers !== undefined) {
        const eni = task.attachments?.find((a) => a.type === "eni" || a.type === "ElasticNetworkInterface");
        const ip = taskIp(task);
        if (eni !== undefined && ip !== undefined) {
          task.containers = task.containers.map((c) =>
            (c.networkInterfaces ?? []).length > 0 ? c : { ...c, networkInterfaces: [{ attachmentId: eni.id, privateIpv4Address: ip }] },
          );
        }
      }
      const patch = patchOf(task.taskArn);
      if (patch !== undefined) {
        for (const field of patchedFields) {
          const value = patch[field];
          if (value !== undefined) (task as Record<string, unknown>)[field] = value;
        }
      }
      return task;
    });

  const plugin: Pluggable<any, any> = {
    applyToStack(stack) {
      stack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          const commandName = (context as { commandName?: string }).commandName;
          const output = result.output as Record<string, unknown>;
          if (commandName === "DescribeTasksCommand" && Array.isArray(output.tasks)) {
            output.tasks = apply(output.tasks as Task[]);
          } else if (commandName === "ListTasksCommand" && Array.isArray(output.taskArns)) {
            const input = args.input as { cluster?: string; desiredStatus?: string };
            output.taskArns = listWithPatches(output.taskArns as string[], input);
          }
          return result;
        },
        { step: "deserialize", priority: "high", name: "discoverySyncTaskOverlay", override: true },
      );
    },
  };

  const listWithPatches = (arns: readonly string[], input: { cluster?: string; desiredStatus?: string }): string[] => {
    const wanted = input.desiredStatus ?? "RUNNING";
    const cluster = input.cluster === undefined ? "default" : input.cluster.slice(input.cluster.lastIndexOf("/") + 1);
    const inCluster = (arn: string): boolean => arn.includes(`:task/${cluster}/`);
    // moto matches the cluster by substring (cluster "workflow" also lists the tasks of "workflow-2"); AWS by
    // identity. And a task patched to desiredStatus STOPPED no longer matches the RUNNING filter, as on AWS.
    const kept = arns.filter((arn) => inCluster(arn) && !(wanted === "RUNNING" && patchOf(arn)?.desiredStatus === "STOPPED"));
    if (wanted === "STOPPED") {
      for (const [arn, patch] of patches) {
        if (patch.desiredStatus === "STOPPED" && !kept.includes(arn) && inCluster(arn)) kept.push(arn);
      }
    }
    return kept;
  };

  return {
    plugin,
    set(taskArn, patch) {
      patches.set(taskArn, { ...patches.get(taskArn), ...patch });
    },
    clear(taskArn) {
      patches.delete(taskArn);
    },
    get(taskArn) {
      return patchOf(taskArn);
    },
    apply,
  };
}
