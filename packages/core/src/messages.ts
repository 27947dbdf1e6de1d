import * as v from "valibot";
import { englishMessages, finiteNumber, issuePathOf, objectOf } from "./validation.js";

/** Why a reconcile was asked for. */
export const reconcileTriggerSchema = objectOf({
  /** `event`: an ECS task event; `sweep`: the periodic repair; `manual`: an operator (CLI). */
  kind: v.picklist(["event", "sweep", "manual"]),
  /** EventBridge event id, for events. */
  eventId: v.optional(v.pipe(v.string(), v.minLength(1))),
  taskArn: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** The task's `version` in the event: a DescribeTasks read older than this is stale. */
  taskVersion: v.optional(v.pipe(finiteNumber, v.integer("must be an integer"), v.minValue(0))),
  lastStatus: v.optional(v.string()),
  desiredStatus: v.optional(v.string()),
  /** When the trigger was enqueued, ISO 8601. */
  at: v.pipe(v.string(), v.minLength(1)),
});

/**
 * The body of a reconcile queue message. It carries only the key of what to reconcile (the service) and why:
 * the reconciler re-reads the world, so duplicates and reordering are harmless.
 */
export const reconcileMessageSchema = objectOf({
  schemaVersion: v.literal(1),
  service: v.pipe(v.string(), v.minLength(1)),
  trigger: reconcileTriggerSchema,
});

export type ReconcileTrigger = v.InferOutput<typeof reconcileTriggerSchema>;
export type ReconcileMessage = v.InferOutput<typeof reconcileMessageSchema>;

/**
 * Parses a queue message body.
 *
 * @example
 * ```ts
 * const message = parseReconcileMessage(record.body);
 * if (message.ok) console.log(message.value.service);
 * ```
 */
export function parseReconcileMessage(body: string):
  | { ok: true; value: ReconcileMessage }
  | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: `body is not JSON: ${(error as Error).message}` };
  }
  const parsed = v.safeParse(reconcileMessageSchema, json, { message: englishMessages });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    return { ok: false, reason: `${issuePathOf(issue).join(".") || "body"}: ${issue.message}` };
  }
  return { ok: true, value: parsed.output };
}
