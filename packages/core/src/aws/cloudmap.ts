import {
  DeregisterInstanceCommand,
  DuplicateRequest,
  GetOperationCommand,
  GetServiceCommand,
  InstanceNotFound,
  ListInstancesCommand,
  ListOperationsCommand,
  OperationNotFound,
  RegisterInstanceCommand,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { randomUUID } from "node:crypto";
import { requestLimit } from "../concurrency.js";
import { DiscoverySyncError } from "../errors.js";
import type { ActualState, CloudMapInstance, InstanceRegistration, PendingInstanceOperation, UnsettledInstance } from "../plan.js";

/**
 * Reads every instance of a Cloud Map service (ListInstances pages hold at most 100).
 *
 * @example
 * ```ts
 * const instances = await listCloudMapInstances(clients.serviceDiscovery, "srv-0123456789abcdef");
 * ```
 */
export async function listCloudMapInstances(client: ServiceDiscoveryClient, serviceId: string): Promise<CloudMapInstance[]> {
  const instances: CloudMapInstance[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListInstancesCommand({ ServiceId: serviceId, MaxResults: 100, NextToken: nextToken }));
    for (const instance of page.Instances ?? []) {
      if (instance.Id !== undefined) instances.push({ id: instance.Id, attributes: { ...instance.Attributes } });
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return instances;
}

/**
 * Whether the service uses HealthCheckCustomConfig (then instances are registered with AWS_INIT_HEALTH_STATUS).
 * A service's health check kind cannot be changed after creation, so the answer is cached per process.
 */
export class CloudMapServiceCache {
  readonly #customHealth = new Map<string, Promise<boolean>>();

  /** @example `await cache.usesCustomHealth(clients.serviceDiscovery, "srv-0123456789abcdef")` */
  public usesCustomHealth(client: ServiceDiscoveryClient, serviceId: string): Promise<boolean> {
    const cached = this.#customHealth.get(serviceId);
    if (cached !== undefined) return cached;
    const loading = client
      .send(new GetServiceCommand({ Id: serviceId }))
      .then((output) => output.Service?.HealthCheckCustomConfig !== undefined);
    this.#customHealth.set(serviceId, loading);
    loading.catch(() => this.#customHealth.delete(serviceId));
    return loading;
  }
}

/**
 * Cloud Map is busy with an instance: an operation on it is still in flight. Either the plan left the instance alone
 * because the operation takes it where the desired state no longer wants it, or Register/DeregisterInstance answered
 * DuplicateRequest (an operation this reconcile had not seen). Not a fault of the service: the reconcile reports it so
 * that its message is retried shortly, when the operation will have finished (`retryable`).
 */
export class CloudMapOperationInFlightError extends DiscoverySyncError {
  public override readonly name = "CloudMapOperationInFlightError";
  public readonly retryable = true;
}

/**
 * The error that reports an instance the plan left unsettled, naming the instance, the operation and the service.
 *
 * @example
 * ```ts
 * for (const u of plan.cloudMap?.unsettled ?? []) failures.push({ step: `cloudmap.pending ${u.instanceId}`, error: unsettledInstanceError(service.name, serviceId, u) });
 * ```
 */
export function unsettledInstanceError(service: string, serviceId: string, unsettled: UnsettledInstance): CloudMapOperationInFlightError {
  const { instanceId, operationId, operation, wanted } = unsettled;
  const what =
    operation === "REGISTER_INSTANCE"
      ? `the registration of instance ${instanceId} is still in flight (operation ${operationId}), but its task is no longer ready`
      : `the deregistration of instance ${instanceId} is still in flight (operation ${operationId}), but its task is ready again`;
  return new CloudMapOperationInFlightError(
    `Cloud Map service ${serviceId} of service ${service}: ${what}; it is ${wanted} once the operation finished (retrying)`,
    { service, serviceId, instanceId, operationId, operation, wanted },
  );
}

function duplicateRequestError(
  service: string | undefined,
  serviceId: string,
  instanceId: string,
  request: "RegisterInstance" | "DeregisterInstance",
  error: DuplicateRequest,
): CloudMapOperationInFlightError {
  const operationId = error.DuplicateOperationId;
  return new CloudMapOperationInFlightError(
    `Cloud Map service ${serviceId}${service === undefined ? "" : ` of service ${service}`}: ${request} of instance ` +
      `${instanceId} answered DuplicateRequest, another operation on the instance is in flight` +
      `${operationId === undefined ? "" : ` (operation ${operationId})`}; retrying once it finished`,
    { service, serviceId, instanceId, request, operationId },
    { cause: error },
  );
}

/**
 * Registers (AWS upserts by ServiceId + InstanceId) one instance. Returns the operation id.
 * A fresh CreatorRequestId per call: the SDK's own retries resend the same one, so a retried request
 * cannot register twice, while a later registration of the same task is a new request.
 *
 * @throws {CloudMapOperationInFlightError} when Cloud Map answers DuplicateRequest (an operation on the instance runs).
 */
export async function registerCloudMapInstance(
  client: ServiceDiscoveryClient,
  serviceId: string,
  registration: InstanceRegistration,
  service?: string,
): Promise<string | undefined> {
  try {
    const output = await client.send(
      new RegisterInstanceCommand({
        ServiceId: serviceId,
        InstanceId: registration.instanceId,
        CreatorRequestId: randomUUID(),
        Attributes: { ...registration.attributes },
      }),
    );
    return output.OperationId;
  } catch (error) {
    if (error instanceof DuplicateRequest) throw duplicateRequestError(service, serviceId, registration.instanceId, "RegisterInstance", error);
    throw error;
  }
}

/**
 * Deregisters one instance; an instance that is already gone counts as success.
 *
 * @throws {CloudMapOperationInFlightError} when Cloud Map answers DuplicateRequest (an operation on the instance runs).
 */
export async function deregisterCloudMapInstance(
  client: ServiceDiscoveryClient,
  serviceId: string,
  instanceId: string,
  service?: string,
): Promise<string | undefined> {
  try {
    const output = await client.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: instanceId }));
    return output.OperationId;
  } catch (error) {
    if (error instanceof InstanceNotFound) return undefined;
    if (error instanceof DuplicateRequest) throw duplicateRequestError(service, serviceId, instanceId, "DeregisterInstance", error);
    throw error;
  }
}

const inFlightStatuses: ReadonlySet<string> = new Set(["SUBMITTED", "PENDING"]);
const instanceOperationTypes: ReadonlySet<string> = new Set(["REGISTER_INSTANCE", "DEREGISTER_INSTANCE"]);
/** GetOperation calls in flight at once when many operations are (a large scale-out): a slot frees, the next starts. */
const getOperationConcurrency = 10;

/**
 * The service's Register/Deregister operations still in flight (SUBMITTED or PENDING): ListOperations filtered on the
 * service, the status and the type, then GetOperation of each listed one for its instance (ListOperations gives only
 * ids and statuses). One ListOperations call when nothing is in flight, as long as the account's operation history
 * fits a page: Cloud Map takes MaxResults operations, then filters, so a page may be empty while NextToken is set,
 * and every page is read. Operations that finished by the time GetOperation answers, or are gone (OperationNotFound),
 * are left out: the instances, read afterwards, show their outcome. Filters are checked here again on what comes back.
 *
 * @example
 * ```ts
 * const pending = await listPendingInstanceOperations(clients.serviceDiscovery, "srv-0123456789abcdef");
 * ```
 */
export async function listPendingInstanceOperations(client: ServiceDiscoveryClient, serviceId: string): Promise<PendingInstanceOperation[]> {
  const listed: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListOperationsCommand({
        Filters: [
          { Name: "SERVICE_ID", Condition: "EQ", Values: [serviceId] },
          { Name: "STATUS", Condition: "IN", Values: [...inFlightStatuses] },
          { Name: "TYPE", Condition: "IN", Values: [...instanceOperationTypes] },
        ],
        MaxResults: 100,
        NextToken: nextToken,
      }),
    );
    for (const summary of page.Operations ?? []) {
      if (summary.Id !== undefined && inFlightStatuses.has(summary.Status ?? "")) listed.push(summary.Id);
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);

  const limit = requestLimit(getOperationConcurrency);
  const operations = await Promise.all(
    listed.map((id) =>
      limit(async () => {
        try {
          return (await client.send(new GetOperationCommand({ OperationId: id }))).Operation;
        } catch (error) {
          if (error instanceof OperationNotFound) return undefined;
          throw error;
        }
      }),
    ),
  );
  const pending: PendingInstanceOperation[] = [];
  for (const [index, operation] of operations.entries()) {
    const instanceId = operation?.Targets?.INSTANCE;
    const service = operation?.Targets?.SERVICE;
    const type = operation?.Type;
    if (
      operation === undefined ||
      instanceId === undefined ||
      (service !== undefined && service !== serviceId) ||
      (type !== "REGISTER_INSTANCE" && type !== "DEREGISTER_INSTANCE") ||
      !inFlightStatuses.has(operation.Status ?? "")
    ) {
      continue;
    }
    pending.push({ operationId: operation.Id ?? (listed[index] as string), instanceId, type });
  }
  return pending;
}

/**
 * What a reconcile knows of the Cloud Map service: its operations in flight, then its instances (in that order, so
 * that an operation finishing in between shows in the instances rather than nowhere), and whether it uses custom
 * health checks. The instances are listed once the operations are in and `instancesMayBeListed` has settled (the
 * reconcile holds them back behind the document's write).
 *
 * @example
 * ```ts
 * const cloudMap = await readCloudMapState(clients.serviceDiscovery, "srv-0123456789abcdef", new CloudMapServiceCache());
 * ```
 */
export async function readCloudMapState(
  client: ServiceDiscoveryClient,
  serviceId: string,
  services: CloudMapServiceCache,
  instancesMayBeListed: Promise<void> = Promise.resolve(),
): Promise<NonNullable<ActualState["cloudMap"]>> {
  const [customHealth, { pendingOperations, instances }] = await Promise.all([
    services.usesCustomHealth(client, serviceId),
    (async () => {
      const pendingOperations = await listPendingInstanceOperations(client, serviceId);
      await instancesMayBeListed;
      return { pendingOperations, instances: await listCloudMapInstances(client, serviceId) };
    })(),
  ]);
  return { instances, customHealth, pendingOperations };
}
