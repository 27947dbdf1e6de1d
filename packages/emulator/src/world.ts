/**
 * A demo world like the reference architecture (VPC, ECS service on Fargate, Cloud Map, internal NLB, the
 * EventBridge rule and the SQS queues of discovery-sync), provisioned on the local emulator, plus the tools to
 * drive it: run and stop tasks, patch what moto's DescribeTasks lacks, and emit the "ECS Task State Change"
 * events AWS would emit (moto emits none).
 *
 * @packageDocumentation
 */
import { randomUUID } from "node:crypto";
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ContainerDefinition,
  type Task,
} from "@aws-sdk/client-ecs";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import {
  CreatePrivateDnsNamespaceCommand,
  CreateServiceCommand as CreateCloudMapServiceCommand,
  GetOperationCommand,
  ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Pluggable } from "@smithy/types";
import { EmulatorError } from "./errors.js";

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * A step of provisioning or driving the demo world failed. `step` names what was being done, `context` to what.
 * The SDK error (or moto's answer) is the `cause`.
 *
 * @example
 * ```ts
 * try { await provisionWorld(clients); }
 * catch (e) { if (e instanceof WorldError) console.error(e.step, e.context, e.cause); }
 * ```
 */
export class WorldError extends EmulatorError {
  public override readonly name = "WorldError";
  public constructor(
    message: string,
    public readonly step: string,
    public readonly context: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Runs one SDK call, wrapping any failure in a {@link WorldError} that names the step. */
async function step<T>(name: string, context: Readonly<Record<string, unknown>>, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof WorldError) throw error;
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new WorldError(`${name} failed (${JSON.stringify(context)}): ${reason}`, name, context, { cause: error });
  }
}

/** Fails with a {@link WorldError} when the emulator left out a field we need. */
function required<T>(value: T | undefined | null, what: string, stepName: string): T {
  if (value === undefined || value === null) {
    throw new WorldError(`${stepName}: the emulator's answer has no ${what}`, stepName, { missing: what });
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------------------------

/** The SDK clients a world is provisioned and driven with. */
export interface WorldClients {
  readonly ec2: EC2Client;
  readonly ecs: ECSClient;
  readonly serviceDiscovery: ServiceDiscoveryClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
}

/** Client settings shared by every client of {@link createWorldClients} (a subset of each client's config). */
export interface WorldClientConfig {
  /** The emulator's base URL, for example `http://127.0.0.1:41234`. @default the SDK's own resolution (env) */
  readonly endpoint?: string;
  /** @default the SDK's own resolution (env `AWS_REGION`) */
  readonly region?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Needed for Cloud Map's DiscoverInstances against a custom endpoint (else `data-127.0.0.1`). @default false */
  readonly disableHostPrefix?: boolean;
  /** @default the SDK's default (3) */
  readonly maxAttempts?: number;
}

/**
 * Builds one SDK client per service a world uses, all with the same settings and plugins.
 *
 * Plugins given here go on every client. The {@link createTaskOverlay} plugin belongs on the ECS client only:
 * add it afterwards with `clients.ecs.middlewareStack.use(overlay.plugin)`.
 *
 * @example
 * ```ts
 * const account = randomAccountId();
 * const clients = createWorldClients(
 *   { endpoint: emulator.endpoint, region: "us-east-1", credentials: emulatorCredentials, disableHostPrefix: true },
 *   [accountPlugin(account)],
 * );
 * ```
 */
export function createWorldClients(clientConfig: WorldClientConfig, plugins: readonly Pluggable<any, any>[] = []): WorldClients {
  const config = { ...clientConfig };
  const clients: WorldClients = {
    ec2: new EC2Client(config),
    ecs: new ECSClient(config),
    serviceDiscovery: new ServiceDiscoveryClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ssm: new SSMClient(config),
    sqs: new SQSClient(config),
    eventBridge: new EventBridgeClient(config),
  };
  for (const client of Object.values(clients) as Array<{ middlewareStack: { use(p: Pluggable<any, any>): void } }>) {
    for (const plugin of plugins) client.middlewareStack.use(plugin);
  }
  return clients;
}

// ---------------------------------------------------------------------------------------------------------------
// Provisioning
// ---------------------------------------------------------------------------------------------------------------

/** Name of the SQS FIFO queue that carries reconcile requests (MessageGroupId = service). */
export const reconcileQueueName = "discovery-sync-reconcile.fifo";
/** Name of the FIFO dead-letter queue of {@link reconcileQueueName}. */
export const reconcileDlqName = "discovery-sync-reconcile-dlq.fifo";
/** Name of the standard queue that stands in for the router Lambda's EventBridge event source. */
export const routerInboxName = "discovery-sync-router-inbox";

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

/** One private subnet of the world. */
export interface WorldSubnet {
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly cidrBlock: string;
}

/**
 * The configuration of one synced service, shaped like `ServiceConfig` of `@discovery-sync/core` (declared here
 * structurally so that the emulator package does not depend on the core).
 */
export interface WorldServiceConfig {
  name: string;
  cluster: string;
  ecsService: string;
  port: number;
  cloudMapServiceId?: string;
  targetGroupArns?: string[];
  parameterName: string;
}

/** What {@link provisionWorld} created: every id, ARN and URL. */
export interface World {
  readonly accountId: string;
  readonly region: string;
  readonly service: string;
  readonly port: number;
  readonly vpcId: string;
  readonly vpcCidr: string;
  /** Two private subnets in two availability zones. */
  readonly subnets: readonly WorldSubnet[];
  /** Subnet id to availability zone: feed it to {@link createTaskOverlay} to give tasks a zone. */
  readonly zonesBySubnet: Readonly<Record<string, string>>;
  readonly securityGroupId: string;
  readonly clusterName: string;
  readonly clusterArn: string;
  readonly taskDefinitionArn: string;
  readonly taskFamily: string;
  readonly containerName: string;
  readonly containerHealthCheck: boolean;
  readonly ecsServiceName: string;
  readonly ecsServiceArn: string;
  /** The service's deployment id (`ecs-svc/...`): what ECS writes into `startedBy` of the service's tasks. */
  readonly deploymentId: string;
  readonly namespaceId?: string;
  readonly namespaceName?: string;
  readonly cloudMapServiceId?: string;
  readonly cloudMapServiceArn?: string;
  readonly loadBalancerArn?: string;
  readonly listenerArns: readonly string[];
  readonly targetGroupArns: readonly string[];
  readonly reconcileQueueUrl?: string;
  readonly reconcileQueueArn?: string;
  readonly deadLetterQueueUrl?: string;
  readonly deadLetterQueueArn?: string;
  readonly inboxQueueUrl?: string;
  readonly inboxQueueArn?: string;
  readonly ruleName?: string;
  readonly ruleArn?: string;
  /** The service's discovery-sync configuration; put it in `{ services: [...] }`. */
  readonly serviceConfig: WorldServiceConfig;
}

const vpcCidr = "10.0.0.0/16";
const subnetLayout = [
  { zoneLetter: "a", cidrBlock: "10.0.1.0/24" },
  { zoneLetter: "b", cidrBlock: "10.0.2.0/24" },
] as const;

/**
 * An ELBv2 name (at most 32 letters, digits and hyphens, no hyphen at either end). Too-long names are shortened and
 * given a hash of the full name, so two long service names do not collide.
 */
function elbName(base: string, kind: string): string {
  const clean = `${base}-${kind}`.replace(/[^A-Za-z0-9-]/g, "-");
  if (clean.length <= 32) return clean;
  let hash = 0;
  for (const char of clean) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
  const tag = hash.toString(36).slice(0, 6);
  return `${clean.slice(0, 32 - tag.length - 1).replace(/-+$/, "")}-${tag}`;
}

function withSuffix(namespace: string, suffix: string): string {
  if (suffix === "") return namespace;
  const dot = namespace.indexOf(".");
  return dot < 0 ? `${namespace}${suffix}` : `${namespace.slice(0, dot)}${suffix}${namespace.slice(dot)}`;
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

  // --- network ------------------------------------------------------------------------------------------------
  let vpcId: string;
  let subnets: readonly WorldSubnet[];
  if (shared !== undefined) {
    vpcId = shared.vpcId;
    subnets = shared.subnets;
  } else {
    const vpc = await step("CreateVpc", { cidr: vpcCidr }, () =>
      clients.ec2.send(new CreateVpcCommand({ CidrBlock: vpcCidr })),
    );
    vpcId = required(vpc.Vpc?.VpcId, "Vpc.VpcId", "CreateVpc");
    const created: WorldSubnet[] = [];
    for (const layout of subnetLayout) {
      const availabilityZone = `${region}${layout.zoneLetter}`;
      const subnet = await step("CreateSubnet", { vpcId, availabilityZone }, () =>
        clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: layout.cidrBlock, AvailabilityZone: availabilityZone })),
      );
      created.push({
        subnetId: required(subnet.Subnet?.SubnetId, "Subnet.SubnetId", "CreateSubnet"),
        availabilityZone,
        cidrBlock: layout.cidrBlock,
      });
    }
    subnets = created;
  }
  const securityGroup = await step("CreateSecurityGroup", { vpcId, service }, () =>
    clients.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: `${service}${suffix}-tasks`,
        Description: `gRPC tasks of ${service}`,
        VpcId: vpcId,
      }),
    ),
  );
  const securityGroupId = required(securityGroup.GroupId, "GroupId", "CreateSecurityGroup");
  await step("AuthorizeSecurityGroupIngress", { securityGroupId, port }, () =>
    clients.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: securityGroupId,
        IpPermissions: [
          { IpProtocol: "tcp", FromPort: port, ToPort: port, IpRanges: [{ CidrIp: vpcCidr, Description: "gRPC from the VPC" }] },
        ],
      }),
    ),
  );

  // --- ECS --------------------------------------------------------------------------------------------------------
  let clusterName: string;
  let clusterArn: string;
  if (shared !== undefined) {
    clusterName = shared.clusterName;
    clusterArn = shared.clusterArn;
  } else {
    clusterName = `${options.cluster ?? "workflow"}${suffix}`;
    const cluster = await step("CreateCluster", { clusterName }, () =>
      clients.ecs.send(new CreateClusterCommand({ clusterName })),
    );
    clusterArn = required(cluster.cluster?.clusterArn, "cluster.clusterArn", "CreateCluster");
  }
  const accountId = clusterArn.split(":")[4] ?? "";

  const container: ContainerDefinition = {
    name: service,
    image: `public.ecr.aws/discovery-sync/${service}:latest`,
    essential: true,
    // Optional on Fargate, but moto 5.2.1's RunTask fails (HTTP 500, int += None) without a container-level memory.
    memory: 1024,
    portMappings: [{ containerPort: port, protocol: "tcp" }],
    environment: [
      { name: "GRPC_HOST", value: "0.0.0.0" },
      { name: "GRPC_PORT", value: String(port) },
    ],
  };
  if (containerHealthCheck) {
    container.healthCheck = {
      command: ["CMD", "/bin/grpc_health_probe", `-addr=:${port}`],
      interval: 10,
      timeout: 5,
      retries: 3,
      startPeriod: 10,
    };
  }
  const taskDefinition = await step("RegisterTaskDefinition", { family: service }, () =>
    clients.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: service,
        networkMode: "awsvpc",
        requiresCompatibilities: ["FARGATE"],
        cpu: "512",
        memory: "1024",
        containerDefinitions: [container],
      }),
    ),
  );
  const taskDefinitionArn = required(
    taskDefinition.taskDefinition?.taskDefinitionArn,
    "taskDefinition.taskDefinitionArn",
    "RegisterTaskDefinition",
  );
  const ecsService = await step("CreateService", { clusterName, service }, () =>
    clients.ecs.send(
      new CreateServiceCommand({
        cluster: clusterName,
        serviceName: service,
        taskDefinition: taskDefinitionArn,
        desiredCount: 0,
        launchType: "FARGATE",
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: subnets.map((s) => s.subnetId),
            securityGroups: [securityGroupId],
            assignPublicIp: "DISABLED",
          },
        },
      }),
    ),
  );
  const ecsServiceArn = required(ecsService.service?.serviceArn, "service.serviceArn", "CreateService");
  // ECS writes the deployment id into startedBy of every task the service scheduler starts.
  const deploymentId =
    ecsService.service?.deployments?.[0]?.id ?? `ecs-svc/${String(Date.now())}${String(Math.floor(Math.random() * 1e6))}`;

  // --- Cloud Map ----------------------------------------------------------------------------------------------
  let namespaceId: string | undefined;
  let namespaceName: string | undefined;
  let cloudMapServiceId: string | undefined;
  let cloudMapServiceArn: string | undefined;
  if (options.cloudMap ?? true) {
    if (shared?.namespaceId !== undefined) {
      namespaceId = shared.namespaceId;
      namespaceName = shared.namespaceName;
    } else {
      namespaceName = withSuffix(options.namespace ?? "workflow.local", suffix);
      const name = namespaceName;
      const operation = await step("CreatePrivateDnsNamespace", { name, vpcId }, () =>
        clients.serviceDiscovery.send(
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
      namespaceId = await waitForNamespace(clients.serviceDiscovery, operationId);
    }
    const nsId = namespaceId;
    const cmService = await step("CreateService (Cloud Map)", { namespaceId: nsId, service }, () =>
      clients.serviceDiscovery.send(
        new CreateCloudMapServiceCommand({
          Name: service,
          NamespaceId: nsId,
          CreatorRequestId: randomUUID(),
          DnsConfig: { RoutingPolicy: "MULTIVALUE", DnsRecords: [{ Type: "A", TTL: 10 }] },
          HealthCheckCustomConfig: { FailureThreshold: 1 },
        }),
      ),
    );
    cloudMapServiceId = required(cmService.Service?.Id, "Service.Id", "CreateService (Cloud Map)");
    cloudMapServiceArn = cmService.Service?.Arn;
  }

  // --- NLB ------------------------------------------------------------------------------------------------------
  let loadBalancerArn: string | undefined;
  const targetGroupArns: string[] = [];
  const listenerArns: string[] = [];
  if (targetGroupCount > 0) {
    const lbName = elbName(`${service}${suffix}`, "nlb");
    const lb = await step("CreateLoadBalancer", { name: lbName }, () =>
      clients.elbv2.send(
        new CreateLoadBalancerCommand({
          Name: lbName,
          Type: "network",
          Scheme: "internal",
          Subnets: subnets.map((s) => s.subnetId),
        }),
      ),
    );
    loadBalancerArn = required(lb.LoadBalancers?.[0]?.LoadBalancerArn, "LoadBalancers[0].LoadBalancerArn", "CreateLoadBalancer");
    for (let index = 0; index < targetGroupCount; index += 1) {
      const tgName = elbName(`${service}${suffix}`, index === 0 ? "grpc" : `grpc${index + 1}`);
      const tg = await step("CreateTargetGroup", { name: tgName }, () =>
        clients.elbv2.send(
          new CreateTargetGroupCommand({
            Name: tgName,
            Protocol: "TCP",
            Port: port,
            VpcId: vpcId,
            TargetType: "ip",
            HealthCheckEnabled: true,
            HealthCheckProtocol: "TCP",
            HealthCheckPort: "traffic-port",
            HealthCheckIntervalSeconds: 30,
            HealthCheckTimeoutSeconds: 10,
            HealthyThresholdCount: 2,
            UnhealthyThresholdCount: 2,
          }),
        ),
      );
      const targetGroupArn = required(tg.TargetGroups?.[0]?.TargetGroupArn, "TargetGroups[0].TargetGroupArn", "CreateTargetGroup");
      targetGroupArns.push(targetGroupArn);
      // One listener per target group; extra target groups listen on the following ports.
      const listenerPort = port + index <= 65_535 ? port + index : port - index;
      const lbArn = loadBalancerArn;
      const listener = await step("CreateListener", { loadBalancerArn: lbArn, port: listenerPort }, () =>
        clients.elbv2.send(
          new CreateListenerCommand({
            LoadBalancerArn: lbArn,
            Protocol: "TCP",
            Port: listenerPort,
            DefaultActions: [{ Type: "forward", TargetGroupArn: targetGroupArn }],
          }),
        ),
      );
      listenerArns.push(required(listener.Listeners?.[0]?.ListenerArn, "Listeners[0].ListenerArn", "CreateListener"));
    }
  }

  // --- queues and the EventBridge rule ------------------------------------------------------------------------------
  let queues: WorldQueues | undefined;
  if (shared !== undefined) {
    queues = sharedQueues(shared);
  } else if (options.queue ?? true) {
    queues = await createQueues(clients, { suffix, clusterName, clusterArn });
  }

  const parameterName = `/discovery/${service}/endpoints`;
  const serviceConfig: WorldServiceConfig = {
    name: service,
    cluster: clusterName,
    ecsService: service,
    port,
    parameterName,
  };
  if (cloudMapServiceId !== undefined) serviceConfig.cloudMapServiceId = cloudMapServiceId;
  if (targetGroupArns.length > 0) serviceConfig.targetGroupArns = [...targetGroupArns];

  return {
    accountId,
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
    namespaceId,
    namespaceName,
    cloudMapServiceId,
    cloudMapServiceArn,
    loadBalancerArn,
    listenerArns,
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

interface WorldQueues {
  readonly reconcileQueueUrl: string;
  readonly reconcileQueueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
  readonly inboxQueueUrl: string;
  readonly inboxQueueArn: string;
  readonly ruleName: string;
  readonly ruleArn: string;
}

/** The queues and rule of a world, when it has them all. */
function sharedQueues(world: World): WorldQueues | undefined {
  const { reconcileQueueUrl, reconcileQueueArn, deadLetterQueueUrl, deadLetterQueueArn, inboxQueueUrl, inboxQueueArn, ruleName, ruleArn } = world;
  if (
    reconcileQueueUrl === undefined ||
    reconcileQueueArn === undefined ||
    deadLetterQueueUrl === undefined ||
    deadLetterQueueArn === undefined ||
    inboxQueueUrl === undefined ||
    inboxQueueArn === undefined ||
    ruleName === undefined ||
    ruleArn === undefined
  ) {
    return undefined;
  }
  return { reconcileQueueUrl, reconcileQueueArn, deadLetterQueueUrl, deadLetterQueueArn, inboxQueueUrl, inboxQueueArn, ruleName, ruleArn };
}

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string }> {
  const created = await step("CreateQueue", { name }, () =>
    sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })),
  );
  const url = required(created.QueueUrl, "QueueUrl", "CreateQueue");
  const attrs = await step("GetQueueAttributes", { url }, () =>
    sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] })),
  );
  return { url, arn: required(attrs.Attributes?.QueueArn, "Attributes.QueueArn", "GetQueueAttributes") };
}

async function createQueues(
  clients: WorldClients,
  world: { suffix: string; clusterName: string; clusterArn: string },
): Promise<WorldQueues> {
  const fifo = (name: string): string => name.replace(/\.fifo$/, `${world.suffix}.fifo`);
  const dlq = await createQueue(clients.sqs, fifo(reconcileDlqName), {
    FifoQueue: "true",
    MessageRetentionPeriod: String(14 * 24 * 3600),
  });
  // A FIFO queue's DLQ must be FIFO too. The visibility timeout is 6 x a 30 s reconcile Lambda timeout, AWS's
  // advice for SQS event sources. Content-based deduplication stays off: the router derives a deduplication id
  // from the EventBridge event id, and every sender must give one.
  const reconcile = await createQueue(clients.sqs, fifo(reconcileQueueName), {
    FifoQueue: "true",
    ContentBasedDeduplication: "false",
    VisibilityTimeout: "180",
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 5 }),
  });
  const inbox = await createQueue(clients.sqs, `${routerInboxName}${world.suffix}`, { VisibilityTimeout: "60" });

  const ruleName = `discovery-sync-ecs-tasks-${world.clusterName}`.slice(0, 64);
  const rule = await step("PutRule", { ruleName }, () =>
    clients.eventBridge.send(
      new PutRuleCommand({
        Name: ruleName,
        Description: `ECS task state changes of cluster ${world.clusterName} to the discovery-sync router`,
        State: "ENABLED",
        EventPattern: JSON.stringify({
          source: ["aws.ecs"],
          "detail-type": ["ECS Task State Change"],
          detail: { clusterArn: [world.clusterArn] },
        }),
      }),
    ),
  );
  // On AWS the inbox would need a queue policy letting events.amazonaws.com send; moto does not check it, but the
  // policy is written so the world reads like the real thing.
  await step("SetQueueAttributes", { queue: inbox.url }, () =>
    clients.sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: inbox.url,
        Attributes: {
          Policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Principal: { Service: "events.amazonaws.com" },
                Action: "sqs:SendMessage",
                Resource: inbox.arn,
                Condition: { ArnEquals: { "aws:SourceArn": rule.RuleArn } },
              },
            ],
          }),
        },
      }),
    ),
  );
  await step("PutTargets", { ruleName }, () =>
    clients.eventBridge.send(
      new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: "router-inbox", Arn: inbox.arn }] }),
    ),
  );
  return {
    reconcileQueueUrl: reconcile.url,
    reconcileQueueArn: reconcile.arn,
    deadLetterQueueUrl: dlq.url,
    deadLetterQueueArn: dlq.arn,
    inboxQueueUrl: inbox.url,
    inboxQueueArn: inbox.arn,
    ruleName,
    ruleArn: required(rule.RuleArn, "RuleArn", "PutRule"),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------------------------

/** RunTask starts at most 10 tasks per call. */
const runTaskMaxCount = 10;
/** DescribeTasks takes at most 100 tasks per call. */
const describeTasksMax = 100;

/**
 * Describes tasks of the world's cluster (batches of 100), in the order asked.
 *
 * @example
 * ```ts
 * const [task] = await describeTasks(clients, world, [taskArn]);
 * ```
 */
export async function describeTasks(clients: Pick<WorldClients, "ecs">, world: Pick<World, "clusterArn">, taskArns: readonly string[]): Promise<Task[]> {
  const byArn = new Map<string, Task>();
  for (let start = 0; start < taskArns.length; start += describeTasksMax) {
    const batch = taskArns.slice(start, start + describeTasksMax);
    const out = await step("DescribeTasks", { cluster: world.clusterArn, count: batch.length }, () =>
      clients.ecs.send(new DescribeTasksCommand({ cluster: world.clusterArn, tasks: batch })),
    );
    for (const task of out.tasks ?? []) if (task.taskArn !== undefined) byArn.set(task.taskArn, task);
  }
  return taskArns.map((arn) => {
    const task = byArn.get(arn);
    if (task === undefined) throw new WorldError(`DescribeTasks did not return ${arn}`, "DescribeTasks", { taskArn: arn });
    return task;
  });
}

async function runTasks(
  clients: Pick<WorldClients, "ecs">,
  world: World,
  count: number,
  params: { group: string; startedBy?: string },
): Promise<Task[]> {
  if (!Number.isInteger(count) || count < 0) throw new TypeError(`count must be a non-negative integer (given ${String(count)})`);
  // moto puts a task's ENI in the first subnet listed, so each RunTask call lists a different subnet first: tasks
  // spread over the zones the way Fargate spreads a service's tasks, and the subnet tells each task's zone.
  const perSubnet = world.subnets.map(() => 0);
  for (let i = 0; i < count; i += 1) perSubnet[i % world.subnets.length]! += 1;
  const arnsBySubnet: string[][] = world.subnets.map(() => []);
  for (const [index, subnetCount] of perSubnet.entries()) {
    const subnets = [...world.subnets.slice(index), ...world.subnets.slice(0, index)].map((s) => s.subnetId);
    for (let left = subnetCount; left > 0; left -= runTaskMaxCount) {
      const batch = Math.min(left, runTaskMaxCount);
      const out = await step("RunTask", { cluster: world.clusterName, group: params.group, count: batch }, () =>
        clients.ecs.send(
          new RunTaskCommand({
            cluster: world.clusterArn,
            taskDefinition: world.taskDefinitionArn,
            count: batch,
            launchType: "FARGATE",
            group: params.group,
            startedBy: params.startedBy,
            networkConfiguration: {
              awsvpcConfiguration: { subnets, securityGroups: [world.securityGroupId], assignPublicIp: "DISABLED" },
            },
          }),
        ),
      );
      if ((out.failures ?? []).length > 0) {
        throw new WorldError(`RunTask reported failures: ${JSON.stringify(out.failures)}`, "RunTask", { failures: out.failures });
      }
      for (const task of out.tasks ?? []) arnsBySubnet[index]!.push(required(task.taskArn, "tasks[].taskArn", "RunTask"));
    }
  }
  // Interleaved, so that task i of the result is in subnet i % subnets: tests can tell each task's zone.
  const arns: string[] = [];
  for (let i = 0; arns.length < count; i += 1) {
    for (const inSubnet of arnsBySubnet) if (inSubnet[i] !== undefined) arns.push(inSubnet[i]!);
  }
  return describeTasks(clients, world, arns);
}

/**
 * Starts `count` tasks of the world's ECS service the way the service scheduler would (moto's CreateService and
 * UpdateService start none): RunTask FARGATE awsvpc in the world's subnets and security group, with
 * `group: "service:<ecsService>"` and `startedBy: <deployment id>`, at most 10 per call. Tasks alternate between
 * the two subnets (zones): task `i` of the result is in `world.subnets[i % 2]`. Returns the new tasks as DescribeTasks reports them (so an overlay on the ECS client
 * applies).
 *
 * @example
 * ```ts
 * const tasks = await runServiceTasks(clients, world, 3);
 * const ips = tasks.map(taskIp); // from the ENI attachment
 * ```
 * @throws {WorldError} when RunTask or DescribeTasks fails.
 */
export async function runServiceTasks(clients: Pick<WorldClients, "ecs">, world: World, count: number): Promise<Task[]> {
  return runTasks(clients, world, count, { group: `service:${world.ecsServiceName}`, startedBy: world.deploymentId });
}

/**
 * Starts one task in the world's cluster that belongs to no service (`group: "family:<family>"`, as a standalone
 * RunTask gets): for tests of foreign events and of moto's ListTasks, which ignores the `serviceName` filter.
 *
 * @example
 * ```ts
 * const foreign = await runForeignTask(clients, world);
 * foreign.group; // "family:workflow-agent"
 * ```
 */
export async function runForeignTask(clients: Pick<WorldClients, "ecs">, world: World, options: { group?: string } = {}): Promise<Task> {
  const [task] = await runTasks(clients, world, 1, { group: options.group ?? `family:${world.taskFamily}` });
  return required(task, "task", "RunTask");
}

/**
 * Stops a task (StopTask) and returns it as DescribeTasks then reports it. moto jumps straight to lastStatus and
 * desiredStatus STOPPED; AWS passes through DEACTIVATING, STOPPING and DEPROVISIONING first (model those, and a
 * draining task, with {@link createTaskOverlay}).
 *
 * @example
 * ```ts
 * await stopServiceTask(clients, world, task.taskArn!, "Task failed ELB health checks");
 * ```
 */
export async function stopServiceTask(
  clients: Pick<WorldClients, "ecs">,
  world: World,
  taskArn: string,
  reason = "Scaling activity initiated by (deployment " + world.deploymentId + ")",
): Promise<Task> {
  await step("StopTask", { taskArn }, () =>
    clients.ecs.send(new StopTaskCommand({ cluster: world.clusterArn, task: taskArn, reason })),
  );
  const [task] = await describeTasks(clients, world, [taskArn]);
  return required(task, "task", "DescribeTasks");
}

/**
 * The private IPv4 address of an awsvpc task: the `privateIPv4Address` detail of its ENI attachment (type `eni`
 * on AWS's events, `ElasticNetworkInterface` in DescribeTasks).
 *
 * @example
 * ```ts
 * taskIp(task); // "10.183.4.27"
 * ```
 */
export function taskIp(task: Pick<Task, "attachments">): string | undefined {
  for (const attachment of task.attachments ?? []) {
    if (attachment.type !== "eni" && attachment.type !== "ElasticNetworkInterface") continue;
    const ip = attachment.details?.find((d) => d.name === "privateIPv4Address")?.value;
    if (ip !== undefined) return ip;
  }
  return undefined;
}

/**
 * The task id (last part of the ARN).
 *
 * @example
 * ```ts
 * taskIdOf("arn:aws:ecs:us-east-1:123456789012:task/workflow/0a1b2c"); // "0a1b2c"
 * ```
 */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf("/") + 1);
}

function subnetOf(task: Pick<Task, "attachments">): string | undefined {
  for (const attachment of task.attachments ?? []) {
    const subnet = attachment.details?.find((d) => d.name === "subnetId")?.value;
    if (subnet !== undefined) return subnet;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Overlay: what AWS's DescribeTasks has and moto's lacks
// ---------------------------------------------------------------------------------------------------------------

/** Fields of a described task that {@link createTaskOverlay} can set. */
export interface TaskPatch {
  /** Task-level health (moto has none). AWS: UNKNOWN until a container health check passes, or without one. */
  readonly healthStatus?: "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
  /** STOPPED with lastStatus RUNNING models a draining task (moto sets both at once in StopTask). */
  readonly desiredStatus?: string;
  readonly lastStatus?: string;
  readonly availabilityZone?: string;
  /** The task's state-change version, as in its events (moto has none). */
  readonly version?: number;
  readonly stoppedReason?: string;
  readonly stopCode?: "TaskFailedToStart" | "EssentialContainerExited" | "UserInitiated" | "ServiceSchedulerInitiated" | "SpotInterruption" | "TerminationNotice";
}

/** Options of {@link createTaskOverlay}. */
export interface TaskOverlayOptions {
  /**
   * Subnet id to zone (`world.zonesBySubnet`). With it, every task without a patched zone gets the zone of its ENI
   * subnet, as AWS reports it (moto omits `availabilityZone`). @default no zone added
   */
  readonly zonesBySubnet?: Readonly<Record<string, string>>;
  /** A patch applied to every task of the output, under each task's own patch. @default none */
  readonly defaults?: TaskPatch;
  /**
   * Fill `containers[].networkInterfaces` from the ENI attachment when moto leaves it empty (AWS fills both).
   * @default true
   */
  readonly fillNetworkInterfaces?: boolean;
}

/** A DescribeTasks/ListTasks output patcher for the ECS client; see {@link createTaskOverlay}. */
export interface TaskOverlay {
  /** Add to the ECS client only: `clients.ecs.middlewareStack.use(overlay.plugin)`. */
  readonly plugin: Pluggable<any, any>;
  /** Sets (merges into) the patch of one task. */
  set(taskArn: string, patch: TaskPatch): void;
  /** Removes the patch of one task. */
  clear(taskArn: string): void;
  /** The current patch of one task (merged over `defaults`). */
  get(taskArn: string): TaskPatch | undefined;
  /** Applies the overlay to tasks read elsewhere (for example RunTask's output); returns new objects. */
  apply(tasks: readonly Task[]): Task[];
}

const patchedFields = ["healthStatus", "desiredStatus", "lastStatus", "availabilityZone", "version", "stoppedReason", "stopCode"] as const;

/**
 * Creates an overlay that patches the ECS client's DescribeTasks **output** for chosen tasks, to reproduce what
 * AWS has and moto 5.2.1 lacks:
 *
 * - task-level `healthStatus` (moto has none; with a container health check AWS says UNKNOWN until it passes),
 * - `availabilityZone` (moto omits it; given `zonesBySubnet`, every task gets its ENI subnet's zone by default),
 * - `version` (moto has none; AWS increments it on every state change),
 * - a **draining** task: AWS keeps lastStatus RUNNING while desiredStatus is STOPPED for as long as the task
 *   drains; moto's StopTask sets both to STOPPED at once. Patch `desiredStatus: "STOPPED"` on a running task.
 * - `stoppedReason` and `stopCode` (moto has no stopCode).
 *
 * It also keeps ListTasks consistent with patched `desiredStatus`, the way AWS filters: a task patched to
 * desiredStatus STOPPED is removed from ListTasks answers filtered on RUNNING (the default filter) and added to
 * those filtered on STOPPED of its cluster. A patched desiredStatus RUNNING is not re-added to RUNNING lists.
 * And it drops tasks of other clusters from ListTasks: moto 5.2.1 matches the cluster name as a substring of the
 * task's cluster ARN, so cluster `workflow` would also list the tasks of `workflow-2`. (ListTasks without
 * `desiredStatus` still lists moto's STOPPED tasks, where AWS lists RUNNING ones only: ask for a status.)
 *
 * The middleware sits in the deserialize step (priority high, so it wraps the deserializer and sees the typed
 * output). Only the ECS client should carry it. The SDK client is otherwise untouched: requests still reach moto.
 *
 * @example
 * ```ts
 * const overlay = createTaskOverlay({ zonesBySubnet: world.zonesBySubnet, defaults: { healthStatus: "HEALTHY" } });
 * clients.ecs.middlewareStack.use(overlay.plugin);
 * overlay.set(taskArn, { desiredStatus: "STOPPED", version: 3 }); // draining, still RUNNING
 * overlay.set(otherArn, { healthStatus: "UNHEALTHY" });
 * ```
 */
export function createTaskOverlay(options: TaskOverlayOptions = {}): TaskOverlay {
  const patches = new Map<string, TaskPatch>();
  const fillNetworkInterfaces = options.fillNetworkInterfaces ?? true;

  const patchOf = (taskArn: string | undefined): TaskPatch | undefined => {
    const own = taskArn === undefined ? undefined : patches.get(taskArn);
    if (own === undefined && options.defaults === undefined) return undefined;
    return { ...options.defaults, ...own };
  };

  const apply = (tasks: readonly Task[]): Task[] =>
    tasks.map((original) => {
      const task: Task = { ...original };
      if (task.availabilityZone === undefined && options.zonesBySubnet !== undefined) {
        const subnet = subnetOf(task);
        const zone = subnet === undefined ? undefined : options.zonesBySubnet[subnet];
        if (zone !== undefined) task.availabilityZone = zone;
      }
      if (fillNetworkInterfaces && task.containers !== undefined) {
        const eni = task.attachments?.find((a) => a.type === "eni" || a.type === "ElasticNetworkInterface");
        const ip = taskIp(task);
        if (eni !== undefined && ip !== undefined) {
          task.containers = task.containers.map((c) =>
            (c.networkInterfaces ?? []).length > 0 ? c : { ...c, networkInterfaces: [{ attachmentId: eni.id, privateIpv4Address: ip }] },
          );
        }
      }
      const patch = patchOf(task.taskArn);
      if (patch !== undefined) {
        for (const field of patchedFields) {
          const value = patch[field];
          if (value !== undefined) (task as Record<string, unknown>)[field] = value;
        }
      }
      return task;
    });

  const plugin: Pluggable<any, any> = {
    applyToStack(stack) {
      stack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          const commandName = (context as { commandName?: string }).commandName;
          const output = result.output as Record<string, unknown>;
          if (commandName === "DescribeTasksCommand" && Array.isArray(output.tasks)) {
            output.tasks = apply(output.tasks as Task[]);
          } else if (commandName === "ListTasksCommand" && Array.isArray(output.taskArns)) {
            const input = args.input as { cluster?: string; desiredStatus?: string };
            output.taskArns = listWithPatches(output.taskArns as string[], input);
          }
          return result;
        },
        { step: "deserialize", priority: "high", name: "discoverySyncTaskOverlay", override: true },
      );
    },
  };

  const listWithPatches = (arns: readonly string[], input: { cluster?: string; desiredStatus?: string }): string[] => {
    const wanted = input.desiredStatus ?? "RUNNING";
    const cluster = input.cluster === undefined ? "default" : input.cluster.slice(input.cluster.lastIndexOf("/") + 1);
    const inCluster = (arn: string): boolean => arn.includes(`:task/${cluster}/`);
    // moto matches the cluster by substring (cluster "workflow" also lists the tasks of "workflow-2"); AWS by
    // identity. And a task patched to desiredStatus STOPPED no longer matches the RUNNING filter, as on AWS.
    const kept = arns.filter((arn) => inCluster(arn) && !(wanted === "RUNNING" && patchOf(arn)?.desiredStatus === "STOPPED"));
    if (wanted === "STOPPED") {
      for (const [arn, patch] of patches) {
        if (patch.desiredStatus === "STOPPED" && !kept.includes(arn) && inCluster(arn)) kept.push(arn);
      }
    }
    return kept;
  };

  return {
    plugin,
    set(taskArn, patch) {
      patches.set(taskArn, { ...patches.get(taskArn), ...patch });
    },
    clear(taskArn) {
      patches.delete(taskArn);
    },
    get(taskArn) {
      return patchOf(taskArn);
    },
    apply,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------------

/** An EventBridge "ECS Task State Change" event, shaped like AWS's. `detail` keeps unknown fields. */
export interface TaskStateChangeEvent {
  version: "0";
  id: string;
  "detail-type": "ECS Task State Change";
  source: "aws.ecs";
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: TaskStateChangeDetail;
}

/** The `detail` of an "ECS Task State Change" event: the task as DescribeTasks reports it, with ISO timestamps. */
export interface TaskStateChangeDetail {
  taskArn: string;
  clusterArn: string;
  lastStatus: string;
  desiredStatus: string;
  updatedAt: string;
  version: number;
  group?: string;
  [field: string]: unknown;
}

/** Options of {@link taskStateChangeEvent}. */
export interface TaskStateChangeEventOptions {
  readonly account: string;
  readonly region: string;
  /** `detail.version`. @default the task's own `version`, else 1 */
  readonly version?: number;
  /** Envelope id. @default a random UUID */
  readonly id?: string;
  /** When the change happened: `detail.updatedAt` and the envelope `time`. @default now */
  readonly time?: Date;
  /** Fields set in `detail` last (for example `{ lastStatus: "STOPPED" }` or a malformed value). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** Converts DescribeTasks values to event JSON: Dates to ISO strings, undefined dropped. */
function toEventJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toEventJson);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) if (inner !== undefined) out[key] = toEventJson(inner);
    return out;
  }
  return value;
}

/**
 * Builds the "ECS Task State Change" event AWS would emit for a task (moto emits none): envelope `version "0"`,
 * `id`, `detail-type`, `source aws.ecs`, `account`, `time` (seconds precision, as AWS writes it), `region`,
 * `resources [taskArn]`, and `detail` = the task with ISO string timestamps, `updatedAt` and `version`. When
 * `containers[].networkInterfaces` is empty (moto), it is filled from the ENI attachment, as AWS's events carry it.
 *
 * @example
 * ```ts
 * const [task] = await runServiceTasks(clients, world, 1);
 * const event = taskStateChangeEvent(task, { account: world.accountId, region: world.region, version: 2 });
 * await putTaskEvents(clients, [event]);
 * ```
 */
export function taskStateChangeEvent(task: Task, options: TaskStateChangeEventOptions): TaskStateChangeEvent {
  const taskArn = required(task.taskArn, "taskArn", "taskStateChangeEvent");
  const time = options.time ?? new Date();
  const detail = toEventJson(task) as Record<string, unknown>;
  const eni = task.attachments?.find((a) => a.type === "eni" || a.type === "ElasticNetworkInterface");
  const ip = taskIp(task);
  if (Array.isArray(detail.containers) && eni !== undefined && ip !== undefined) {
    detail.containers = (detail.containers as Array<Record<string, unknown>>).map((c) =>
      Array.isArray(c.networkInterfaces) && c.networkInterfaces.length > 0
        ? c
        : { ...c, networkInterfaces: [{ attachmentId: eni.id, privateIpv4Address: ip }] },
    );
  }
  detail.updatedAt = time.toISOString();
  detail.version = options.version ?? task.version ?? 1;
  Object.assign(detail, options.overrides);
  return {
    version: "0",
    id: options.id ?? randomUUID(),
    "detail-type": "ECS Task State Change",
    source: "aws.ecs",
    account: options.account,
    time: time.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: options.region,
    resources: [taskArn],
    detail: detail as TaskStateChangeDetail,
  };
}

/** PutEvents takes at most 10 entries per call. */
const putEventsMax = 10;

/**
 * Puts events on the emulator's default event bus (PutEvents with Source, DetailType, Detail, Resources, Time),
 * where the world's rule delivers them to the router inbox. EventBridge assigns its own envelope `id`: the one in
 * the given event is not carried over (PutEvents has no id field), so duplicate deliveries cannot be modelled
 * through the bus: call the route handler directly for those.
 *
 * @example
 * ```ts
 * await putTaskEvents(clients, tasks.map((t) => taskStateChangeEvent(t, { account, region })));
 * ```
 * @throws {WorldError} when PutEvents fails or rejects an entry.
 */
export async function putTaskEvents(
  clients: Pick<WorldClients, "eventBridge">,
  events: readonly Pick<TaskStateChangeEvent, "source" | "detail-type" | "detail" | "resources" | "time">[],
): Promise<void> {
  for (let start = 0; start < events.length; start += putEventsMax) {
    const batch = events.slice(start, start + putEventsMax);
    const out = await step("PutEvents", { count: batch.length }, () =>
      clients.eventBridge.send(
        new PutEventsCommand({
          Entries: batch.map((event) => ({
            Source: event.source,
            DetailType: event["detail-type"],
            Detail: JSON.stringify(event.detail),
            Resources: event.resources,
            Time: new Date(event.time),
          })),
        }),
      ),
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      const failed = (out.Entries ?? []).filter((e) => e.ErrorCode !== undefined);
      throw new WorldError(`PutEvents rejected ${String(out.FailedEntryCount)} event(s): ${JSON.stringify(failed)}`, "PutEvents", {
        failed,
      });
    }
  }
}

/** Options of {@link emitTaskStateChanges}. */
export interface EmitTaskStateChangesOptions {
  /** When the changes happened. @default now */
  readonly time?: Date;
  /** Detail fields set last on every event (see {@link TaskStateChangeEventOptions.overrides}). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/**
 * Records a state change of tasks the way ECS does, and emits the matching events: for each task, bumps its
 * `version` in the overlay (from 1), merges `patch` into its overlay patch, reads it back with DescribeTasks (so
 * event and read agree, as on AWS: "DescribeTasks returns the same version"), builds its "ECS Task State Change"
 * event and puts all of them on the default bus, where the world's rule delivers them to the router inbox.
 * The overlay's plugin must be on `clients.ecs`.
 *
 * @example
 * ```ts
 * const tasks = await runServiceTasks(clients, world, 3);
 * await emitTaskStateChanges(clients, world, overlay, tasks.map((t) => t.taskArn!), { healthStatus: "HEALTHY" });
 * await drainInbox(clients.sqs, world.inboxQueueUrl!, route);
 * ```
 * @returns the events put on the bus (their envelope ids are not the ones EventBridge delivers, see {@link putTaskEvents}).
 */
export async function emitTaskStateChanges(
  clients: Pick<WorldClients, "ecs" | "eventBridge">,
  world: World,
  overlay: TaskOverlay,
  taskArns: readonly string[],
  patch: TaskPatch = {},
  options: EmitTaskStateChangesOptions = {},
): Promise<TaskStateChangeEvent[]> {
  const versions = new Map<string, number>();
  for (const taskArn of taskArns) {
    const version = (overlay.get(taskArn)?.version ?? 0) + 1;
    versions.set(taskArn, version);
    overlay.set(taskArn, { ...patch, version });
  }
  const tasks = await describeTasks(clients, world, taskArns);
  const events = tasks.map((task) =>
    taskStateChangeEvent(task, {
      account: world.accountId,
      region: world.region,
      version: versions.get(task.taskArn ?? "") ?? 1,
      ...(options.time === undefined ? {} : { time: options.time }),
      ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
    }),
  );
  await putTaskEvents(clients, events);
  return events;
}
