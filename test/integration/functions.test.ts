/**
 * The Lambda entry points themselves (functions/*.ts), configured only through the environment as on AWS,
 * fed through the emulator's EventBridge bus and SQS FIFO queue.
 *
 * The handlers build their SDK clients from the standard environment, which cannot choose an emulator account,
 * so this file (alone) works in moto's default account 123456789012.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { compareEndpoints, parseEndpointDocument } from "@discovery-sync/client/document";
import {
  createWorldClients,
  drainFifo,
  drainInbox,
  emulatorCredentials,
  provisionWorld,
  putTaskEvents,
  runServiceTasks,
  taskIp,
  taskStateChangeEvent,
  type World,
  type WorldClients,
} from "@discovery-sync/emulator";

const awsExample = JSON.parse(
  readFileSync(new URL("../fixtures/events/ecs-task-state-change.aws-doc-example.json", import.meta.url), "utf8"),
) as { detail: Record<string, unknown> } & Record<string, unknown>;

const defaultAccount = "123456789012";
let world: World;
let clients: WorldClients;
let route: (event: unknown) => Promise<unknown>;
let reconcile: (event: SQSEvent) => Promise<SQSBatchResponse>;
const saved = { ...process.env };

beforeAll(async () => {
  const endpoint = inject("emulatorEndpoint");
  clients = createWorldClients({ endpoint, region: "us-east-1", credentials: emulatorCredentials });
  world = await provisionWorld(clients, { containerHealthCheck: false, suffix: `-fn${Date.now()}` });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
    DISCOVERY_SYNC_CONFIG: JSON.stringify({ services: [world.serviceConfig] }),
    DISCOVERY_SYNC_QUEUE_URL: world.reconcileQueueUrl,
    POWERTOOLS_LOG_LEVEL: "ERROR",
  });
  vi.resetModules();
  route = (await import("../../functions/route.js")).handler;
  reconcile = (await import("../../functions/reconcile.js")).handler as typeof reconcile;
});

afterAll(() => {
  process.env = saved;
});

describe("Lambda entry points", () => {
  it("turn the AWS documentation example event, set to a configured service, into the right document", async () => {
    const tasks = await runServiceTasks(clients, world, 2);
    const event = {
      ...awsExample,
      detail: { ...awsExample.detail, clusterArn: world.clusterArn, group: `service:${world.ecsServiceName}` },
    };
    await expect(route(event)).resolves.toMatchObject({ outcome: "enqueued", service: world.service });
    const summary = await drainFifo(clients.sqs, world.reconcileQueueUrl!, reconcile);
    expect(summary).toMatchObject({ messages: 1, failures: 0 });
    const parameter = await clients.ssm.send(new GetParameterCommand({ Name: world.serviceConfig.parameterName }));
    const document = parseEndpointDocument(parameter.Parameter!.Value!);
    // The event is only a trigger: the document lists the service's ready tasks as ECS reports them (the example's
    // own task does not exist here), with health UNKNOWN and no health check defined counting as ready.
    expect(document).toMatchObject({ schemaVersion: 1, service: world.service, revision: 1, draining: [] });
    const expected = tasks.map((t) => ({ address: taskIp(t)!, port: world.port })).sort(compareEndpoints);
    expect(document.endpoints.map((e) => e.address)).toEqual(expected.map((e) => e.address));
    expect(document.endpoints.every((e) => e.port === world.port)).toBe(true);
  });

  it("run end to end from the EventBridge bus: rule -> route -> FIFO queue -> reconcile", async () => {
    const [task] = await runServiceTasks(clients, world, 1);
    const event = taskStateChangeEvent(task!, { account: defaultAccount, region: "us-east-1" });
    await putTaskEvents(clients, [event]);
    expect(await drainInbox(clients.sqs, world.inboxQueueUrl!, route)).toBe(1);
    await drainFifo(clients.sqs, world.reconcileQueueUrl!, reconcile);
    const parameter = await clients.ssm.send(new GetParameterCommand({ Name: world.serviceConfig.parameterName }));
    const document = parseEndpointDocument(parameter.Parameter!.Value!);
    expect(document.endpoints.map((e) => e.address)).toContain(taskIp(task!));
    expect(document.revision).toBe(2);
  });
});
