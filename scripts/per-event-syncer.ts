/**
 * A **per-event syncer**: the design discovery-sync is compared with in `npm run bench:pipeline`
 * (`scripts/bench-pipeline.ts`). It is what one writes first: every "ECS Task State Change" event is handled on its
 * own, trusting the event's task:
 *
 * 1. DescribeTasks of the event's task (the event itself may be stale), and its task definition once per ARN;
 * 2. then, together: RegisterInstance or DeregisterInstance in Cloud Map, RegisterTargets or DeregisterTargets in
 *    each target group, and GetParameter of the endpoint document;
 * 3. PutParameter of the document with the task added, moved to `draining` or removed, when that changes it.
 *
 * It is written to be fair, not to lose: the independent calls of step 2 run together (3 serial waves per event),
 * readiness is core's own rule (`classifyTask`), a document that would not change is not rewritten, and the
 * document is the same format discovery-sync publishes, so the same readers and checks apply. What it lacks by
 * design is what the comparison is about: it cannot coalesce events, it writes Cloud Map and the target groups on
 * every event whether or not anything changed, it never notices drift or a missed event, and its read-modify-write
 * of the document is only safe while events are handled one at a time (the bench handles them in order).
 */
import { DescribeTasksCommand } from "@aws-sdk/client-ecs";
import { DeregisterTargetsCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { DeregisterInstanceCommand, RegisterInstanceCommand } from "@aws-sdk/client-servicediscovery";
import { GetParameterCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import {
  compareEndpoints,
  parseEndpointDocument,
  sameEndpointContent,
  serializeEndpointDocument,
  type Endpoint,
  type EndpointDocument,
} from "@discovery-sync/client";
import { classifyTask, observeTask, TaskDefinitionCache, type AwsClients, type ServiceConfig, type TaskClass } from "@discovery-sync/core";

/** The per-event syncer could not handle an event; `context` says which and what was given. */
export class PerEventSyncerError extends Error {
  public override readonly name = "PerEventSyncerError";
  public constructor(
    message: string,
    public readonly context: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link createPerEventSyncer}. */
export interface PerEventSyncerOptions {
  /** The one service it keeps (its Cloud Map service, target groups and parameter). */
  readonly service: ServiceConfig;
  readonly clients: Pick<AwsClients, "ecs" | "serviceDiscovery" | "elbv2" | "ssm">;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** What the syncer did with one event. */
export interface PerEventOutcome {
  readonly taskArn: string;
  /** How core's readiness rule classified the task as described. */
  readonly classification: TaskClass["kind"];
  /** True when the event changed the document and a new revision was written. */
  readonly documentWritten: boolean;
}

/**
 * Creates the syncer: a function to call with each event, one at a time.
 *
 * @example
 * ```ts
 * const sync = createPerEventSyncer({ service, clients: createAwsClients() });
 * await sync(event); // { taskArn, classification: "ready", documentWritten: true }
 * ```
 */
export function createPerEventSyncer(options: PerEventSyncerOptions): (event: unknown) => Promise<PerEventOutcome> {
  const { service, clients } = options;
  const now = options.now ?? (() => new Date());
  const taskDefinitions = new TaskDefinitionCache();

  return async (event) => {
    const { taskArn, clusterArn } = taskOfEvent(event);
    const described = await clients.ecs.send(new DescribeTasksCommand({ cluster: clusterArn, tasks: [taskArn] }));
    const task = described.tasks?.[0];
    if (task === undefined) throw new PerEventSyncerError(`DescribeTasks did not return ${taskArn}`, { taskArn, clusterArn });
    const observed = observeTask(task);
    const definition = observed.taskDefinitionArn === undefined ? undefined : await taskDefinitions.get(clients.ecs, observed.taskDefinitionArn);
    const classification = classifyTask(observed, definition);
    const endpoint: Endpoint | undefined =
      observed.privateIpv4 === undefined
        ? undefined
        : { address: observed.privateIpv4, port: service.port, ...(observed.availabilityZone === undefined ? {} : { zone: observed.availabilityZone }), taskId: observed.taskId };

    const [current] = await Promise.all([
      readDocument(options, now),
      syncCloudMap(options, observed.taskId, classification, endpoint),
      syncTargets(options, classification, endpoint),
    ]);

    const next: EndpointDocument = {
      ...current,
      endpoints: withTask(current.endpoints, observed.taskId, classification.kind === "ready" ? endpoint : undefined),
      draining: withTask(current.draining, observed.taskId, classification.kind === "draining" ? endpoint : undefined),
    };
    if (sameEndpointContent(current, next)) return { taskArn, classification: classification.kind, documentWritten: false };
    const value = serializeEndpointDocument({ ...next, revision: current.revision + 1, generatedAt: now().toISOString() });
    // Intelligent-Tiering: SSM picks Standard while the value fits 4 KB and Advanced (up to 8 KB) beyond, so the
    // syncer needs no read of the tier. It has no sharded form: a larger document fails here.
    await send("PutParameter", { taskArn, bytes: Buffer.byteLength(value) }, () =>
      clients.ssm.send(
        new PutParameterCommand({ Name: service.parameterName, Value: value, Type: "String", Tier: "Intelligent-Tiering", Overwrite: true }),
      ),
    );
    return { taskArn, classification: classification.kind, documentWritten: true };
  };
}

function taskOfEvent(event: unknown): { taskArn: string; clusterArn: string } {
  const detail = (event as { detail?: { taskArn?: unknown; clusterArn?: unknown } } | null)?.detail;
  if (typeof detail?.taskArn !== "string" || typeof detail.clusterArn !== "string") {
    throw new PerEventSyncerError(`not an ECS task state change event (given detail ${JSON.stringify(detail)?.slice(0, 120)})`, {});
  }
  return { taskArn: detail.taskArn, clusterArn: detail.clusterArn };
}

/** The document as published, or an empty one (revision 0, a new epoch) when there is none yet. */
async function readDocument(options: PerEventSyncerOptions, now: () => Date): Promise<EndpointDocument> {
  const { service, clients } = options;
  try {
    const { Parameter } = await clients.ssm.send(new GetParameterCommand({ Name: service.parameterName }));
    return parseEndpointDocument(Parameter?.Value ?? "");
  } catch (error) {
    if ((error as { name?: string }).name !== "ParameterNotFound") {
      throw new PerEventSyncerError(`GetParameter ${service.parameterName} failed`, { parameterName: service.parameterName }, { cause: error });
    }
    return { schemaVersion: 1, service: service.name, revision: 0, epoch: now().getTime(), generatedAt: now().toISOString(), endpoints: [], draining: [] };
  }
}

async function syncCloudMap(options: PerEventSyncerOptions, taskId: string, classification: TaskClass, endpoint: Endpoint | undefined): Promise<void> {
  const serviceId = options.service.cloudMapServiceId;
  if (serviceId === undefined) return;
  const sd = options.clients.serviceDiscovery;
  if (classification.kind === "ready" && endpoint !== undefined) {
    await send("RegisterInstance", { serviceId, taskId }, () =>
      sd.send(
        new RegisterInstanceCommand({
          ServiceId: serviceId,
          InstanceId: taskId,
          Attributes: {
            AWS_INSTANCE_IPV4: endpoint.address,
            AWS_INSTANCE_PORT: String(endpoint.port),
            AWS_INIT_HEALTH_STATUS: "HEALTHY",
            ...(endpoint.zone === undefined ? {} : { AVAILABILITY_ZONE: endpoint.zone }),
          },
        }),
      ),
    );
    return;
  }
  try {
    await sd.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: taskId }));
  } catch (error) {
    // Every event of a task that is not ready deregisters it: most of the time it is not registered at all.
    if ((error as { name?: string }).name !== "InstanceNotFound") {
      throw new PerEventSyncerError(`DeregisterInstance ${taskId} from ${serviceId} failed`, { serviceId, taskId }, { cause: error });
    }
  }
}

async function syncTargets(options: PerEventSyncerOptions, classification: TaskClass, endpoint: Endpoint | undefined): Promise<void> {
  if (endpoint === undefined) return; // no address yet: nothing to register, nothing registered under it
  const target = { Id: endpoint.address, Port: endpoint.port };
  const elbv2 = options.clients.elbv2;
  await Promise.all(
    (options.service.targetGroupArns ?? []).map(async (targetGroupArn) => {
      if (classification.kind === "ready") {
        await send("RegisterTargets", { targetGroupArn, target }, () => elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [target] })));
        return;
      }
      try {
        await elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [target] }));
      } catch (error) {
        // AWS accepts deregistering a target that is not registered; moto answers InvalidTargetException.
        if ((error as { name?: string }).name !== "InvalidTargetException") {
          throw new PerEventSyncerError(`DeregisterTargets ${target.Id}:${target.Port} from ${targetGroupArn} failed`, { targetGroupArn, target }, { cause: error });
        }
      }
    }),
  );
}

/** `list` without the task, plus `endpoint` when given, in the document's order. */
function withTask(list: readonly Endpoint[], taskId: string, endpoint: Endpoint | undefined): Endpoint[] {
  const others = list.filter((e) => e.taskId !== taskId);
  return endpoint === undefined ? others : [...others, endpoint].sort(compareEndpoints);
}

async function send<T>(operation: string, context: Record<string, unknown>, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new PerEventSyncerError(`${operation} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, context, { cause: error });
  }
}
