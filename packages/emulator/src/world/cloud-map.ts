/**
 * The world's Cloud Map side: a private DNS namespace (or a shared world's) and the service's Cloud Map service
 * (A records, TTL 10, MULTIVALUE, custom health checks with FailureThreshold 1).
 */
import { randomUUID } from "node:crypto";
import {
  CreatePrivateDnsNamespaceCommand,
  CreateServiceCommand as CreateCloudMapServiceCommand,
  GetOperationCommand,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { WorldError, required, step } from "./errors.js";
import type { World } from "./types.js";

/** @internal */
export interface WorldCloudMap {
  readonly namespaceId: string;
  readonly namespaceName: string | undefined;
  readonly cloudMapServiceId: string;
  readonly cloudMapServiceArn: string | undefined;
}

/**
 * Creates the namespace `namespace` (with `suffix` after its first label), or reuses the namespace of `shared` when
 * it has one, then the service's Cloud Map service in it.
 *
 * @internal
 */
export async function provisionCloudMap(
  serviceDiscovery: ServiceDiscoveryClient,
  params: { service: string; namespace: string; suffix: string; vpcId: string; shared: World | undefined },
): Promise<WorldCloudMap> {
  const { service, shared } = params;
  let namespaceId: string;
  let namespaceName: string | undefined;
  if (shared?.namespaceId !== undefined) {
    namespaceId = shared.namespaceId;
    namespaceName = shared.namespaceName;
  } else {
    namespaceName = withSuffix(params.namespace, params.suffix);
    namespaceId = await createNamespace(serviceDiscovery, namespaceName, params.vpcId);
  }
  const cmService = await step("CreateService (Cloud Map)", { namespaceId, service }, () =>
    serviceDiscovery.send(
      new CreateCloudMapServiceCommand({
        Name: service,
        NamespaceId: namespaceId,
        CreatorRequestId: randomUUID(),
        DnsConfig: { RoutingPolicy: "MULTIVALUE", DnsRecords: [{ Type: "A", TTL: 10 }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
      }),
    ),
  );
  return {
    namespaceId,
    namespaceName,
    cloudMapServiceId: required(cmService.Service?.Id, "Service.Id", "CreateService (Cloud Map)"),
    cloudMapServiceArn: cmService.Service?.Arn,
  };
}

function withSuffix(namespace: string, suffix: string): string {
  if (suffix === "") return namespace;
  const dot = namespace.indexOf(".");
  return dot < 0 ? `${namespace}${suffix}` : `${namespace.slice(0, dot)}${suffix}${namespace.slice(dot)}`;
}

async function createNamespace(serviceDiscovery: ServiceDiscoveryClient, name: string, vpcId: string): Promise<string> {
  const operation = await step("CreatePrivateDnsNamespace", { name, vpcId }, () =>
    serviceDiscovery.send(
      new CreatePrivateDnsNamespaceCommand({
        Name: name,
        Vpc: vpcId,
        Description: "Private DNS namespace for workflow services",
        CreatorRequestId: randomUUID(),
      }),
    ),
  );
  const operationId = required(operation.OperationId, "OperationId", "CreatePrivateDnsNamespace");
  // Namespace creation is asynchronous on AWS: the id arrives in the operation's targets.
  return waitForNamespace(serviceDiscovery, operationId);
}

async function waitForNamespace(serviceDiscovery: ServiceDiscoveryClient, operationId: string): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const { Operation } = await step("GetOperation", { operationId }, () =>
      serviceDiscovery.send(new GetOperationCommand({ OperationId: operationId })),
    );
    const namespaceId = Operation?.Targets?.NAMESPACE;
    if (Operation?.Status === "FAIL") {
      throw new WorldError(
        `Cloud Map namespace creation failed: ${Operation.ErrorCode ?? "?"} ${Operation.ErrorMessage ?? ""}`,
        "CreatePrivateDnsNamespace",
        { operationId },
      );
    }
    if (Operation?.Status === "SUCCESS" && namespaceId !== undefined) return namespaceId;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new WorldError("Cloud Map namespace creation did not finish", "CreatePrivateDnsNamespace", { operationId });
}
