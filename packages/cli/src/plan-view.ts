import { shardParameterName, type DocumentPlan, type ReconcilePlan, type ServiceConfig } from "@discovery-sync/core";

/** One write a reconcile would make: one item of a RegisterInstance/Targets, DeregisterInstance/Targets or Put/DeleteParameter call. */
export interface PlannedWrite {
  readonly target: "cloudmap" | "targets" | "ssm";
  readonly action: "register" | "deregister" | "put" | "delete";
  /** The Cloud Map service id, the target group ARN or the parameter name written. */
  readonly resource: string;
  /** The instance id, the `ip:port` target, or the parameter (manifest, single value or shard) written. */
  readonly item: string;
  /** What is written: the instance's address, the document's revision, form, size and tier. */
  readonly detail?: string;
}

/**
 * Every write of a plan, in the order the reconcile makes them (Cloud Map and target groups, then the document: the
 * changed shards, the manifest or single value, and the shards no longer named). Pure.
 *
 * @example
 * ```ts
 * for (const write of plannedWrites(service, planReconcile(service, desired, actual, now))) console.log(write.item);
 * ```
 */
export function plannedWrites(service: ServiceConfig, plan: ReconcilePlan): PlannedWrite[] {
  const writes: PlannedWrite[] = [];
  const serviceId = service.cloudMapServiceId;
  if (plan.cloudMap !== undefined && serviceId !== undefined) {
    for (const registration of plan.cloudMap.register) {
      const address = registration.attributes.AWS_INSTANCE_IPV4;
      const port = registration.attributes.AWS_INSTANCE_PORT;
      writes.push({ target: "cloudmap", action: "register", resource: serviceId, item: registration.instanceId, detail: `${address}:${port}` });
    }
    for (const instanceId of plan.cloudMap.deregister) {
      writes.push({ target: "cloudmap", action: "deregister", resource: serviceId, item: instanceId });
    }
  }
  for (const group of plan.targetGroups) {
    for (const target of group.deregister) writes.push({ target: "targets", action: "deregister", resource: group.arn, item: `${target.id}:${target.port}` });
    for (const target of group.register) writes.push({ target: "targets", action: "register", resource: group.arn, item: `${target.id}:${target.port}` });
  }
  writes.push(...documentWrites(service.parameterName, plan.document));
  return writes;
}

function documentWrites(parameterName: string, plan: DocumentPlan): PlannedWrite[] {
  if (plan.kind !== "publish") return [];
  const { revision, endpoints, draining } = plan.document;
  const summary = `revision ${revision}, ${endpoints.length} endpoint(s), ${draining.length} draining`;
  const writes: PlannedWrite[] = [];
  if (plan.form === "sharded") {
    for (const shard of plan.shards.filter((s) => s.changed)) {
      writes.push({ target: "ssm", action: "put", resource: parameterName, item: shardParameterName(parameterName, shard.index), detail: `shard ${shard.index}, ${shard.bytes} bytes, Standard` });
    }
    writes.push({ target: "ssm", action: "put", resource: parameterName, item: parameterName, detail: `${summary}; manifest of ${plan.shards.length} shards, ${plan.minimumTier}` });
  } else {
    writes.push({ target: "ssm", action: "put", resource: parameterName, item: parameterName, detail: `${summary}; single, ${plan.bytes} bytes, ${plan.minimumTier}` });
  }
  for (const index of plan.obsoleteShards) {
    writes.push({ target: "ssm", action: "delete", resource: parameterName, item: shardParameterName(parameterName, index), detail: "no longer named by the manifest" });
  }
  return writes;
}

/** The document decision in words and as JSON-friendly data (no Error or Map objects). */
export function describeDocumentPlan(plan: DocumentPlan): { readonly kind: DocumentPlan["kind"]; readonly summary: string; readonly [key: string]: unknown } {
  switch (plan.kind) {
    case "unchanged":
      return { kind: plan.kind, revision: plan.revision, epoch: plan.epoch, summary: `unchanged at revision ${plan.revision}` };
    case "publish":
      return {
        kind: plan.kind,
        revision: plan.document.revision,
        epoch: plan.document.epoch,
        form: plan.form,
        bytes: plan.bytes,
        tier: plan.minimumTier,
        create: !plan.overwrite,
        summary: `publish revision ${plan.document.revision} (${plan.form}, ${plan.bytes} bytes, ${plan.minimumTier}${plan.overwrite ? "" : ", new parameter"})`,
      };
    case "too-large":
    case "refused":
      return { kind: plan.kind, error: plan.error.name, summary: plan.error.message };
    case "skipped":
      return { kind: plan.kind, summary: "not decided: the parameter could not be read" };
  }
}
