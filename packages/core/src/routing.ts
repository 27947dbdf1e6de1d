import { createHash } from "node:crypto";
import { z } from "zod";
import { clusterNameOf, type DiscoverySyncConfig, type ServiceConfig } from "./config.js";
import type { ReconcileMessage } from "./messages.js";

// ECS adds fields over time: everything not needed for routing passes through unchecked.
const ecsTaskEventSchema = z.looseObject({
  id: z.string().min(1),
  source: z.literal("aws.ecs"),
  "detail-type": z.literal("ECS Task State Change"),
  time: z.string().optional(),
  detail: z.looseObject({
    clusterArn: z.string().regex(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/.+$/, "must be an ECS cluster ARN"),
    taskArn: z.string().min(1),
    group: z.string().optional(),
    lastStatus: z.string().min(1),
    desiredStatus: z.string().min(1),
    version: z.number().int().nonnegative().optional(),
  }),
});

/** An "ECS Task State Change" event as far as routing needs it. */
export type EcsTaskEvent = z.infer<typeof ecsTaskEventSchema>;

/** One SQS FIFO message to send. */
export interface ReconcileQueueMessage {
  readonly service: string;
  readonly body: string;
  /** The service name: reconciles of one service never run concurrently, and run in order. */
  readonly groupId: string;
  /** Derived from the event id (or sweep invocation), so redeliveries within 5 minutes are absorbed by SQS. */
  readonly deduplicationId: string;
}

/** What the router does with an event. */
export type RouteDecision =
  | { readonly kind: "enqueue"; readonly message: ReconcileQueueMessage }
  | { readonly kind: "ignore"; readonly reason: string }
  | { readonly kind: "reject"; readonly reason: string };

// SQS: MessageDeduplicationId is at most 128 characters of alphanumerics and punctuation.
function deduplicationId(raw: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(raw) ? raw : createHash("sha256").update(raw).digest("hex");
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid event";
  const given = "input" in issue ? ` (given ${JSON.stringify(issue.input)?.slice(0, 80) ?? "nothing"})` : "";
  return `${issue.path.join(".") || "event"}: ${issue.message}${given}`;
}

/** The configured service a task belongs to: same cluster (by name or ARN) and group `service:NAME`. */
export function findServiceOfTask(
  config: DiscoverySyncConfig,
  clusterArn: string,
  group: string | undefined,
): ServiceConfig | undefined {
  const clusterName = clusterNameOf(clusterArn);
  return config.services.find(
    (service) =>
      (service.cluster.startsWith("arn:") ? service.cluster === clusterArn : service.cluster === clusterName) &&
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
  const parsed = ecsTaskEventSchema.safeParse(event, { reportInput: true });
  if (!parsed.success) return { kind: "reject", reason: describeIssue(parsed.error) };
  const { detail, id } = parsed.data;
  const service = findServiceOfTask(config, detail.clusterArn, detail.group);
  if (service === undefined) {
    return {
      kind: "ignore",
      reason: `task ${detail.taskArn} (group ${detail.group ?? "none"}) belongs to no configured service`,
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
    message: { service: service.name, body: JSON.stringify(message), groupId: service.name, deduplicationId: deduplicationId(id) },
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
