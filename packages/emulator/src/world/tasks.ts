/**
 * Driving the world's tasks the way the ECS service scheduler would (moto's CreateService and UpdateService start
 * none), and reading them back.
 */
import { DescribeTasksCommand, RunTaskCommand, StopTaskCommand, type Task } from "@aws-sdk/client-ecs";
import type { WorldClients } from "./clients.js";
import { WorldError, required, step } from "./errors.js";
import type { World } from "./types.js";

/** RunTask starts at most 10 tasks per call. */
const runTaskMaxCount = 10;
/** DescribeTasks takes at most 100 tasks per call. */
const describeTasksMax = 100;

/**
 * Describes tasks of the world's cluster (batches of 100), in the order asked.
 *
 * @example
 * ```ts
 * const [task] = await describeTasks(clients, world, [taskArn]);
 * ```
 */
export async function describeTasks(clients: Pick<WorldClients, "ecs">, world: Pick<World, "clusterArn">, taskArns: readonly string[]): Promise<Task[]> {
  const byArn = new Map<string, Task>();
  for (let start = 0; start < taskArns.length; start += describeTasksMax) {
    const batch = taskArns.slice(start, start + describeTasksMax);
    const out = await step("DescribeTasks", { cluster: world.clusterArn, count: batch.length }, () =>
      clients.ecs.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: batch })),
    );
    for (const task of out.tasks ?? []) if (task.taskArn !== undefined) byArn.set(task.taskArn, task);
  }
  return taskArns.map((arn) => {
    const task = byArn.get(arn);
    if (task === undefined) throw new WorldError(`DescribeTasks did not return ${arn}`, "DescribeTasks", { taskArn: arn });
    return task;
  });
}

async function runTasks(
  clients: Pick<WorldClients, "ecs">,
  world: World,
  count: number,
  params: { group: string; startedBy?: string },
): Promise<Task[]> {
  if (!Number.isInteger(count) || count < 0) throw new TypeError(`count must be a non-negative integer (given ${String(count)})`);
  // moto puts a task's ENI in the first subnet listed, so each RunTask call lists a different subnet first: tasks
  // spread over the zones the way Fargate spreads a service's tasks, and the subnet tells each task's zone.
  const perSubnet = world.subnets.map(() => 0);
  for (let i = 0; i < count; i += 1) perSubnet[i % world.subnets.length]! += 1;
  const arnsBySubnet: string[][] = world.subnets.map(() => []);
  for (const [index, subnetCount] of perSubnet.entries()) {
    const subnets = [...world.subnets.slice(index), ...world.subnets.slice(0, index)].map((s) => s.subnetId);
    for (let left = subnetCount; left > 0; left -= runTaskMaxCount) {
      const batch = Math.min(left, runTaskMaxCount);
      const out = await step("RunTask", { cluster: world.clusterName, group: params.group, count: batch }, () =>
        clients.ecs.send(
          new RunTaskCommand({
            cluster: world.clusterArn,
            taskDefinition: world.taskDefinitionArn,
            count: batch,
            launchType: "FARGATE",
            group: params.group,
            startedBy: params.startedBy,
            networkConfiguration: {
              awsvpcConfiguration: { subnets, securityGroups: [world.securityGroupId], assignPublicIp: "DISABLED" },
            },
          }),
        ),
      );
      if ((out.failures ?? []).length > 0) {
        throw new WorldError(`RunTask reported failures: ${JSON.stringify(out.failures)}`, "RunTask", { failures: out.failures });
      }
      for (const task of out.tasks ?? []) arnsBySubnet[index]!.push(required(task.taskArn, "tasks[].taskArn", "RunTask"));
    }
  }
  // Interleaved, so that task i of the result is in subnet i % subnets: tests can tell each task's zone.
  const arns: string[] = [];
  for (let i = 0; arns.length < count; i += 1) {
    for (const inSubnet of arnsBySubnet) if (inSubnet[i] !== undefined) arns.push(inSubnet[i]!);
  }
  return describeTasks(clients, world, arns);
}

/**
 * Starts `count` tasks of the world's ECS service the way the service scheduler would (moto's CreateService and
 * UpdateService start none): RunTask FARGATE awsvpc in the world's subnets and security group, with
 * `group: "service:<ecsService>"` and `startedBy: <deployment id>`, at most 10 per call. Tasks alternate between
 * the two subnets (zones): task `i` of the result is in `world.subnets[i % 2]`. Returns the new tasks as
 * DescribeTasks reports them (so an overlay on the ECS client applies).
 *
 * @example
 * ```ts
 * const tasks = await runServiceTasks(clients, world, 3);
 * const ips = tasks.map(taskIp); // from the ENI attachment
 * ```
 * @throws {WorldError} when RunTask or DescribeTasks fails.
 */
export async function runServiceTasks(clients: Pick<WorldClients, "ecs">, world: World, count: number): Promise<Task[]> {
  return runTasks(clients, world, count, { group: `service:${world.ecsServiceName}`, startedBy: world.deploymentId });
}

/**
 * Starts one task in the world's cluster that belongs to no service (`group: "family:<family>"`, as a standalone
 * RunTask gets): for tests of foreign events and of moto's ListTasks, which ignores the `serviceName` filter.
 *
 * @example
 * ```ts
 * const foreign = await runForeignTask(clients, world);
 * foreign.group; // "family:workflow-agent"
 * ```
 */
export async function runForeignTask(clients: Pick<WorldClients, "ecs">, world: World, options: { group?: string } = {}): Promise<Task> {
  const [task] = await runTasks(clients, world, 1, { group: options.group ?? `family:${world.taskFamily}` });
  return required(task, "task", "RunTask");
}

/**
 * Stops a task (StopTask) and returns it as DescribeTasks then reports it. moto jumps straight to lastStatus and
 * desiredStatus STOPPED; AWS passes through DEACTIVATING, STOPPING and DEPROVISIONING first (model those, and a
 * draining task, with {@link createTaskOverlay}).
 *
 * @example
 * ```ts
 * await stopServiceTask(clients, world, task.taskArn!, "Task failed ELB health checks");
 * ```
 */
export async function stopServiceTask(
  clients: Pick<WorldClients, "ecs">,
  world: World,
  taskArn: string,
  reason = "Scaling activity initiated by (deployment " + world.deploymentId + ")",
): Promise<Task> {
  await step("StopTask", { taskArn }, () =>
    clients.ecs.send(new StopTaskCommand({ cluster: world.clusterArn, task: taskArn, reason })),
  );
  const [task] = await describeTasks(clients, world, [taskArn]);
  return required(task, "task", "DescribeTasks");
}

// The task's address and id are the reconciler's own (one readiness module, shared with the client's ECS fallback):
// the world and the code under test can never disagree on them.
export { eniAddressOf as taskIp, taskIdOf } from "@discovery-sync/client/readiness";

/**
 * The subnet of a task's ENI attachment, which tells its zone (moto's DescribeTasks has no `availabilityZone`).
 *
 * @internal
 */
export function subnetOf(task: Pick<Task, "attachments">): string | undefined {
  for (const attachment of task.attachments ?? []) {
    const subnet = attachment.details?.find((d) => d.name === "subnetId")?.value;
    if (subnet !== undefined) return subnet;
  }
  return undefined;
}
