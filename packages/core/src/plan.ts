import {
  advancedTierMaxBytes,
  compareEndpoints,
  endpointDocumentSchemaVersion,
  sameEndpointContent,
  serializeEndpointDocument,
  standardTierMaxBytes,
  type Endpoint,
  type EndpointDocument,
} from "@discovery-sync/client/document";
import {
  layoutShards,
  serializeShardManifest,
  shardDigest,
  type PlannedShard,
  type ShardContent,
  type ShardManifest,
} from "@discovery-sync/client/shards";
import type { ServiceConfig } from "./config.js";
import { DocumentTooLargeError, NewerDocumentError } from "./errors.js";

/** A task that is published: ready ones receive traffic, draining ones are listed so clients stop using them. */
export interface PublishedTask {
  readonly taskId: string;
  readonly taskArn: string;
  readonly address: string;
  readonly zone?: string;
}

/** The state the configured targets must reach, derived from ECS. */
export interface DesiredState {
  readonly ready: readonly PublishedTask[];
  readonly draining: readonly PublishedTask[];
}

/** A Cloud Map instance as ListInstances reports it. */
export interface CloudMapInstance {
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * A RegisterInstance or DeregisterInstance still in flight (operation status SUBMITTED or PENDING). Cloud Map runs
 * them asynchronously: ListInstances shows a registration only once it succeeded and still shows an instance being
 * deregistered, and a second request for the instance meanwhile fails with DuplicateRequest.
 */
export interface PendingInstanceOperation {
  readonly operationId: string;
  readonly instanceId: string;
  readonly type: "REGISTER_INSTANCE" | "DEREGISTER_INSTANCE";
}

/**
 * An instance the plan sends no request for because an operation on it is in flight that the desired state no longer
 * agrees with (a registration of a task that is no longer ready, a deregistration of a task that is ready again).
 * The reconcile reports it, so the service is reconciled again once the operation finished.
 */
export interface UnsettledInstance {
  readonly instanceId: string;
  readonly operationId: string;
  readonly operation: PendingInstanceOperation["type"];
  /** What the desired state wants of the instance once the operation finished. */
  readonly wanted: "registered" | "deregistered";
}

/** A target group target as DescribeTargetHealth reports it. */
export interface TargetGroupTarget {
  readonly id: string;
  readonly port: number | undefined;
  /** initial, healthy, unhealthy, unhealthy.draining, unused, draining, unavailable. */
  readonly state: string | undefined;
}

/** The current document parameter. `version` is its SSM version (the manifest's, in the sharded form). */
export type ParameterState =
  | { readonly kind: "missing" }
  | {
      readonly kind: "valid";
      readonly version: number;
      /** The whole document, assembled from its shards in the sharded form. */
      readonly document: EndpointDocument;
      /** In the sharded form: the manifest and the content of each shard it pins. */
      readonly sharded?: { readonly manifest: ShardManifest; readonly shards: readonly ShardContent[] };
    }
  /** A document of a schema version this writer does not know: never overwritten with an older format. */
  | { readonly kind: "newer"; readonly version: number; readonly schemaVersion: number }
  | {
      readonly kind: "invalid";
      readonly version: number;
      readonly reason: string;
      /** What could still be read: the epoch and revision of a manifest whose shards are missing or torn. */
      readonly head?: { readonly epoch?: number; readonly revision: number };
      /** Shards an unreadable manifest names: deleted once a new document is published. */
      readonly shardIndexes?: readonly number[];
    };

/**
 * What exists now in the configured targets. A target that could not be read is left out (and reported by the
 * caller): it is then neither planned nor written, while the others still converge.
 */
export interface ActualState {
  /** Undefined when the service has no Cloud Map service configured, or it could not be read. */
  readonly cloudMap?: {
    readonly instances: readonly CloudMapInstance[];
    readonly customHealth: boolean;
    /** Register/Deregister operations of the service still in flight, read before `instances`. @default none */
    readonly pendingOperations?: readonly PendingInstanceOperation[];
  };
  /** The target groups that could be read. */
  readonly targetGroups: readonly { readonly arn: string; readonly targets: readonly TargetGroupTarget[] }[];
  /** Undefined when the parameter could not be read. */
  readonly parameter?: ParameterState;
}

/** One RegisterInstance call. */
export interface InstanceRegistration {
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** One target of RegisterTargets / DeregisterTargets. */
export interface TargetRef {
  readonly id: string;
  readonly port: number;
}

/** What every publish plan carries, whatever the form. */
interface PublishBase {
  readonly kind: "publish";
  readonly document: EndpointDocument;
  /** False when the parameter does not exist yet: create-only, so a concurrent creator is noticed. */
  readonly overwrite: boolean;
  /**
   * The SSM version of the parameter this plan was made from (0 when missing). PutParameter has no compare-and-swap,
   * but it returns the new version: anything but `baseVersion + 1` means another writer wrote in between.
   */
  readonly baseVersion: number;
  /** Shards the current document names and the new one does not: deleted after the new one is published. */
  readonly obsoleteShards: readonly number[];
  /** Total bytes written if every part were new (the single value, or the shards plus the manifest). */
  readonly bytes: number;
  /** The smallest tier that holds the value at the parameter; never downgrade an Advanced parameter (AWS refuses it). */
  readonly minimumTier: "Standard" | "Advanced";
}

/** The document in one parameter (schema version 1). */
export interface SinglePublishPlan extends PublishBase {
  readonly form: "single";
  readonly text: string;
}

/** The document as shards and a manifest (schema version 2). */
export interface ShardedPublishPlan extends PublishBase {
  readonly form: "sharded";
  /** Every shard of the new document; only those with `changed` are written. */
  readonly shards: readonly PlannedShard[];
  /** SSM versions of the shards kept as they are (from the current manifest). */
  readonly keptVersions: ReadonlyMap<number, number>;
  /** Packed afresh (no usable current layout, or it had fragmented): shards may exist that no manifest names. */
  readonly repacked: boolean;
}

/** The decision about the endpoint document. */
export type DocumentPlan =
  | { readonly kind: "unchanged"; readonly revision: number; readonly epoch: number | undefined }
  | SinglePublishPlan
  | ShardedPublishPlan
  | { readonly kind: "too-large"; readonly error: DocumentTooLargeError }
  /** The parameter holds a newer schema version: left alone. */
  | { readonly kind: "refused"; readonly error: NewerDocumentError }
  /** The parameter could not be read: nothing is decided about it. */
  | { readonly kind: "skipped" };

/** Every write one reconcile makes; empty lists and `unchanged` when the service has converged. */
export interface ReconcilePlan {
  readonly cloudMap?: {
    readonly register: readonly InstanceRegistration[];
    readonly deregister: readonly string[];
    /** Instances left alone while an operation disagreeing with the desired state runs; absent when none. */
    readonly unsettled?: readonly UnsettledInstance[];
  };
  readonly targetGroups: readonly {
    readonly arn: string;
    readonly register: readonly TargetRef[];
    readonly deregister: readonly TargetRef[];
  }[];
  readonly document: DocumentPlan;
}

/** Custom attribute names written on each Cloud Map instance besides AWS_INSTANCE_IPV4 and AWS_INSTANCE_PORT. */
export const instanceAttributeNames = {
  zone: "AVAILABILITY_ZONE",
  taskArn: "ECS_TASK_ARN",
  cluster: "ECS_CLUSTER_NAME",
  service: "ECS_SERVICE_NAME",
} as const;

// Cloud Map may echo this back or not; it only matters at registration, so it never counts as a difference.
const initHealthAttribute = "AWS_INIT_HEALTH_STATUS";

/** The attributes a task's Cloud Map instance must carry. */
export function instanceAttributes(
  service: ServiceConfig,
  task: PublishedTask,
  customHealth: boolean,
): Record<string, string> {
  return {
    AWS_INSTANCE_IPV4: task.address,
    AWS_INSTANCE_PORT: String(service.port),
    ...(task.zone === undefined ? {} : { [instanceAttributeNames.zone]: task.zone }),
    [instanceAttributeNames.taskArn]: task.taskArn,
    [instanceAttributeNames.cluster]: service.clusterName,
    [instanceAttributeNames.service]: service.ecsService,
    ...(customHealth ? { [initHealthAttribute]: "HEALTHY" } : {}),
  };
}

function sameAttributes(wanted: Readonly<Record<string, string>>, actual: Readonly<Record<string, string>>): boolean {
  const keys = new Set([...Object.keys(wanted), ...Object.keys(actual)]);
  keys.delete(initHealthAttribute);
  for (const key of keys) if (wanted[key] !== actual[key]) return false;
  return true;
}

/**
 * Cloud Map's writes. An instance with an operation in flight gets no request (Cloud Map would answer
 * DuplicateRequest), and the operation is never undone: one that brings the instance where the desired state wants
 * it counts as done; one that takes it the other way (a registration of a task no longer ready, a deregistration of a
 * task ready again) is reported `unsettled`, so that the service is reconciled again once it finished. ListInstances
 * does not show a registration in flight, so only the pending operations remember it.
 */
function planCloudMap(
  service: ServiceConfig,
  desired: DesiredState,
  actual: NonNullable<ActualState["cloudMap"]>,
): NonNullable<ReconcilePlan["cloudMap"]> {
  const byId = new Map<string, CloudMapInstance[]>();
  for (const instance of actual.instances) byId.set(instance.id, [...(byId.get(instance.id) ?? []), instance]);
  const pending = new Map((actual.pendingOperations ?? []).map((operation) => [operation.instanceId, operation]));
  const wantedIds = new Set(desired.ready.map((t) => t.taskId));
  const unsettled: UnsettledInstance[] = [];
  const register: InstanceRegistration[] = [];
  for (const task of desired.ready) {
    const attributes = instanceAttributes(service, task, actual.customHealth);
    const existing = byId.get(task.taskId) ?? [];
    if (pending.has(task.taskId)) continue;
    if (!existing.some((instance) => sameAttributes(attributes, instance.attributes))) {
      register.push({ instanceId: task.taskId, attributes });
    }
  }
  // The configured Cloud Map service is owned by discovery-sync: whatever no ready task backs goes,
  // including draining tasks (out at once) and instances somebody registered by hand.
  const deregister = [...byId.keys()].filter((id) => !wantedIds.has(id) && !pending.has(id)).sort();
  for (const operation of [...pending.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId))) {
    const wanted = wantedIds.has(operation.instanceId) ? "registered" : "deregistered";
    if ((operation.type === "REGISTER_INSTANCE") === (wanted === "registered")) continue;
    unsettled.push({ instanceId: operation.instanceId, operationId: operation.operationId, operation: operation.type, wanted });
  }
  return { register, deregister, ...(unsettled.length === 0 ? {} : { unsettled }) };
}

// A target being deregistered is already on its way out: deregistering it again would be a pointless write.
const leavingStates = new Set(["draining", "unhealthy.draining"]);

function planTargetGroup(service: ServiceConfig, desired: DesiredState, targets: readonly TargetGroupTarget[]) {
  const key = (id: string, port: number | undefined) => `${id}:${port ?? service.port}`;
  const present = new Set(targets.filter((t) => !leavingStates.has(t.state ?? "")).map((t) => key(t.id, t.port)));
  const wanted = new Map(desired.ready.map((t) => [key(t.address, service.port), { id: t.address, port: service.port }]));
  const register = [...wanted.entries()].filter(([k]) => !present.has(k)).map(([, target]) => target);
  const deregister = targets
    .filter((t) => !leavingStates.has(t.state ?? "") && !wanted.has(key(t.id, t.port)))
    .map((t) => ({ id: t.id, port: t.port ?? service.port }));
  return { register, deregister };
}

function toEndpoint(service: ServiceConfig, task: PublishedTask): Endpoint {
  return {
    address: task.address,
    port: service.port,
    ...(task.zone === undefined ? {} : { zone: task.zone }),
    taskId: task.taskId,
  };
}

/**
 * The revision and epoch of the next document (docs/document-format.md, "Revisions and epochs").
 *
 * Our own writes keep `revision === SSM version` (create at 1, then one version per revision). When that holds and the
 * document has an epoch, the next one continues the epoch. Otherwise somebody else wrote the parameter (deleted and
 * recreated it, restored an older value, or a concurrent writer raced us), so readers may hold any revision up to the
 * SSM version of any earlier incarnation: a new epoch, above the old one, makes every reader take the next document.
 * The revision never falls below the SSM version, which bounds every revision readers can hold in this incarnation.
 */
export function nextDocumentOrder(
  parameter: Exclude<ParameterState, { kind: "newer" }>,
  now: Date,
): { revision: number; epoch: number; continuous: boolean } {
  const fresh = (previousEpoch: number | undefined) => Math.max(now.getTime(), (previousEpoch ?? 0) + 1);
  switch (parameter.kind) {
    case "missing":
      return { revision: 1, epoch: fresh(undefined), continuous: false };
    case "valid": {
      const { document, version } = parameter;
      const continuous = document.epoch !== undefined && document.revision === version;
      return {
        revision: Math.max(document.revision, version) + 1,
        epoch: continuous ? (document.epoch as number) : fresh(document.epoch),
        continuous,
      };
    }
    case "invalid":
      return {
        revision: Math.max(parameter.head?.revision ?? 0, parameter.version) + 1,
        epoch: fresh(parameter.head?.epoch),
        continuous: false,
      };
  }
}

/** Shard indexes the current parameter names. */
function currentShardIndexes(parameter: Exclude<ParameterState, { kind: "newer" }>): number[] {
  if (parameter.kind === "valid") return parameter.sharded?.manifest.shards.map((ref) => ref.index) ?? [];
  if (parameter.kind === "invalid") return [...(parameter.shardIndexes ?? [])];
  return [];
}

/** The smallest SSM tier that holds a value of `bytes` (the parameter's own; an Advanced one is never downgraded). */
export function minimumTierFor(bytes: number): "Standard" | "Advanced" {
  return bytes > standardTierMaxBytes ? "Advanced" : "Standard";
}

/**
 * The manifest of a sharded document, given the SSM version of every shard. Pure, so the writer builds it from the
 * versions its PutParameter calls returned.
 *
 * @example
 * ```ts
 * const manifest = buildShardManifest(plan.document, plan.shards, versions);
 * ```
 */
export function buildShardManifest(
  document: EndpointDocument,
  shards: readonly PlannedShard[],
  versions: ReadonlyMap<number, number>,
): ShardManifest {
  return {
    schemaVersion: 2,
    service: document.service,
    epoch: document.epoch ?? 0,
    revision: document.revision,
    generatedAt: document.generatedAt,
    endpointCount: document.endpoints.length,
    drainingCount: document.draining.length,
    shards: shards.map((shard) => {
      const version = versions.get(shard.index);
      if (version === undefined) throw new Error(`no SSM version known for shard ${shard.index}`);
      return { index: shard.index, version };
    }),
    digest: shardDigest(shards.map((shard) => shard.text)),
  };
}

/**
 * The document part of {@link planReconcile}: what to publish so the document lists the desired state (ready tasks as
 * endpoints, stopping ones as draining), or why it stays as it is. Pure. It needs the document alone, not Cloud Map or
 * the target groups, so a reconcile plans and publishes it before those are read.
 *
 * @example
 * ```ts
 * const document = planDocument(service, summariseTasks(tasks).desired, parameterState, new Date());
 * if (document.kind === "publish") console.log(document.document.revision);
 * ```
 */
export function planDocument(service: ServiceConfig, desired: DesiredState, parameter: ParameterState | undefined, now: Date): DocumentPlan {
  if (parameter === undefined) return { kind: "skipped" };
  if (parameter.kind === "newer") return { kind: "refused", error: new NewerDocumentError(service.name, service.parameterName, parameter.schemaVersion) };
  const base = {
    schemaVersion: endpointDocumentSchemaVersion,
    service: service.name,
    generatedAt: now.toISOString(),
    endpoints: desired.ready.map((t) => toEndpoint(service, t)).sort(compareEndpoints),
    draining: desired.draining.map((t) => toEndpoint(service, t)).sort(compareEndpoints),
  } as const;
  const order = nextDocumentOrder(parameter, now);
  if (
    parameter.kind === "valid" &&
    order.continuous &&
    sameEndpointContent({ ...base, revision: parameter.document.revision }, parameter.document)
  ) {
    return { kind: "unchanged", revision: parameter.document.revision, epoch: parameter.document.epoch };
  }
  const document: EndpointDocument = { ...base, revision: order.revision, epoch: order.epoch };
  const common = {
    kind: "publish",
    document,
    overwrite: parameter.kind !== "missing",
    baseVersion: parameter.kind === "missing" ? 0 : parameter.version,
  } as const;
  const previousShards = currentShardIndexes(parameter);

  const text = serializeEndpointDocument(document);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes <= advancedTierMaxBytes) {
    return { ...common, form: "single", text, bytes, minimumTier: minimumTierFor(bytes), obsoleteShards: previousShards };
  }

  const tooLarge = (totalBytes: number, reason: string) => ({
    kind: "too-large" as const,
    error: new DocumentTooLargeError(service.name, service.parameterName, totalBytes, document.endpoints.length, document.draining.length, reason),
  });
  const previous = parameter.kind === "valid" ? parameter.sharded : undefined;
  const previousVersions = new Map((previous?.manifest.shards ?? []).map((ref) => [ref.index, ref.version]));
  const planLayout = (previousShards: readonly ShardContent[]) => {
    const layout = layoutShards({ service: service.name, endpoints: document.endpoints, draining: document.draining, previous: previousShards });
    const keptVersions = new Map(
      layout.shards.filter((shard) => !shard.changed).map((shard) => [shard.index, previousVersions.get(shard.index) as number]),
    );
    // The manifest's exact size depends on the versions the shard writes return; a rewritten shard's grows by one.
    const estimated = new Map(layout.shards.map((shard) => [shard.index, keptVersions.get(shard.index) ?? (previousVersions.get(shard.index) ?? 0) + 1]));
    const manifestBytes = Buffer.byteLength(serializeShardManifest(buildShardManifest(document, layout.shards, estimated)), "utf8");
    return { layout, keptVersions, manifestBytes };
  };
  let planned: ReturnType<typeof planLayout>;
  try {
    planned = planLayout(previous?.shards ?? []);
    // Near the cap, a fragmented layout may need a manifest a fresh packing would not.
    if (planned.manifestBytes > advancedTierMaxBytes && !planned.layout.repacked) planned = planLayout([]);
  } catch (error) {
    if (error instanceof RangeError) return tooLarge(bytes, error.message);
    throw error;
  }
  const { layout, keptVersions, manifestBytes } = planned;
  const totalBytes = manifestBytes + layout.shards.reduce((sum, shard) => sum + shard.bytes, 0);
  if (manifestBytes > advancedTierMaxBytes) {
    return tooLarge(totalBytes, `its manifest of ${layout.shards.length} shards would be ${manifestBytes} bytes`);
  }
  const kept = new Set(layout.shards.map((shard) => shard.index));
  return {
    ...common,
    form: "sharded",
    shards: layout.shards,
    keptVersions,
    repacked: layout.repacked,
    bytes: totalBytes,
    minimumTier: minimumTierFor(manifestBytes),
    obsoleteShards: [...new Set([...previousShards, ...layout.removed])].filter((index) => !kept.has(index)).sort((a, b) => a - b),
  };
}

/**
 * Decides every write that brings the configured targets to the desired state. Pure: no I/O, no clock.
 * A converged service yields empty lists and `document.kind === "unchanged"`.
 *
 * @example
 * ```ts
 * const plan = planReconcile(service, desired, actual, new Date());
 * if (countPlannedWrites(plan) === 0) console.log("converged");
 * ```
 */
export function planReconcile(service: ServiceConfig, desired: DesiredState, actual: ActualState, now: Date): ReconcilePlan {
  return { ...planTargets(service, desired, actual), document: planDocument(service, desired, actual.parameter, now) };
}

/**
 * The Cloud Map and target group part of {@link planReconcile}: the ready tasks registered, everything else
 * deregistered. Pure; the document is not looked at.
 *
 * @example
 * ```ts
 * const { cloudMap, targetGroups } = planTargets(service, desired, { cloudMap: cloudMapState, targetGroups: [] });
 * ```
 */
export function planTargets(
  service: ServiceConfig,
  desired: DesiredState,
  actual: Pick<ActualState, "cloudMap" | "targetGroups">,
): Pick<ReconcilePlan, "cloudMap" | "targetGroups"> {
  return {
    ...(actual.cloudMap === undefined ? {} : { cloudMap: planCloudMap(service, desired, actual.cloudMap) }),
    targetGroups: actual.targetGroups.map((group) => ({ arn: group.arn, ...planTargetGroup(service, desired, group.targets) })),
  };
}

/** PutParameter calls a document plan makes: the changed shards and the manifest, or the single value. */
export function countDocumentPuts(plan: DocumentPlan): number {
  if (plan.kind !== "publish") return 0;
  return plan.form === "single" ? 1 : plan.shards.filter((shard) => shard.changed).length + 1;
}

/** Number of write calls' items a plan makes (registrations, deregistrations, and the document's PutParameter calls). */
export function countPlannedWrites(plan: ReconcilePlan): number {
  const cloudMap = (plan.cloudMap?.register.length ?? 0) + (plan.cloudMap?.deregister.length ?? 0);
  const targets = plan.targetGroups.reduce((n, g) => n + g.register.length + g.deregister.length, 0);
  return cloudMap + targets + countDocumentPuts(plan.document);
}
