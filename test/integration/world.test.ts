import { describe, expect, it } from "vitest";
import { DescribeTasksCommand, DescribeServicesCommand, ListTasksCommand, DescribeTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import { DescribeSubnetsCommand, DescribeSecurityGroupsCommand } from "@aws-sdk/client-ec2";
import { GetServiceCommand, GetNamespaceCommand } from "@aws-sdk/client-servicediscovery";
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import {
  createLambdaContext,
  createTaskOverlay,
  emitTaskStateChanges,
  LambdaRuntimeError,
  createWorldClients,
  drainFifo,
  drainInbox,
  provisionWorld,
  putTaskEvents,
  runForeignTask,
  runServiceTasks,
  stopServiceTask,
  taskIp,
  taskStateChangeEvent,
  type WorldClients,
} from "@discovery-sync/emulator";
import { createAwsClients, createReconcileHandler, createRouteHandler, parseConfig, type ServiceConfigInput } from "@discovery-sync/core";
import { ListInstancesCommand } from "@aws-sdk/client-servicediscovery";
import { DescribeTargetHealthCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { isolatedAccount } from "../support/aws.js";

function accountClients(): { clients: WorldClients; accountId: string } {
  const account = isolatedAccount();
  return { clients: createWorldClients(account.clientConfig, [account.plugin]), accountId: account.accountId };
}

describe("provisionWorld", () => {
  it("creates the reference architecture and returns a service configuration for it", async () => {
    // Prepare
    const { clients, accountId } = accountClients();

    // Act
    const world = await provisionWorld(clients);

    // Assess
    expect(world.accountId).toBe(accountId);
    expect(world.serviceConfig).toEqual({
      name: "workflow-agent",
      cluster: "workflow",
      ecsService: "workflow-agent",
      port: 50051,
      cloudMapServiceId: world.cloudMapServiceId,
      targetGroupArns: [world.targetGroupArns[0]],
      parameterName: "/discovery/workflow-agent/endpoints",
    });
    const subnets = await clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: world.subnets.map((s) => s.subnetId) }));
    expect(new Set(subnets.Subnets?.map((s) => s.AvailabilityZone))).toEqual(new Set(["us-east-1a", "us-east-1b"]));
    expect(subnets.Subnets?.every((s) => s.VpcId === world.vpcId)).toBe(true);
    const groups = await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [world.securityGroupId] }));
    expect(groups.SecurityGroups?.[0]?.IpPermissions?.[0]).toMatchObject({
      FromPort: 50051,
      ToPort: 50051,
      IpRanges: [expect.objectContaining({ CidrIp: "10.0.0.0/16" })],
    });

    const services = await clients.ecs.send(new DescribeServicesCommand({ cluster: world.clusterArn, services: ["workflow-agent"] }));
    expect(services.services?.[0]).toMatchObject({ serviceName: "workflow-agent", launchType: "FARGATE" });
    const taskDefinition = await clients.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: world.taskDefinitionArn }));
    expect(taskDefinition.taskDefinition).toMatchObject({ family: "workflow-agent", networkMode: "awsvpc" });
    expect(taskDefinition.taskDefinition?.containerDefinitions?.[0]?.healthCheck?.command).toBeDefined();

    const cmService = await clients.serviceDiscovery.send(new GetServiceCommand({ Id: world.cloudMapServiceId }));
    expect(cmService.Service).toMatchObject({
      Name: "workflow-agent",
      NamespaceId: world.namespaceId,
      DnsConfig: { RoutingPolicy: "MULTIVALUE", DnsRecords: [{ Type: "A", TTL: 10 }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
    const namespace = await clients.serviceDiscovery.send(new GetNamespaceCommand({ Id: world.namespaceId }));
    expect(namespace.Namespace?.Name).toBe("workflow.local");

    const lbs = await clients.elbv2.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [world.loadBalancerArn!] }));
    expect(lbs.LoadBalancers?.[0]).toMatchObject({ Type: "network", Scheme: "internal", VpcId: world.vpcId });
    const tgs = await clients.elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [...world.targetGroupArns] }));
    expect(tgs.TargetGroups?.[0]).toMatchObject({ Protocol: "TCP", Port: 50051, TargetType: "ip", VpcId: world.vpcId });
    const listeners = await clients.elbv2.send(new DescribeListenersCommand({ LoadBalancerArn: world.loadBalancerArn }));
    expect(listeners.Listeners?.[0]?.DefaultActions?.[0]?.TargetGroupArn).toBe(world.targetGroupArns[0]);

    const queue = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: world.reconcileQueueUrl, AttributeNames: ["FifoQueue", "RedrivePolicy"] }),
    );
    expect(queue.Attributes?.FifoQueue).toBe("true");
    expect(JSON.parse(queue.Attributes?.RedrivePolicy ?? "{}")).toMatchObject({ deadLetterTargetArn: world.deadLetterQueueArn });
    expect(world.reconcileQueueUrl).toMatch(/discovery-sync-reconcile\.fifo$/);
  });

  it("lets several services share one account, cluster and queue", async () => {
    // Prepare
    const { clients } = accountClients();
    const first = await provisionWorld(clients);

    // Act
    const second = await provisionWorld(clients, { service: "billing", shareWith: first, targetGroups: 2, containerHealthCheck: false });
    const independent = await provisionWorld(clients, { suffix: "-2", cloudMap: false, targetGroups: 0, queue: false });

    // Assess
    expect(second.clusterArn).toBe(first.clusterArn);
    expect(second.reconcileQueueUrl).toBe(first.reconcileQueueUrl);
    expect(second.namespaceId).toBe(first.namespaceId);
    expect(second.cloudMapServiceId).not.toBe(first.cloudMapServiceId);
    expect(second.targetGroupArns).toHaveLength(2);
    expect(second.serviceConfig.parameterName).toBe("/discovery/billing/endpoints");
    expect(independent.clusterName).toBe("workflow-2");
    expect(independent.serviceConfig).toEqual({
      name: "workflow-agent",
      cluster: "workflow-2",
      ecsService: "workflow-agent",
      port: 50051,
      parameterName: "/discovery/workflow-agent/endpoints",
    });
    expect(independent.reconcileQueueUrl).toBeUndefined();
  });
});

describe("tasks", () => {
  it("runs service tasks with an ENI address, spread over both zones, and a foreign task", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients);

    // Act
    const tasks = await runServiceTasks(clients, world, 13);
    const foreign = await runForeignTask(clients, world);

    // Assess
    expect(tasks).toHaveLength(13);
    for (const task of tasks) {
      expect(task).toMatchObject({ group: "service:workflow-agent", startedBy: world.deploymentId, lastStatus: "RUNNING", launchType: "FARGATE" });
      expect(taskIp(task)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(new Set(tasks.map(taskIp)).size).toBe(13);
    const subnetsUsed = tasks.map((t) => t.attachments?.[0]?.details?.find((d) => d.name === "subnetId")?.value);
    expect(subnetsUsed.filter((s) => s === world.subnets[0]!.subnetId)).toHaveLength(7);
    expect(subnetsUsed.filter((s) => s === world.subnets[1]!.subnetId)).toHaveLength(6);
    expect(foreign.group).toBe("family:workflow-agent");
    const listed = await clients.ecs.send(new ListTasksCommand({ cluster: world.clusterArn }));
    expect(listed.taskArns).toHaveLength(14);
  });

  it("stops a task at once, as moto does", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients);
    const [task] = await runServiceTasks(clients, world, 1);

    // Act
    const stopped = await stopServiceTask(clients, world, task!.taskArn!, "Essential container in task exited");

    // Assess
    expect(stopped).toMatchObject({ lastStatus: "STOPPED", desiredStatus: "STOPPED", stoppedReason: "Essential container in task exited" });
  });

  it("overlays task health, zone, version and draining on DescribeTasks and ListTasks", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients);
    const [healthy, draining, sick] = await runServiceTasks(clients, world, 3);
    const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
    clients.ecs.middlewareStack.use(overlay.plugin);

    // Act
    overlay.set(draining!.taskArn!, { desiredStatus: "STOPPED", version: 4 });
    overlay.set(sick!.taskArn!, { healthStatus: "UNHEALTHY", availabilityZone: "us-east-1c" });
    const out = await clients.ecs.send(
      new DescribeTasksCommand({ cluster: world.clusterArn, tasks: [healthy!.taskArn!, draining!.taskArn!, sick!.taskArn!] }),
    );
    const running = await clients.ecs.send(new ListTasksCommand({ cluster: world.clusterArn, desiredStatus: "RUNNING" }));
    const stopping = await clients.ecs.send(new ListTasksCommand({ cluster: world.clusterArn, desiredStatus: "STOPPED" }));

    // Assess
    const byArn = new Map(out.tasks?.map((t) => [t.taskArn, t]));
    expect(byArn.get(healthy!.taskArn)).toMatchObject({ healthStatus: "HEALTHY", availabilityZone: "us-east-1a", lastStatus: "RUNNING" });
    expect(byArn.get(draining!.taskArn)).toMatchObject({ desiredStatus: "STOPPED", lastStatus: "RUNNING", version: 4, availabilityZone: "us-east-1b" });
    expect(byArn.get(sick!.taskArn)).toMatchObject({ healthStatus: "UNHEALTHY", availabilityZone: "us-east-1c" });
    expect(byArn.get(healthy!.taskArn)?.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address).toBe(taskIp(healthy!));
    expect(new Set(running.taskArns)).toEqual(new Set([healthy!.taskArn, sick!.taskArn]));
    expect(stopping.taskArns).toEqual([draining!.taskArn]);

    // Act: clearing a patch brings moto's own values back
    overlay.clear(draining!.taskArn!);
    const cleared = await clients.ecs.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: [draining!.taskArn!] }));
    expect(cleared.tasks?.[0]).toMatchObject({ desiredStatus: "RUNNING", healthStatus: "HEALTHY" });
    expect(cleared.tasks?.[0]?.version).toBeUndefined();
  });
});

describe("events", () => {
  it("builds an AWS-shaped event, and one put on the bus arrives in the router inbox", async () => {
    // Prepare
    const { clients, accountId } = accountClients();
    const world = await provisionWorld(clients);
    const [task] = await runServiceTasks(clients, world, 1);
    const time = new Date("2026-11-25T06:00:00.123Z");
    // moto's tasks have no createdAt; give this one a Date to see it become an ISO string, as in AWS's events.
    const createdAt = new Date("2026-11-25T05:59:30.500Z");
    const event = taskStateChangeEvent({ ...task!, createdAt }, { account: accountId, region: world.region, version: 3, time });

    // Assess the event itself
    expect(event).toMatchObject({
      version: "0",
      "detail-type": "ECS Task State Change",
      source: "aws.ecs",
      account: accountId,
      region: "us-east-1",
      time: "2026-11-25T06:00:00Z",
      resources: [task!.taskArn],
      detail: {
        taskArn: task!.taskArn,
        clusterArn: world.clusterArn,
        group: "service:workflow-agent",
        lastStatus: "RUNNING",
        desiredStatus: "RUNNING",
        updatedAt: "2026-11-25T06:00:00.123Z",
        version: 3,
      },
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.detail.createdAt).toBe("2026-11-25T05:59:30.500Z");
    expect((event.detail.containers as Array<{ networkInterfaces: unknown[] }>)[0]!.networkInterfaces).toEqual([
      expect.objectContaining({ privateIpv4Address: taskIp(task!) }),
    ]);

    // Act: through the bus and the rule; an event of another cluster is not delivered
    await putTaskEvents(clients, [
      event,
      taskStateChangeEvent(task!, { account: accountId, region: world.region, overrides: { clusterArn: "arn:aws:ecs:us-east-1:1:cluster/other" } }),
    ]);
    const seen: unknown[] = [];
    const handled = await drainInbox(clients.sqs, world.inboxQueueUrl!, async (delivered) => {
      seen.push(delivered);
    });

    // Assess
    expect(handled).toBe(1);
    expect(seen[0]).toMatchObject({
      version: "0",
      account: accountId,
      region: "us-east-1",
      time: "2026-11-25T06:00:00Z",
      source: "aws.ecs",
      "detail-type": "ECS Task State Change",
      resources: [task!.taskArn],
      detail: { taskArn: task!.taskArn, version: 3, updatedAt: "2026-11-25T06:00:00.123Z" },
    });
    const left = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.inboxQueueUrl, WaitTimeSeconds: 0 }));
    expect(left.Messages ?? []).toHaveLength(0);
  });
});

describe("drainFifo", () => {
  it("deletes what the handler reconciled and returns reported failures to the queue", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients, { targetGroups: 0, cloudMap: false });
    const queueUrl = world.reconcileQueueUrl!;
    for (const [index, group] of ["a", "a", "b"].entries()) {
      await clients.sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ service: group, n: index }), MessageGroupId: group, MessageDeduplicationId: `m${index}` }),
      );
    }
    const events: SQSEvent[] = [];
    let failOnce = true;

    // Act
    const summary = await drainFifo(clients.sqs, queueUrl, async (event): Promise<SQSBatchResponse> => {
      events.push(event);
      const failures = failOnce ? event.Records.filter((r) => JSON.parse(r.body).service === "b") : [];
      failOnce = false;
      return { batchItemFailures: failures.map((r) => ({ itemIdentifier: r.messageId })) };
    });

    // Assess
    expect(summary).toMatchObject({ messages: 4, failures: 1, drained: true, errors: [] });
    const first = events[0]!.Records[0]!;
    expect(first).toMatchObject({
      eventSource: "aws:sqs",
      eventSourceARN: world.reconcileQueueArn,
      awsRegion: "us-east-1",
      attributes: { MessageGroupId: "a", MessageDeduplicationId: "m0", ApproximateReceiveCount: "1" },
    });
    expect(first.attributes.SequenceNumber).toMatch(/^\d+$/);
    const retried = events.at(-1)!.Records.find((r) => JSON.parse(r.body).service === "b");
    expect(retried?.attributes.ApproximateReceiveCount).toBe("2");
    const left = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }));
    expect(left.Messages ?? []).toHaveLength(0);
  });
});

describe("task overlay and ListTasks", () => {
  it("keeps ListTasks to the cluster asked for (moto matches cluster names by substring)", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients, { cloudMap: false, targetGroups: 0, queue: false });
    const other = await provisionWorld(clients, { suffix: "-2", cloudMap: false, targetGroups: 0, queue: false });
    const [own] = await runServiceTasks(clients, world, 1);
    await runServiceTasks(clients, other, 1);
    const plain = await clients.ecs.send(new ListTasksCommand({ cluster: world.clusterName, desiredStatus: "RUNNING" }));

    // Act
    clients.ecs.middlewareStack.use(createTaskOverlay().plugin);
    const listed = await clients.ecs.send(new ListTasksCommand({ cluster: world.clusterName, desiredStatus: "RUNNING" }));

    // Assess: the quirk the overlay repairs, then the repaired answer
    expect(plain.taskArns).toHaveLength(2);
    expect(listed.taskArns).toEqual([own!.taskArn]);
  });
});

describe("emitTaskStateChanges", () => {
  it("bumps each task's version, shows it in DescribeTasks and delivers matching events to the inbox", async () => {
    // Prepare
    const { clients, accountId } = accountClients();
    const world = await provisionWorld(clients, { cloudMap: false, targetGroups: 0 });
    const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet });
    clients.ecs.middlewareStack.use(overlay.plugin);
    const tasks = await runServiceTasks(clients, world, 2);
    const arns = tasks.map((t) => t.taskArn!);

    // Act
    await emitTaskStateChanges(clients, world, overlay, arns, { healthStatus: "UNKNOWN" });
    const events = await emitTaskStateChanges(clients, world, overlay, [arns[0]!], { healthStatus: "HEALTHY" });
    const delivered: Array<{ account: string; detail: { taskArn: string; version: number; healthStatus: string; availabilityZone: string } }> = [];
    await drainInbox(clients.sqs, world.inboxQueueUrl!, async (event: (typeof delivered)[number]) => {
      delivered.push(event);
    });

    // Assess
    expect(events[0]?.detail).toMatchObject({ version: 2, healthStatus: "HEALTHY", availabilityZone: "us-east-1a" });
    const described = await clients.ecs.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: arns }));
    const versions = Object.fromEntries(described.tasks!.map((t) => [t.taskArn, [t.version, t.healthStatus]]));
    expect(versions).toEqual({ [arns[0]!]: [2, "HEALTHY"], [arns[1]!]: [1, "UNKNOWN"] });
    expect(delivered.map((e) => [e.account, e.detail.taskArn, e.detail.version, e.detail.healthStatus, e.detail.availabilityZone])).toEqual([
      [accountId, arns[0], 1, "UNKNOWN", "us-east-1a"],
      [accountId, arns[1], 1, "UNKNOWN", "us-east-1b"],
      [accountId, arns[0], 2, "HEALTHY", "us-east-1a"],
    ]);
  });
});

describe("lambda runtime stand-in", () => {
  async function sendFifo(sqs: SQSClient, queueUrl: string, group: string, ids: string[]): Promise<void> {
    for (const id of ids) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: id, MessageGroupId: group, MessageDeduplicationId: id }));
    }
  }

  it("redelivers a group's failed messages in their order, and a throwing handler fails its whole batch", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients, { targetGroups: 0, cloudMap: false });
    const queueUrl = world.reconcileQueueUrl!;
    await sendFifo(clients.sqs, queueUrl, "svc", ["m1", "m2", "m3"]);
    const bodies: string[][] = [];
    let round = 0;

    // Act: round 1 fails from m2 on (the FIFO rule), round 2 throws, round 3 succeeds
    const summary = await drainFifo(clients.sqs, queueUrl, async (event) => {
      round += 1;
      bodies.push(event.Records.map((r) => r.body));
      if (round === 1) return { batchItemFailures: event.Records.slice(1).map((r) => ({ itemIdentifier: r.messageId })) };
      if (round === 2) throw new Error("reconcile crashed");
      return { batchItemFailures: [] };
    });

    // Assess
    expect(bodies).toEqual([["m1", "m2", "m3"], ["m2", "m3"], ["m2", "m3"]]);
    expect(summary).toMatchObject({ batches: 3, messages: 7, failures: 4, drained: true });
    expect(summary.errors).toEqual([new Error("reconcile crashed")]);
  });

  it("stops after maxRounds when a message keeps failing", async () => {
    // Prepare
    const { clients } = accountClients();
    const world = await provisionWorld(clients, { targetGroups: 0, cloudMap: false });
    await sendFifo(clients.sqs, world.reconcileQueueUrl!, "svc", ["poison"]);

    // Act
    const summary = await drainFifo(clients.sqs, world.reconcileQueueUrl!, async (event) => ({
      batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
    }), { maxRounds: 3 });

    // Assess
    expect(summary).toMatchObject({ batches: 3, messages: 3, failures: 3, drained: false });
  });

  it("fails the drain of the inbox with the event when the route handler throws, leaving the message queued", async () => {
    // Prepare
    const { clients, accountId } = accountClients();
    const world = await provisionWorld(clients, { targetGroups: 0, cloudMap: false });
    const [task] = await runServiceTasks(clients, world, 1);
    await putTaskEvents(clients, [taskStateChangeEvent(task!, { account: accountId, region: world.region })]);

    // Act
    const drained = drainInbox(clients.sqs, world.inboxQueueUrl!, async () => {
      throw new Error("router down");
    });

    // Assess
    await expect(drained).rejects.toThrow(LambdaRuntimeError);
    await expect(drained).rejects.toMatchObject({ functionName: "discovery-sync-route", cause: new Error("router down") });
    const attributes = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: world.inboxQueueUrl, AttributeNames: ["ApproximateNumberOfMessagesNotVisible"] }),
    );
    expect(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe("1");
  });

  it("builds a Lambda context with a fresh request id and a countdown", () => {
    const context = createLambdaContext({ functionName: "discovery-sync-reconcile", timeoutMs: 5_000, accountId: "111122223333" });
    expect(context).toMatchObject({
      functionName: "discovery-sync-reconcile",
      invokedFunctionArn: "arn:aws:lambda:us-east-1:111122223333:function:discovery-sync-reconcile",
      logGroupName: "/aws/lambda/discovery-sync-reconcile",
      functionVersion: "$LATEST",
    });
    expect(context.awsRequestId).not.toBe(createLambdaContext().awsRequestId);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(4_000);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(5_000);
  });
});

describe("end to end through the stand-in", () => {
  it("runs the real route and reconcile handlers from the bus to Cloud Map, the target group and the document", async () => {
    // Prepare
    const account = isolatedAccount();
    const clients = createWorldClients(account.clientConfig, [account.plugin]);
    const world = await provisionWorld(clients);
    const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet });
    clients.ecs.middlewareStack.use(overlay.plugin);
    // The world's configuration is a core configuration input, by type and by validation.
    const serviceConfig: ServiceConfigInput = world.serviceConfig;
    const config = parseConfig({ services: [serviceConfig] });
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const route = createRouteHandler({ config, sqs: clients.sqs, queueUrl: world.reconcileQueueUrl!, logger: silent });
    const reconcileClients = createAwsClients({ clientConfig: account.clientConfig, plugins: [account.plugin] });
    reconcileClients.ecs.middlewareStack.use(overlay.plugin);
    const reconcile = createReconcileHandler({ config, clients: reconcileClients, logger: silent });
    const tasks = await runServiceTasks(clients, world, 3);
    const ips = tasks.map((t) => taskIp(t)!);

    // Act
    await emitTaskStateChanges(clients, world, overlay, tasks.map((t) => t.taskArn!), { healthStatus: "HEALTHY" });
    const routed = await drainInbox(clients.sqs, world.inboxQueueUrl!, route);
    const summary = await drainFifo(clients.sqs, world.reconcileQueueUrl!, reconcile);

    // Assess
    expect(routed).toBe(3);
    expect(summary).toMatchObject({ failures: 0, drained: true, errors: [] });
    const instances = await clients.serviceDiscovery.send(new ListInstancesCommand({ ServiceId: world.cloudMapServiceId }));
    expect(new Set(instances.Instances?.map((i) => i.Attributes?.AWS_INSTANCE_IPV4))).toEqual(new Set(ips));
    const targets = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: world.targetGroupArns[0] }));
    expect(new Set(targets.TargetHealthDescriptions?.map((t) => `${t.Target?.Id}:${t.Target?.Port}`))).toEqual(new Set(ips.map((ip) => `${ip}:50051`)));
    const parameter = await clients.ssm.send(new GetParameterCommand({ Name: world.serviceConfig.parameterName }));
    const document = JSON.parse(parameter.Parameter!.Value!) as { revision: number; endpoints: Array<{ address: string; zone?: string }> };
    expect(document.revision).toBe(1);
    expect(new Set(document.endpoints.map((e) => e.address))).toEqual(new Set(ips));
    expect(new Set(document.endpoints.map((e) => e.zone))).toEqual(new Set(["us-east-1a", "us-east-1b"]));
  });
});
