import { standardTierMaxBytes } from "@discovery-sync/client/document";
import type { ObservedTask } from "./tasks.js";

/**
 * Tombstones: what the reconciler remembers of tasks that left the ready set, so that an eventually consistent
 * DescribeTasks answering an older state of such a task (RUNNING, healthy) is recognised as stale instead of bringing
 * the task back into the document, Cloud Map or a target group. ECS gives every task a `version` that grows with each
 * state change; a read of a remembered task with a lower version than the one remembered is older than what was
 * already seen. Pure: no I/O.
 *
 * Kept in the writer's own state parameter (`<parameter>/state`, see aws/writer-state.ts), bounded in time and size:
 * ECS catches up within seconds, so a few minutes of memory cover its lag.
 */

/** One remembered task: the version at which it was seen out of the ready set, and when. */
export interface Tombstone {
  readonly version: number;
  readonly removedAtMs: number;
}

/** Tombstones by task id. */
export type Tombstones = ReadonlyMap<string, Tombstone>;

/** How long a tombstone is kept. */
export const tombstoneRetentionMs = 10 * 60_000;

/** A read of a remembered task older than its tombstone. */
export interface StaleTaskRead {
  readonly taskArn: string;
  readonly readVersion: number;
  readonly rememberedVersion: number;
}

/**
 * The tasks whose read is older than their tombstone.
 *
 * @example
 * ```ts
 * const stale = staleTaskReads(tasks, tombstones);
 * if (stale.length > 0) throw new StaleReadError(...);
 * ```
 */
export function staleTaskReads(tasks: readonly ObservedTask[], tombstones: Tombstones): StaleTaskRead[] {
  return tasks.flatMap((task) => {
    const tombstone = tombstones.get(task.taskId);
    if (tombstone === undefined || task.version === undefined || task.version >= tombstone.version) return [];
    return [{ taskArn: task.taskArn, readVersion: task.version, rememberedVersion: tombstone.version }];
  });
}

/**
 * The tombstones after a reconcile that read `tasks` and found `readyIds` ready. A task told to stop is remembered
 * whether or not it was ever published (ECS never restarts a task, so any later "ready" read of it is stale); a task
 * that was published as ready and is not ready now (unhealthy, say) is remembered too, and forgotten when a newer read
 * shows it ready again. Expired tombstones go; a task not read at all keeps its tombstone until it expires.
 *
 * @example
 * ```ts
 * const next = nextTombstones(previous, tasks, readyIds, publishedReadyIds, Date.now());
 * ```
 */
export function nextTombstones(
  previous: Tombstones,
  tasks: readonly ObservedTask[],
  readyIds: ReadonlySet<string>,
  publishedReadyIds: ReadonlySet<string>,
  nowMs: number,
): Map<string, Tombstone> {
  const next = new Map([...previous].filter(([, tombstone]) => nowMs - tombstone.removedAtMs < tombstoneRetentionMs));
  for (const task of tasks) {
    if (task.version === undefined) continue;
    const existing = next.get(task.taskId);
    if (readyIds.has(task.taskId)) {
      if (existing !== undefined && task.version > existing.version) next.delete(task.taskId);
      continue;
    }
    const stopping = task.desiredStatus === "STOPPED" || task.lastStatus === "STOPPED";
    if (!stopping && existing === undefined && !publishedReadyIds.has(task.taskId)) continue;
    if (existing !== undefined && existing.version >= task.version) continue;
    // Whole seconds: what the state parameter keeps, so that an unchanged set compares equal after a round trip.
    next.set(task.taskId, { version: task.version, removedAtMs: existing?.removedAtMs ?? Math.floor(nowMs / 1000) * 1000 });
  }
  return next;
}

/** True when the two hold the same tombstones. */
export function sameTombstones(a: Tombstones, b: Tombstones): boolean {
  if (a.size !== b.size) return false;
  for (const [taskId, tombstone] of a) {
    const other = b.get(taskId);
    if (other === undefined || other.version !== tombstone.version || other.removedAtMs !== tombstone.removedAtMs) return false;
  }
  return true;
}

/**
 * The state parameter's value: `{"schemaVersion":1,"tombstones":[[taskId, version, removedAtSeconds], ...]}`, newest
 * first, cut to fit a Standard parameter (the oldest are dropped first: ECS has long caught up with them).
 *
 * @example
 * ```ts
 * const text = serializeTombstones(next);
 * ```
 */
export function serializeTombstones(tombstones: Tombstones, maxBytes = standardTierMaxBytes): string {
  const entries = [...tombstones]
    .sort(([idA, a], [idB, b]) => b.removedAtMs - a.removedAtMs || idA.localeCompare(idB))
    .map(([taskId, t]) => [taskId, t.version, Math.floor(t.removedAtMs / 1000)] as const);
  let kept = entries.length;
  const text = (n: number) => JSON.stringify({ schemaVersion: 1, tombstones: entries.slice(0, n) });
  while (kept > 0 && Buffer.byteLength(text(kept), "utf8") > maxBytes) kept--;
  return text(kept);
}

/**
 * Parses the state parameter's value; anything unreadable counts as no tombstones (the state only ever adds safety).
 *
 * @example
 * ```ts
 * const tombstones = parseTombstones(parameter.Value);
 * ```
 */
export function parseTombstones(text: string | undefined): Map<string, Tombstone> {
  const tombstones = new Map<string, Tombstone>();
  if (text === undefined) return tombstones;
  try {
    const value = JSON.parse(text) as { schemaVersion?: unknown; tombstones?: unknown };
    if (value.schemaVersion !== 1 || !Array.isArray(value.tombstones)) return tombstones;
    for (const entry of value.tombstones) {
      if (!Array.isArray(entry)) continue;
      const [taskId, version, removedAtSeconds] = entry as unknown[];
      if (typeof taskId !== "string" || !Number.isSafeInteger(version) || !Number.isSafeInteger(removedAtSeconds)) continue;
      tombstones.set(taskId, { version: version as number, removedAtMs: (removedAtSeconds as number) * 1000 });
    }
  } catch {
    return tombstones;
  }
  return tombstones;
}
