/**
 * The ECS API fallback against the emulator: a world provisioned like the reference architecture in an account of
 * the test's own, tasks started with RunTask as the service scheduler would, and the fallback's answer compared with
 * what each task is. moto's DescribeTasks has no task-level health and no zone: the ECS client the fallback reads with
 * carries the emulator's task overlay, which adds both as AWS reports them. The tasks' 10.x addresses are only
 * compared, never dialled.
 */
import { describe, expect, it } from "vitest";
import { ECSClient } from "@aws-sdk/client-ecs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createEndpointReader } from "@discovery-sync/client";
import { ecsFallback } from "@discovery-sync/client/ecs";
import {
  createTaskOverlay,
  createWorldClients,
  provisionWorld,
  requestCounter,
  runForeignTask,
  runServiceTasks,
  stopServiceTask,
  taskIdOf,
  taskIp,
  type World,
} from "@discovery-sync/emulator";
import { isolatedAccount, type IsolatedAccount } from "../support/aws.js";

async function worldIn(account: IsolatedAccount, containerHealthCheck: boolean): Promise<World> {
  const clients = createWorldClients(account.clientConfig, [account.plugin]);
  // Only ECS matters here: no Cloud Map, load balancer or queues to provision.
  return provisionWorld(clients, { containerHealthCheck, cloudMap: false, targetGroups: 0, queue: false });
}

describe("ECS API fallback against the emulator", () => {
  it("serves the service's ready tasks, by the reconciler's rule, when the SSM parameter is missing", async () => {
    // Prepare: a service whose task definition has a container health check, so only HEALTHY tasks are ready
    const account = isolatedAccount();
    const world = await worldIn(account, true);
    const admin = account.client(ECSClient);
    const [healthy1, healthy2, unhealthy, starting, draining, stopped] = await runServiceTasks({ ecs: admin }, world, 6);
    const foreign = await runForeignTask({ ecs: admin }, world);
    await stopServiceTask({ ecs: admin }, world, stopped!.taskArn!);

    const ecs = account.client(ECSClient);
    const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
    ecs.middlewareStack.use(overlay.plugin);
    overlay.set(unhealthy!.taskArn!, { healthStatus: "UNHEALTHY" });
    overlay.set(starting!.taskArn!, { healthStatus: "UNKNOWN" }); // its health check has not passed yet
    overlay.set(draining!.taskArn!, { desiredStatus: "STOPPED" }); // told to stop, still running
    const counter = requestCounter();
    ecs.middlewareStack.use(counter.plugin);

    const errors: string[] = [];
    const reader = createEndpointReader({
      parameterName: `/discovery/${world.service}/endpoints`,
      ssmClient: account.client(SSMClient),
      lambdaExtension: false,
      fallbacks: [ecsFallback({ cluster: world.clusterName, serviceName: world.ecsServiceName, port: world.port, client: ecs })],
    });
    reader.on("error", (error) => errors.push(`${error.source}:${error.reason}`));

    try {
      // Act
      const endpoints = await reader.endpoints();
      await reader.refresh();

      // Assess: the two healthy tasks, with the ENI address, the given port, the zone and the task id
      // runServiceTasks puts task i in subnet i % 2
      const expected = [healthy1!, healthy2!]
        .map((task, i) => ({
          address: taskIp(task)!,
          port: world.port,
          zone: world.subnets[i % 2]!.availabilityZone,
          taskId: taskIdOf(task.taskArn!),
        }))
        .sort((a, b) => a.address.localeCompare(b.address, "en", { numeric: true }));
      expect([...endpoints].sort((a, b) => a.address.localeCompare(b.address, "en", { numeric: true }))).toEqual(expected);
      const served = new Set(endpoints.map((e) => e.address));
      for (const notReady of [unhealthy, starting, draining, stopped, foreign]) expect(served.has(taskIp(notReady!)!)).toBe(false);
      expect(reader.status().source).toBe("ecs");
      expect(new Set(errors)).toEqual(new Set(["ssm:not-found"]));
      // The UNKNOWN-health task needed its definition: described once over both reads.
      expect(counter.count("DescribeTaskDefinitionCommand")).toBe(1);
      expect(counter.count("ListTasksCommand")).toBe(2);
    } finally {
      reader.close();
    }
  });

  it("counts UNKNOWN health as ready when the task definition defines no health check", async () => {
    // Prepare: moto reports no task health at all, which ECS reports as UNKNOWN for such a service
    const account = isolatedAccount();
    const world = await worldIn(account, false);
    const admin = account.client(ECSClient);
    const tasks = await runServiceTasks({ ecs: admin }, world, 3);
    const [withoutIp] = tasks;
    const ecs = account.client(ECSClient);
    const overlay = createTaskOverlay();
    ecs.middlewareStack.use(overlay.plugin);
    // A task whose ENI has no address yet: strip it from what DescribeTasks answers.
    ecs.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if ((context as { commandName?: string }).commandName === "DescribeTasksCommand") {
          const output = result.output as { tasks?: Array<{ taskArn?: string; attachments?: unknown[] }> };
          for (const task of output.tasks ?? []) if (task.taskArn === withoutIp!.taskArn) task.attachments = [{ type: "ElasticNetworkInterface", details: [] }];
        }
        return result;
      },
      { step: "deserialize", priority: "high", name: "eniWithoutAddress" },
    );
    const fallback = ecsFallback({ cluster: world.clusterArn, serviceName: world.ecsServiceName, port: 8080, client: ecs });

    // Act
    const endpoints = await fallback.resolve();

    // Assess
    expect(endpoints.map((e) => e.address).sort()).toEqual(tasks.slice(1).map((task) => taskIp(task)!).sort());
    expect(endpoints.every((e) => e.port === 8080 && e.zone === undefined)).toBe(true);
  });

  it("reports ECS's own error when the cluster does not exist", async () => {
    // Prepare
    const account = isolatedAccount();
    const errors: string[] = [];
    const reader = createEndpointReader({
      parameterName: "/discovery/nowhere/endpoints",
      ssmClient: account.client(SSMClient),
      lambdaExtension: false,
      fallbacks: [ecsFallback({ cluster: "nowhere", serviceName: "nowhere", port: 50051, client: account.client(ECSClient) })],
      onError: (error) => errors.push(error.message),
    });

    try {
      // Act
      const outcome = await reader.endpoints().then(
        () => "served",
        (error: unknown) => error,
      );

      // Assess
      expect(outcome).toBeInstanceOf(Error);
      expect(errors.at(-1)).toMatch(/from ecs failed \(fallback-failed\): ClusterNotFoundException/);
    } finally {
      reader.close();
    }
  });
});
