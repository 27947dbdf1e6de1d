/**
 * The apply step of a reconcile: carries out a plan in two parts, the document ({@link applyDocument}, started as soon
 * as ECS and the document are read) and Cloud Map, the target groups and the writer's tombstones
 * ({@link applyTargets}, once they are read). Within each, every write starts at once (bounded by the reconcile's
 * request limit), so a small service's writes take one serial wave. Every write is attempted even when another fails,
 * and every failure is collected, naming its resource: the reconcile then fails as a whole, so the message is retried
 * and nothing is silently dropped.
 */
import { deregisterCloudMapInstance, registerCloudMapInstance, unsettledInstanceError } from "../aws/cloudmap.js";
import { publishDocument, removeShardsAfterPublish } from "../aws/parameter.js";
import { deregisterTargets, registerTargets } from "../aws/targets.js";
import { writeTombstones, writerStateParameterName } from "../aws/writer-state.js";
import type { ServiceConfig } from "../config.js";
import type { DocumentPlan, InstanceRegistration, ReconcilePlan, ShardedPublishPlan, SinglePublishPlan, TargetRef } from "../plan.js";
import type { Tombstones } from "../tombstones.js";
import type { ReconcileContext, StepFailure } from "./context.js";

/** What one apply step wrote, and what failed. */
export interface AppliedWrites {
  cloudMapRegistered: number;
  cloudMapDeregistered: number;
  targetsRegistered: number;
  targetsDeregistered: number;
  documentsPublished: number;
  parametersWritten: number;
  parametersDeleted: number;
  publishedRevision: number | "unchanged";
  documentTier: "Standard" | "Advanced" | undefined;
  /** The document was written by another writer between this round's read and its write. */
  conflict: boolean;
  failures: StepFailure[];
}

/** The Cloud Map and target group writes of a plan, and the tombstones to store with them. */
export interface TargetsApplyRequest {
  readonly cloudMap: ReconcilePlan["cloudMap"];
  readonly targetGroups: ReconcilePlan["targetGroups"];
  /** The tombstones to store, when they changed (a task left the ready set, or came back). */
  readonly tombstones?: Tombstones;
}

function noWrites(): AppliedWrites {
  return {
    cloudMapRegistered: 0,
    cloudMapDeregistered: 0,
    targetsRegistered: 0,
    targetsDeregistered: 0,
    documentsPublished: 0,
    parametersWritten: 0,
    parametersDeleted: 0,
    publishedRevision: "unchanged",
    documentTier: undefined,
    conflict: false,
    failures: [],
  };
}

/** Runs one write: true when it succeeded; a failure is collected (and false returned) so the other writes still run. */
async function attempt(writes: AppliedWrites, step: string, action: () => Promise<unknown>): Promise<boolean> {
  try {
    await action();
    return true;
  } catch (error) {
    writes.failures.push({ step, error });
    return false;
  }
}

/**
 * The document, then the shards it no longer names: shards first and manifest last inside `publishDocument`, so a
 * reader never sees a manifest naming a shard version not yet written, and deletion only after the new manifest is in
 * place, so a reader of the old one still finds every shard it names.
 */
async function publish(
  writes: AppliedWrites,
  service: ServiceConfig,
  document: SinglePublishPlan | ShardedPublishPlan,
  context: ReconcileContext,
): Promise<void> {
  const name = service.parameterName;
  let publishedVersion: number | undefined;
  await attempt(writes, `ssm.put ${name}`, async () => {
    const outcome = await publishDocument(context.clients.ssm, name, document, context.shardValues, { limit: context.limit });
    writes.parametersWritten += outcome.parametersWritten;
    writes.conflict = outcome.conflict;
    if (outcome.conflict) return;
    writes.documentsPublished = 1;
    writes.publishedRevision = document.document.revision;
    writes.documentTier = outcome.tier;
    publishedVersion = outcome.version;
  });
  if (publishedVersion === undefined) return;
  const version = publishedVersion;
  await attempt(writes, `ssm.delete-shards ${name}`, async () => {
    writes.parametersDeleted += await removeShardsAfterPublish(context.clients.ssm, name, document, version, { limit: context.limit });
  });
}

/**
 * Publishes the document of a plan (or records why it cannot be). The document reflects ECS only, so the reconcile
 * starts this as soon as ECS and the document are read, before Cloud Map and the target groups are even read: clients
 * stop using a draining task as early as possible, and a failed Cloud Map or target group write never holds the
 * document back.
 */
export async function applyDocument(service: ServiceConfig, document: DocumentPlan, context: ReconcileContext): Promise<AppliedWrites> {
  const writes = noWrites();
  if (document.kind === "publish") await publish(writes, service, document, context);
  else if (document.kind === "too-large" || document.kind === "refused") {
    writes.failures.push({ step: `ssm.put ${service.parameterName}`, error: document.error });
  }
  return writes;
}

/**
 * Carries out the Cloud Map and target group writes of a plan, and stores the tombstones given.
 *
 * The tombstones are written alongside (and so after the document was published or refused). That is as safe as
 * writing them first: a later reconcile of the service, the only reader that needs them, starts after this one has
 * finished (the FIFO queue's message group), and a failed tombstone write never held the document back either; it
 * fails this reconcile, which is retried.
 */
export async function applyTargets(service: ServiceConfig, request: TargetsApplyRequest, context: ReconcileContext): Promise<AppliedWrites> {
  const { clients, limit } = context;
  const writes = noWrites();
  const pending: Promise<unknown>[] = [];

  const serviceId = service.cloudMapServiceId;
  if (serviceId !== undefined && request.cloudMap !== undefined) {
    // An operation in flight that the desired state no longer agrees with is not undone (no request while it runs):
    // reported, retryable, so the message comes back shortly and the next reconcile finishes the job.
    for (const unsettled of request.cloudMap.unsettled ?? []) {
      writes.failures.push({ step: `cloudmap.pending ${unsettled.instanceId}`, error: unsettledInstanceError(service.name, serviceId, unsettled) });
    }
    const register = async (registration: InstanceRegistration) => {
      const step = `cloudmap.register ${registration.instanceId}`;
      const sent = () => limit(() => registerCloudMapInstance(clients.serviceDiscovery, serviceId, registration, service.name));
      if (await attempt(writes, step, sent)) writes.cloudMapRegistered += 1;
    };
    const deregister = async (instanceId: string) => {
      const step = `cloudmap.deregister ${instanceId}`;
      const sent = () => limit(() => deregisterCloudMapInstance(clients.serviceDiscovery, serviceId, instanceId, service.name));
      if (await attempt(writes, step, sent)) writes.cloudMapDeregistered += 1;
    };
    for (const registration of request.cloudMap.register) pending.push(register(registration));
    for (const instanceId of request.cloudMap.deregister) pending.push(deregister(instanceId));
  }

  for (const group of request.targetGroups) {
    const change = async (kind: "register" | "deregister", targets: readonly TargetRef[]) => {
      if (targets.length === 0) return;
      const write = kind === "register" ? registerTargets : deregisterTargets;
      if (!(await attempt(writes, `targets.${kind} ${group.arn}`, () => write(clients.elbv2, group.arn, targets, limit)))) return;
      if (kind === "register") writes.targetsRegistered += targets.length;
      else writes.targetsDeregistered += targets.length;
    };
    pending.push(change("deregister", group.deregister), change("register", group.register));
  }

  const tombstones = request.tombstones;
  if (tombstones !== undefined) {
    const step = `ssm.put ${writerStateParameterName(service.parameterName)}`;
    pending.push(attempt(writes, step, () => limit(() => writeTombstones(clients.ssm, service.parameterName, tombstones))));
  }

  await Promise.all(pending);
  return writes;
}

/** The writes of two rounds of one reconcile (a round repeated after a concurrent write), added up. */
export function mergeWrites(earlier: AppliedWrites, later: AppliedWrites): AppliedWrites {
  return {
    cloudMapRegistered: earlier.cloudMapRegistered + later.cloudMapRegistered,
    cloudMapDeregistered: earlier.cloudMapDeregistered + later.cloudMapDeregistered,
    targetsRegistered: earlier.targetsRegistered + later.targetsRegistered,
    targetsDeregistered: earlier.targetsDeregistered + later.targetsDeregistered,
    documentsPublished: later.documentsPublished,
    parametersWritten: earlier.parametersWritten + later.parametersWritten,
    parametersDeleted: earlier.parametersDeleted + later.parametersDeleted,
    publishedRevision: later.publishedRevision,
    documentTier: later.documentTier,
    conflict: later.conflict,
    failures: [...earlier.failures, ...later.failures],
  };
}

/** The total of write calls' items: registrations, deregistrations, parameters written and deleted. */
export function writesTotalOf(writes: AppliedWrites | undefined): number {
  if (writes === undefined) return 0;
  return (
    writes.cloudMapRegistered +
    writes.cloudMapDeregistered +
    writes.targetsRegistered +
    writes.targetsDeregistered +
    writes.parametersWritten +
    writes.parametersDeleted
  );
}
