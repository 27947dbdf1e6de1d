import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  type DesiredStatus,
  type ECSClient,
  type Task,
} from "@aws-sdk/client-ecs";
import type { ServiceConfig } from "../config.js";
import { unlimited, type RequestLimit } from "../concurrency.js";
import { observeTask, taskDefinitionFactsOf, type ObservedTask, type TaskDefinitionFacts } from "../tasks.js";

// DescribeTasks takes at most 100 tasks per call.
const describeBatchSize = 100;

/**
 * The ARNs ListTasks gives for the service under one desiredStatus (RUNNING: running or on the way there; STOPPED:
 * told to stop, still draining or already stopped, which ECS keeps listing for about an hour), every page.
 *
 * @example
 * ```ts
 * const running = await listServiceTaskArns(clients.ecs, service, "RUNNING");
 * ```
 * `onNextPage` is called before each page after the first is asked for.
 */
export async function listServiceTaskArns(
  ecs: ECSClient,
  service: ServiceConfig,
  desiredStatus: DesiredStatus,
  options: { readonly onNextPage?: () => void } = {},
): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(
      new ListTasksCommand({ cluster: service.cluster, serviceName: service.ecsService, desiredStatus, nextToken }),
    );
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
    if (nextToken !== undefined) options.onNextPage?.();
  } while (nextToken !== undefined);
  return arns;
}

/** The service's task ARNs by what is known of their desiredStatus (see {@link listServiceTasks}). */
export interface ListedServiceTasks {
  /** Listed with desiredStatus RUNNING. */
  readonly running: readonly string[];
  /**
   * Told to stop: listed with desiredStatus STOPPED and not with RUNNING (still draining, or already stopped: ECS keeps
   * listing a stopped task for about an hour). When `stoppedListed` is false, the STOPPED listing was not read, and
   * these are the tasks something names (the document, an event, Cloud Map) that ListTasks does not list as running.
   */
  readonly stopping: readonly string[];
  /** Whether `stopping` is ListTasks' STOPPED listing (true), or what is named and not running (false). */
  readonly stoppedListed: boolean;
}

/**
 * Lists the service's tasks. ListTasks is asked twice because it filters on desiredStatus (RUNNING by default): tasks
 * told to stop (desiredStatus STOPPED) while still running are exactly the draining ones we must see.
 *
 * @example
 * ```ts
 * const listed = await listServiceTasks(clients.ecs, service);
 * ```
 */
export async function listServiceTasks(ecs: ECSClient, service: ServiceConfig): Promise<ListedServiceTasks> {
  const [running, stopped] = await Promise.all([listServiceTaskArns(ecs, service, "RUNNING"), listServiceTaskArns(ecs, service, "STOPPED")]);
  return listedTasksOf(running, stopped);
}

/** A listing from both of ListTasks' answers (a task in both counts as running). */
export function listedTasksOf(running: readonly string[], stopped: readonly string[]): ListedServiceTasks {
  const runningArns = new Set(running);
  return { running: [...runningArns], stopping: [...new Set(stopped.filter((arn) => !runningArns.has(arn)))], stoppedListed: true };
}

/** Options of {@link describeServiceTasks}. */
export interface DescribeServiceTasksOptions {
  /** Bounds the DescribeTasks calls in flight (they run concurrently, 100 tasks each). @default unbounded */
  readonly limit?: RequestLimit;
}

/**
 * Describes the given tasks of a listing, 100 per DescribeTasks call, the calls concurrent. Tasks of `listed.stopping`
 * are marked `listedAsStopping` (ListTasks does not list them as running). ListTasks' serviceName filter is not
 * trusted (the emulator ignores it; a task may also be listed after a service was replaced by one of the same name):
 * only tasks whose group names the service are kept.
 *
 * @example
 * ```ts
 * const listed = await listServiceTasks(clients.ecs, service);
 * const tasks = await describeServiceTasks(clients.ecs, service, listed, listed.running);
 * ```
 */
export async function describeServiceTasks(
  ecs: ECSClient,
  service: ServiceConfig,
  listed: ListedServiceTasks,
  arns: readonly string[],
  options: DescribeServiceTasksOptions = {},
): Promise<ObservedTask[]> {
  return markListedAsStopping(listed, await describeTasksOfService(ecs, service, arns, options));
}

/**
 * Describes the given tasks, 100 per DescribeTasks call, the calls concurrent, and keeps those of the service (whose
 * group names it): {@link describeServiceTasks} before the listing is known. Mark them with
 * {@link markListedAsStopping} once it is.
 *
 * @example
 * ```ts
 * const [tasks, running] = await Promise.all([describeTasksOfService(ecs, service, arns), listServiceTaskArns(ecs, service, "RUNNING")]);
 * ```
 */
export async function describeTasksOfService(
  ecs: ECSClient,
  service: ServiceConfig,
  arns: readonly string[],
  options: DescribeServiceTasksOptions = {},
): Promise<ObservedTask[]> {
  const limit = options.limit ?? unlimited;
  const unique = [...new Set(arns)];
  const batches: string[][] = [];
  for (let i = 0; i < unique.length; i += describeBatchSize) batches.push(unique.slice(i, i + describeBatchSize));
  const described = await Promise.all(
    batches.map((batch) =>
      limit(async () => (await ecs.send(new DescribeTasksCommand({ cluster: service.cluster, tasks: batch }))).tasks ?? []),
    ),
  );
  const group = `service:${service.ecsService}`;
  return described
    .flat()
    .map(observeTask)
    .filter((task) => task.group === group);
}

/**
 * The tasks, those of `listed.stopping` marked `listedAsStopping` (ListTasks does not list them as running).
 *
 * @example
 * ```ts
 * const tasks = markListedAsStopping(listed, await describeTasksOfService(ecs, service, arns));
 * ```
 */
export function markListedAsStopping(listed: ListedServiceTasks, tasks: readonly ObservedTask[]): ObservedTask[] {
  const stopping = new Set(listed.stopping);
  return tasks.map((task) => (stopping.has(task.taskArn) ? { ...task, listedAsStopping: true } : task));
}

/**
 * The task ARNs each service's last reconcile found running or on their way out (not yet stopped), kept for the life of
 * the process (a Lambda container), so that the next one can describe them alongside ListTasks instead of after it: one
 * serial wave less before the document is published. Only a guess: the reconcile still describes whatever ListTasks
 * and the document name that the guess missed, and keeps nothing it did not need. Kept only for services whose tasks
 * fit in one DescribeTasks call, so a wrong guess costs no extra call (a task told to stop since, that nothing names,
 * is described once more in that call; the next reconcile no longer guesses it).
 */
export class ServiceTaskArnCache {
  readonly #arns = new Map<string, readonly string[]>();
  readonly #maxServices: number;

  public constructor(maxServices = 500) {
    this.#maxServices = maxServices;
  }

  /**
   * The ARNs to describe before the listing is in: the ones remembered for the service and `named` (an event's tasks),
   * or undefined when nothing is remembered or they would not fit in one DescribeTasks call.
   *
   * @example
   * ```ts
   * const early = cache.guess(service, ["arn:aws:ecs:us-east-1:123456789012:task/workflow/0123456789abcdef0123456789abcdef"]);
   * ```
   */
  public guess(service: ServiceConfig, named: readonly string[]): string[] | undefined {
    const remembered = this.#arns.get(keyOf(service));
    if (remembered === undefined) return undefined;
    const arns = [...new Set([...remembered, ...named])];
    return arns.length <= describeBatchSize ? arns : undefined;
  }

  /**
   * Remembers the ARNs a reconcile of the service found running or on their way out (forgets them when they are more
   * than one call's worth).
   *
   * @example
   * ```ts
   * cache.remember(service, listed.running);
   * ```
   */
  public remember(service: ServiceConfig, arns: Iterable<string>): void {
    const key = keyOf(service);
    const list = [...new Set(arns)];
    this.#arns.delete(key);
    if (list.length > describeBatchSize) return;
    if (this.#arns.size >= this.#maxServices) {
      const oldest = this.#arns.keys().next().value;
      if (oldest !== undefined) this.#arns.delete(oldest);
    }
    this.#arns.set(key, list);
  }
}

function keyOf(service: ServiceConfig): string {
  return `${service.cluster}\n${service.ecsService}`;
}

/**
 * Reads every task of the service that is running or on its way out: {@link listServiceTasks}, then every listed task
 * described. (The reconcile describes the stopping ones only when something published still names them.)
 *
 * @example
 * ```ts
 * const tasks = await readServiceTasks(clients.ecs, service);
 * ```
 */
export async function readServiceTasks(ecs: ECSClient, service: ServiceConfig): Promise<ObservedTask[]> {
  const listed = await listServiceTasks(ecs, service);
  return describeServiceTasks(ecs, service, listed, [...listed.running, ...listed.stopping]);
}

/**
 * Task definitions never change once registered, so their facts are cached for the life of the process
 * (a Lambda container), keyed by ARN.
 */
export class TaskDefinitionCache {
  readonly #facts = new Map<string, Promise<TaskDefinitionFacts>>();
  readonly #maxEntries: number;

  public constructor(maxEntries = 500) {
    this.#maxEntries = maxEntries;
  }

  /**
   * The facts of a task definition, described once per ARN (concurrent callers share one request;
   * a failed request is not cached).
   *
   * @example
   * ```ts
   * const facts = await cache.get(clients.ecs, task.taskDefinitionArn);
   * ```
   */
  public get(ecs: ECSClient, taskDefinitionArn: string): Promise<TaskDefinitionFacts> {
    const cached = this.#facts.get(taskDefinitionArn);
    if (cached !== undefined) return cached;
    const loading = describeTaskDefinition(ecs, taskDefinitionArn);
    if (this.#facts.size >= this.#maxEntries) {
      const oldest = this.#facts.keys().next().value;
      if (oldest !== undefined) this.#facts.delete(oldest);
    }
    this.#facts.set(taskDefinitionArn, loading);
    loading.catch(() => this.#facts.delete(taskDefinitionArn));
    return loading;
  }
}

async function describeTaskDefinition(ecs: ECSClient, taskDefinition: string): Promise<TaskDefinitionFacts> {
  const described = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition }));
  return taskDefinitionFactsOf(described.taskDefinition ?? {});
}
