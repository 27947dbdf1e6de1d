/**
 * ECS API fallback for the endpoint reader: the last resort of the reference design, which asks ECS itself for the
 * service's tasks. A subpath export (`@discovery-sync/client/ecs`) because it needs the optional peer dependency
 * `@aws-sdk/client-ecs`; `@discovery-sync/client` alone never loads it.
 *
 * @module
 */
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  type ECSClientConfig,
} from "@aws-sdk/client-ecs";
import { compareEndpoints, type Endpoint } from "./document.js";
import { InvalidOptionError } from "./errors.js";
import {
  classifyTask,
  needsTaskDefinition,
  observeTask,
  taskDefinitionFactsOf,
  type ObservedTask,
  type TaskDefinitionFacts,
} from "./readiness.js";
import type { EndpointFallback } from "./reader.js";
import { assertKnownKeys, assertRecord, integerInRange, nonEmptyString } from "./validate.js";

/**
 * Options of {@link ecsFallback}. Give `client` or `clientConfig`, not both.
 *
 * @example
 * ```ts
 * const options: EcsFallbackOptions = { cluster: "workflow", serviceName: "workflow-agent", port: 50051 };
 * ```
 */
export interface EcsFallbackOptions {
  /** ECS cluster name or ARN, for example `workflow`. */
  readonly cluster: string;
  /** ECS service name, for example `workflow-agent`: its tasks carry `group: service:<serviceName>`. */
  readonly serviceName: string;
  /** The port clients connect to (1-65535): ECS tasks carry no port of their own for awsvpc clients. */
  readonly port: number;
  /** An ECSClient to use (shares its connection pool, region, credentials and middleware). */
  readonly client?: ECSClient;
  /** Configuration for a client built here on first use. @default the standard AWS environment */
  readonly clientConfig?: ECSClientConfig;
}

// DescribeTasks takes at most 100 tasks per call.
const describeBatchSize = 100;
// Task definitions never change once registered; a service has a few revisions alive at a time. The bound only
// keeps a long-lived process that outlives many deployments from growing without end.
const taskDefinitionCacheSize = 100;

/**
 * A fallback that asks the ECS API for the service's tasks and serves those ready by discovery-sync's own rule (the
 * rule the reconciler publishes with, from `@discovery-sync/client/readiness`): lastStatus and desiredStatus RUNNING,
 * an IP, not UNHEALTHY, and HEALTHY, or UNKNOWN when the task definition defines no container health check.
 *
 * Each resolve lists the service's tasks (ListTasks, desiredStatus RUNNING, every page), describes them
 * (DescribeTasks, 100 per call) and, for running tasks whose health is UNKNOWN, describes their task definition
 * (DescribeTaskDefinition, once per task definition ARN for the life of the fallback). Endpoints are the tasks' ENI
 * private IPv4 addresses with the given `port`, their `availabilityZone` as `zone` and their `taskId`. Draining tasks
 * (told to stop) are left out. Tasks in a network mode other than awsvpc are not supported.
 *
 * ECS throttles its API per account and Region, a budget shared with the console, deployments and the reconciler:
 * every client of a fleet asking ECS at each refresh spends it fast, so keep this fallback behind the SSM document (and
 * Cloud Map or DNS), as the last resort. The caller needs `ecs:ListTasks`, `ecs:DescribeTasks` and
 * `ecs:DescribeTaskDefinition`.
 *
 * @example
 * ```ts
 * import { createEndpointReader } from "@discovery-sync/client";
 * import { ecsFallback } from "@discovery-sync/client/ecs";
 *
 * const reader = createEndpointReader({
 *   parameterName: "/discovery/workflow-agent/endpoints",
 *   fallbacks: [ecsFallback({ cluster: "workflow", serviceName: "workflow-agent", port: 50051 })],
 * });
 * ```
 */
export function ecsFallback(options: EcsFallbackOptions): EndpointFallback {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as unknown as Record<string, unknown>, ["cluster", "serviceName", "port", "client", "clientConfig"]);
  const cluster = nonEmptyString("cluster", options.cluster);
  const serviceName = nonEmptyString("serviceName", options.serviceName);
  if (options.port === undefined) throw new InvalidOptionError("port", options.port, "required: the port clients connect to");
  const port = integerInRange("port", options.port, 0, 1, 65_535);
  if (options.client !== undefined && options.clientConfig !== undefined) {
    throw new InvalidOptionError("clientConfig", options.clientConfig, "give client or clientConfig, not both");
  }
  if (options.client !== undefined && typeof (options.client as { send?: unknown } | null)?.send !== "function") {
    throw new InvalidOptionError("client", options.client, "expected an ECSClient");
  }
  const config = options.clientConfig;
  if (config !== undefined) assertRecord("clientConfig", config);
  let client = options.client;
  const definitions = new Map<string, Promise<TaskDefinitionFacts>>();

  const factsOf = (ecs: ECSClient, taskDefinitionArn: string): Promise<TaskDefinitionFacts> => {
    const cached = definitions.get(taskDefinitionArn);
    if (cached !== undefined) return cached;
    const loading = ecs
      .send(new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn }))
      .then((output) => taskDefinitionFactsOf(output.taskDefinition ?? {}));
    if (definitions.size >= taskDefinitionCacheSize) definitions.delete(definitions.keys().next().value!);
    definitions.set(taskDefinitionArn, loading);
    // A failure is not cached: the next resolve asks again.
    loading.catch(() => definitions.delete(taskDefinitionArn));
    return loading;
  };

  return {
    name: "ecs",
    async resolve() {
      client ??= new ECSClient({ ...config });
      const tasks = await describeServiceTasks(client, cluster, serviceName);
      const needed = new Set(tasks.filter(needsTaskDefinition).map((task) => task.taskDefinitionArn));
      const facts = new Map(await Promise.all([...needed].map(async (arn) => [arn, await factsOf(client!, arn)] as const)));
      return readyEndpoints(tasks, facts, port);
    },
  };
}

/**
 * The service's tasks listed with desiredStatus RUNNING, described. ListTasks' serviceName filter is not trusted (the
 * emulator ignores it, and a task of a deleted service of the same name may still be listed): only tasks whose group
 * names the service are kept.
 */
async function describeServiceTasks(ecs: ECSClient, cluster: string, serviceName: string): Promise<ObservedTask[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(new ListTasksCommand({ cluster, serviceName, desiredStatus: "RUNNING", nextToken }));
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  const unique = [...new Set(arns)];
  const batches: string[][] = [];
  for (let i = 0; i < unique.length; i += describeBatchSize) batches.push(unique.slice(i, i + describeBatchSize));
  const described = await Promise.all(
    batches.map(async (batch) => (await ecs.send(new DescribeTasksCommand({ cluster, tasks: batch }))).tasks ?? []),
  );
  const group = `service:${serviceName}`;
  return described.flat().map(observeTask).filter((task) => task.group === group);
}

/**
 * The endpoints of the ready tasks ({@link classifyTask}), sorted like a document's and one per address and port.
 * Pure.
 *
 * @internal Exported for tests.
 */
export function readyEndpoints(
  tasks: readonly ObservedTask[],
  definitions: ReadonlyMap<string, TaskDefinitionFacts>,
  port: number,
): Endpoint[] {
  const byAddress = new Map<string, Endpoint>();
  for (const task of tasks) {
    const definition = task.taskDefinitionArn === undefined ? undefined : definitions.get(task.taskDefinitionArn);
    const verdict = classifyTask(task, definition);
    if (verdict.kind !== "ready") continue;
    byAddress.set(verdict.address, {
      address: verdict.address,
      port,
      ...(task.availabilityZone === undefined || task.availabilityZone === "" ? {} : { zone: task.availabilityZone }),
      ...(task.taskId === "" ? {} : { taskId: task.taskId }),
    });
  }
  return [...byAddress.values()].sort(compareEndpoints);
}
