/**
 * Whole ECS task lifecycles as the events ECS emits for them, and a model of what discovery-sync publishes when those
 * events are filtered, deduplicated by SQS and reconciled: the ground for the property tests of the event filter
 * (`test/unit/event-lifecycle.test.ts`: the router alone; `test/infra/event-lifecycle.test.ts`: the synthesised rule
 * on the emulator's EventBridge, then the router).
 *
 * A lifecycle is the sequence of the task's states. Every change of `lastStatus` or `desiredStatus` emits 1 to 4
 * events (ECS emits one per container, attachment and status update: 4 per transition on real AWS), each with the
 * next `version`; a health result emits one. Delivery is at least once and in any order: each event may come twice,
 * late. A reconcile re-reads ECS, so it publishes the state of the task at the moment it runs (the reconciler reads
 * again when ECS is behind the event's version), classified by the core's own `classifyTask`.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import type { Task } from "@aws-sdk/client-ecs";
import { classifyTask, observeTask } from "@discovery-sync/core";

/** The service the generated tasks belong to, as the tests configure it. */
export const lifecycleService = {
  name: "sample",
  cluster: "FargateCluster",
  ecsService: "sample-fargate",
  port: 8080,
  parameterName: "/discovery/sample/endpoints",
} as const;

/** Account and Region of the AWS sample event (and so of the generated events). */
export const lifecycleEnv = { partition: "aws", region: "us-west-2", account: "111122223333" } as const;

const clusterArn = `arn:aws:ecs:${lifecycleEnv.region}:${lifecycleEnv.account}:cluster/${lifecycleService.cluster}`;

/** Every lastStatus of an ECS task, in lifecycle order. */
export const lastStatuses = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"] as const;
export type LastStatus = (typeof lastStatuses)[number];
export type Health = "UNKNOWN" | "HEALTHY" | "UNHEALTHY";

/** One state of a task, as ECS reports it. */
export interface TaskState {
  readonly lastStatus: LastStatus;
  readonly desiredStatus: "RUNNING" | "STOPPED";
  readonly healthStatus: Health;
  /** The ENI is attached (from PENDING on). */
  readonly hasAddress: boolean;
}

/** A step of a lifecycle: a new state and the events ECS emits for it. */
export interface LifecycleStep {
  readonly state: TaskState;
  /** `transition`: lastStatus or desiredStatus changed; `health`: a health result while running and wanted. */
  readonly kind: "transition" | "health";
  /** Events emitted for the step: 1 to 4 for a transition, 1 for a health result. */
  readonly events: number;
}

/** How a generated task ends. */
export type Ending = "still-running" | "scale-in" | "crash" | "crash-reported-late" | "host-lost" | "failed-to-start";

/** One task's life. */
export interface Lifecycle {
  readonly taskId: string;
  readonly hasHealthCheck: boolean;
  /** Whether ECS sends `healthStatus: "UNKNOWN"` or leaves the field out while it knows nothing. */
  readonly reportsUnknownHealth: boolean;
  readonly ending: Ending;
  readonly steps: readonly LifecycleStep[];
}

/** An event of a lifecycle, in emission order. */
export interface EmittedEvent {
  /** Position in emission order; also the time it is emitted at. */
  readonly index: number;
  /** The step it reports. */
  readonly step: number;
  readonly event: TaskEvent;
}

/** An EventBridge "ECS Task State Change" event. */
export interface TaskEvent {
  readonly id: string;
  readonly source: string;
  readonly "detail-type": string;
  readonly resources: string[];
  readonly time: string;
  readonly detail: Record<string, any>;
  readonly [key: string]: unknown;
}

/** What a reader sees of a task: an endpoint, a draining entry, or nothing. */
export type PublishedView = "ready" | "draining" | "absent";

const sample = JSON.parse(
  readFileSync(new URL("../../fixtures/events/ecs-task-state-change.aws-doc-example.json", import.meta.url), "utf8"),
) as TaskEvent;

/** The events a lifecycle emits, each derived from the AWS sample event. */
export function eventsOf(lifecycle: Lifecycle): EmittedEvent[] {
  const taskArn = `arn:aws:ecs:${lifecycleEnv.region}:${lifecycleEnv.account}:task/${lifecycleService.cluster}/${lifecycle.taskId}`;
  const out: EmittedEvent[] = [];
  lifecycle.steps.forEach((step, stepIndex) => {
    for (let n = 0; n < step.events; n++) {
      const index = out.length;
      out.push({ index, step: stepIndex, event: taskEvent(lifecycle, step.state, taskArn, index) });
    }
  });
  return out;
}

/**
 * The event ECS emits for a task of {@link lifecycleService} in `state`, derived from the AWS sample event.
 *
 * @example
 * ```ts
 * taskEventOf("0123...", { lastStatus: "RUNNING", desiredStatus: "RUNNING", healthStatus: "UNKNOWN", hasAddress: true }, 4, true);
 * ```
 */
export function taskEventOf(taskId: string, state: TaskState, version: number, reportsUnknownHealth: boolean): TaskEvent {
  const taskArn = `arn:aws:ecs:${lifecycleEnv.region}:${lifecycleEnv.account}:task/${lifecycleService.cluster}/${taskId}`;
  return { ...taskEvent({ taskId, reportsUnknownHealth }, state, taskArn, version - 1) };
}

function taskEvent(lifecycle: Pick<Lifecycle, "taskId" | "reportsUnknownHealth">, state: TaskState, taskArn: string, index: number): TaskEvent {
  const event = structuredClone(sample);
  const detail: Record<string, any> = {
    ...event.detail,
    clusterArn,
    taskArn,
    group: `service:${lifecycleService.ecsService}`,
    lastStatus: state.lastStatus,
    desiredStatus: state.desiredStatus,
    // Every event of a task carries the next version (ECS counts every update of the task).
    version: index + 1,
  };
  if (state.healthStatus !== "UNKNOWN" || lifecycle.reportsUnknownHealth) detail["healthStatus"] = state.healthStatus;
  if (!state.hasAddress) {
    detail["attachments"] = [];
    detail["containers"] = (detail["containers"] as Record<string, unknown>[]).map((c) => ({ ...c, networkInterfaces: [] }));
  }
  for (const container of detail["containers"] as Record<string, unknown>[]) container["taskArn"] = taskArn;
  return { ...event, id: `${lifecycle.taskId}-${index}`, resources: [taskArn], detail };
}

/** What the core publishes for a task in this state. */
export function publishedViewOf(lifecycle: Lifecycle, state: TaskState, event: TaskEvent): PublishedView {
  const observed = observeTask({ ...(event.detail as Task), lastStatus: state.lastStatus, desiredStatus: state.desiredStatus });
  const kind = classifyTask(observed, { networkMode: "awsvpc", hasContainerHealthCheck: lifecycle.hasHealthCheck }).kind;
  return kind === "ready" ? "ready" : kind === "draining" ? "draining" : "absent";
}

/** The number of health results while running and wanted: each may take a reconcile of its own. */
export function healthChangesOf(lifecycle: Lifecycle): number {
  return lifecycle.steps.filter((s) => s.kind === "health").length;
}

/**
 * Generates lifecycles: every lastStatus step (ACTIVATING and DEACTIVATING only for some tasks, as on AWS), health
 * results for tasks with a health check (alternating, so each is a change), desiredStatus STOPPED while running (with
 * a health result while draining), crashes reported at RUNNING or only once the task is DEACTIVATING or STOPPING, a
 * host lost (RUNNING straight to STOPPED), tasks that fail to start, and tasks still running at the end.
 */
export function lifecycleArbitrary(): fc.Arbitrary<Lifecycle> {
  return fc
    .record({
      taskId: fc.stringMatching(/^[0-9a-f]{32}$/),
      hasHealthCheck: fc.boolean(),
      reportsUnknownHealth: fc.boolean(),
      activates: fc.boolean(),
      ending: fc.constantFrom<Ending>("still-running", "scale-in", "crash", "crash-reported-late", "host-lost", "failed-to-start"),
      healthResults: fc.nat(3),
      firstResult: fc.constantFrom<Health>("HEALTHY", "UNHEALTHY"),
      unhealthyWhileDraining: fc.boolean(),
      failsAt: fc.constantFrom<LastStatus>("PROVISIONING", "PENDING", "ACTIVATING"),
      reportedAt: fc.constantFrom<LastStatus>("DEACTIVATING", "STOPPING"),
      eventsPerTransition: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 16, maxLength: 16 }),
    })
    .map((g) => {
      const steps: LifecycleStep[] = [];
      let perTransition = 0;
      const transition = (state: TaskState) => steps.push({ state, kind: "transition", events: g.eventsPerTransition[perTransition++ % 16]! });
      const wanted = (lastStatus: LastStatus, healthStatus: Health = "UNKNOWN"): TaskState => ({
        lastStatus,
        desiredStatus: "RUNNING",
        healthStatus,
        hasAddress: lastStatus !== "PROVISIONING",
      });
      const stopping = (lastStatus: LastStatus, healthStatus: Health): TaskState => ({
        lastStatus,
        desiredStatus: "STOPPED",
        healthStatus,
        hasAddress: lastStatus !== "PROVISIONING",
      });
      // The steps down, from the first one ECS reports (DEACTIVATING only for tasks that went through ACTIVATING).
      const goDown = (health: Health, firstReported: LastStatus = "DEACTIVATING") => {
        for (const lastStatus of ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"] as const) {
          if (lastStatus === "DEACTIVATING" && !g.activates) continue;
          if (lastStatuses.indexOf(lastStatus) < lastStatuses.indexOf(firstReported)) continue;
          transition(stopping(lastStatus, health));
        }
      };
      const starting: LastStatus[] = g.activates ? ["PROVISIONING", "PENDING", "ACTIVATING"] : ["PROVISIONING", "PENDING"];
      if (g.ending === "failed-to-start") {
        const failsAt = g.failsAt === "ACTIVATING" && !g.activates ? "PENDING" : g.failsAt;
        for (const lastStatus of starting.slice(0, starting.indexOf(failsAt) + 1)) transition(wanted(lastStatus));
        // desiredStatus turns STOPPED at the step it failed in, then the task goes down.
        transition(stopping(failsAt, "UNKNOWN"));
        goDown("UNKNOWN");
        return { taskId: g.taskId, hasHealthCheck: g.hasHealthCheck, reportsUnknownHealth: g.reportsUnknownHealth, ending: g.ending, steps };
      }
      for (const lastStatus of starting) transition(wanted(lastStatus));
      transition(wanted("RUNNING"));
      let health: Health = "UNKNOWN";
      if (g.hasHealthCheck) {
        for (let i = 0; i < g.healthResults; i++) {
          health = i === 0 ? g.firstResult : health === "HEALTHY" ? "UNHEALTHY" : "HEALTHY";
          steps.push({ state: wanted("RUNNING", health), kind: "health", events: 1 });
        }
      }
      switch (g.ending) {
        case "still-running":
          break;
        case "scale-in":
        case "crash":
          // Told to stop while running (the service scaled in, or an essential container exited): still RUNNING.
          transition(stopping("RUNNING", health));
          if (g.unhealthyWhileDraining && g.hasHealthCheck && health !== "UNHEALTHY") {
            health = "UNHEALTHY";
            steps.push({ state: stopping("RUNNING", health), kind: "transition", events: 1 });
          }
          goDown(health);
          break;
        case "crash-reported-late": {
          // The first event that says the task must stop already has it DEACTIVATING or STOPPING.
          const reportedAt = g.reportedAt === "DEACTIVATING" && !g.activates ? "STOPPING" : g.reportedAt;
          goDown(health, reportedAt);
          break;
        }
        case "host-lost":
          transition(stopping("STOPPED", health));
          break;
      }
      return { taskId: g.taskId, hasHealthCheck: g.hasHealthCheck, reportsUnknownHealth: g.reportsUnknownHealth, ending: g.ending, steps };
    });
}

/** One delivery of an event: which, and how many time steps after its emission. */
export interface Delivery {
  readonly event: number;
  readonly delay: number;
}

/**
 * Deliveries of `count` events: each at least once, a quarter of them twice, each after a delay of up to `maxDelay`
 * time steps (so later events often overtake earlier ones).
 */
export function deliveriesArbitrary(count: number, maxDelay: number): fc.Arbitrary<Delivery[]> {
  return fc
    .tuple(
      fc.array(fc.nat(maxDelay), { minLength: count, maxLength: count }),
      fc.array(fc.option(fc.nat(maxDelay), { freq: 3 }), { minLength: count, maxLength: count }),
    )
    .map(([delays, duplicates]) => [
      ...delays.map((delay, event) => ({ event, delay })),
      ...duplicates.flatMap((delay, event) => (delay === null ? [] : [{ event, delay }])),
    ]);
}

/** What the pipeline let through of one event: undefined when dropped, else the SQS deduplication id it was sent with. */
export type Admission = (event: TaskEvent) => Promise<string | undefined> | string | undefined;

/** What happened when a lifecycle's deliveries went through the filter, SQS and the reconciler. */
export interface SimulationResult {
  /** Messages that reached the queue (SQS keeps the first of each deduplication id within 5 minutes). */
  readonly reconciles: number;
  /** Published view after each reconcile, with the time it ran and the step ECS was at. */
  readonly published: ReadonlyArray<{ readonly time: number; readonly step: number; readonly view: PublishedView }>;
  /** Published view once every delivery was handled (absent when nothing was ever reconciled). */
  readonly finalView: PublishedView;
}

/**
 * Runs deliveries in time order (ties in the given order) through `admit`, SQS FIFO deduplication (the lifecycle is
 * taken to fit the 5-minute window) and a reconcile that publishes the task's state at that moment.
 */
export async function simulate(lifecycle: Lifecycle, deliveries: readonly Delivery[], admit: Admission): Promise<SimulationResult> {
  const events = eventsOf(lifecycle);
  const ordered = deliveries
    .map((d, order) => ({ ...d, time: d.event + d.delay, order }))
    .sort((a, b) => a.time - b.time || a.order - b.order);
  const sent = new Set<string>();
  const published: Array<{ time: number; step: number; view: PublishedView }> = [];
  for (const delivery of ordered) {
    const id = await admit(events[delivery.event]!.event);
    if (id === undefined || sent.has(id)) continue;
    sent.add(id);
    // The reconcile reads ECS when it runs: the newest state emitted by then.
    const current = events[Math.min(delivery.time, events.length - 1)]!;
    const state = lifecycle.steps[current.step]!.state;
    published.push({ time: delivery.time, step: current.step, view: publishedViewOf(lifecycle, state, current.event) });
  }
  return { reconciles: sent.size, published, finalView: published.at(-1)?.view ?? "absent" };
}

/** The view of the lifecycle's last state: what must be published in the end. */
export function finalTruthOf(lifecycle: Lifecycle): PublishedView {
  const events = eventsOf(lifecycle);
  const last = events.at(-1)!;
  return publishedViewOf(lifecycle, lifecycle.steps[last.step]!.state, last.event);
}

/**
 * With every event delivered at once and in order, the published view after each step's events against the step's
 * own view: returns the steps where they differ in a way the design does not allow. Allowed: a task gone from ECS's
 * draining statuses (DEPROVISIONING) still listed as draining until STOPPED, the next step.
 */
export async function stepsOutOfStep(lifecycle: Lifecycle, admit: Admission): Promise<Array<{ step: number; truth: PublishedView; published: PublishedView }>> {
  const events = eventsOf(lifecycle);
  const sent = new Set<string>();
  let view: PublishedView = "absent";
  const wrong: Array<{ step: number; truth: PublishedView; published: PublishedView }> = [];
  for (let step = 0; step < lifecycle.steps.length; step++) {
    const state = lifecycle.steps[step]!.state;
    const ofStep = events.filter((e) => e.step === step);
    for (const emitted of ofStep) {
      const id = await admit(emitted.event);
      if (id === undefined || sent.has(id)) continue;
      sent.add(id);
      view = publishedViewOf(lifecycle, state, emitted.event);
    }
    const truth = publishedViewOf(lifecycle, state, ofStep[0]!.event);
    const lagAllowed = truth === "absent" && view === "draining" && state.lastStatus === "DEPROVISIONING";
    if (truth !== view && !lagAllowed) wrong.push({ step, truth, published: view });
  }
  return wrong;
}
