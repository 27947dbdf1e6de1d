import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  type DesiredStatus,
  type ECSClient,
  type Task,
} from "@aws-sdk/client-ecs";
import type { ServiceConfig } from "../config.js";
import { observeTask, type ObservedTask, type TaskDefinitionFacts } from "../tasks.js";

const describeBatchSize = 100;

async function listTaskArns(ecs: ECSClient, service: ServiceConfig, desiredStatus: DesiredStatus): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(
      new ListTasksCommand({ cluster: service.cluster, serviceName: service.ecsService, desiredStatus, nextToken }),
    );
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return arns;
}

/**
 * Reads every task of the service that is running or on its way out.
 * ListTasks is asked twice because it filters on desiredStatus (RUNNING by default): tasks told to stop
 * (desiredStatus STOPPED) while still running are exactly the draining ones we must see.
 *
 * @example
 * ```ts
 * const tasks = await readServiceTasks(clients.ecs, service);
 * ```
 */
export async function readServiceTasks(ecs: ECSClient, service: ServiceConfig): Promise<ObservedTask[]> {
  const [running, stopping] = await Promise.all([
    listTaskArns(ecs, service, "RUNNING"),
    listTaskArns(ecs, service, "STOPPED"),
  ]);
  const arns = [...new Set([...running, ...stopping])];
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += describeBatchSize) {
    const batch = arns.slice(i, i + describeBatchSize);
    const described = await ecs.send(new DescribeTasksCommand({ cluster: service.cluster, tasks: batch }));
    tasks.push(...(described.tasks ?? []));
  }
  // ListTasks' serviceName filter is not trusted (the emulator ignores it; a task may also be listed after a
  // service was replaced by one of the same name): keep only tasks whose group names the service.
  const group = `service:${service.ecsService}`;
  const runningArns = new Set(running);
  const stoppingArns = new Set(stopping.filter((arn) => !runningArns.has(arn)));
  return tasks
    .map(observeTask)
    .filter((task) => task.group === group)
    .map((task) => (stoppingArns.has(task.taskArn) ? { ...task, listedAsStopping: true } : task));
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
  const definition = described.taskDefinition;
  return {
    networkMode: definition?.networkMode,
    hasContainerHealthCheck: (definition?.containerDefinitions ?? []).some(
      (c) => (c.healthCheck?.command?.length ?? 0) > 0,
    ),
  };
}
