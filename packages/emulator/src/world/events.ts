/**
 * The "ECS Task State Change" events AWS would emit for the world's tasks (moto emits none), and putting them on
 * the default bus, where the world's rule delivers them to the router inbox.
 */
import { randomUUID } from "node:crypto";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { Task } from "@aws-sdk/client-ecs";
import type { WorldClients } from "./clients.js";
import { WorldError, required, step } from "./errors.js";
import type { TaskOverlay, TaskPatch } from "./overlay.js";
import { describeTasks, taskIp } from "./tasks.js";
import type { World } from "./types.js";

/** An EventBridge "ECS Task State Change" event, shaped like AWS's. `detail` keeps unknown fields. */
export interface TaskStateChangeEvent {
  version: "0";
  id: string;
  "detail-type": "ECS Task State Change";
  source: "aws.ecs";
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: TaskStateChangeDetail;
}

/** The `detail` of an "ECS Task State Change" event: the task as DescribeTasks reports it, with ISO timestamps. */
export interface TaskStateChangeDetail {
  taskArn: string;
  clusterArn: string;
  lastStatus: string;
  desiredStatus: string;
  updatedAt: string;
  version: number;
  group?: string;
  [field: string]: unknown;
}

/** Options of {@link taskStateChangeEvent}. */
export interface TaskStateChangeEventOptions {
  readonly account: string;
  readonly region: string;
  /** `detail.version`. @default the task's own `version`, else 1 */
  readonly version?: number;
  /** Envelope id. @default a random UUID */
  readonly id?: string;
  /** When the change happened: `detail.updatedAt` and the envelope `time`. @default now */
  readonly time?: Date;
  /** Fields set in `detail` last (for example `{ lastStatus: "STOPPED" }` or a malformed value). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** Converts DescribeTasks values to event JSON: Dates to ISO strings, undefined dropped. */
function toEventJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toEventJson);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) if (inner !== undefined) out[key] = toEventJson(inner);
    return out;
  }
  return value;
}

/**
 * Builds the "ECS Task State Change" event AWS would emit for a task (moto emits none): envelope `version "0"`,
 * `id`, `detail-type`, `source aws.ecs`, `account`, `time` (seconds precision, as AWS writes it), `region`,
 * `resources [taskArn]`, and `detail` = the task with ISO string timestamps, `updatedAt` and `version`. When
 * `containers[].networkInterfaces` is empty (moto), it is filled from the ENI attachment, as AWS's events carry it.
 *
 * @example
 * ```ts
 * const [task] = await runServiceTasks(clients, world, 1);
 * const event = taskStateChangeEvent(task, { account: world.accountId, region: world.region, version: 2 });
 * await putTaskEvents(clients, [event]);
 * ```
 */
export function taskStateChangeEvent(task: Task, options: TaskStateChangeEventOptions): TaskStateChangeEvent {
  const taskArn = required(task.taskArn, "taskArn", "taskStateChangeEvent");
  const time = options.time ?? new Date();
  const detail = toEventJson(task) as Record<string, unknown>;
  const eni = task.attachments?.find((a) => a.type === "eni" || a.type === "ElasticNetworkInterface");
  const ip = taskIp(task);
  if (Array.isArray(detail.containers) && eni !== undefined && ip !== undefined) {
    detail.containers = (detail.containers as Array<Record<string, unknown>>).map((c) =>
      Array.isArray(c.networkInterfaces) && c.networkInterfaces.length > 0
        ? c
        : { ...c, networkInterfaces: [{ attachmentId: eni.id, privateIpv4Address: ip }] },
    );
  }
  detail.updatedAt = time.toISOString();
  detail.version = options.version ?? task.version ?? 1;
  Object.assign(detail, options.overrides);
  return {
    version: "0",
    id: options.id ?? randomUUID(),
    "detail-type": "ECS Task State Change",
    source: "aws.ecs",
    account: options.account,
    time: time.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: options.region,
    resources: [taskArn],
    detail: detail as TaskStateChangeDetail,
  };
}

/** PutEvents takes at most 10 entries per call. */
const putEventsMax = 10;

/**
 * Puts events on the emulator's default event bus (PutEvents with Source, DetailType, Detail, Resources, Time),
 * where the world's rule delivers them to the router inbox. EventBridge assigns its own envelope `id`: the one in
 * the given event is not carried over (PutEvents has no id field), so duplicate deliveries cannot be modelled
 * through the bus: call the route handler directly for those.
 *
 * @example
 * ```ts
 * await putTaskEvents(clients, tasks.map((t) => taskStateChangeEvent(t, { account, region })));
 * ```
 * @throws {WorldError} when PutEvents fails or rejects an entry.
 */
export async function putTaskEvents(
  clients: Pick<WorldClients, "eventBridge">,
  events: readonly Pick<TaskStateChangeEvent, "source" | "detail-type" | "detail" | "resources" | "time">[],
): Promise<void> {
  for (let start = 0; start < events.length; start += putEventsMax) {
    const batch = events.slice(start, start + putEventsMax);
    const out = await step("PutEvents", { count: batch.length }, () =>
      clients.eventBridge.send(
        new PutEventsCommand({
          Entries: batch.map((event) => ({
            Source: event.source,
            DetailType: event["detail-type"],
            Detail: JSON.stringify(event.detail),
            Resources: event.resources,
            Time: new Date(event.time),
          })),
        }),
      ),
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      const failed = (out.Entries ?? []).filter((e) => e.ErrorCode !== undefined);
      throw new WorldError(`PutEvents rejected ${String(out.FailedEntryCount)} event(s): ${JSON.stringify(failed)}`, "PutEvents", {
        failed,
      });
    }
  }
}

/** Options of {@link emitTaskStateChanges}. */
export interface EmitTaskStateChangesOptions {
  /** When the changes happened. @default now */
  readonly time?: Date;
  /** Detail fields set last on every event (see {@link TaskStateChangeEventOptions.overrides}). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/**
 * Records a state change of tasks the way ECS does, and emits the matching events: for each task, bumps its
 * `version` in the overlay (from 1), merges `patch` into its overlay patch, reads it back with DescribeTasks (so
 * event and read agree, as on AWS: "DescribeTasks returns the same version"), builds its "ECS Task State Change"
 * event and puts all of them on the default bus, where the world's rule delivers them to the router inbox.
 * The overlay's plugin must be on `clients.ecs`.
 *
 * @example
 * ```ts
 * const tasks = await runServiceTasks(clients, world, 3);
 * await emitTaskStateChanges(clients, world, overlay, tasks.map((t) => t.taskArn!), { healthStatus: "HEALTHY" });
 * await drainInbox(clients.sqs, world.inboxQueueUrl!, route);
 * ```
 * @returns the events put on the bus (their envelope ids are not the ones EventBridge delivers, see {@link putTaskEvents}).
 */
export async function emitTaskStateChanges(
  clients: Pick<WorldClients, "ecs" | "eventBridge">,
  world: World,
  overlay: TaskOverlay,
  taskArns: readonly string[],
  patch: TaskPatch = {},
  options: EmitTaskStateChangesOptions = {},
): Promise<TaskStateChangeEvent[]> {
  const versions = new Map<string, number>();
  for (const taskArn of taskArns) {
    const version = (overlay.get(taskArn)?.version ?? 0) + 1;
    versions.set(taskArn, version);
    overlay.set(taskArn, { ...patch, version });
  }
  const tasks = await describeTasks(clients, world, taskArns);
  const events = tasks.map((task) =>
    taskStateChangeEvent(task, {
      account: world.accountId,
      region: world.region,
      version: versions.get(task.taskArn ?? "") ?? 1,
      ...(options.time === undefined ? {} : { time: options.time }),
      ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
    }),
  );
  await putTaskEvents(clients, events);
  return events;
}
