import { describe, expect, it } from "vitest";
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  type ECSClient,
  type Task,
  type TaskDefinition,
} from "@aws-sdk/client-ecs";
import { InvalidOptionError } from "@discovery-sync/client";
import { ecsFallback, readyEndpoints } from "@discovery-sync/client/ecs";
import { observeTask } from "@discovery-sync/client/readiness";

const cluster = "workflow";
const definitionWithCheck = "arn:aws:ecs:us-east-1:123456789012:task-definition/workflow-agent:1";
const definitionWithoutCheck = "arn:aws:ecs:us-east-1:123456789012:task-definition/workflow-agent:2";

/** A service task as DescribeTasks gives it; `index` makes its id and address. */
function serviceTask(index: number, patch: Partial<Task> = {}): Task {
  return {
    taskArn: `arn:aws:ecs:us-east-1:123456789012:task/${cluster}/${index.toString(16).padStart(32, "0")}`,
    group: "service:workflow-agent",
    lastStatus: "RUNNING",
    desiredStatus: "RUNNING",
    healthStatus: "HEALTHY",
    availabilityZone: index % 2 === 0 ? "us-east-1a" : "us-east-1b",
    taskDefinitionArn: definitionWithCheck,
    attachments: [{ type: "ElasticNetworkInterface", details: [{ name: "privateIPv4Address", value: `10.0.${Math.floor(index / 250)}.${(index % 250) + 1}` }] }],
    ...patch,
  };
}

interface FakeEcs {
  readonly client: ECSClient;
  readonly describeBatchSizes: number[];
  readonly definitionsDescribed: string[];
  readonly listCalls: Array<{ serviceName?: string; desiredStatus?: string; nextToken?: string }>;
  failDefinitions: boolean;
}

/**
 * An ECS API in memory that pages ListTasks by `pageSize` (AWS pages at 100; the emulator never pages) and refuses
 * DescribeTasks batches over 100, as AWS does.
 */
function fakeEcs(tasks: readonly Task[], definitions: Record<string, TaskDefinition>, pageSize = 100): FakeEcs {
  const fake: FakeEcs = {
    describeBatchSizes: [],
    definitionsDescribed: [],
    listCalls: [],
    failDefinitions: false,
    client: undefined as unknown as ECSClient,
  };
  const byArn = new Map(tasks.map((task) => [task.taskArn!, task]));
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof ListTasksCommand) {
      const { serviceName, desiredStatus, nextToken } = command.input;
      fake.listCalls.push({ serviceName, desiredStatus, nextToken });
      const start = nextToken === undefined ? 0 : Number(nextToken);
      const arns = tasks.filter((task) => task.desiredStatus === desiredStatus).map((task) => task.taskArn!);
      const page = arns.slice(start, start + pageSize);
      return { taskArns: page, nextToken: start + pageSize < arns.length ? String(start + pageSize) : undefined };
    }
    if (command instanceof DescribeTasksCommand) {
      const asked = command.input.tasks ?? [];
      if (asked.length > 100) throw Object.assign(new Error("tasks can have at most 100 items"), { name: "InvalidParameterException" });
      fake.describeBatchSizes.push(asked.length);
      return { tasks: asked.map((arn) => byArn.get(arn)).filter((task) => task !== undefined), failures: [] };
    }
    if (command instanceof DescribeTaskDefinitionCommand) {
      const arn = command.input.taskDefinition!;
      fake.definitionsDescribed.push(arn);
      if (fake.failDefinitions) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      const definition = definitions[arn];
      if (definition === undefined) throw Object.assign(new Error("Unable to describe task definition."), { name: "ClientException" });
      return { taskDefinition: definition };
    }
    throw new Error(`unexpected command ${String((command as object).constructor.name)}`);
  };
  (fake as { client: ECSClient }).client = { send, config: {} } as unknown as ECSClient;
  return fake;
}

const definitions: Record<string, TaskDefinition> = {
  [definitionWithCheck]: { networkMode: "awsvpc", containerDefinitions: [{ name: "app", healthCheck: { command: ["CMD", "true"] } }] },
  [definitionWithoutCheck]: { networkMode: "awsvpc", containerDefinitions: [{ name: "app" }] },
};

describe("ecsFallback", () => {
  it("lists every page of RUNNING tasks, describes them 100 at a time and serves the ready ones", async () => {
    // Prepare: 230 ready tasks over three ListTasks pages
    const tasks = Array.from({ length: 230 }, (_, i) => serviceTask(i));
    const ecs = fakeEcs(tasks, definitions);
    const fallback = ecsFallback({ cluster, serviceName: "workflow-agent", port: 50051, client: ecs.client });

    // Act
    const endpoints = await fallback.resolve();

    // Assess
    expect(fallback.name).toBe("ecs");
    expect(endpoints).toHaveLength(230);
    expect(ecs.listCalls.map((call) => call.nextToken)).toEqual([undefined, "100", "200"]);
    expect(new Set(ecs.listCalls.map((call) => `${call.serviceName}/${call.desiredStatus}`))).toEqual(new Set(["workflow-agent/RUNNING"]));
    expect(ecs.describeBatchSizes.sort((a, b) => b - a)).toEqual([100, 100, 30]);
    expect(endpoints[0]).toEqual({ address: "10.0.0.1", port: 50051, zone: "us-east-1a", taskId: "0".repeat(32) });
    expect(endpoints.every((e) => e.port === 50051)).toBe(true);
  });

  it("applies the reconciler's readiness rule, describing each needed task definition once", async () => {
    // Prepare
    const tasks = [
      serviceTask(1), // HEALTHY: ready
      serviceTask(2, { healthStatus: "UNKNOWN", taskDefinitionArn: definitionWithoutCheck }), // no check: ready
      serviceTask(3, { healthStatus: "UNKNOWN", taskDefinitionArn: definitionWithoutCheck }), // no check: ready
      serviceTask(4, { healthStatus: "UNKNOWN" }), // check not passed yet: not ready
      serviceTask(5, { healthStatus: "UNHEALTHY" }),
      serviceTask(6, { attachments: [{ type: "ElasticNetworkInterface", details: [] }] }), // no IP yet
      serviceTask(7, { lastStatus: "PENDING" }),
      serviceTask(8, { group: "family:workflow-agent" }), // not the service's (ListTasks' filter is not trusted)
      serviceTask(9, { group: "service:billing" }),
    ];
    const ecs = fakeEcs(tasks, definitions);
    const fallback = ecsFallback({ cluster, serviceName: "workflow-agent", port: 8443, client: ecs.client });

    // Act
    const first = await fallback.resolve();
    const second = await fallback.resolve();

    // Assess
    expect(first.map((e) => e.address)).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    expect(second).toEqual(first);
    // Only UNKNOWN-health running tasks need their definition; each ARN is described once for the fallback's life.
    expect(ecs.definitionsDescribed.sort()).toEqual([definitionWithCheck, definitionWithoutCheck]);
  });

  it("leaves draining tasks out, and retries a task definition whose description failed", async () => {
    // Prepare
    const tasks = [
      serviceTask(1, { healthStatus: "UNKNOWN", taskDefinitionArn: definitionWithoutCheck }),
      serviceTask(2, { desiredStatus: "STOPPED" }),
    ];
    const ecs = fakeEcs(tasks, definitions);
    const fallback = ecsFallback({ cluster, serviceName: "workflow-agent", port: 50051, client: ecs.client });
    ecs.failDefinitions = true;

    // Act
    const failed = await fallback.resolve().then(
      () => undefined,
      (error: unknown) => error,
    );
    ecs.failDefinitions = false;
    const endpoints = await fallback.resolve();

    // Assess
    expect((failed as Error).name).toBe("ThrottlingException");
    expect(endpoints.map((e) => e.address)).toEqual(["10.0.0.2"]);
    expect(ecs.definitionsDescribed).toEqual([definitionWithoutCheck, definitionWithoutCheck]);
  });

  it("returns an empty list when the service has no ready task", async () => {
    const ecs = fakeEcs([serviceTask(1, { healthStatus: "UNHEALTHY" })], definitions);
    await expect(ecsFallback({ cluster, serviceName: "workflow-agent", port: 50051, client: ecs.client }).resolve()).resolves.toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["a missing port", { cluster, serviceName: "a" }, "port"],
    ["a port out of range", { cluster, serviceName: "a", port: 70_000 }, "port"],
    ["an empty cluster", { cluster: " ", serviceName: "a", port: 1 }, "cluster"],
    ["a missing service name", { cluster, port: 1 }, "serviceName"],
    ["a misspelt option", { cluster, serviceName: "a", port: 1, service: "a" }, "service"],
    ["client and clientConfig", { cluster, serviceName: "a", port: 1, client: { send() {} }, clientConfig: {} }, "clientConfig"],
    ["a client that cannot send", { cluster, serviceName: "a", port: 1, client: {} }, "client"],
  ])("refuses %s, naming the option", (_, options, option) => {
    let thrown: unknown;
    try {
      ecsFallback(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
  });
});

describe("readyEndpoints", () => {
  it("keeps one endpoint per address, sorted numerically, without a zone ECS did not give", () => {
    // Prepare
    const tasks = [serviceTask(10), serviceTask(9, { availabilityZone: undefined }), serviceTask(10)].map(observeTask);

    // Act
    const endpoints = readyEndpoints(tasks, new Map(), 50051);

    // Assess
    expect(endpoints).toEqual([
      { address: "10.0.0.10", port: 50051, taskId: serviceTask(9).taskArn!.split("/").at(-1) },
      { address: "10.0.0.11", port: 50051, zone: "us-east-1a", taskId: serviceTask(10).taskArn!.split("/").at(-1) },
    ]);
  });
});
