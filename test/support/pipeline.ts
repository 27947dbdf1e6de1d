import { DescribeTargetHealthCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ListInstancesCommand } from "@aws-sdk/client-servicediscovery";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { DescribeParametersCommand } from "@aws-sdk/client-ssm";
import type { Task } from "@aws-sdk/client-ecs";
import type { EndpointDocument } from "@discovery-sync/client/document";
import {
  createAwsClients,
  createReconcileHandler,
  createRouteHandler,
  createSweepHandler,
  parseConfig,
  readParameter,
  type AwsClients,
  type DiscoverySyncConfig,
  type ReconcileLogger,
  type ReconcileRecord,
} from "@discovery-sync/core";
import {
  createTaskOverlay,
  createWorldClients,
  drainFifo,
  provisionWorld,
  taskStateChangeEvent,
  type ProvisionWorldOptions,
  type TaskOverlay,
  type World,
  type WorldClients,
} from "@discovery-sync/emulator";
import type { SQSRecord } from "aws-lambda";
import { isolatedAccount, testRegion, type IsolatedAccount } from "./aws.js";

/** A logger that keeps every entry, so tests can read the reconcile records. */
export class CapturingLogger implements ReconcileLogger {
  public readonly entries: { level: string; message: string; attributes: Record<string, unknown> }[] = [];
  public debug(message: string, attributes: Record<string, unknown>) { this.entries.push({ level: "debug", message, attributes }); }
  public info(message: string, attributes: Record<string, unknown>) { this.entries.push({ level: "info", message, attributes }); }
  public warn(message: string, attributes: Record<string, unknown>) { this.entries.push({ level: "warn", message, attributes }); }
  public error(message: string, attributes: Record<string, unknown>) { this.entries.push({ level: "error", message, attributes }); }
  /** The reconcile records logged so far. */
  public get records(): ReconcileRecord[] {
    return this.entries.filter((e) => e.message === "reconcile").map((e) => e.attributes.reconcile as ReconcileRecord);
  }
}

/** What the emulator holds for one service, read back after a reconcile. */
export interface ObservedState {
  /** Cloud Map instance id -> IPv4 (sorted by id). */
  readonly instances: Record<string, string | undefined>;
  /** Instance ids as listed, duplicates included. */
  readonly instanceIds: string[];
  /** Target group targets as `ip:port`, sorted. */
  readonly targets: string[];
  /** The document, assembled from its shards when sharded; undefined when missing or unreadable. */
  readonly document: EndpointDocument | undefined;
  /** Shards of the document (0 in the single form). */
  readonly shardCount: number | undefined;
  readonly parameterVersion: number | undefined;
  readonly parameterTier: string | undefined;
}

/** One account on the emulator with a provisioned world and the real handlers wired to it. */
export interface Pipeline {
  readonly account: IsolatedAccount;
  readonly world: World;
  readonly worlds: World[];
  readonly worldClients: WorldClients;
  readonly clients: AwsClients;
  readonly overlay: TaskOverlay;
  readonly logger: CapturingLogger;
  readonly config: DiscoverySyncConfig;
  route: ReturnType<typeof createRouteHandler>;
  reconcile: ReturnType<typeof createReconcileHandler>;
  sweep: ReturnType<typeof createSweepHandler>;
  /** Routes an event for each task (as AWS would emit it) through the router. */
  emit(tasks: readonly Task[], options?: { version?: number; id?: string; overrides?: Record<string, unknown> }): Promise<void>;
  /**
   * Runs the reconcile handler over everything queued, the way Lambda's SQS event source would. Failed messages are
   * made visible again at once unless `failedVisibility: "handler"` (then they wait, as on Lambda).
   */
  pump(options?: { failedVisibility?: "immediate" | "handler"; maxRounds?: number }): Promise<Awaited<ReturnType<typeof drainFifo>>>;
  observe(world?: World): Promise<ObservedState>;
  queueDepth(): Promise<number>;
}

/** Options of {@link createPipeline}. */
export interface PipelineOptions extends ProvisionWorldOptions {
  /** More services sharing the first world's cluster and queue. */
  readonly extraServices?: readonly ProvisionWorldOptions[];
  /** Rewrites the configuration before the handlers get it (to break one service on purpose, say). */
  readonly editConfig?: (config: { services: Record<string, unknown>[] }) => void;
  /** The reconciler's clock. @default () => new Date() */
  readonly now?: () => Date;
  /** Waits of the reconciler's stale-read retries. @default the handler's */
  readonly staleReadRetryDelaysMs?: readonly number[];
  /** The reconciler's sleep (to act between a stale read and its retry). @default the handler's */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Delays before failed messages come back. @default the handler's */
  readonly retryVisibility?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
}

/**
 * Provisions a world in a fresh emulator account and wires the real handlers to it. Tasks are HEALTHY by default
 * and carry their subnet's zone (the overlay supplies what moto's DescribeTasks lacks).
 *
 * @example
 * ```ts
 * const p = await createPipeline();
 * const tasks = await runServiceTasks(p.worldClients, p.world, 3);
 * await p.emit(tasks); await p.pump();
 * ```
 */
export async function createPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const account = isolatedAccount();
  const worldClients = createWorldClients(account.clientConfig, [account.plugin]);
  const world = await provisionWorld(worldClients, options);
  const worlds = [world];
  for (const extra of options.extraServices ?? []) worlds.push(await provisionWorld(worldClients, { ...extra, shareWith: world }));
  const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
  worldClients.ecs.middlewareStack.use(overlay.plugin);
  const clients = createAwsClients({ clientConfig: account.clientConfig, plugins: [account.plugin] });
  clients.ecs.middlewareStack.use(overlay.plugin);
  const rawConfig = { services: worlds.map((w) => ({ ...w.serviceConfig }) as Record<string, unknown>) };
  options.editConfig?.(rawConfig);
  const config = parseConfig(rawConfig);
  const logger = new CapturingLogger();
  const queueUrl = world.reconcileQueueUrl!;
  const route = createRouteHandler({ config, sqs: clients.sqs, queueUrl, logger });
  const reconcile = createReconcileHandler({
    config,
    clients,
    logger,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.staleReadRetryDelaysMs === undefined ? {} : { staleReadRetryDelaysMs: options.staleReadRetryDelaysMs }),
    ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
    ...(options.retryVisibility === undefined ? {} : { retryVisibility: options.retryVisibility }),
    queueUrl: world.reconcileQueueUrl!,
  });
  const sweep = createSweepHandler({ config, sqs: clients.sqs, queueUrl, logger });
  return {
    account,
    world,
    worlds,
    worldClients,
    clients,
    overlay,
    logger,
    config,
    route,
    reconcile,
    sweep,
    async emit(tasks, eventOptions = {}) {
      for (const task of tasks) {
        const patched = overlay.apply([task])[0]!;
        const event = taskStateChangeEvent(patched, { account: account.accountId, region: testRegion, ...eventOptions });
        const result = await route(event);
        if (result.outcome !== "enqueued") throw new Error(`event of ${task.taskArn} was not enqueued: ${JSON.stringify(result)}`);
      }
    },
    pump: (pumpOptions = {}) => drainFifo(clients.sqs, queueUrl, reconcile, { queueArn: world.reconcileQueueArn, ...pumpOptions }),
    observe: (target = world) => observe(clients, target),
    async queueDepth() {
      const attributes = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      return (
        Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    },
  };
}

async function observe(clients: AwsClients, world: World): Promise<ObservedState> {
  const service = world.serviceConfig;
  const listed = service.cloudMapServiceId
    ? ((await clients.serviceDiscovery.send(new ListInstancesCommand({ ServiceId: service.cloudMapServiceId }))).Instances ?? [])
    : [];
  const instances = Object.fromEntries(
    listed.map((i) => [i.Id!, i.Attributes?.AWS_INSTANCE_IPV4] as const).sort(([a], [b]) => a.localeCompare(b)),
  );
  const targets: string[] = [];
  for (const arn of service.targetGroupArns ?? []) {
    const health = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    for (const d of health.TargetHealthDescriptions ?? []) targets.push(`${d.Target?.Id}:${d.Target?.Port}`);
  }
  // Read with a cache of its own: the reconciler's must not be warmed (or trusted) by the test's reads.
  const parameter = await readParameter(clients.ssm, service.parameterName);
  let parameterTier: string | undefined;
  if (parameter.kind !== "missing") {
    const described = await clients.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [service.parameterName] }] }),
    );
    parameterTier = described.Parameters?.[0]?.Tier;
  }
  return {
    instances,
    instanceIds: listed.map((i) => i.Id!),
    targets: targets.sort(),
    document: parameter.kind === "valid" ? parameter.document : undefined,
    shardCount: parameter.kind === "valid" ? (parameter.sharded?.manifest.shards.length ?? 0) : undefined,
    parameterVersion: parameter.kind === "missing" ? undefined : parameter.version,
    parameterTier,
  };
}

/**
 * A reconcile queue message as Lambda's SQS event source hands it to the handler: a manual trigger of `service`, or
 * the given body.
 */
export function reconcileRecord(pipeline: Pick<Pipeline, "world">, id: string, service: string, body?: string): SQSRecord {
  return {
    messageId: id,
    receiptHandle: `handle-${id}`,
    body: body ?? JSON.stringify({ schemaVersion: 1, service, trigger: { kind: "manual", at: new Date().toISOString() } }),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "0",
      SenderId: "test",
      ApproximateFirstReceiveTimestamp: "0",
      MessageGroupId: service,
      MessageDeduplicationId: id,
      SequenceNumber: id,
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: pipeline.world.reconcileQueueArn!,
    awsRegion: testRegion,
  };
}
