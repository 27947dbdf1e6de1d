/**
 * Complete ECS task lifecycles as the events AWS emits for them, played on an emulator world: for
 * `npm run bench:pipeline` (see `scripts/bench-pipeline.ts`).
 *
 * A task goes through every lastStatus step (PROVISIONING, PENDING, ACTIVATING, RUNNING, then DEACTIVATING,
 * STOPPING, DEPROVISIONING, STOPPED), and ECS emits about **4 "ECS Task State Change" events per lastStatus
 * transition**, each with a higher `detail.version`: the task's lastStatus changes; its container's lastStatus
 * follows; its ENI attachment's status changes; one more field (connectivity, pull or execution-stop times) is
 * filled in. Two changes are one event each: the health check passing (healthStatus HEALTHY), and the scheduler
 * telling the task to stop (desiredStatus STOPPED while it still runs: it drains). A whole lifecycle is therefore
 * 8 × 4 + 2 = 34 events, of which 4 change what is published (first RUNNING and HEALTHY together, or the health
 * change; desiredStatus STOPPED; STOPPED).
 *
 * moto emits no events and its tasks are RUNNING from RunTask on, so the lifecycle is played through the world's
 * task overlay (`createTaskOverlay`): before a step's events are handed to anyone, the overlay makes DescribeTasks
 * and ListTasks answer the step's state and version, as ECS would once it emitted them. Events are built from that
 * DescribeTasks answer (`taskStateChangeEvent`), so event and read agree.
 */
import type { Task } from "@aws-sdk/client-ecs";
import {
  describeTasks,
  runServiceTasks,
  taskStateChangeEvent,
  type TaskOverlay,
  type TaskPatch,
  type TaskStateChangeEvent,
  type World,
  type WorldClients,
} from "@discovery-sync/emulator";

/** One change of a task that makes ECS emit events. */
export type LifecycleStep =
  | { readonly kind: "lastStatus"; readonly lastStatus: string }
  | { readonly kind: "health"; readonly healthStatus: "HEALTHY" }
  | { readonly kind: "desiredStopped" };

/** A task starting: every lastStatus step up to RUNNING, then its health check passing. */
export const startSteps: readonly LifecycleStep[] = [
  { kind: "lastStatus", lastStatus: "PROVISIONING" },
  { kind: "lastStatus", lastStatus: "PENDING" },
  { kind: "lastStatus", lastStatus: "ACTIVATING" },
  { kind: "lastStatus", lastStatus: "RUNNING" },
  { kind: "health", healthStatus: "HEALTHY" },
];

/** A task stopping: told to stop while it runs (draining), then every lastStatus step down to STOPPED. */
export const stopSteps: readonly LifecycleStep[] = [
  { kind: "desiredStopped" },
  { kind: "lastStatus", lastStatus: "DEACTIVATING" },
  { kind: "lastStatus", lastStatus: "STOPPING" },
  { kind: "lastStatus", lastStatus: "DEPROVISIONING" },
  { kind: "lastStatus", lastStatus: "STOPPED" },
];

/** Events ECS emits per lastStatus transition. */
export const eventsPerTransition = 4;

/** Events of one complete lifecycle (start and stop). */
export const eventsPerLifecycle = [...startSteps, ...stopSteps].reduce((sum, step) => sum + eventsOfStep(step), 0);

/** A short name of a step, for event keys and tables: `RUNNING`, `health`, `desiredStopped`. */
export function stepLabel(step: LifecycleStep): string {
  return step.kind === "lastStatus" ? step.lastStatus : step.kind === "health" ? "health" : "desiredStopped";
}

function eventsOfStep(step: LifecycleStep): number {
  return step.kind === "lastStatus" ? eventsPerTransition : 1;
}

/** One emitted event and which event of which step it is: `RUNNING#0` is the first of the RUNNING transition. */
export interface LifecycleEvent {
  readonly key: string;
  readonly taskArn: string;
  readonly event: TaskStateChangeEvent;
}

// The container follows the task; ECS reports it PENDING until it runs and STOPPED once it has exited.
const containerStatusOf: Record<string, string> = {
  PROVISIONING: "PENDING",
  PENDING: "PENDING",
  ACTIVATING: "PENDING",
  RUNNING: "RUNNING",
  DEACTIVATING: "RUNNING",
  STOPPING: "STOPPED",
  DEPROVISIONING: "STOPPED",
  STOPPED: "STOPPED",
};

const attachmentStatusOf: Record<string, string> = {
  PROVISIONING: "PRECREATED",
  PENDING: "ATTACHED",
  ACTIVATING: "ATTACHED",
  RUNNING: "ATTACHED",
  DEACTIVATING: "ATTACHED",
  STOPPING: "ATTACHED",
  DEPROVISIONING: "DETACHING",
  STOPPED: "DELETED",
};

/** What the driver remembers of one task between steps. */
interface TaskState {
  version: number;
  lastStatus: string;
  desiredStatus: string;
  healthStatus: "HEALTHY" | "UNKNOWN";
}

/**
 * Plays lifecycle steps of a world's tasks: moves each task's overlay to the step's state and builds the step's
 * events. The overlay's plugin must be on `clients.ecs` (the world's clients; the reads made here are setup, not
 * part of any measurement).
 *
 * @example
 * ```ts
 * const driver = new LifecycleDriver(worldClients, world, overlay);
 * const arns = await driver.startTasks(10);                 // RunTask, before PROVISIONING
 * for (const step of startSteps) deliver(await driver.step(arns, step));
 * ```
 */
export class LifecycleDriver {
  readonly #states = new Map<string, TaskState>();

  public constructor(
    private readonly clients: Pick<WorldClients, "ecs">,
    private readonly world: World,
    private readonly overlay: TaskOverlay,
  ) {}

  /** Runs `count` tasks of the service (RunTask), not yet through any step: they are not ready. */
  public async startTasks(count: number): Promise<string[]> {
    const tasks = await runServiceTasks(this.clients, this.world, count);
    for (const task of tasks) this.#set(task.taskArn!, { version: 0, lastStatus: "PROVISIONING", desiredStatus: "RUNNING", healthStatus: "UNKNOWN" });
    return tasks.map((task) => task.taskArn!);
  }

  /**
   * Runs `count` tasks that have been through their start already (RUNNING, HEALTHY, at the version their start
   * lifecycle left), without events: the service's tasks before a measurement begins.
   */
  public async readyTasks(count: number): Promise<string[]> {
    const arns = await this.startTasks(count);
    const version = startSteps.reduce((sum, step) => sum + eventsOfStep(step), 0);
    for (const arn of arns) this.#set(arn, { version, lastStatus: "RUNNING", desiredStatus: "RUNNING", healthStatus: "HEALTHY" });
    return arns;
  }

  /** The state the overlay gives a task now (for checks of what should be published). */
  public state(taskArn: string): Readonly<TaskState> {
    const state = this.#states.get(taskArn);
    if (state === undefined) throw new Error(`task ${taskArn} was not started by this driver`);
    return state;
  }

  /** Moves the tasks through `steps` without emitting anything (for samples that start later in a lifecycle). */
  public skip(taskArns: readonly string[], steps: readonly LifecycleStep[]): void {
    for (const arn of taskArns) {
      let state = { ...this.state(arn) };
      for (const step of steps) state = { ...applyStep(state, step), version: state.version + eventsOfStep(step) };
      this.#set(arn, state);
    }
  }

  /**
   * Moves the tasks to `step` and returns the step's events, for each task in order. `only` keeps just the events
   * with those indexes within the step (the propagation samples hand over the one event that changes readiness).
   */
  public async step(taskArns: readonly string[], step: LifecycleStep, only?: readonly number[]): Promise<LifecycleEvent[]> {
    const count = eventsOfStep(step);
    const before = new Map<string, { firstVersion: number; lastStatus: string }>();
    for (const arn of taskArns) {
      const state = this.state(arn);
      before.set(arn, { firstVersion: state.version + 1, lastStatus: state.lastStatus });
      this.#set(arn, { ...applyStep(state, step), version: state.version + count });
    }
    const described = await describeTasks(this.clients, this.world, taskArns);
    const events: LifecycleEvent[] = [];
    for (const task of described) {
      const arn = task.taskArn!;
      const { firstVersion, lastStatus } = before.get(arn)!;
      for (let index = 0; index < count; index += 1) {
        if (only !== undefined && !only.includes(index)) continue;
        const event = this.#event(task, step, index, firstVersion + index, lastStatus);
        events.push({ key: `${stepLabel(step)}#${index}`, taskArn: arn, event });
      }
    }
    return events;
  }

  #set(taskArn: string, state: TaskState): void {
    this.#states.set(taskArn, state);
    const patch: TaskPatch = {
      version: state.version,
      lastStatus: state.lastStatus,
      desiredStatus: state.desiredStatus,
      healthStatus: state.healthStatus,
    };
    this.overlay.set(taskArn, patch);
  }

  /**
   * Event `index` of a step: the task as described now, less what the step's later events change (0: the task's
   * lastStatus; 1: its container follows; 2: the ENI attachment; 3: one more field).
   */
  #event(task: Task, step: LifecycleStep, index: number, version: number, previousLastStatus: string): TaskStateChangeEvent {
    const taskStatus = task.lastStatus ?? "RUNNING";
    const overrides: Record<string, unknown> = {};
    if (step.kind === "lastStatus") {
      const containerStatus = containerStatusOf[index === 0 ? previousLastStatus : taskStatus] ?? "PENDING";
      overrides.containers = (task.containers ?? []).map((container) => ({ ...toJson(container), lastStatus: containerStatus }));
      if (index >= 2) {
        overrides.attachments = (task.attachments ?? []).map((attachment) => ({ ...toJson(attachment), status: attachmentStatusOf[taskStatus] }));
      }
      if (index >= 3) {
        if (taskStatus === "PENDING") overrides.pullStartedAt = new Date().toISOString();
        else if (taskStatus === "RUNNING") overrides.connectivity = "CONNECTED";
        else overrides.executionStoppedAt = new Date().toISOString();
      }
    }
    return taskStateChangeEvent(task, { account: this.world.accountId, region: this.world.region, version, overrides });
  }
}

/** The task's state after `step` (its version is the caller's). */
function applyStep(state: Readonly<TaskState>, step: LifecycleStep): TaskState {
  if (step.kind === "health") return { ...state, healthStatus: step.healthStatus };
  if (step.kind === "desiredStopped") return { ...state, desiredStatus: "STOPPED" };
  // A task whose containers have stopped reports no health any more.
  const healthStatus = containerStatusOf[step.lastStatus] === "STOPPED" ? "UNKNOWN" : state.healthStatus;
  return { ...state, lastStatus: step.lastStatus, healthStatus };
}

/** A DescribeTasks value as event JSON (the SDK's Dates as ISO strings). */
function toJson(value: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}
