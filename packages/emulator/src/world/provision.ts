import type { WorldClients } from "./clients.js";
import { provisionCloudMap } from "./cloud-map.js";
import { provisionCluster, provisionEcsService } from "./ecs.js";
import { provisionLoadBalancer } from "./load-balancer.js";
import { provisionNetwork, vpcCidr } from "./network.js";
import { createQueues, sharedQueues, type WorldQueues } from "./queues.js";
import type { World, WorldServiceConfig } from "./types.js";

/** Options of {@link provisionWorld}. Every field is optional. */
export interface ProvisionWorldOptions {
  /**
   * Name of the synced service: the ECS service, the task definition family, the container, the Cloud Map service
   * and the base of the NLB and target group names. @default "workflow-agent"
   */
  readonly service?: string;
  /** ECS cluster name (ignored with `shareWith`, which reuses that world's cluster). @default "workflow" */
  readonly cluster?: string;
  /** Container port of the gRPC server; also the target group's and listener's port. @default 50051 */
  readonly port?: number;
  /** Cloud Map private DNS namespace (ignored with `shareWith`). @default "workflow.local" */
  readonly namespace?: string;
  /**
   * Whether the task definition's container defines a `healthCheck`. With one, AWS reports task healthStatus
   * UNKNOWN until the check passes, so a task without a HEALTHY status is not ready; without one, UNKNOWN is normal.
   * @default true
   */
  readonly containerHealthCheck?: boolean;
  /** Create the Cloud Map namespace and service. @default true */
  readonly cloudMap?: boolean;
  /** How many TCP target groups (type ip) to create behind the NLB, 0 to 5; 0 creates no NLB either. @default 1 */
  readonly targetGroups?: number;
  /**
   * Create the SQS FIFO reconcile queue, its FIFO DLQ, the standard router inbox queue and the EventBridge rule
   * that delivers this cluster's "ECS Task State Change" events to the inbox (ignored with `shareWith`, whose
   * queues are reused). @default true
   */
  readonly queue?: boolean;
  /**
   * Appended to the names of the account-wide resources a world creates (cluster, namespace, queues, rule, NLB,
   * target groups), so that two independent worlds can live in one account. @default ""
   */
  readonly suffix?: string;
  /**
   * Another world of the same account whose VPC, subnets, cluster, Cloud Map namespace, queues and EventBridge rule
   * this one reuses: the way to configure several services that share one reconcile queue. `service` must differ.
   * @default a world of its own
   */
  readonly shareWith?: World;
}

/**
 * Provisions a world like the reference architecture on the emulator (or any endpoint the clients point at).
 *
 * It creates a VPC 10.0.0.0/16 with two private subnets in two zones, a security group open on the port to the
 * VPC, an ECS cluster, a Fargate awsvpc task definition and an ECS service (with no tasks: moto's CreateService
 * starts none; use {@link runServiceTasks}), a Cloud Map private DNS namespace and service (A records, TTL 10,
 * MULTIVALUE, custom health checks with FailureThreshold 1), an internal NLB with TCP target groups of type ip and
 * a listener, the SQS FIFO reconcile queue with its FIFO DLQ, and an EventBridge rule on the default bus that
 * delivers this cluster's "ECS Task State Change" events to the router inbox queue. moto cannot invoke Lambdas, so
 * the inbox stands in for the router Lambda's event source (drain it with `drainInbox`).
 *
 * The ECS service carries no `serviceRegistries` or `loadBalancers`: registering tasks is discovery-sync's job.
 *
 * @example
 * ```ts
 * const world = await provisionWorld(clients);
 * const other = await provisionWorld(clients, { service: "billing", shareWith: world });
 * process.env.DISCOVERY_SYNC_CONFIG = JSON.stringify({ services: [world.serviceConfig, other.serviceConfig] });
 * ```
 * @throws {WorldError} naming the step that failed, with the SDK error as `cause`.
 */
export async function provisionWorld(clients: WorldClients, options: ProvisionWorldOptions = {}): Promise<World> {
  const service = options.service ?? "workflow-agent";
  const port = options.port ?? 50051;
  const suffix = options.suffix ?? "";
  const targetGroupCount = options.targetGroups ?? 1;
  const containerHealthCheck = options.containerHealthCheck ?? true;
  const shared = options.shareWith;
  if (!Number.isInteger(targetGroupCount) || targetGroupCount < 0 || targetGroupCount > 5) {
    throw new TypeError(`targetGroups must be an integer from 0 to 5 (given ${String(targetGroupCount)})`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TypeError(`port must be an integer from 1 to 65535 (given ${String(port)})`);
  }
  if (shared !== undefined && shared.service === service) {
    throw new TypeError(`service must differ from the shared world's service (both are "${service}")`);
  }
  const region = await clients.ecs.config.region();

  const { vpcId, subnets, securityGroupId } = await provisionNetwork(clients.ec2, { region, service, suffix, port, shared });
  const { clusterName, clusterArn } = await provisionCluster(clients.ecs, { clusterName: options.cluster ?? "workflow", suffix, shared });
  const { taskDefinitionArn, ecsServiceArn, deploymentId } = await provisionEcsService(clients.ecs, {
    clusterName,
    service,
    port,
    containerHealthCheck,
    subnets,
    securityGroupId,
  });
  const cloudMap =
    (options.cloudMap ?? true)
      ? await provisionCloudMap(clients.serviceDiscovery, {
          service,
          namespace: options.namespace ?? "workflow.local",
          suffix,
          vpcId,
          shared,
        })
      : undefined;
  const loadBalancer =
    targetGroupCount > 0
      ? await provisionLoadBalancer(clients.elbv2, { service, suffix, port, vpcId, subnets, targetGroupCount })
      : undefined;
  let queues: WorldQueues | undefined;
  if (shared !== undefined) {
    queues = sharedQueues(shared);
  } else if (options.queue ?? true) {
    queues = await createQueues(clients, { suffix, clusterName, clusterArn });
  }

  const targetGroupArns = loadBalancer?.targetGroupArns ?? [];
  const serviceConfig: WorldServiceConfig = {
    name: service,
    cluster: clusterName,
    ecsService: service,
    port,
    parameterName: `/discovery/${service}/endpoints`,
  };
  if (cloudMap !== undefined) serviceConfig.cloudMapServiceId = cloudMap.cloudMapServiceId;
  if (targetGroupArns.length > 0) serviceConfig.targetGroupArns = [...targetGroupArns];

  return {
    accountId: clusterArn.split(":")[4] ?? "",
    region,
    service,
    port,
    vpcId,
    vpcCidr,
    subnets,
    zonesBySubnet: Object.fromEntries(subnets.map((s) => [s.subnetId, s.availabilityZone])),
    securityGroupId,
    clusterName,
    clusterArn,
    taskDefinitionArn,
    taskFamily: service,
    containerName: service,
    containerHealthCheck,
    ecsServiceName: service,
    ecsServiceArn,
    deploymentId,
    namespaceId: cloudMap?.namespaceId,
    namespaceName: cloudMap?.namespaceName,
    cloudMapServiceId: cloudMap?.cloudMapServiceId,
    cloudMapServiceArn: cloudMap?.cloudMapServiceArn,
    loadBalancerArn: loadBalancer?.loadBalancerArn,
    listenerArns: loadBalancer?.listenerArns ?? [],
    targetGroupArns,
    reconcileQueueUrl: queues?.reconcileQueueUrl,
    reconcileQueueArn: queues?.reconcileQueueArn,
    deadLetterQueueUrl: queues?.deadLetterQueueUrl,
    deadLetterQueueArn: queues?.deadLetterQueueArn,
    inboxQueueUrl: queues?.inboxQueueUrl,
    inboxQueueArn: queues?.inboxQueueArn,
    ruleName: queues?.ruleName,
    ruleArn: queues?.ruleArn,
    serviceConfig,
  };
}
