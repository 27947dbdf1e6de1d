import { createHash } from "node:crypto";
import * as v from "valibot";
import type { DiscoverySyncConfig, ServiceConfig } from "./config.js";
import { englishMessages, finiteNumber, issuePathOf, looseObjectOf } from "./validation.js";
import type { ReconcileMessage } from "./messages.js";

// ECS adds fields over time: everything not needed for routing passes through unchecked.
const ecsTaskEventSchema = looseObjectOf({
  id: v.pipe(v.string(), v.minLength(1)),
  source: v.literal("aws.ecs"),
  "detail-type": v.literal("ECS Task State Change"),
  time: v.optional(v.string()),
  detail: looseObjectOf({
    clusterArn: v.pipe(v.string(), v.regex(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/.+$/, "must be an ECS cluster ARN")),
    taskArn: v.pipe(v.string(), v.minLength(1)),
    group: v.optional(v.string()),
    lastStatus: v.pipe(v.string(), v.minLength(1)),
    desiredStatus: v.pipe(v.string(), v.minLength(1)),
    healthStatus: v.optional(v.string()),
    version: v.optional(v.pipe(finiteNumber, v.integer("must be an integer"), v.minValue(0))),
  }),
});

/** An "ECS Task State Change" event as far as routing needs it. */
export type EcsTaskEvent = v.InferOutput<typeof ecsTaskEventSchema>;

/** One SQS FIFO message to send. */
export interface ReconcileQueueMessage {
  readonly service: string;
  readonly body: string;
  /** The service name: reconciles of one service never run concurrently, and run in order. */
  readonly groupId: string;
  /**
   * What makes two messages the same for SQS, which keeps only the first of a deduplication id sent within 5
   * minutes: the task and its publishing phase for task events (see {@link publishingPhaseOf}), the event id when
   * the phase can recur, the service and invocation for sweeps.
   */
  readonly deduplicationId: string;
}

/** What the router does with an event. */
export type RouteDecision =
  | { readonly kind: "enqueue"; readonly message: ReconcileQueueMessage }
  | { readonly kind: "ignore"; readonly reason: string }
  | { readonly kind: "reject"; readonly reason: string };

/** Why the router lets a task event through, and which other events of the task it is the same as. */
export type PublishingPhase =
  /** First RUNNING events (health UNKNOWN): ready now if the task definition has no health check. */
  | { readonly kind: "running"; readonly sharedByTask: true }
  /** A health result while running and wanted (HEALTHY, UNHEALTHY): a health change. Can recur, so never shared. */
  | { readonly kind: "health"; readonly sharedByTask: false }
  /** desiredStatus STOPPED while alive (RUNNING, DEACTIVATING, STOPPING): draining. */
  | { readonly kind: "stopping"; readonly sharedByTask: true }
  /** lastStatus STOPPED: gone. */
  | { readonly kind: "stopped"; readonly sharedByTask: true };

const aliveWhileStopping = new Set(["RUNNING", "DEACTIVATING", "STOPPING"]);

/**
 * The publishing phase of a task event, or undefined when the event cannot change what is published. Pure.
 *
 * A task is published while ready (lastStatus RUNNING) and listed as draining while told to stop and still alive
 * (RUNNING, DEACTIVATING, STOPPING); it leaves the document at STOPPED. The steps before RUNNING (PROVISIONING,
 * PENDING, ACTIVATING) and DEPROVISIONING change nothing a reader sees that the next admitted event does not also
 * change: a task is never published before its first RUNNING event, and STOPPED follows DEPROVISIONING. (The
 * task-state rule of `@discovery-sync/cdk` lets only RUNNING, DEACTIVATING, STOPPING and STOPPED through.) So a
 * task's lifecycle makes at most four reconciles: its first RUNNING, a health change, desiredStatus STOPPED, STOPPED.
 *
 * Events of one phase of one task all lead to the same published state (the reconcile re-reads ECS), so the router
 * gives them one deduplication id and SQS keeps the first sent within 5 minutes: ECS emits several events per step
 * (container, attachment and health updates), delivered at least once and in any order. Each phase is entered once in
 * a task's life (lastStatus only moves forward, desiredStatus never returns to RUNNING, and health is UNKNOWN only
 * until the first result), except health results, which can flap (HEALTHY, UNHEALTHY, HEALTHY): each of those keeps
 * its own event id, so no change of readiness is ever deduplicated away.
 *
 * @example
 * ```ts
 * publishingPhaseOf({ lastStatus: "PENDING", desiredStatus: "RUNNING" });  // undefined
 * publishingPhaseOf({ lastStatus: "STOPPING", desiredStatus: "STOPPED" }); // { kind: "stopping", sharedByTask: true }
 * ```
 */
export function publishingPhaseOf(detail: {
  readonly lastStatus: string;
  readonly desiredStatus: string;
  readonly healthStatus?: string | undefined;
}): PublishingPhase | undefined {
  if (detail.lastStatus === "STOPPED") return { kind: "stopped", sharedByTask: true };
  if (detail.desiredStatus === "STOPPED") return aliveWhileStopping.has(detail.lastStatus) ? { kind: "stopping", sharedByTask: true } : undefined;
  if (detail.lastStatus !== "RUNNING") return undefined;
  const health = detail.healthStatus ?? "UNKNOWN";
  return health === "UNKNOWN" ? { kind: "running", sharedByTask: true } : { kind: "health", sharedByTask: false };
}

// SQS: MessageDeduplicationId is at most 128 characters of alphanumerics and punctuation.
function deduplicationId(raw: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(raw) ? raw : createHash("sha256").update(raw).digest("hex");
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  return `${issuePathOf(issue).join(".") || "event"}: ${issue.message} (given ${JSON.stringify(issue.input)?.slice(0, 80) ?? "nothing"})`;
}

/**
 * The configured service a task belongs to: same cluster and group `service:NAME`. A cluster configured by ARN
 * matches only that ARN; one configured by name matches that name in any account and Region the events come from.
 *
 * @example
 * ```ts
 * findServiceOfTask(config, "arn:aws:ecs:us-east-1:123456789012:cluster/workflow", "service:workflow-agent");
 * ```
 */
export function findServiceOfTask(
  config: DiscoverySyncConfig,
  clusterArn: string,
  group: string | undefined,
): ServiceConfig | undefined {
  // The event's cluster ARN always ends in cluster/<name> (checked by the event schema).
  const clusterName = clusterArn.slice(clusterArn.lastIndexOf("/") + 1);
  return config.services.find(
    (service) =>
      (service.clusterArn === undefined ? service.clusterName === clusterName : service.clusterArn === clusterArn) &&
      group === `service:${service.ecsService}`,
  );
}

/**
 * Decides what to do with an EventBridge event. Pure.
 *
 * @example
 * ```ts
 * const decision = routeTaskEvent(config, event, new Date());
 * if (decision.kind === "enqueue") await sqs.send(new SendMessageCommand({ ... }));
 * ```
 */
export function routeTaskEvent(config: DiscoverySyncConfig, event: unknown, now: Date): RouteDecision {
  const parsed = v.safeParse(ecsTaskEventSchema, event, { message: englishMessages });
  if (!parsed.success) return { kind: "reject", reason: describeIssue(parsed.issues[0]) };
  const { detail, id } = parsed.output;
  const service = findServiceOfTask(config, detail.clusterArn, detail.group);
  if (service === undefined) {
    return {
      kind: "ignore",
      reason: `task ${detail.taskArn} (group ${detail.group ?? "none"}) belongs to no configured service`,
    };
  }
  const phase = publishingPhaseOf(detail);
  if (phase === undefined) {
    return {
      kind: "ignore",
      reason:
        `task ${detail.taskArn} is ${detail.lastStatus} (desiredStatus ${detail.desiredStatus}): ` +
        "that cannot change what is published; the task's next RUNNING, stopping or STOPPED event will",
    };
  }
  const message: ReconcileMessage = {
    schemaVersion: 1,
    service: service.name,
    trigger: {
      kind: "event",
      eventId: id,
      taskArn: detail.taskArn,
      ...(detail.version === undefined ? {} : { taskVersion: detail.version }),
      lastStatus: detail.lastStatus,
      desiredStatus: detail.desiredStatus,
      at: now.toISOString(),
    },
  };
  return {
    kind: "enqueue",
    message: {
      service: service.name,
      body: JSON.stringify(message),
      groupId: service.name,
      deduplicationId: deduplicationId(phase.sharedByTask ? `${phase.kind}:${detail.taskArn}` : id),
    },
  };
}

/**
 * One reconcile message per configured service, for the periodic sweep. They go through the same FIFO queue and
 * message groups as event-driven reconciles, so a sweep never races one.
 *
 * @example
 * ```ts
 * for (const message of sweepMessages(config, scheduledEvent.id, new Date())) await send(message);
 * ```
 */
export function sweepMessages(
  config: DiscoverySyncConfig,
  invocationId: string,
  now: Date,
  kind: "sweep" | "manual" = "sweep",
): ReconcileQueueMessage[] {
  return config.services.map((service) => {
    const message: ReconcileMessage = { schemaVersion: 1, service: service.name, trigger: { kind, at: now.toISOString() } };
    return {
      service: service.name,
      body: JSON.stringify(message),
      groupId: service.name,
      deduplicationId: deduplicationId(`${kind}-${service.name}-${invocationId}`),
    };
  });
}
