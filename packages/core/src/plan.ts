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
import { clusterNameOf, type ServiceConfig } from "./config.js";
import { DocumentTooLargeError } from "./errors.js";

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

/** A target group target as DescribeTargetHealth reports it. */
export interface TargetGroupTarget {
  readonly id: string;
  readonly port: number | undefined;
  /** initial, healthy, unhealthy, unhealthy.draining, unused, draining, unavailable. */
  readonly state: string | undefined;
}

/** The current document parameter. */
export type ParameterState =
  | { readonly kind: "missing" }
  | { readonly kind: "valid"; readonly version: number; readonly document: EndpointDocument }
  | { readonly kind: "invalid"; readonly version: number; readonly reason: string };

/** What exists now in the configured targets. */
export interface ActualState {
  /** Undefined when the service has no Cloud Map service configured. */
  readonly cloudMap?: { readonly instances: readonly CloudMapInstance[]; readonly customHealth: boolean };
  readonly targetGroups: readonly { readonly arn: string; readonly targets: readonly TargetGroupTarget[] }[];
  readonly parameter: ParameterState;
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

/** The decision about the endpoint document. */
export type DocumentPlan =
  | { readonly kind: "unchanged"; readonly revision: number }
  | {
      readonly kind: "publish";
      readonly document: EndpointDocument;
      readonly text: string;
      readonly bytes: number;
      /** The smallest tier that holds the document; never downgrade an Advanced parameter (AWS refuses it). */
      readonly minimumTier: "Standard" | "Advanced";
      /** False when the parameter does not exist yet: create-only, so a concurrent creator is noticed. */
      readonly overwrite: boolean;
    }
  | { readonly kind: "too-large"; readonly error: DocumentTooLargeError };

/** Every write one reconcile makes; empty lists and `unchanged` when the service has converged. */
export interface ReconcilePlan {
  readonly cloudMap?: {
    readonly register: readonly InstanceRegistration[];
    readonly deregister: readonly string[];
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
    [instanceAttributeNames.cluster]: clusterNameOf(service.cluster),
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

function planCloudMap(service: ServiceConfig, desired: DesiredState, actual: NonNullable<ActualState["cloudMap"]>) {
  const byId = new Map<string, CloudMapInstance[]>();
  for (const instance of actual.instances) byId.set(instance.id, [...(byId.get(instance.id) ?? []), instance]);
  const wantedIds = new Set(desired.ready.map((t) => t.taskId));
  const register: InstanceRegistration[] = [];
  for (const task of desired.ready) {
    const attributes = instanceAttributes(service, task, actual.customHealth);
    const existing = byId.get(task.taskId) ?? [];
    if (!existing.some((instance) => sameAttributes(attributes, instance.attributes))) {
      register.push({ instanceId: task.taskId, attributes });
    }
  }
  // The configured Cloud Map service is owned by discovery-sync: whatever no ready task backs goes,
  // including draining tasks (out at once) and instances somebody registered by hand.
  const deregister = [...byId.keys()].filter((id) => !wantedIds.has(id)).sort();
  return { register, deregister };
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

function planDocument(service: ServiceConfig, desired: DesiredState, parameter: ParameterState, now: Date): DocumentPlan {
  const base = {
    schemaVersion: endpointDocumentSchemaVersion,
    service: service.name,
    generatedAt: now.toISOString(),
    endpoints: desired.ready.map((t) => toEndpoint(service, t)).sort(compareEndpoints),
    draining: desired.draining.map((t) => toEndpoint(service, t)).sort(compareEndpoints),
  } as const;
  let revision: number;
  switch (parameter.kind) {
    case "missing":
      revision = 1;
      break;
    case "valid":
      if (sameEndpointContent({ ...base, revision: parameter.document.revision }, parameter.document)) {
        return { kind: "unchanged", revision: parameter.document.revision };
      }
      revision = parameter.document.revision + 1;
      break;
    case "invalid":
      // The unreadable value hides the last revision; every publish made one SSM version, so the SSM version
      // bounds every revision readers can hold, and going above it keeps readers from ignoring ours.
      revision = parameter.version + 1;
      break;
  }
  const document: EndpointDocument = { ...base, revision };
  const text = serializeEndpointDocument(document);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > advancedTierMaxBytes) {
    return {
      kind: "too-large",
      error: new DocumentTooLargeError(service.name, service.parameterName, bytes, document.endpoints.length, document.draining.length),
    };
  }
  return {
    kind: "publish",
    document,
    text,
    bytes,
    minimumTier: bytes > standardTierMaxBytes ? "Advanced" : "Standard",
    overwrite: parameter.kind !== "missing",
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
  return {
    ...(actual.cloudMap === undefined ? {} : { cloudMap: planCloudMap(service, desired, actual.cloudMap) }),
    targetGroups: actual.targetGroups.map((group) => ({ arn: group.arn, ...planTargetGroup(service, desired, group.targets) })),
    document: planDocument(service, desired, actual.parameter, now),
  };
}

/** Number of write calls' items a plan makes (registrations, deregistrations, and 1 for a publish). */
export function countPlannedWrites(plan: ReconcilePlan): number {
  const cloudMap = (plan.cloudMap?.register.length ?? 0) + (plan.cloudMap?.deregister.length ?? 0);
  const targets = plan.targetGroups.reduce((n, g) => n + g.register.length + g.deregister.length, 0);
  return cloudMap + targets + (plan.document.kind === "publish" ? 1 : 0);
}
