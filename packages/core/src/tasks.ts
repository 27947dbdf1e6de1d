import { classifyTask, type ObservedTask as ClientObservedTask, type TaskDefinitionFacts } from "@discovery-sync/client/readiness";
import type { DesiredState, PublishedTask } from "./plan.js";

// The readiness rule lives in the client package (`@discovery-sync/client/readiness`), so that the reconciler and the
// client's ECS API fallback apply one piece of code; the core re-exports it under the names it always had.
export {
  classifyTask,
  eniAddressOf,
  needsTaskDefinition,
  observeTask,
  taskDefinitionFactsOf,
  taskIdOf,
  type EcsTaskDefinitionFields,
  type EcsTaskFields,
  type TaskClass,
  type TaskDefinitionFacts,
} from "@discovery-sync/client/readiness";

/**
 * What the reconcile needs to know of one ECS task: the readiness facts (`observeTask` of the client's readiness
 * rule) and what the reconcile's stale-read check adds. Pure data.
 *
 * @example
 * ```ts
 * const task: ObservedTask = { ...observeTask(described), listedAsStopping: true };
 * ```
 */
export interface ObservedTask extends ClientObservedTask {
  /**
   * True when ListTasks did not list the task among the running ones (desiredStatus RUNNING): it listed it among those
   * told to stop, or (an event-triggered reconcile, which does not read that listing) something names it and it is not
   * running. A DescribeTasks answer that still says desiredStatus RUNNING then disagrees with the listing: one of them
   * is behind, and the read is tried again.
   */
  readonly listedAsStopping?: boolean;
}

/** A task left out of the published state, and why (for the reconcile's log). */
export interface SkippedTask {
  readonly taskArn: string;
  readonly kind: "not-ready" | "unsupported";
  readonly reason: string;
}

/** What the service's tasks make of the published state: the desired state, and the tasks left out of it. */
export interface TaskSummary {
  readonly desired: DesiredState;
  readonly skipped: readonly SkippedTask[];
}

/**
 * Classifies every task ({@link classifyTask}) into the desired state: ready tasks are published, draining ones
 * listed so clients stop using them, the rest skipped with their reason. Pure.
 *
 * @example
 * ```ts
 * const { desired, skipped } = summariseTasks(tasks, definitions);
 * ```
 */
export function summariseTasks(tasks: readonly ObservedTask[], definitions: ReadonlyMap<string, TaskDefinitionFacts>): TaskSummary {
  const ready: PublishedTask[] = [];
  const draining: PublishedTask[] = [];
  const skipped: SkippedTask[] = [];
  for (const task of tasks) {
    const verdict = classifyTask(task, task.taskDefinitionArn === undefined ? undefined : definitions.get(task.taskDefinitionArn));
    if (verdict.kind === "not-ready" || verdict.kind === "unsupported") {
      skipped.push({ taskArn: task.taskArn, kind: verdict.kind, reason: verdict.reason });
      continue;
    }
    const published: PublishedTask = {
      taskId: task.taskId,
      taskArn: task.taskArn,
      address: verdict.address,
      ...(task.availabilityZone === undefined ? {} : { zone: task.availabilityZone }),
    };
    (verdict.kind === "ready" ? ready : draining).push(published);
  }
  return { desired: { ready, draining }, skipped };
}
