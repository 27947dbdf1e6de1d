/**
 * The event filter as deployed, against whole task lifecycles: the synthesised task-state rule, evaluated by the
 * emulator's EventBridge (the rule is put on the default bus of a fresh account with an SQS target, as in
 * `event-pattern.test.ts`), then the router (`routeTaskEvent`), then SQS FIFO deduplication and a reconcile that
 * publishes what ECS says when it runs (`support/taskLifecycles.ts`).
 *
 * Every event a lifecycle can emit has one of a few shapes (lastStatus x desiredStatus x healthStatus, for the one
 * configured service): each shape is sent through the emulator's rule once, and the generated lifecycles are judged
 * with what it delivered. That is sound because the test first checks that the pattern reads no other field.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { TASK_EVENT_LAST_STATUSES } from "@discovery-sync/cdk";
import { parseConfig, routeTaskEvent } from "@discovery-sync/core";
import { isolatedAccount } from "../support/aws.js";
import { putEventsInTens } from "./support/putEvents.js";
import { resolveIntrinsics } from "@discovery-sync/emulator";
import { logicalIdOf, synthControlPlane } from "./support/stacks.js";
import {
  deliveriesArbitrary,
  eventsOf,
  finalTruthOf,
  healthChangesOf,
  lastStatuses,
  lifecycleArbitrary,
  lifecycleEnv,
  lifecycleService,
  simulate,
  stepsOutOfStep,
  taskEventOf,
  type Admission,
  type Health,
  type TaskEvent,
  type TaskState,
} from "./support/taskLifecycles.js";

const config = parseConfig({ services: [lifecycleService] });
const now = new Date("2026-11-28T10:00:00.000Z");

/** The fields of an event that decide its shape, as the key of what the rule delivered. */
const shapeOf = (event: TaskEvent): string =>
  `${String(event.detail["lastStatus"])}/${String(event.detail["desiredStatus"])}/${String(event.detail["healthStatus"] ?? "-")}`;

/** Every shape: each lastStatus, desiredStatus and health a task event can carry (health left out counts as one). */
const shapes: Array<{ state: TaskState; reportsHealth: boolean }> = lastStatuses.flatMap((lastStatus) =>
  (["RUNNING", "STOPPED"] as const).flatMap((desiredStatus) =>
    (["UNKNOWN", "HEALTHY", "UNHEALTHY"] as Health[]).flatMap((healthStatus) =>
      [true, ...(healthStatus === "UNKNOWN" ? [false] : [])].map((reportsHealth) => ({
        state: { lastStatus, desiredStatus, healthStatus, hasAddress: lastStatus !== "PROVISIONING" },
        reportsHealth,
      })),
    ),
  ),
);

/** The detail fields a pattern reads, `$or` branches included. */
function detailFieldsOf(detail: Record<string, unknown>): string[] {
  return Object.entries(detail).flatMap(([key, value]) =>
    key === "$or" ? (value as Record<string, unknown>[]).flatMap(detailFieldsOf) : [key],
  );
}

const routed = (event: TaskEvent) => {
  const decision = routeTaskEvent(config, event, now);
  if (decision.kind === "reject") throw new Error(`the router rejected a generated event: ${decision.reason}`);
  return decision.kind === "enqueue" ? decision.message : undefined;
};
const router = (event: TaskEvent): string | undefined => routed(event)?.deduplicationId;

describe("the task-state rule and the router over generated task lifecycles, on the emulator's EventBridge", () => {
  let pattern: { source: string[]; "detail-type": string[]; detail: Record<string, unknown> };
  let sqs: SQSClient;
  /** Shape key -> whether the emulator's rule delivered an event of that shape. */
  const delivered = new Map<string, boolean>();
  /** The rule, then the router: what reaches the queue, and with which deduplication id. */
  const deployed: Admission = (event) => {
    const byRule = delivered.get(shapeOf(event));
    if (byRule === undefined) throw new Error(`no event of shape ${shapeOf(event)} was sent through the rule`);
    return byRule ? router(event) : undefined;
  };

  beforeAll(async () => {
    // Prepare: the synthesised pattern as a rule with an SQS target, in a fresh account.
    const { json, stack, controlPlane } = synthControlPlane({ config: { services: [lifecycleService] } }, lifecycleEnv);
    pattern = resolveIntrinsics(json.Resources[logicalIdOf(stack, controlPlane.taskStateRule)]!.Properties!["EventPattern"], lifecycleEnv) as typeof pattern;
    const account = isolatedAccount();
    const events = account.client(EventBridgeClient);
    sqs = account.client(SQSClient);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "lifecycle-test" }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
    await events.send(new PutRuleCommand({ Name: "task-state", EventPattern: JSON.stringify(pattern), State: "ENABLED" }));
    await events.send(new PutTargetsCommand({ Rule: "task-state", Targets: [{ Id: "queue", Arn: Attributes!["QueueArn"]! }] }));

    // Act: one event of every shape, each its own task, ten per PutEvents.
    const byTask = new Map<string, string>();
    const all = shapes.map(({ state, reportsHealth }, i) => {
      const event = taskEventOf(i.toString(16).padStart(32, "0"), state, 7, reportsHealth);
      byTask.set(String(event.detail["taskArn"]), shapeOf(event));
      delivered.set(shapeOf(event), false);
      return event;
    });
    expect(await putEventsInTens(events, all)).toBe(0);
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (Messages.length === 0) break;
      for (const m of Messages) {
        const shape = byTask.get(String((JSON.parse(m.Body ?? "{}") as TaskEvent).detail["taskArn"]));
        if (shape !== undefined) delivered.set(shape, true);
      }
    }
  });

  it("reads only the fields the shapes vary (source, detail-type, cluster, group, lastStatus), so the shapes cover every event", () => {
    expect(Object.keys(pattern).sort()).toEqual(["detail", "detail-type", "source"]);
    expect(new Set(detailFieldsOf(pattern.detail))).toEqual(new Set(["clusterArn", "group", "lastStatus"]));
    expect(delivered.size).toBe(shapes.length);
  });

  it("keeps the steps before RUNNING and DEPROVISIONING from the router, and lets the others through", () => {
    const deliveredStatuses = new Set([...delivered].filter(([, yes]) => yes).map(([shape]) => shape.split("/")[0]));
    expect([...deliveredStatuses].sort()).toEqual(["DEACTIVATING", "RUNNING", "STOPPED", "STOPPING"]);
    expect([...TASK_EVENT_LAST_STATUSES].sort()).toEqual([...deliveredStatuses].sort());
    // Every shape of a delivered lastStatus is delivered: the rule does not read desiredStatus or health.
    for (const [shape, yes] of delivered) expect(yes, shape).toBe(deliveredStatuses.has(shape.split("/")[0]!));
  });

  it("never drops an event the router would enqueue", () => {
    for (const { state, reportsHealth } of shapes) {
      const event = taskEventOf("f".repeat(32), state, 7, reportsHealth);
      if (router(event) !== undefined) expect(delivered.get(shapeOf(event)), shapeOf(event)).toBe(true);
    }
  });

  it("sends at most 4 reconciles per lifecycle (one more per further health change), however the events come", async () => {
    await fc.assert(
      fc.asyncProperty(
        lifecycleArbitrary().chain((lifecycle) => deliveriesArbitrary(eventsOf(lifecycle).length, 12).map((deliveries) => ({ lifecycle, deliveries }))),
        async ({ lifecycle, deliveries }) => {
          const { reconciles, finalView } = await simulate(lifecycle, deliveries, deployed);
          expect(reconciles).toBeLessThanOrEqual(3 + Math.max(1, healthChangesOf(lifecycle)));
          // And no change is lost: after the last event, what is published is what ECS says.
          expect(finalView).toBe(finalTruthOf(lifecycle));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("the emulator's SQS FIFO queue keeps exactly the messages the model admits: one per phase, duplicates dropped", async () => {
    let queues = 0;
    await fc.assert(
      fc.asyncProperty(
        lifecycleArbitrary().chain((lifecycle) => deliveriesArbitrary(eventsOf(lifecycle).length, 12).map((deliveries) => ({ lifecycle, deliveries }))),
        async ({ lifecycle, deliveries }) => {
          // Prepare: a FIFO queue of its own; nothing is received, so every message sent stays in it (moto forgets a
          // deduplication id once its message is deleted, SQS only after 5 minutes: not what is tested here).
          const { QueueUrl } = await sqs.send(
            new CreateQueueCommand({ QueueName: `lifecycle-dedup-${++queues}.fifo`, Attributes: { FifoQueue: "true" } }),
          );
          // Act: every event the rule lets through goes to the queue as the router sends it, in delivery order.
          const { reconciles } = await simulate(lifecycle, deliveries, async (event) => {
            const id = await deployed(event);
            const message = id === undefined ? undefined : routed(event)!;
            if (message !== undefined) {
              await sqs.send(
                new SendMessageCommand({ QueueUrl, MessageBody: message.body, MessageGroupId: message.groupId, MessageDeduplicationId: id }),
              );
            }
            return id;
          });
          // Assess: the queue holds one message per deduplication id the model counted as a reconcile.
          const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }));
          expect(Number(Attributes?.["ApproximateNumberOfMessages"])).toBe(reconciles);
          expect(reconciles).toBeLessThanOrEqual(3 + Math.max(1, healthChangesOf(lifecycle)));
        },
      ),
      { numRuns: 15 },
    );
  });

  it("follows every change of readiness and every start of draining at the step it happens, with events in order", async () => {
    await fc.assert(
      fc.asyncProperty(lifecycleArbitrary(), async (lifecycle) => {
        expect(await stepsOutOfStep(lifecycle, deployed)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
