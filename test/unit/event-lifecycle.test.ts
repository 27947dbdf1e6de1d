/**
 * The router's event filter against whole task lifecycles (fast-check): a task's lifecycle reaches the queue at most
 * four times (first RUNNING, a health change, desiredStatus STOPPED, STOPPED; one more per further health change), and
 * no change of readiness is dropped. The router alone here, with no network; `test/infra/event-lifecycle.test.ts`
 * puts the synthesised EventBridge rule, evaluated by the emulator's EventBridge, in front of it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig, routeTaskEvent } from "@discovery-sync/core";
import {
  deliveriesArbitrary,
  eventsOf,
  finalTruthOf,
  healthChangesOf,
  lifecycleArbitrary,
  lifecycleService,
  simulate,
  stepsOutOfStep,
  type Admission,
  type Lifecycle,
} from "../infra/support/taskLifecycles.js";

const config = parseConfig({ services: [lifecycleService] });
const now = new Date("2026-11-28T10:00:00.000Z");
/** The router: the deduplication id of what it enqueues, nothing for what it ignores; a rejected event fails the test. */
const router: Admission = (event) => {
  const decision = routeTaskEvent(config, event, now);
  if (decision.kind === "reject") throw new Error(`the router rejected a generated event: ${decision.reason}`);
  return decision.kind === "enqueue" ? decision.message.deduplicationId : undefined;
};

const lifecycleWithDeliveries = lifecycleArbitrary().chain((lifecycle) =>
  deliveriesArbitrary(eventsOf(lifecycle).length, 12).map((deliveries) => ({ lifecycle, deliveries })),
);
const describeLifecycle = (lifecycle: Lifecycle): string =>
  `${lifecycle.ending}, health check ${lifecycle.hasHealthCheck}: ` +
  lifecycle.steps.map((s) => `${s.state.lastStatus}/${s.state.desiredStatus}/${s.state.healthStatus}x${s.events}`).join(" ");

describe("the router over generated task lifecycles", () => {
  it("sends at most 4 reconciles per lifecycle (one more per further health change), however the events come", async () => {
    await fc.assert(
      fc.asyncProperty(lifecycleWithDeliveries, async ({ lifecycle, deliveries }) => {
        const { reconciles } = await simulate(lifecycle, deliveries, router);
        const bound = 3 + Math.max(1, healthChangesOf(lifecycle));
        expect(reconciles, describeLifecycle(lifecycle)).toBeLessThanOrEqual(bound);
        if (healthChangesOf(lifecycle) <= 1) expect(reconciles).toBeLessThanOrEqual(4);
      }),
      { numRuns: 300 },
    );
  });

  it("publishes, after the last event, the state computed from ECS, whatever the order and duplicates", async () => {
    await fc.assert(
      fc.asyncProperty(lifecycleWithDeliveries, async ({ lifecycle, deliveries }) => {
        const { finalView } = await simulate(lifecycle, deliveries, router);
        expect(finalView, describeLifecycle(lifecycle)).toBe(finalTruthOf(lifecycle));
      }),
      { numRuns: 300 },
    );
  });

  it("follows every change of readiness and every start of draining at the step it happens, with events in order", async () => {
    await fc.assert(
      fc.asyncProperty(lifecycleArbitrary(), async (lifecycle) => {
        expect(await stepsOutOfStep(lifecycle, router), describeLifecycle(lifecycle)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("lets through far fewer events than ECS emits: none before RUNNING, none at DEPROVISIONING", async () => {
    // Prepare: a task that starts, turns healthy, is scaled in, with 4 events per transition.
    const lifecycle: Lifecycle = {
      taskId: "0123456789abcdef0123456789abcdef",
      hasHealthCheck: true,
      reportsUnknownHealth: true,
      ending: "scale-in",
      steps: [
        ...(["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"] as const).map((lastStatus) => ({
          state: { lastStatus, desiredStatus: "RUNNING" as const, healthStatus: "UNKNOWN" as const, hasAddress: lastStatus !== "PROVISIONING" },
          kind: "transition" as const,
          events: 4,
        })),
        { state: { lastStatus: "RUNNING", desiredStatus: "RUNNING", healthStatus: "HEALTHY", hasAddress: true }, kind: "health", events: 1 },
        ...(["RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"] as const).map((lastStatus) => ({
          state: { lastStatus, desiredStatus: "STOPPED" as const, healthStatus: "HEALTHY" as const, hasAddress: true },
          kind: "transition" as const,
          events: 4,
        })),
      ],
    };
    const events = eventsOf(lifecycle);

    // Act
    const { reconciles, published } = await simulate(lifecycle, events.map((e) => ({ event: e.index, delay: 0 })), router);

    // Assess: 37 events, 4 reconciles; ready at the first RUNNING? No: a health check is defined, so at HEALTHY.
    expect(events).toHaveLength(37);
    expect(reconciles).toBe(4);
    expect(published.map((p) => p.view)).toEqual(["absent", "ready", "draining", "absent"]);
  });
});
