/**
 * The world of the fault-injection tests: one emulator account with a provisioned service, the real handlers talking
 * to the emulator through a {@link FaultProxy}, a model of the service's tasks (what is ready, draining, stopped, and
 * since when), and the checks the properties are made of.
 *
 * Who goes through the proxy: the handlers' SDK clients (router, sweep, reconciler; the queue URLs they get name the
 * proxy, since the SQS client sends to the queue URL's host). Who does not: the test's own driving and reading of the
 * world (RunTask, StopTask, what Cloud Map, the target groups and SSM hold) and the stand-in of Lambda's SQS poller
 * (`drainFifo`): AWS's own poller is not subject to the account's throttling, and the test must see the truth.
 *
 * The task overlay (versions, draining, health, zones) is applied by the proxy (`taskOverlayTransform`), not by a
 * client plugin, so a lagging DescribeTasks answer carries the older overlay state whole.
 */
import { DescribeTasksCommand, ECSClient, type Task } from "@aws-sdk/client-ecs";
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ListInstancesCommand, ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { GetQueueAttributesCommand, SetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { RetryStrategyV2, RetryToken } from "@smithy/types";
import {
  createReconcileHandler,
  createRouteHandler,
  createSweepHandler,
  parseConfig,
  readParameter,
  type AwsClients,
  type DiscoverySyncConfig,
} from "@discovery-sync/core";
import {
  createTaskOverlay,
  createWorldClients,
  drainFifo,
  faultProxyBypassHeader,
  provisionWorld,
  runServiceTasks,
  startFaultProxy,
  stopServiceTask,
  taskIdOf,
  taskIp,
  taskOverlayTransform,
  taskStateChangeEvent,
  type DrainFifoSummary,
  type FaultProxy,
  type FaultRule,
  type ProxyExchange,
  type TaskOverlay,
  type TaskStateChangeEvent,
  type World,
  type WorldClients,
} from "@discovery-sync/emulator";
import { isolatedAccount, testRegion, type IsolatedAccount } from "./aws.js";
import { CapturingLogger } from "./pipeline.js";

const now = (): number => performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// The harness: one proxy per test file, shared by the worlds of that file (each in its own account)
// ---------------------------------------------------------------------------------------------------------------

interface Registered {
  readonly overlay: TaskOverlay;
  readonly taskArns: () => Iterable<string>;
  readonly exchanges: ProxyExchange[];
}

/** A fault proxy in front of the shared emulator, and the accounts whose answers it overlays and records. */
export interface FaultHarness {
  readonly proxy: FaultProxy;
  /** @internal used by {@link createFaultPipeline} */
  readonly worlds: Map<string, Registered>;
  close(): Promise<void>;
}

/**
 * Starts the proxy of a test file.
 *
 * @example
 * ```ts
 * let harness: FaultHarness;
 * beforeAll(async () => { harness = await startFaultHarness(inject("emulatorEndpoint")); });
 * afterAll(() => harness.close());
 * ```
 */
export async function startFaultHarness(upstream: string): Promise<FaultHarness> {
  const worlds = new Map<string, Registered>();
  const proxy = await startFaultProxy({ upstream, transform: taskOverlayTransform((account) => worlds.get(account ?? "")) });
  proxy.onExchange((exchange) => {
    if (exchange.account !== undefined) worlds.get(exchange.account)?.exchanges.push(exchange);
  });
  return { proxy, worlds, close: () => proxy.close() };
}

/**
 * The SDK's standard retry decisions (every error but a client error is retried, up to `maxAttempts`) with a short
 * backoff: 10, 20, 40 ms. The handlers' own default (`createAwsClients`: adaptive mode, 6 attempts) waits up to
 * seconds after a throttling error and then rate-limits the client, which under 30 % throttling would stretch one
 * schedule to minutes; what the properties judge (what was written, and in what order) does not depend on how long
 * the SDK waited. Fewer attempts also let faults fail whole reconciles, so the queue's retries are exercised too.
 */
export function quickRetryStrategy(maxAttempts: number): RetryStrategyV2 {
  const token = (retries: number): RetryToken => ({ getRetryCount: () => retries, getRetryDelay: () => 10 * 2 ** Math.max(0, retries - 1) });
  return {
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous, errorInfo) => {
      const retries = previous.getRetryCount() + 1;
      if (errorInfo.errorType === "CLIENT_ERROR" || retries >= maxAttempts) throw new Error("no retry left");
      return token(retries);
    },
    recordSuccess: () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The model of the service's tasks
// ---------------------------------------------------------------------------------------------------------------

/** One task of the service as the test made it, with the times of its changes (`performance.now()`). */
export interface ModelTask {
  readonly arn: string;
  readonly taskId: string;
  readonly ip: string;
  /** As RunTask described it (moto's view, before the overlay). */
  readonly described: Task;
  version: number;
  phase: "running" | "draining" | "stopped";
  healthy: boolean;
  readonly startedAt: number;
  /** When its desiredStatus turned STOPPED (draining, or stopped at once). */
  stopRequestedAt?: number;
  /** When StopTask had returned: from then on it is stopped. */
  stoppedAt?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// The pipeline through the proxy
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link createFaultPipeline}. */
export interface FaultPipelineOptions {
  /** Target groups of the service (1 to 5). @default 1 */
  readonly targetGroups?: number;
  /**
   * The work queue's own visibility timeout, which applies when the handler could not shorten it (its
   * ChangeMessageVisibilityBatch failed too). provisionWorld's 180 s would stall a test for minutes. @default 3
   */
  readonly queueVisibilitySeconds?: number;
  /** Attempts per SDK call of the handlers (see {@link quickRetryStrategy}). @default 3 */
  readonly maxAttempts?: number;
  /** Waits of the reconciler's stale-read retries. @default [10, 20, 40] */
  readonly staleReadRetryDelaysMs?: readonly number[];
  /** Delays before failed messages come back. @default { baseSeconds: 1, maxSeconds: 1 } */
  readonly retryVisibility?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
}

/** One account on the emulator, its world, the real handlers wired through the proxy, and the task model. */
export interface FaultPipeline {
  readonly account: IsolatedAccount;
  readonly world: World;
  /** Direct to the emulator, never faulted: the test's own hands and eyes. */
  readonly worldClients: WorldClients;
  /** The handlers' clients, through the proxy. */
  readonly clients: AwsClients;
  readonly overlay: TaskOverlay;
  readonly logger: CapturingLogger;
  readonly config: DiscoverySyncConfig;
  readonly tasks: ModelTask[];
  /** Every request of this account through the proxy, in the order they ended. */
  readonly exchanges: readonly ProxyExchange[];
  /** Starts `count` tasks (version 1, RUNNING, HEALTHY); returns their events. */
  start(count: number): Promise<TaskStateChangeEvent[]>;
  /** desiredStatus STOPPED while still RUNNING; returns its event. */
  drain(task: ModelTask): Promise<TaskStateChangeEvent>;
  /** StopTask; returns its event. */
  stop(task: ModelTask): Promise<TaskStateChangeEvent>;
  /** Health changes to HEALTHY or UNHEALTHY; returns its event. */
  setHealth(task: ModelTask, healthy: boolean): Promise<TaskStateChangeEvent>;
  /** Routes one event as EventBridge would deliver it: the router is invoked again while it fails (its SendMessage faulted). */
  deliver(event: TaskStateChangeEvent): Promise<number>;
  /** Runs the sweep, invoked again (same id) while it fails. */
  sweep(id: string): Promise<number>;
  /** One run of Lambda's SQS poller over the work queue. */
  pump(failedVisibility: "immediate" | "handler", maxRounds?: number): Promise<DrainFifoSummary>;
  /** Pumps until the queue holds no message at all (visible or in flight), waiting for delayed retries. */
  pumpUntilDrained(timeoutMs: number): Promise<{ pumps: number; drained: boolean; depth: number }>;
  /** Messages in the work queue, visible and in flight, and in its dead-letter queue. */
  queueDepth(): Promise<{ queue: number; deadLetters: number }>;
  observe(): Promise<Observed>;
  /** Stops recording this account's exchanges, forgets its overlay and destroys the SDK clients. */
  close(): void;
}

/**
 * A world in a fresh account, with the handlers' clients pointed at `harness.proxy`.
 *
 * @example
 * ```ts
 * const p = await createFaultPipeline(harness, { targetGroups: 2 });
 * for (const event of await p.start(2)) await p.deliver(event);
 * await p.pumpUntilDrained(10_000);
 * ```
 */
export async function createFaultPipeline(harness: FaultHarness, options: FaultPipelineOptions = {}): Promise<FaultPipeline> {
  const { proxy } = harness;
  const account = isolatedAccount();
  const worldClients = createWorldClients(account.clientConfig, [account.plugin]);
  const world = await provisionWorld(worldClients, { targetGroups: options.targetGroups ?? 1 });
  const queueUrl = world.reconcileQueueUrl!;
  const deadLetterQueueUrl = world.deadLetterQueueUrl!;
  await worldClients.sqs.send(
    new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { VisibilityTimeout: String(options.queueVisibilitySeconds ?? 3) } }),
  );
  const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
  // The test's own ECS client sees the overlay too (its described tasks feed the events).
  worldClients.ecs.middlewareStack.use(overlay.plugin);
  const tasks: ModelTask[] = [];
  const exchanges: ProxyExchange[] = [];
  harness.worlds.set(account.accountId, { overlay, taskArns: () => tasks.map((t) => t.arn), exchanges });

  const maxAttempts = options.maxAttempts ?? 3;
  const clientConfig = {
    endpoint: proxy.endpoint,
    region: testRegion,
    credentials: account.clientConfig.credentials,
    maxAttempts,
    retryStrategy: quickRetryStrategy(maxAttempts),
  };
  const clients: AwsClients = {
    ecs: new ECSClient(clientConfig),
    serviceDiscovery: new ServiceDiscoveryClient(clientConfig),
    elbv2: new ElasticLoadBalancingV2Client(clientConfig),
    ssm: new SSMClient(clientConfig),
    sqs: new SQSClient(clientConfig),
  };
  for (const client of Object.values(clients)) client.middlewareStack.use(account.plugin);
  // ECS had every state the test gave a task, whether or not a reconcile read it: a DescribeTasks through the proxy,
  // exempt from faults, after each change puts it in the history lagging reads go back to.
  const recorder = new ECSClient({ ...clientConfig, retryStrategy: quickRetryStrategy(3) });
  recorder.middlewareStack.use(account.plugin);
  recorder.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers !== undefined) request.headers[faultProxyBypassHeader] = "1";
      return next(args);
    },
    { step: "build", name: "faultProxyBypass" },
  );
  const recordStates = async (changed: readonly ModelTask[]) => {
    if (changed.length > 0) await recorder.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: changed.map((t) => t.arn) }));
  };
  const config = parseConfig({ services: [{ ...world.serviceConfig }] });
  const logger = new CapturingLogger();
  const proxiedQueueUrl = proxy.proxied(queueUrl);
  const route = createRouteHandler({ config, sqs: clients.sqs, queueUrl: proxiedQueueUrl, logger });
  const reconcile = createReconcileHandler({
    config,
    clients,
    logger,
    staleReadRetryDelaysMs: options.staleReadRetryDelaysMs ?? [10, 20, 40],
    retryVisibility: options.retryVisibility ?? { baseSeconds: 1, maxSeconds: 1 },
    queueUrl: proxiedQueueUrl,
  });
  const sweepHandler = createSweepHandler({ config, sqs: clients.sqs, queueUrl: proxiedQueueUrl, logger });

  const eventOf = (task: ModelTask, described: Task = task.described): TaskStateChangeEvent =>
    taskStateChangeEvent(overlay.apply([described])[0]!, { account: account.accountId, region: testRegion, version: task.version });

  const queueDepth = async () => {
    const depth = async (url: string) => {
      const attributes = await worldClients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
      );
      return Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    };
    return { queue: await depth(queueUrl), deadLetters: await depth(deadLetterQueueUrl) };
  };
  const pump = (failedVisibility: "immediate" | "handler", maxRounds = 20) =>
    drainFifo(worldClients.sqs, queueUrl, reconcile, { queueArn: world.reconcileQueueArn!, failedVisibility, maxRounds });

  /** Invokes `call` until it succeeds, as EventBridge and the scheduler retry a failed invocation. */
  const retried = async (what: string, call: () => Promise<unknown>): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await call();
        return attempt;
      } catch (error) {
        if (attempt >= 50) throw new Error(`${what} failed ${attempt} times; last: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        await sleep(5);
      }
    }
  };

  return {
    account,
    world,
    worldClients,
    clients,
    overlay,
    logger,
    config,
    tasks,
    exchanges,
    async start(count) {
      const started = await runServiceTasks(worldClients, world, count);
      const at = now();
      const list = started.map((described) => {
        const task: ModelTask = {
          arn: described.taskArn!,
          taskId: taskIdOf(described.taskArn!),
          ip: taskIp(described)!,
          described,
          version: 1,
          phase: "running",
          healthy: true,
          startedAt: at,
        };
        overlay.set(task.arn, { version: 1 });
        tasks.push(task);
        return { task, event: eventOf(task) };
      });
      await recordStates(list.map((s) => s.task));
      return list.map((s) => s.event);
    },
    async drain(task) {
      task.version += 1;
      task.phase = "draining";
      overlay.set(task.arn, { version: task.version, desiredStatus: "STOPPED", lastStatus: "RUNNING" });
      task.stopRequestedAt ??= now();
      await recordStates([task]);
      return eventOf(task);
    },
    async stop(task) {
      task.stopRequestedAt ??= now();
      const described = await stopServiceTask(worldClients, world, task.arn);
      task.version += 1;
      overlay.set(task.arn, { version: task.version, desiredStatus: "STOPPED", lastStatus: "STOPPED" });
      task.phase = "stopped";
      task.stoppedAt = now();
      await recordStates([task]);
      return eventOf(task, described);
    },
    async setHealth(task, healthy) {
      task.version += 1;
      task.healthy = healthy;
      overlay.set(task.arn, { version: task.version, healthStatus: healthy ? "HEALTHY" : "UNHEALTHY" });
      await recordStates([task]);
      return eventOf(task);
    },
    deliver: (event) =>
      retried(`routing event ${event.id}`, async () => {
        const result = await route(event);
        if (result.outcome !== "enqueued") throw new Error(`event ${event.id} was not enqueued: ${JSON.stringify(result)}`);
      }),
    sweep: (id) => retried(`sweep ${id}`, () => sweepHandler({ id })),
    pump,
    async pumpUntilDrained(timeoutMs) {
      const deadline = now() + timeoutMs;
      let pumps = 0;
      for (;;) {
        await pump("immediate", 50);
        pumps += 1;
        const depth = (await queueDepth()).queue;
        if (depth === 0) return { pumps, drained: true, depth };
        if (now() > deadline) return { pumps, drained: false, depth };
        await sleep(200);
      }
    },
    queueDepth,
    observe: () => observe(worldClients, world),
    close() {
      harness.worlds.delete(account.accountId);
      for (const client of [...Object.values(clients), recorder, ...Object.values(worldClients)]) client.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the world back, and the checks
// ---------------------------------------------------------------------------------------------------------------

/** What the emulator holds for the service. */
export interface Observed {
  /** Cloud Map instances as listed (duplicates included): id and IPv4. */
  readonly instances: readonly { readonly id: string; readonly ip: string | undefined }[];
  /** Per target group, its targets as `ip:port`, sorted. */
  readonly targetGroups: readonly { readonly arn: string; readonly targets: readonly string[] }[];
  readonly document:
    | { readonly epoch: number; readonly revision: number; readonly endpoints: readonly EndpointRef[]; readonly draining: readonly EndpointRef[] }
    | undefined;
}

/** An endpoint of the document, by what identifies its task. */
export interface EndpointRef {
  readonly address: string;
  readonly taskId: string | undefined;
}

async function observe(clients: WorldClients, world: World): Promise<Observed> {
  const service = world.serviceConfig;
  const listed = (await clients.serviceDiscovery.send(new ListInstancesCommand({ ServiceId: service.cloudMapServiceId! }))).Instances ?? [];
  const targetGroups = [];
  for (const arn of service.targetGroupArns ?? []) {
    const health = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    targetGroups.push({ arn, targets: (health.TargetHealthDescriptions ?? []).map((d) => `${d.Target?.Id}:${d.Target?.Port}`).sort() });
  }
  const parameter = await readParameter(clients.ssm, service.parameterName);
  const ref = (e: { address: string; taskId?: string }): EndpointRef => ({ address: e.address, taskId: e.taskId });
  return {
    instances: listed.map((i) => ({ id: i.Id!, ip: i.Attributes?.AWS_INSTANCE_IPV4 })),
    targetGroups,
    document:
      parameter.kind === "valid"
        ? {
            epoch: parameter.document.epoch ?? 0,
            revision: parameter.document.revision,
            endpoints: parameter.document.endpoints.map(ref),
            draining: parameter.document.draining.map(ref),
          }
        : undefined,
  };
}

const sortedStrings = (values: Iterable<string>): string[] => [...values].sort();
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Convergence: Cloud Map (no duplicate, each instance at its task's address), every target group and the document's
 * endpoints are exactly the ready tasks, and the document's `draining` exactly the draining ones.
 * Returns what differs (empty when converged).
 */
export function convergenceViolations(pipeline: FaultPipeline, observed: Observed): string[] {
  const ready = pipeline.tasks.filter((t) => t.phase === "running" && t.healthy);
  const draining = pipeline.tasks.filter((t) => t.phase === "draining");
  const port = pipeline.world.port;
  const problems: string[] = [];
  const describe = (tasks: readonly ModelTask[]) => tasks.map((t) => `${t.taskId.slice(0, 8)}@${t.ip}`).join(", ") || "none";

  const ids = observed.instances.map((i) => i.id);
  if (new Set(ids).size !== ids.length) problems.push(`Cloud Map lists an instance twice: ${sortedStrings(ids).join(", ")}`);
  const wantedInstances = sortedStrings(ready.map((t) => `${t.taskId}=${t.ip}`));
  const gotInstances = sortedStrings(new Set(observed.instances.map((i) => `${i.id}=${i.ip ?? "?"}`)));
  if (!sameList(wantedInstances, gotInstances)) {
    problems.push(`Cloud Map holds [${gotInstances.join(", ")}], the ready tasks are [${wantedInstances.join(", ")}] (${describe(ready)})`);
  }
  const wantedTargets = sortedStrings(ready.map((t) => `${t.ip}:${port}`));
  for (const group of observed.targetGroups) {
    if (!sameList(wantedTargets, group.targets)) {
      problems.push(`target group ${group.arn.split("/").slice(-2).join("/")} holds [${group.targets.join(", ")}], the ready tasks are [${wantedTargets.join(", ")}]`);
    }
  }
  if (observed.document === undefined) {
    problems.push("no readable document");
  } else {
    const key = (e: EndpointRef) => `${e.taskId ?? "?"}=${e.address}`;
    const wantedEndpoints = sortedStrings(ready.map((t) => `${t.taskId}=${t.ip}`));
    const gotEndpoints = sortedStrings(observed.document.endpoints.map(key));
    if (!sameList(wantedEndpoints, gotEndpoints)) {
      problems.push(`the document (revision ${observed.document.revision}) lists [${gotEndpoints.join(", ")}], the ready tasks are [${wantedEndpoints.join(", ")}]`);
    }
    const wantedDraining = sortedStrings(draining.map((t) => `${t.taskId}=${t.ip}`));
    const gotDraining = sortedStrings(observed.document.draining.map(key));
    if (!sameList(wantedDraining, gotDraining)) {
      problems.push(`the document's draining list is [${gotDraining.join(", ")}], the draining tasks are [${wantedDraining.join(", ")}]`);
    }
  }
  return problems;
}

/** One write of the document that reached SSM (the emulator answered it 200, whatever the client was told). */
export interface PublishedDocument {
  readonly seq: number;
  readonly receivedAt: number;
  readonly epoch: number;
  readonly revision: number;
  /** Task ids (or addresses when a task id is missing) of the endpoints and of the draining list. */
  readonly endpoints: readonly string[];
  readonly draining: readonly string[];
  /** What the client got: 200, an error status, or a reset. */
  readonly clientStatus: number | "reset";
}

const requestJson = (exchange: ProxyExchange): Record<string, unknown> => {
  try {
    return JSON.parse(exchange.requestBody) as Record<string, unknown>;
  } catch {
    return {};
  }
};

/** Ids of a document's (or shard's) entries: schema 1 objects, or schema 2 arrays [address, port, zone, taskId]. */
function entryIds(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((entry) =>
    Array.isArray(entry) ? String(entry[3] ?? entry[0]) : String((entry as { taskId?: string; address?: string }).taskId ?? (entry as { address?: string }).address),
  );
}

/** Every value of the document parameter (the single document or the manifest) the emulator accepted, in order. */
export function publishedDocuments(pipeline: FaultPipeline): PublishedDocument[] {
  const name = pipeline.world.serviceConfig.parameterName;
  const out: PublishedDocument[] = [];
  for (const exchange of pipeline.exchanges) {
    if (exchange.service !== "ssm" || exchange.operation !== "PutParameter" || exchange.upstreamStatus !== 200) continue;
    const input = requestJson(exchange);
    if (input.Name !== name) continue;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(String(input.Value)) as Record<string, unknown>;
    } catch {
      continue;
    }
    out.push({
      seq: exchange.seq,
      receivedAt: exchange.receivedAt,
      epoch: typeof value.epoch === "number" ? value.epoch : 0,
      revision: Number(value.revision),
      endpoints: entryIds(value.endpoints),
      draining: entryIds(value.draining),
      clientStatus: exchange.clientStatus,
    });
  }
  return out;
}

/**
 * Order: each document the emulator accepted is at least as new as the one before, by (epoch, revision); one equal
 * to the one before must say the same (a reader holding it would never take the other).
 */
export function revisionViolations(pipeline: FaultPipeline): string[] {
  const published = publishedDocuments(pipeline);
  const problems: string[] = [];
  for (let i = 1; i < published.length; i++) {
    const before = published[i - 1]!;
    const after = published[i]!;
    const order = after.epoch - before.epoch || after.revision - before.revision;
    const label = (d: PublishedDocument) => `(epoch ${d.epoch}, revision ${d.revision}) [${d.endpoints.map((id) => id.slice(0, 8)).join(", ")}]`;
    if (order < 0) problems.push(`document write #${after.seq} ${label(after)} went back from #${before.seq} ${label(before)}`);
    else if (order === 0 && (!sameList(before.endpoints, after.endpoints) || !sameList(before.draining, after.draining))) {
      problems.push(`document write #${after.seq} ${label(after)} reuses the revision of #${before.seq} ${label(before)} with other content`);
    }
  }
  return problems;
}

/** A write that named a task already stopped (or, for `draining`, already told to stop) when the write started. */
export interface StaleListing {
  readonly seq: number;
  readonly call: string;
  readonly taskId: string;
  /** ms between the task's stop (or stop request) and the call. */
  readonly afterMs: number;
  readonly as: "endpoint" | "draining" | "registration";
}

function listingsOf(pipeline: FaultPipeline): { exchange: ProxyExchange; call: string; taskIds: string[]; as: StaleListing["as"] }[] {
  const name = pipeline.world.serviceConfig.parameterName;
  const byIp = new Map(pipeline.tasks.map((t) => [t.ip, t.taskId]));
  const out: { exchange: ProxyExchange; call: string; taskIds: string[]; as: StaleListing["as"] }[] = [];
  for (const exchange of pipeline.exchanges) {
    if (exchange.service === "ssm" && exchange.operation === "PutParameter") {
      const input = requestJson(exchange);
      const parameter = String(input.Name);
      // The document itself, or a shard of it (not the writer's own state parameters).
      if (parameter !== name && !parameter.startsWith(`${name}/shards/`)) continue;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(String(input.Value)) as Record<string, unknown>;
      } catch {
        continue;
      }
      out.push({ exchange, call: `PutParameter ${parameter}`, taskIds: entryIds(value.endpoints), as: "endpoint" });
      out.push({ exchange, call: `PutParameter ${parameter}`, taskIds: entryIds(value.draining), as: "draining" });
    } else if (exchange.service === "servicediscovery" && exchange.operation === "RegisterInstance") {
      out.push({ exchange, call: "RegisterInstance", taskIds: [String(requestJson(exchange).InstanceId)], as: "registration" });
    } else if (exchange.service === "elasticloadbalancing" && exchange.operation === "RegisterTargets") {
      const form = new URLSearchParams(exchange.requestBody);
      const ips = [...form.entries()].filter(([key]) => /^Targets\.member\.\d+\.Id$/.test(key)).map(([, ip]) => ip);
      out.push({ exchange, call: "RegisterTargets", taskIds: ips.map((ip) => byIp.get(ip) ?? ip), as: "registration" });
    }
  }
  return out;
}

/**
 * Stopped tasks stay out: no document write of endpoints, RegisterInstance or RegisterTargets call names a task whose
 * StopTask had returned before the call reached the proxy. The document's `draining` list is left out: it tells
 * clients to send a task no new work, so naming an already stopped task there sends it nothing, and a lagging read of
 * a draining task that has since stopped cannot be told from a fresh one (ListTasks lists both as told to stop).
 */
export function stoppedListings(pipeline: FaultPipeline): StaleListing[] {
  const byId = new Map(pipeline.tasks.map((t) => [t.taskId, t]));
  const out: StaleListing[] = [];
  for (const listing of listingsOf(pipeline)) {
    if (listing.as === "draining") continue;
    for (const taskId of listing.taskIds) {
      const stoppedAt = byId.get(taskId)?.stoppedAt;
      if (stoppedAt !== undefined && stoppedAt < listing.exchange.receivedAt) {
        out.push({ seq: listing.exchange.seq, call: listing.call, taskId, afterMs: Math.round(listing.exchange.receivedAt - stoppedAt), as: listing.as });
      }
    }
  }
  return out;
}

/**
 * Not a property of the issue, reported for information: ready-side writes (endpoints, registrations) of a task that
 * had been told to stop (draining) before the call, while it was not yet stopped.
 */
export function drainingListings(pipeline: FaultPipeline): StaleListing[] {
  const byId = new Map(pipeline.tasks.map((t) => [t.taskId, t]));
  const out: StaleListing[] = [];
  for (const listing of listingsOf(pipeline)) {
    if (listing.as === "draining") continue;
    for (const taskId of listing.taskIds) {
      const task = byId.get(taskId);
      const requested = task?.stopRequestedAt;
      if (requested === undefined || requested >= listing.exchange.receivedAt) continue;
      if (task?.stoppedAt !== undefined && task.stoppedAt < listing.exchange.receivedAt) continue;
      out.push({ seq: listing.exchange.seq, call: listing.call, taskId, afterMs: Math.round(listing.exchange.receivedAt - requested), as: listing.as });
    }
  }
  return out;
}

/** The fault rules of a schedule. */
export interface FaultRates {
  /** Throttling on every call of ECS, SSM, Cloud Map, ELBv2 and SQS. */
  readonly throttling: number;
  /** 500 and 503 (half each). */
  readonly serverError: number;
  readonly connectionReset: number;
  readonly delay: number;
  /** DescribeTasks answering an older state of a task. */
  readonly laggingRead: number;
  /** Server errors and resets also after the emulator did the work (the answer lost), half the time. */
  readonly afterPhase: boolean;
}

/**
 * The proxy rules for `rates`. Cloud Map's RegisterInstance never loses its answer after the emulator did the work:
 * moto appends a second instance on a retried RegisterInstance, where AWS upserts by instance id, so the test would
 * find moto's duplicate, not the reconciler's.
 */
export function faultRules(rates: FaultRates): FaultRule[] {
  const services = ["ecs", "ssm", "servicediscovery", "elasticloadbalancing", "sqs"];
  const rules: FaultRule[] = [];
  if (rates.delay > 0) rules.push({ name: "delay", kind: "delay", rate: rates.delay, services, delayMs: [20, 150] });
  if (rates.laggingRead > 0) rules.push({ name: "lagging-read", kind: "lagging-read", rate: rates.laggingRead, lag: { maxSteps: 2, maxAgeMs: 5_000 } });
  if (rates.throttling > 0) rules.push({ name: "throttling", kind: "throttling", rate: rates.throttling, services });
  const phased = (name: string, kind: FaultRule["kind"], rate: number): void => {
    if (rate <= 0) return;
    if (!rates.afterPhase) {
      rules.push({ name, kind, rate, services, phase: "before" });
      return;
    }
    rules.push({ name: `${name}-either`, kind, rate, services, phase: "either", exceptOperations: ["RegisterInstance"] });
    rules.push({ name: `${name}-before`, kind, rate, services: ["servicediscovery"], operations: ["RegisterInstance"], phase: "before" });
  };
  phased("internal-error", "internal-error", rates.serverError / 2);
  phased("service-unavailable", "service-unavailable", rates.serverError / 2);
  phased("connection-reset", "connection-reset", rates.connectionReset);
  return rules;
}
