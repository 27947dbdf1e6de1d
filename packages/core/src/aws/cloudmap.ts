import {
  DeregisterInstanceCommand,
  GetServiceCommand,
  InstanceNotFound,
  ListInstancesCommand,
  RegisterInstanceCommand,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { randomUUID } from "node:crypto";
import type { CloudMapInstance, InstanceRegistration } from "../plan.js";

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
 * Registers (AWS upserts by ServiceId + InstanceId) one instance. Returns the operation id.
 * A fresh CreatorRequestId per call: the SDK's own retries resend the same one, so a retried request
 * cannot register twice, while a later registration of the same task is a new request.
 */
export async function registerCloudMapInstance(
  client: ServiceDiscoveryClient,
  serviceId: string,
  registration: InstanceRegistration,
): Promise<string | undefined> {
  const output = await client.send(
    new RegisterInstanceCommand({
      ServiceId: serviceId,
      InstanceId: registration.instanceId,
      CreatorRequestId: randomUUID(),
      Attributes: { ...registration.attributes },
    }),
  );
  return output.OperationId;
}

/** Deregisters one instance; an instance that is already gone counts as success. */
export async function deregisterCloudMapInstance(
  client: ServiceDiscoveryClient,
  serviceId: string,
  instanceId: string,
): Promise<string | undefined> {
  try {
    const output = await client.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: instanceId }));
    return output.OperationId;
  } catch (error) {
    if (error instanceof InstanceNotFound) return undefined;
    throw error;
  }
}
