import * as z from "zod/mini";
import { englishMessages } from "./config.js";

/** Why a reconcile was asked for. */
export const reconcileTriggerSchema = z.object({
  /** `event`: an ECS task event; `sweep`: the periodic repair; `manual`: an operator (CLI). */
  kind: z.enum(["event", "sweep", "manual"]),
  /** EventBridge event id, for events. */
  eventId: z.optional(z.string().check(z.minLength(1))),
  taskArn: z.optional(z.string().check(z.minLength(1))),
  /** The task's `version` in the event: a DescribeTasks read older than this is stale. */
  taskVersion: z.optional(z.number().check(z.refine(Number.isInteger, "must be an integer"), z.gte(0))),
  lastStatus: z.optional(z.string()),
  desiredStatus: z.optional(z.string()),
  /** When the trigger was enqueued, ISO 8601. */
  at: z.string().check(z.minLength(1)),
});

/**
 * The body of a reconcile queue message. It carries only the key of what to reconcile (the service) and why:
 * the reconciler re-reads the world, so duplicates and reordering are harmless.
 */
export const reconcileMessageSchema = z.object({
  schemaVersion: z.literal(1),
  service: z.string().check(z.minLength(1)),
  trigger: reconcileTriggerSchema,
});

export type ReconcileTrigger = z.output<typeof reconcileTriggerSchema>;
export type ReconcileMessage = z.output<typeof reconcileMessageSchema>;

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
  const parsed = reconcileMessageSchema.safeParse(json, { error: englishMessages });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, value: parsed.data };
}
