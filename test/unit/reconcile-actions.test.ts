/**
 * `reconcileService` against fake AWS clients that record the exact SDK commands they receive, in the style of the
 * Kubernetes controllers' `expectActions` tests: what reached the API is asserted, not what the code meant to do.
 * The fake is a small in-memory ECS, Cloud Map and ELBv2, with the Parameter Store of `fake-parameter-store.ts`,
 * answering each request one macrotask later; it knows what is in flight, so it also counts serial waves (a wave: a
 * run of requests with no moment in between when nothing is in flight) and the most requests in flight at once. No
 * network.
 */
import { describe, expect, it } from "vitest";
import { ECSClient, type Task } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { InstanceNotFound, ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { SSMClient } from "@aws-sdk/client-ssm";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { MiddlewareStack } from "@smithy/types";
import { parseEndpointDocument } from "@discovery-sync/client";
import {
  CloudMapServiceCache,
  parseConfig,
  reconcileService,
  ServiceTaskArnCache,
  ShardValueCache,
  TaskDefinitionCache,
  type AwsClients,
  type ReconcileDependencies,
  type ReconcileLogger,
  type ReconcileTrigger,
  type ServiceConfig,
} from "@discovery-sync/core";
import { fakeParameterStore } from "./fake-parameter-store.js";

/** One request a fake client received: the command's name without `Command`, and its input. */
interface Action {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

type Answer = Record<string, unknown>;
/** Makes one request fail (thrown from the fake) or wait (resolved when the returned promise settles). */
type Fault = (action: Action) => Error | Promise<void> | undefined;

const region = "us-east-1";
const account = "123456789012";
const clusterName = "workflow";
const serviceName = "workflow-agent";
const port = 50051;
const serviceId = "srv-0123456789abcdef";
const targetGroupArns = [1, 2].map((n) => `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/agent-${n}/000000000000000${n}`);
const parameterName = "/discovery/workflow-agent/endpoints";
const stateName = `${parameterName}/state`;
const taskDefinitionArn = `arn:aws:ecs:${region}:${account}:task-definition/agent:1`;

const service: ServiceConfig = parseConfig({
  services: [{ name: serviceName, cluster: clusterName, ecsService: serviceName, port, cloudMapServiceId: serviceId, targetGroupArns, parameterName }],
}).services[0]!;

/** ECS, Cloud Map, ELBv2 and Parameter Store, as far as a reconcile reads and writes them. */
class FakeAws {
  readonly tasks = new Map<string, Task>();
  readonly instances = new Map<string, Record<string, string>>();
  readonly targets = new Map<string, Map<string, { id: string; port: number }>>(targetGroupArns.map((arn) => [arn, new Map()]));
  readonly parameters = fakeParameterStore();
  readonly actions: Action[] = [];
  /** The serial wave each of `actions` was sent in (1 for the first), index for index. */
  readonly wavesOfActions: number[] = [];
  faults: Fault[] = [];
  waves = 0;
  maxInFlight = 0;
  /** The most write requests in flight at once. */
  maxWritesInFlight = 0;
  #inFlight = 0;
  #writesInFlight = 0;
  #nextTask = 1;

  /** ListTasks answers that leave a task out although it runs (ListTasks is eventually consistent), by task ARN. */
  readonly listingLag = new Map<string, number>();

  #behindListing(taskArn: string): boolean {
    const lag = this.listingLag.get(taskArn) ?? 0;
    if (lag > 0) this.listingLag.set(taskArn, lag - 1);
    return lag > 0;
  }

  /** Starts recording afresh (actions, waves, the most in flight). */
  reset(): void {
    this.actions.length = 0;
    this.wavesOfActions.length = 0;
    this.waves = 0;
    this.maxInFlight = 0;
    this.maxWritesInFlight = 0;
  }

  runTask(): Task {
    const n = this.#nextTask++;
    const id = n.toString(16).padStart(32, "0");
    const task: Task = {
      taskArn: `arn:aws:ecs:${region}:${account}:task/${clusterName}/${id}`,
      group: `service:${serviceName}`,
      lastStatus: "RUNNING",
      desiredStatus: "RUNNING",
      healthStatus: "HEALTHY",
      availabilityZone: "us-east-1a",
      taskDefinitionArn,
      version: 3,
      attachments: [{ type: "eni", details: [{ name: "privateIPv4Address", value: `10.0.${n >> 8}.${n & 255}` }] }],
    };
    this.tasks.set(task.taskArn!, task);
    return task;
  }

  /** ECS tells the task to stop: it keeps running (draining) until `stop`. */
  drain(task: Task): void {
    Object.assign(task, { desiredStatus: "STOPPED", version: (task.version ?? 0) + 1 });
  }

  stop(task: Task): void {
    Object.assign(task, { desiredStatus: "STOPPED", lastStatus: "STOPPED", version: (task.version ?? 0) + 1 });
  }

  clients(): AwsClients {
    const config = { region, credentials: { accessKeyId: "x", secretAccessKey: "x" }, maxAttempts: 1 };
    const clients = {
      ecs: new ECSClient(config),
      serviceDiscovery: new ServiceDiscoveryClient(config),
      elbv2: new ElasticLoadBalancingV2Client(config),
      ssm: new SSMClient(config),
      sqs: new SQSClient(config),
    };
    const stacks: MiddlewareStack<any, any>[] = Object.values(clients).map((client) => client.middlewareStack);
    for (const stack of stacks) {
      stack.add(
        (_next: unknown, context: { commandName?: string }) => async (args: { input: unknown }) => {
          const command = String(context.commandName).replace(/Command$/, "");
          const output = await this.#request({ command, input: structuredClone(args.input) as Record<string, unknown> });
          return { output: { $metadata: {}, ...output }, response: {} };
        },
        { step: "initialize", name: "fakeAws" },
      );
    }
    return clients;
  }

  async #request(action: Action): Promise<Answer> {
    if (this.#inFlight === 0) this.waves += 1;
    this.#inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    const write = writeCommands.has(action.command);
    if (write) this.maxWritesInFlight = Math.max(this.maxWritesInFlight, ++this.#writesInFlight);
    this.actions.push(action);
    this.wavesOfActions.push(this.waves);
    try {
      // Answered a macrotask later, as a network would: requests sent together are in flight together.
      await new Promise((resolve) => setImmediate(resolve));
      for (const fault of this.faults) {
        const effect = fault(action);
        if (effect instanceof Error) throw effect;
        if (effect !== undefined) await effect;
      }
      return this.#answer(action);
    } finally {
      this.#inFlight -= 1;
      if (write) this.#writesInFlight -= 1;
    }
  }

  #answer({ command, input }: Action): Answer {
    switch (command) {
      case "ListTasks":
        return {
          taskArns: [...this.tasks.values()]
            .filter((t) => (t.desiredStatus === "RUNNING") === (input.desiredStatus === "RUNNING"))
            .filter((t) => !this.#behindListing(t.taskArn!))
            .map((t) => t.taskArn),
        };
      case "DescribeTasks":
        return { tasks: (input.tasks as string[]).flatMap((arn) => (this.tasks.has(arn) ? [structuredClone(this.tasks.get(arn)!)] : [])) };
      case "DescribeTaskDefinition":
        return { taskDefinition: { taskDefinitionArn, networkMode: "awsvpc", containerDefinitions: [{ name: "agent" }] } };
      case "GetService":
        return { Service: { Id: serviceId } };
      case "ListOperations":
        return { Operations: [] };
      case "ListInstances":
        return { Instances: [...this.instances].map(([Id, Attributes]) => ({ Id, Attributes })) };
      case "RegisterInstance":
        this.instances.set(String(input.InstanceId), input.Attributes as Record<string, string>);
        return { OperationId: `op-register-${String(input.InstanceId)}` };
      case "DeregisterInstance":
        if (!this.instances.delete(String(input.InstanceId))) throw new InstanceNotFound({ message: String(input.InstanceId), $metadata: {} });
        return { OperationId: `op-deregister-${String(input.InstanceId)}` };
      case "DescribeTargetGroups":
        return { TargetGroups: [{ TargetGroupArn: (input.TargetGroupArns as string[])[0], TargetType: "ip" }] };
      case "DescribeTargetHealth":
        return {
          TargetHealthDescriptions: [...this.targets.get(String(input.TargetGroupArn))!.values()].map((t) => ({
            Target: { Id: t.id, Port: t.port },
            TargetHealth: { State: "healthy" },
          })),
        };
      case "RegisterTargets":
      case "DeregisterTargets": {
        const group = this.targets.get(String(input.TargetGroupArn))!;
        for (const target of input.Targets as { Id: string; Port: number }[]) {
          if (command === "RegisterTargets") group.set(`${target.Id}:${target.Port}`, { id: target.Id, port: target.Port });
          else group.delete(`${target.Id}:${target.Port}`);
        }
        return {};
      }
      case "GetParameter":
      case "GetParameters":
      case "PutParameter":
      case "GetParametersByPath":
      case "DeleteParameters":
        return this.parameters.answer(command, input);
      default:
        throw new Error(`the fake does not answer ${command}`);
    }
  }

  document() {
    return parseEndpointDocument(this.parameters.get(parameterName)!.value);
  }
}

const silentLogger: ReconcileLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** The dependencies of one warm Lambda container: caches of its own, so tests share nothing. */
function dependencies(aws: FakeAws): ReconcileDependencies {
  return {
    clients: aws.clients(),
    logger: silentLogger,
    taskDefinitions: new TaskDefinitionCache(),
    cloudMapServices: new CloudMapServiceCache(),
    shardValues: new ShardValueCache(),
    serviceTasks: new ServiceTaskArnCache(),
  };
}

/** A fake AWS with `count` ready tasks, converged by a first reconcile, its actions then forgotten. */
async function convergedWorld(count: number) {
  const aws = new FakeAws();
  const tasks = Array.from({ length: count }, () => aws.runTask());
  const deps = dependencies(aws);
  const first = await reconcileService(service, [sweep()], deps);
  expect(first.error).toBeUndefined();
  aws.reset();
  return { aws, tasks, deps };
}

const sweep = (): ReconcileTrigger => ({ kind: "sweep", at: "2026-11-28T10:00:00.000Z" });
const eventOf = (task: Task): ReconcileTrigger => ({
  kind: "event",
  eventId: `event-${task.taskArn}`,
  taskArn: task.taskArn!,
  taskVersion: task.version!,
  lastStatus: task.lastStatus!,
  desiredStatus: task.desiredStatus!,
  at: "2026-11-28T10:00:00.000Z",
});
const taskIdOf = (task: Task) => task.taskArn!.slice(task.taskArn!.lastIndexOf("/") + 1);
const ipOf = (task: Task) => task.attachments![0]!.details![0]!.value!;
const writeCommands = new Set(["RegisterInstance", "DeregisterInstance", "RegisterTargets", "DeregisterTargets", "PutParameter", "DeleteParameters"]);
const writesOf = (actions: readonly Action[]) => actions.filter((a) => writeCommands.has(a.command));
/** Actions in a stable order: concurrent requests may be sent in any order. */
const sorted = (actions: readonly Action[]) =>
  [...actions].sort((a, b) => `${a.command} ${JSON.stringify(a.input)}`.localeCompare(`${b.command} ${JSON.stringify(b.input)}`));

/** A fault that holds the given commands until the document's PutParameter has arrived. */
function answeredAfterTheDocument(commands: readonly string[]): Fault {
  let documentWritten!: () => void;
  const documentSeen = new Promise<void>((resolve) => (documentWritten = resolve));
  return (a) => {
    if (a.command === "PutParameter" && a.input.Name === parameterName) documentWritten();
    return commands.includes(a.command) ? documentSeen : undefined;
  };
}

/** `promise`, or a rejection saying `what` if it takes over 2 s (a reconcile waiting on what is held back never ends). */
function within2s<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(what)), 2_000))]);
}

describe("reconcileService, the exact requests it sends", () => {
  it("a converged service makes reads only, in two serial waves", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(3);

    // Act
    const result = await reconcileService(service, [eventOf(tasks[0]!)], deps);

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.record.outcome).toBe("converged");
    expect(sorted(aws.actions)).toEqual(
      sorted([
        // Only the running tasks are listed: the stopping ones an event-triggered reconcile describes are those the
        // document or the events name (here none), known by their ids.
        { command: "ListTasks", input: { cluster: clusterName, serviceName, desiredStatus: "RUNNING" } },
        { command: "DescribeTasks", input: { cluster: clusterName, tasks: tasks.map((t) => t.taskArn) } },
        { command: "GetParameters", input: { Names: [parameterName, stateName] } },
        { command: "ListOperations", input: expect.objectContaining({ Filters: expect.arrayContaining([{ Name: "SERVICE_ID", Condition: "EQ", Values: [serviceId] }]) }) },
        { command: "ListInstances", input: { ServiceId: serviceId, MaxResults: 100 } },
        ...targetGroupArns.map((arn) => ({ command: "DescribeTargetHealth", input: { TargetGroupArn: arn } })),
      ]),
    );
    expect(aws.waves).toBeLessThanOrEqual(2);
  });

  it("a draining task is deregistered from Cloud Map and every target group, with exactly one document write", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(3);
    const victim = tasks[1]!;
    aws.drain(victim);
    const documentBefore = aws.document();

    // Act
    const result = await reconcileService(service, [eventOf(victim)], deps);

    // Assess
    expect(result.error).toBeUndefined();
    expect(sorted(writesOf(aws.actions))).toEqual(
      sorted([
        { command: "DeregisterInstance", input: { ServiceId: serviceId, InstanceId: taskIdOf(victim) } },
        ...targetGroupArns.map((arn) => ({ command: "DeregisterTargets", input: { TargetGroupArn: arn, Targets: [{ Id: ipOf(victim), Port: port }] } })),
        {
          command: "PutParameter",
          input: expect.objectContaining({ Name: parameterName, Tier: "Intelligent-Tiering", Overwrite: true }),
        },
        // The task is remembered out of the ready set, so that a stale read of it later is recognised.
        { command: "PutParameter", input: expect.objectContaining({ Name: stateName, Tier: "Standard", Overwrite: true }) },
      ]),
    );
    const document = aws.document();
    expect(document.revision).toBe(documentBefore.revision + 1);
    expect(document.endpoints.map((e) => e.taskId)).not.toContain(taskIdOf(victim));
    expect(document.draining).toEqual([{ address: ipOf(victim), port, zone: "us-east-1a", taskId: taskIdOf(victim) }]);
    // Reads (two waves) and one wave of writes.
    expect(aws.waves).toBeLessThanOrEqual(3);
    expect(result.record.writes).toMatchObject({ cloudMapDeregistered: 1, targetsDeregistered: 2, documentsPublished: 1 });
  });

  it("a task that starts is registered everywhere and published in three serial waves", async () => {
    // Prepare
    const { aws, deps } = await convergedWorld(3);
    const started = aws.runTask();

    // Act
    const result = await reconcileService(service, [eventOf(started)], deps);

    // Assess
    expect(result.error).toBeUndefined();
    expect(sorted(writesOf(aws.actions))).toEqual(
      sorted([
        { command: "RegisterInstance", input: expect.objectContaining({ ServiceId: serviceId, InstanceId: taskIdOf(started) }) },
        ...targetGroupArns.map((arn) => ({ command: "RegisterTargets", input: { TargetGroupArn: arn, Targets: [{ Id: ipOf(started), Port: port }] } })),
        { command: "PutParameter", input: expect.objectContaining({ Name: parameterName }) },
      ]),
    );
    expect(aws.waves).toBeLessThanOrEqual(3);
  });

  it("one failed write: every other write is still made, and the error names the service and the resource", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(3);
    const victim = tasks[0]!;
    aws.stop(victim);
    const [broken, healthy] = targetGroupArns as [string, string];
    aws.faults = [(a) => (a.command === "DeregisterTargets" && a.input.TargetGroupArn === broken ? new Error("AccessDenied: not allowed") : undefined)];

    // Act
    const result = await reconcileService(service, [eventOf(victim)], deps);

    // Assess
    expect(result.record.outcome).toBe("failed");
    expect(result.error?.message).toContain(`service ${serviceName}`);
    expect(result.error?.message).toContain(`targets.deregister ${broken}: AccessDenied: not allowed`);
    expect(result.retryable).toBe(true);
    const writes = writesOf(aws.actions);
    expect(writes.filter((a) => a.command === "DeregisterTargets").map((a) => a.input.TargetGroupArn).sort()).toEqual([broken, healthy].sort());
    expect(writes.filter((a) => a.command === "DeregisterInstance").map((a) => a.input.InstanceId)).toEqual([taskIdOf(victim)]);
    expect(writes.filter((a) => a.command === "PutParameter" && a.input.Name === parameterName)).toHaveLength(1);
    expect(aws.instances.has(taskIdOf(victim))).toBe(false);
    expect(aws.targets.get(healthy)!.has(`${ipOf(victim)}:${port}`)).toBe(false);
    expect(aws.targets.get(broken)!.has(`${ipOf(victim)}:${port}`)).toBe(true);
    expect(aws.document().endpoints.map((e) => e.taskId)).not.toContain(taskIdOf(victim));
    expect(result.record.writes).toMatchObject({ cloudMapDeregistered: 1, targetsDeregistered: 1, documentsPublished: 1 });
  });

  it("publishes the document while Cloud Map and target group writes are still in flight", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(2);
    const victim = tasks[0]!;
    aws.stop(victim);
    // Cloud Map and ELB answer only once the document's write has arrived: a reconcile that published after them
    // would never get there.
    aws.faults = [answeredAfterTheDocument(["DeregisterInstance", "DeregisterTargets"])];

    // Act
    const result = await within2s(reconcileService(service, [eventOf(victim)], deps), "the document waited for the Cloud Map and ELB writes");

    // Assess
    expect(result.error).toBeUndefined();
    expect(aws.document().endpoints.map((e) => e.taskId)).toEqual([taskIdOf(tasks[1]!)]);
  });
});

describe("reconcileService, the document before Cloud Map and the target groups", () => {
  it("publishes the document before Cloud Map and the target groups have even been read", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(2);
    const victim = tasks[0]!;
    aws.drain(victim);
    // Cloud Map's and ELB's reads answer only once the document's write has arrived.
    aws.faults = [answeredAfterTheDocument(["ListOperations", "ListInstances", "DescribeTargetHealth"])];

    // Act
    const result = await within2s(reconcileService(service, [eventOf(victim)], deps), "the document waited for the Cloud Map and ELB reads");

    // Assess: published, and Cloud Map and the target groups still converged after it
    expect(result.error).toBeUndefined();
    expect(aws.document().endpoints.map((e) => e.taskId)).toEqual([taskIdOf(tasks[1]!)]);
    expect(aws.document().draining.map((e) => e.taskId)).toEqual([taskIdOf(victim)]);
    expect(writesOf(aws.actions).map((a) => a.command).sort()).toEqual(
      ["DeregisterInstance", ...targetGroupArns.map(() => "DeregisterTargets"), "PutParameter", "PutParameter"].sort(),
    );
  });

  it("keeps the published document when the targets path fails, and fails the reconcile (retryable), naming the read", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(2);
    const victim = tasks[0]!;
    aws.drain(victim);
    const denied = Object.assign(new Error("User is not authorized to perform servicediscovery:ListInstances"), { name: "AccessDeniedException" });
    aws.faults = [(a) => (a.command === "ListInstances" ? Promise.reject(denied) : undefined)];

    // Act
    const result = await reconcileService(service, [eventOf(victim)], deps);

    // Assess
    expect(aws.document().endpoints.map((e) => e.taskId)).toEqual([taskIdOf(tasks[1]!)]);
    expect(result.error?.message).toContain(`cloudmap.read ${serviceId}`);
    expect(result.retryable).not.toBe(false);
    expect(result.record.outcome).toBe("failed");
    expect(result.record.writes).toMatchObject({ documentsPublished: 1 });
  });
  it("when a stopping task only Cloud Map still names cannot be described, keeps the document and fails (retryable)", async () => {
    // Prepare: the victim's Cloud Map deregistration keeps failing, so once it has stopped only Cloud Map names it
    const { aws, tasks, deps } = await convergedWorld(2);
    const victim = tasks[0]!;
    const refused = new Error("AccessDenied: not allowed");
    aws.faults = [(a) => (a.command === "DeregisterInstance" ? refused : undefined)];
    aws.drain(victim);
    await reconcileService(service, [eventOf(victim)], deps);
    aws.stop(victim);
    await reconcileService(service, [eventOf(victim)], deps);
    expect(aws.document().draining).toEqual([]);
    expect(aws.instances.has(taskIdOf(victim))).toBe(true);
    const throttled = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    aws.faults = [(a) => (a.command === "DescribeTasks" && (a.input.tasks as string[]).includes(victim.taskArn!) ? throttled : undefined)];
    aws.runTask();

    // Act: a reconcile for another task; the new task's document goes out before Cloud Map's read names the victim
    const result = await reconcileService(service, [eventOf(tasks[1]!)], deps);

    // Assess
    expect(aws.document().endpoints).toHaveLength(2);
    expect(result.error?.message).toContain("ecs.read");
    expect(result.error?.message).toContain("Rate exceeded");
    expect(result.retryable).not.toBe(false);
    expect(result.record.outcome).toBe("failed");
    expect(result.record.writes).toMatchObject({ documentsPublished: 1 });
  });
});

describe("reconcileService, the tasks described alongside ListTasks", () => {
  /** The wave each command was sent in, by command (the document's and the state's PutParameter told apart). */
  const wavesByCommand = (aws: FakeAws) => {
    const waves = new Map<string, number[]>();
    aws.actions.forEach((a, i) => {
      const name = a.command === "PutParameter" ? `PutParameter ${String(a.input.Name)}` : a.command;
      waves.set(name, [...(waves.get(name) ?? []), aws.wavesOfActions[i]!]);
    });
    return Object.fromEntries(waves);
  };

  it("a warm reconcile of a small service reads the document's inputs in one wave, Cloud Map's instances and ELB with its write", async () => {
    // Prepare: a service this process has reconciled before (the sweep of convergedWorld)
    const { aws, tasks, deps } = await convergedWorld(3);
    const victim = tasks[1]!;
    aws.drain(victim);

    // Act
    const result = await reconcileService(service, [eventOf(victim)], deps);

    // Assess
    expect(result.error).toBeUndefined();
    expect(aws.document().draining.map((e) => e.taskId)).toEqual([taskIdOf(victim)]);
    expect(wavesByCommand(aws)).toEqual({
      GetParameters: [1],
      ListTasks: [1],
      DescribeTasks: [1],
      [`PutParameter ${parameterName}`]: [2],
      // Cloud Map's instances are listed after its operations: those go first, so they add no wave.
      ListOperations: [1],
      ListInstances: [2],
      DescribeTargetHealth: [2, 2],
      DeregisterInstance: [3],
      DeregisterTargets: [3, 3],
      [`PutParameter ${stateName}`]: [3],
    });
    // The targets path's other reads were sent after the document's write, not queued before it.
    const documentWrite = aws.actions.findIndex((a) => a.command === "PutParameter" && a.input.Name === parameterName);
    const firstTargetsRead = aws.actions.findIndex((a) => ["ListInstances", "DescribeTargetHealth"].includes(a.command));
    expect(firstTargetsRead).toBeGreaterThan(documentWrite);
  });

  it("describes a task the guess missed (started with no event of its own in the batch) in a second wave, and publishes it", async () => {
    // Prepare: a task starts; the reconcile comes from another task's event
    const { aws, tasks, deps } = await convergedWorld(2);
    const newcomer = aws.runTask();

    // Act
    const result = await reconcileService(service, [eventOf(tasks[0]!)], deps);

    // Assess: described once by the guess (the two known tasks), then the newcomer alone; published and registered
    expect(result.error).toBeUndefined();
    const describeCalls = aws.actions.filter((a) => a.command === "DescribeTasks").map((a) => (a.input.tasks as string[]).slice().sort());
    expect(describeCalls).toEqual([tasks.map((t) => t.taskArn!).sort(), [newcomer.taskArn!]]);
    expect(aws.document().endpoints.map((e) => e.taskId).sort()).toEqual([...tasks, newcomer].map(taskIdOf).sort());
    expect(aws.instances.has(taskIdOf(newcomer))).toBe(true);
    // A second DescribeTasks is the targets path's signal: its reads go alongside that, not after the document.
    const documentWrite = aws.actions.findIndex((a) => a.command === "PutParameter" && a.input.Name === parameterName);
    expect(aws.actions.findIndex((a) => a.command === "ListInstances")).toBeLessThan(documentWrite);
    expect(aws.waves).toBeLessThanOrEqual(3);
  });

  it("a process that has not reconciled the service yet lists, then describes, with Cloud Map and ELB read alongside", async () => {
    // Prepare: converged, then a cold process (fresh caches) gets an event
    const { aws, tasks } = await convergedWorld(2);
    const cold = dependencies(aws);

    // Act
    const result = await reconcileService(service, [eventOf(tasks[0]!)], cold);

    // Assess
    expect(result.record.outcome).toBe("converged");
    expect(wavesByCommand(aws)).toMatchObject({ GetParameters: [1], ListTasks: [1], ListInstances: [1], DescribeTasks: [1] });
    expect(aws.actions.filter((a) => a.command === "DescribeTasks")).toHaveLength(1);
    expect(aws.actions.findIndex((a) => a.command === "DescribeTasks")).toBeGreaterThan(aws.actions.findIndex((a) => a.command === "ListTasks"));
  });
});

describe("reconcileService, which stopped tasks it describes", () => {
  it("describes a stopped task while the document names it, and not once it is out of everything published", async () => {
    // Prepare
    const { aws, tasks, deps } = await convergedWorld(3);
    const victim = tasks[2]!;
    aws.stop(victim);
    const described = () => aws.actions.filter((a) => a.command === "DescribeTasks").flatMap((a) => a.input.tasks as string[]);

    // Act: the reconcile that takes it out, then one triggered by another task.
    await reconcileService(service, [eventOf(victim)], deps);
    const whileNamed = described();
    aws.reset();
    const later = await reconcileService(service, [eventOf(tasks[0]!)], deps);

    // Assess
    expect(whileNamed).toContain(victim.taskArn);
    expect(later.error, String((later.error as { failures?: { step: string; error: Error }[] } | undefined)?.failures?.map((f) => `${f.step}: ${f.error.message}`))).toBeUndefined();
    expect(later.record.outcome).toBe("converged");
    expect(described().sort()).toEqual([tasks[0]!.taskArn, tasks[1]!.taskArn].sort());
  });

  it("reads again while ListTasks does not list yet a task an event names as running, then publishes it", async () => {
    // Prepare: a new task's event arrives before ListTasks lists it
    const { aws, deps } = await convergedWorld(2);
    const newcomer = aws.runTask();
    aws.listingLag.set(newcomer.taskArn!, 2);
    const waits: number[] = [];

    // Act
    const result = await reconcileService(service, [eventOf(newcomer)], { ...deps, sleep: async (ms) => void waits.push(ms) });

    // Assess: two stale reads (described running, not listed as running), then published
    expect(result.error).toBeUndefined();
    expect(waits).toEqual([250, 500]);
    expect(aws.document().endpoints.map((e) => e.taskId)).toContain(taskIdOf(newcomer));
    expect(aws.actions.filter((a) => a.command === "ListTasks").map((a) => a.input.desiredStatus)).toEqual(["RUNNING", "RUNNING", "RUNNING"]);
  });

  it("the sweep still describes every task ECS lists as told to stop, and finds a draining task nothing named", async () => {
    // Prepare: a task that never was ready (unhealthy) is told to stop; its events were lost.
    const { aws, tasks, deps } = await convergedWorld(2);
    const quiet = aws.runTask();
    Object.assign(quiet, { healthStatus: "UNHEALTHY" });
    await reconcileService(service, [eventOf(tasks[0]!)], deps);
    aws.drain(quiet);
    aws.reset();

    // Act: two reconciles triggered by another task's events, then the sweep
    const describeCalls = () => aws.actions.filter((a) => a.command === "DescribeTasks");
    const firstByEvent = await reconcileService(service, [eventOf(tasks[0]!)], deps);
    const callsOfFirst = describeCalls();
    aws.reset();
    const byEvent = await reconcileService(service, [eventOf(tasks[0]!)], deps);
    const describedByEvent = describeCalls().flatMap((a) => a.input.tasks as string[]);
    const bySweep = await reconcileService(service, [sweep()], deps);

    // Assess: the first still describes it, as the running task the reconcile before it saw, in its one DescribeTasks
    // call, but does not keep it: nothing publishes it, and the next event-triggered reconcile no longer describes it.
    expect(callsOfFirst).toHaveLength(1);
    expect([firstByEvent.record.tasks.draining, byEvent.record.tasks.draining]).toEqual([0, 0]);
    expect(describedByEvent).not.toContain(quiet.taskArn);
    expect(bySweep.error).toBeUndefined();
    expect(aws.document().draining.map((e) => e.taskId)).toEqual([taskIdOf(quiet)]);
  });
});

describe("reconcileService, bounded fan-out", () => {
  it("never has more requests in flight than maxConcurrentRequests, and still makes every write", async () => {
    // Prepare
    const aws = new FakeAws();
    for (let i = 0; i < 120; i++) aws.runTask();
    const deps: ReconcileDependencies = { ...dependencies(aws), maxConcurrentRequests: 8 };

    // Act
    const result = await reconcileService(service, [sweep()], deps);

    // Assess
    expect(result.error).toBeUndefined();
    expect(aws.actions.filter((a) => a.command === "RegisterInstance")).toHaveLength(120);
    expect(aws.instances.size).toBe(120);
    // Writes fan out up to the bound, never past it.
    expect(aws.maxWritesInFlight).toBe(8);
  });

  it("defaults to the SDK's socket pool: at most 50 requests in flight", async () => {
    // Prepare
    const aws = new FakeAws();
    for (let i = 0; i < 200; i++) aws.runTask();

    // Act
    const result = await reconcileService(service, [sweep()], dependencies(aws));

    // Assess
    expect(result.error).toBeUndefined();
    expect(aws.instances.size).toBe(200);
    expect(aws.maxWritesInFlight).toBe(50);
  });

  it("refuses a bound that is not a positive integer, naming the value", async () => {
    const aws = new FakeAws();
    const result = await reconcileService(service, [sweep()], { ...dependencies(aws), maxConcurrentRequests: 0 }).catch((e: unknown) => e);
    expect(result).toBeInstanceOf(RangeError);
    expect((result as Error).message).toBe("maxConcurrentRequests must be a positive integer (given 0)");
  });
});
