/**
 * The two implementations `npm run bench:pipeline` compares, each wired to a world of its own on the emulator
 * (see `scripts/bench-pipeline.ts`):
 *
 * - **discovery-sync**: the task-state rule's event pattern (as synthesised by the CDK construct, evaluated by the
 *   emulator's EventBridge: {@link measureRuleAdmission}), then the real router handler, the FIFO queue's
 *   semantics (`InProcessFifo`) and the real reconcile handler, in-process, as Lambda would run them;
 * - **per-event syncer** (`scripts/per-event-syncer.ts`), handed every event of the service's tasks.
 *
 * Each world has its own emulator account, its own SDK clients built like the deployed ones (`createAwsClients`),
 * and a wave counter on the implementation's ECS, Cloud Map, ELB and SSM clients: every request the implementation
 * makes is counted and timed there. Setup, the lifecycle driver and the read-backs use the world's own clients,
 * outside any count.
 */
import { DescribeTargetHealthCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { ListInstancesCommand } from "@aws-sdk/client-servicediscovery";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { PutEventsCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { parseEndpointDocument, type EndpointDocument } from "@discovery-sync/client";
import { DiscoverySyncControlPlane } from "@discovery-sync/cdk";
import {
  createAwsClients,
  createReconcileHandler,
  createRouteHandler,
  parseConfig,
  sweepMessages,
  type AwsClients,
  type DiscoverySyncConfig,
  type ReconcileLogger,
  type ReconcileRecord,
  type ServiceConfig,
} from "@discovery-sync/core";
import {
  accountPlugin,
  createTaskOverlay,
  createWorldClients,
  emulatorCredentials,
  provisionWorld,
  randomAccountId,
  resolveIntrinsics,
  taskStateChangeEvent,
  waveCounter,
  describeTasks,
  type RunningEmulator,
  type WaveCounter,
  type World,
  type WorldClients,
} from "@discovery-sync/emulator";
import { InProcessFifo } from "./in-process-fifo.js";
import { createPerEventSyncer } from "./per-event-syncer.js";
import { LifecycleDriver, startSteps, stopSteps, type LifecycleEvent } from "./task-lifecycle.js";

const region = "us-east-1";

/** Fails the benchmark when a step did not do what it is measured for: a count of the wrong work is no measurement. */
export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`bench (pipeline): ${what}`);
}

/** One world on the emulator, in an account of its own, with the clients an implementation runs on. */
export interface BenchWorld {
  readonly world: World;
  readonly worldClients: WorldClients;
  readonly driver: LifecycleDriver;
  /** The implementation's clients (wave counter on ECS, Cloud Map, ELB and SSM). */
  readonly clients: AwsClients;
  readonly counter: WaveCounter;
  readonly config: DiscoverySyncConfig;
  readonly service: ServiceConfig;
  close(): void;
}

/** Provisions a world (no SQS or EventBridge resources: the queue is in-process) and its clients. */
export async function createBenchWorld(emulator: RunningEmulator): Promise<BenchWorld> {
  const accountId = randomAccountId();
  const plugin = accountPlugin(accountId);
  const clientConfig = { endpoint: emulator.endpoint, region, credentials: emulatorCredentials, disableHostPrefix: true };
  const worldClients = createWorldClients({ ...clientConfig, maxAttempts: 1 }, [plugin]);
  const world = await provisionWorld(worldClients, { queue: false });
  const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet });
  worldClients.ecs.middlewareStack.use(overlay.plugin);
  // The SDK settings the functions deploy with (createAwsClients' retry mode and attempts).
  const clients = createAwsClients({ clientConfig, plugins: [plugin] });
  clients.ecs.middlewareStack.use(overlay.plugin);
  const counter = waveCounter();
  for (const client of [clients.ecs, clients.serviceDiscovery, clients.elbv2, clients.ssm]) client.middlewareStack.use(counter.plugin);
  const config = parseConfig({ services: [{ ...world.serviceConfig }] });
  return {
    world,
    worldClients,
    driver: new LifecycleDriver(worldClients, world, overlay),
    clients,
    counter,
    config,
    service: config.services[0]!,
    close() {
      for (const client of [...Object.values(worldClients), ...Object.values(clients)]) client.destroy();
    },
  };
}

/** What an implementation has done so far with the events handed to it. */
export interface DeliveryStats {
  /** Events handed over. */
  emitted: number;
  /** Events the task-state rule's pattern lets through (discovery-sync; the per-event syncer gets every event). */
  passedRule: number;
  /** Messages the router sent to the queue (discovery-sync), events handed to the handler (per-event syncer). */
  sent: number;
  /**
   * Events that reached the queue: messages it accepted, less those SQS FIFO drops as duplicates of one sent in the
   * last 5 minutes (discovery-sync); every event (per-event syncer).
   */
  admitted: number;
  /** Reconciles (discovery-sync) or event handler runs (per-event syncer). */
  runs: number;
  /** Reconciles that failed (their messages came back and were reconciled again). */
  failedRuns: number;
}

/** An implementation under measurement, wired to its world. */
export interface Implementation {
  readonly name: string;
  readonly bench: BenchWorld;
  readonly stats: DeliveryStats;
  /**
   * Hands over events that arrive together (one lifecycle step of one or more tasks) and waits until the
   * implementation has handled all of them.
   */
  deliver(events: readonly LifecycleEvent[]): Promise<void>;
  /** Brings Cloud Map, the target groups and the document to the world's tasks before a measurement (not counted). */
  converge(taskArns: readonly string[]): Promise<void>;
}

const quietLogger = (records: ReconcileRecord[]): ReconcileLogger => ({
  debug() {},
  info(message, attributes) {
    if (message === "reconcile") records.push(attributes.reconcile as ReconcileRecord);
  },
  warn() {},
  error(message, attributes) {
    if (message === "reconcile") records.push(attributes.reconcile as ReconcileRecord);
    else process.stderr.write(`  error: ${message} ${JSON.stringify(attributes).slice(0, 400)}\n`);
  },
});

/**
 * discovery-sync's pipeline: rule pattern (given as `admits`, from {@link measureRuleAdmission}), router handler,
 * FIFO queue, reconcile handler; the queue is pumped once per delivery, as Lambda's poller picks up what arrived.
 */
export function discoverySync(bench: BenchWorld, admits: (event: LifecycleEvent) => boolean): Implementation & { readonly records: ReconcileRecord[] } {
  const { world, config, clients } = bench;
  const records: ReconcileRecord[] = [];
  const logger = quietLogger(records);
  const fifo = new InProcessFifo(`arn:aws:sqs:${region}:${world.accountId}:discovery-sync-reconcile.fifo`);
  const routerSqs = new SQSClient({ region, credentials: emulatorCredentials });
  routerSqs.middlewareStack.use(fifo.plugin);
  const route = createRouteHandler({
    config,
    sqs: routerSqs,
    queueUrl: `https://sqs.${region}.amazonaws.com/${world.accountId}/discovery-sync-reconcile.fifo`,
    logger,
  });
  const reconcile = createReconcileHandler({ config, clients, logger });
  const stats: DeliveryStats = { emitted: 0, passedRule: 0, sent: 0, admitted: 0, runs: 0, failedRuns: 0 };
  const pump = async () => {
    const before = records.length;
    await fifo.pump(reconcile);
    const ran = records.slice(before);
    stats.runs += ran.length;
    stats.failedRuns += ran.filter((record) => record.outcome === "failed").length;
  };
  return {
    name: "discovery-sync",
    bench,
    stats,
    records,
    async deliver(events) {
      for (const event of events) {
        stats.emitted += 1;
        if (!admits(event)) continue;
        stats.passedRule += 1;
        const accepted = fifo.sent;
        const result = await route(event.event);
        if (result.outcome === "enqueued") stats.sent += 1;
        else check(result.outcome === "ignored", `the router ${result.outcome} event ${event.key} of ${event.taskArn}: ${JSON.stringify(result)}`);
        stats.admitted += fifo.sent - accepted;
      }
      await pump();
    },
    async converge() {
      const [message] = sweepMessages(config, `bench-${Date.now()}-${Math.random()}`, new Date(), "manual");
      fifo.send({ MessageBody: message!.body, MessageGroupId: message!.groupId, MessageDeduplicationId: message!.deduplicationId });
      const before = records.length;
      await fifo.pump(reconcile);
      check(records.length > before && records.at(-1)!.outcome !== "failed", "the reconcile before the measurement did not succeed");
    },
  };
}

/** The per-event syncer, handed every event of the service's tasks one at a time. */
export function perEventSyncer(bench: BenchWorld): Implementation {
  const sync = createPerEventSyncer({ service: bench.service, clients: bench.clients });
  const stats: DeliveryStats = { emitted: 0, passedRule: 0, sent: 0, admitted: 0, runs: 0, failedRuns: 0 };
  return {
    name: "per-event syncer",
    bench,
    stats,
    async deliver(events) {
      for (const event of events) {
        stats.emitted += 1;
        stats.passedRule += 1;
        stats.sent += 1;
        stats.admitted += 1;
        stats.runs += 1;
        await sync(event.event);
      }
    },
    async converge(taskArns) {
      // One event per task, as the last one of its lifecycle so far would be (repeated: same version).
      for (const task of await describeTasks(bench.worldClients, bench.world, taskArns)) {
        await sync(taskStateChangeEvent(task, { account: bench.world.accountId, region, version: task.version ?? 1 }));
      }
    },
  };
}

/** What the emulator holds for the world's service, read with the world's clients (not counted). */
export interface Published {
  readonly instanceIds: string[];
  readonly targets: string[];
  readonly document: EndpointDocument | undefined;
}

/** Reads Cloud Map, the target group and the document back from the emulator. */
export async function readPublished(bench: BenchWorld): Promise<Published> {
  const { worldClients, world } = bench;
  const instances = [];
  let nextToken: string | undefined;
  do {
    const page = await worldClients.serviceDiscovery.send(new ListInstancesCommand({ ServiceId: world.cloudMapServiceId!, NextToken: nextToken }));
    instances.push(...(page.Instances ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  const health = await worldClients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: world.targetGroupArns[0]! }));
  let document: EndpointDocument | undefined;
  try {
    const { Parameter } = await worldClients.ssm.send(new GetParameterCommand({ Name: bench.service.parameterName }));
    document = parseEndpointDocument(Parameter?.Value ?? "");
  } catch (error) {
    if ((error as { name?: string }).name !== "ParameterNotFound") throw error;
  }
  return {
    instanceIds: instances.map((i) => i.Id!).sort(),
    targets: (health.TargetHealthDescriptions ?? []).map((d) => `${d.Target?.Id}:${d.Target?.Port}`).sort(),
    document,
  };
}

/**
 * Checks that Cloud Map, the target group and the document hold exactly `ready` (and the document's draining list
 * exactly `draining`), by task id; fails the bench naming what differs.
 */
export async function checkPublished(
  implementation: Implementation,
  expected: { readonly ready: readonly string[]; readonly draining?: readonly string[] },
  when: string,
): Promise<Published> {
  const published = await readPublished(implementation.bench);
  const ids = (arns: readonly string[]) => arns.map((arn) => arn.slice(arn.lastIndexOf("/") + 1)).sort();
  const ready = ids(expected.ready);
  const draining = ids(expected.draining ?? []);
  const what = `${implementation.name}, ${when}`;
  check(published.document !== undefined, `${what}: no document published`);
  const listed = (list: EndpointDocument["endpoints"]) => list.map((e) => e.taskId ?? "?").sort();
  check(JSON.stringify(listed(published.document.endpoints)) === JSON.stringify(ready), `${what}: the document lists ${listed(published.document.endpoints).length} endpoints, not the ${ready.length} ready tasks`);
  check(JSON.stringify(listed(published.document.draining)) === JSON.stringify(draining), `${what}: the document lists ${published.document.draining.length} draining, not ${draining.length}`);
  check(JSON.stringify(published.instanceIds) === JSON.stringify(ready), `${what}: Cloud Map holds ${published.instanceIds.length} instances, not the ${ready.length} ready tasks`);
  check(published.targets.length === ready.length, `${what}: the target group holds ${published.targets.length} targets, not ${ready.length}`);
  return published;
}

/**
 * Which events of a complete task lifecycle the task-state rule lets through: the rule as the CDK construct
 * synthesises it for the world's service, put on the emulator's EventBridge (moto's rule matching is real code; its
 * TestEventPattern is a stub) with an SQS target; one task's 34 lifecycle events are put on the bus and what
 * reaches the queue is what the pattern matched. Returns the keys (`RUNNING#0`, `health#0`, ...) matched. Every task
 * of the bench goes through the same lifecycle, differing only in ids, addresses and times, which the pattern of a
 * configured service does not look at.
 */
export async function measureRuleAdmission(bench: BenchWorld): Promise<{ admitted: Set<string>; pattern: unknown; events: number }> {
  const { world, worldClients, driver } = bench;
  const pattern = synthesisedRulePattern(world);
  const { QueueUrl } = await worldClients.sqs.send(new CreateQueueCommand({ QueueName: "bench-rule-probe" }));
  const { Attributes } = await worldClients.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  await worldClients.eventBridge.send(new PutRuleCommand({ Name: "bench-task-state", EventPattern: JSON.stringify(pattern), State: "ENABLED" }));
  await worldClients.eventBridge.send(new PutTargetsCommand({ Rule: "bench-task-state", Targets: [{ Id: "probe", Arn: Attributes!.QueueArn! }] }));

  const [taskArn] = await driver.startTasks(1);
  const events: LifecycleEvent[] = [];
  for (const step of [...startSteps, ...stopSteps]) events.push(...(await driver.step([taskArn!], step)));
  const keyByVersion = new Map(events.map((e) => [e.event.detail.version, e.key]));
  for (let i = 0; i < events.length; i += 10) {
    const out = await worldClients.eventBridge.send(
      new PutEventsCommand({
        Entries: events.slice(i, i + 10).map(({ event }) => ({
          Source: event.source,
          DetailType: event["detail-type"],
          Detail: JSON.stringify(event.detail),
          Resources: event.resources,
          Time: new Date(event.time),
        })),
      }),
    );
    check((out.FailedEntryCount ?? 0) === 0, `PutEvents rejected ${out.FailedEntryCount} probe events`);
  }
  const admitted = new Set<string>();
  for (;;) {
    const { Messages = [] } = await worldClients.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (Messages.length === 0) break;
    for (const message of Messages) {
      const version = (JSON.parse(message.Body ?? "{}") as { detail?: { version?: number } }).detail?.version;
      const key = version === undefined ? undefined : keyByVersion.get(version);
      check(key !== undefined, `the probe queue got an event that was not put: ${message.Body?.slice(0, 200)}`);
      admitted.add(key);
    }
  }
  return { admitted, pattern, events: events.length };
}

/** The task-state rule's event pattern, synthesised by the construct for the world's service and resolved. */
function synthesisedRulePattern(world: World): unknown {
  const app = new App();
  const stack = new Stack(app, "BenchPipelineRule", { env: { account: world.accountId, region: world.region } });
  const code = () => lambda.InlineCode.fromInline("export const handler = async () => undefined;");
  // Only the rule is used: the service's cluster and ECS service decide the pattern, so Cloud Map and the target
  // groups (which need their Route 53 scope at synthesis) are left out.
  const { name, cluster, ecsService, port, parameterName } = world.serviceConfig;
  const controlPlane = new DiscoverySyncControlPlane(stack, "ControlPlane", {
    config: { services: [{ name, cluster, ecsService, port, parameterName }] },
    code: { router: code(), reconcile: code(), sweep: code() },
  });
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Properties?: Record<string, unknown> }> };
  const ruleId = stack.getLogicalId(controlPlane.taskStateRule.node.defaultChild as Parameters<Stack["getLogicalId"]>[0]);
  const pattern = json.Resources[ruleId]?.Properties?.["EventPattern"];
  check(pattern !== undefined, "the synthesised task-state rule has no EventPattern");
  return resolveIntrinsics(pattern, { partition: "aws", region: world.region, account: world.accountId });
}
