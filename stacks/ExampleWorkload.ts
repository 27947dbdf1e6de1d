import { CfnOutput, Duration } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as logs from "aws-cdk-lib/aws-logs";
import * as servicediscovery from "aws-cdk-lib/aws-servicediscovery";
import type { StackContext } from "sst/constructs";
import { DiscoverySyncControlPlane } from "@discovery-sync/cdk";
import type { StackOptions } from "./DiscoverySync.js";
import { functionsDir } from "./loadConfig.js";

/** Environment variable with the container image of the demo `workflow-agent` (a gRPC server on 50051). */
export const WORKLOAD_IMAGE_ENV_VAR = "WORKFLOW_AGENT_IMAGE";
const GRPC_PORT = 50051;
const CLOUD_MAP_SERVICE_NAME = "workflow-agent";

/**
 * The reference architecture of `grpc-ecs-service-discovery-design.md` (its Terraform), for a demo deploy: a VPC
 * with private subnets, an ECS cluster, a Fargate `workflow-agent` gRPC service on 50051 with a container health
 * check, the Cloud Map private DNS namespace `workflow.local` with service `workflow-agent` (A records, TTL 10,
 * multivalue, custom health), an internal NLB with a TCP listener and an ip target group on 50051, the security
 * groups of the design, and a discovery-sync control plane that keeps Cloud Map, the target group and
 * `/discovery/<stage>/workflow-agent/endpoints` equal to the ready tasks.
 *
 * One deliberate difference from the Terraform: the ECS service has neither `service_registries` nor
 * `load_balancer`. discovery-sync owns the Cloud Map service and the target group (it removes anything there that is
 * not a ready task); letting ECS register too would make two writers fight over the same instances.
 *
 * The image (`WORKFLOW_AGENT_IMAGE`, required) must serve gRPC with the standard health service on 50051 and contain
 * `grpc_health_probe`: the container health check runs it, and discovery-sync publishes only HEALTHY tasks.
 *
 * @example
 * ```ts
 * // sst.config.ts
 * stacks(app) { if (process.env.DISCOVERY_SYNC_EXAMPLE === "1") app.stack(ExampleWorkload); }
 * ```
 * @throws Error when `WORKFLOW_AGENT_IMAGE` is not set.
 */
export function ExampleWorkload(context: StackContext): { controlPlane: DiscoverySyncControlPlane } {
  const image = process.env[WORKLOAD_IMAGE_ENV_VAR];
  if (image === undefined || image.trim() === "") {
    throw new Error(
      `${WORKLOAD_IMAGE_ENV_VAR} is not set: give the container image of workflow-agent (a gRPC server on ${GRPC_PORT} ` +
        "with the standard health service, containing grpc_health_probe)",
    );
  }
  return exampleWorkloadStack(context, { image });
}

/**
 * The body of {@link ExampleWorkload}, with the image given and {@link StackOptions}.
 *
 * @example
 * ```ts
 * app.stack(function ExampleWorkload(context) { return exampleWorkloadStack(context, { image, code }); });
 * ```
 */
export function exampleWorkloadStack(
  { app, stack }: StackContext,
  options: StackOptions & { readonly image: string },
): { controlPlane: DiscoverySyncControlPlane } {
  const { image } = options;

  const vpc = new ec2.Vpc(stack, "Vpc", {
    maxAzs: 2,
    natGateways: 1,
    subnetConfiguration: [
      { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: "private", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
    ],
  });

  // Security groups as in the design: the agent accepts 50051 from the VPC CIDR only (NLB health checks and clients
  // come from inside the VPC); callers may reach the agent on 50051 and nothing else.
  const agentSecurityGroup = new ec2.SecurityGroup(stack, "WorkflowAgentSecurityGroup", {
    vpc,
    description: "workflow-agent gRPC tasks",
    allowAllOutbound: true,
  });
  agentSecurityGroup.addIngressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(GRPC_PORT), "gRPC from the VPC");
  const callerSecurityGroup = new ec2.SecurityGroup(stack, "ApiGatewaySecurityGroup", {
    vpc,
    description: "callers of workflow-agent (the design's api-gateway)",
    allowAllOutbound: false,
  });
  callerSecurityGroup.addEgressRule(agentSecurityGroup, ec2.Port.tcp(GRPC_PORT), "gRPC to workflow-agent");

  const clusterName = `workflow-${app.stage}`;
  const cluster = new ecs.Cluster(stack, "Cluster", { vpc, clusterName });

  const namespace = new servicediscovery.PrivateDnsNamespace(stack, "Namespace", {
    name: "workflow.local",
    vpc,
    description: "Private DNS namespace for workflow services",
  });
  const cloudMapService = namespace.createService("WorkflowAgentDiscovery", {
    name: CLOUD_MAP_SERVICE_NAME,
    dnsRecordType: servicediscovery.DnsRecordType.A,
    dnsTtl: Duration.seconds(10),
    routingPolicy: servicediscovery.RoutingPolicy.MULTIVALUE,
    customHealthCheck: { failureThreshold: 1 },
  });

  const nlb = new elbv2.NetworkLoadBalancer(stack, "Nlb", {
    vpc,
    internetFacing: false,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    deletionProtection: false,
  });
  const targetGroup = new elbv2.NetworkTargetGroup(stack, "WorkflowAgentTargets", {
    vpc,
    port: GRPC_PORT,
    protocol: elbv2.Protocol.TCP,
    targetType: elbv2.TargetType.IP,
    healthCheck: {
      enabled: true,
      protocol: elbv2.Protocol.TCP,
      port: "traffic-port",
      interval: Duration.seconds(30),
      timeout: Duration.seconds(10),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 2,
    },
    // discovery-sync deregisters a task as soon as its desiredStatus turns STOPPED; 30 s lets in-flight calls end.
    deregistrationDelay: Duration.seconds(30),
  });
  nlb.addListener("Grpc", { port: GRPC_PORT, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [targetGroup] });

  const taskDefinition = new ecs.FargateTaskDefinition(stack, "WorkflowAgentTask", {
    family: `workflow-agent-${app.stage}`,
    cpu: 512,
    memoryLimitMiB: 1024,
  });
  taskDefinition.addContainer("workflow-agent", {
    containerName: "workflow-agent",
    image: ecs.ContainerImage.fromRegistry(image),
    portMappings: [{ containerPort: GRPC_PORT, protocol: ecs.Protocol.TCP }],
    environment: { GRPC_HOST: "0.0.0.0", GRPC_PORT: String(GRPC_PORT) },
    logging: ecs.LogDrivers.awsLogs({
      streamPrefix: "ecs",
      logGroup: new logs.LogGroup(stack, "WorkflowAgentLogs", { retention: logs.RetentionDays.ONE_WEEK }),
    }),
    // The task-level healthStatus discovery-sync waits for (HEALTHY) comes from this check.
    healthCheck: {
      command: ["CMD", "grpc_health_probe", `-addr=127.0.0.1:${GRPC_PORT}`],
      interval: Duration.seconds(10),
      timeout: Duration.seconds(5),
      retries: 3,
      startPeriod: Duration.seconds(15),
    },
  });
  const service = new ecs.FargateService(stack, "WorkflowAgentService", {
    cluster,
    serviceName: "workflow-agent",
    taskDefinition,
    desiredCount: 2,
    assignPublicIp: false,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    securityGroups: [agentSecurityGroup],
  });
  service.node.addDependency(nlb);

  const hostedZoneId = (namespace.node.defaultChild as servicediscovery.CfnPrivateDnsNamespace).attrHostedZoneId;
  const controlPlane = new DiscoverySyncControlPlane(stack, "ControlPlane", {
    config: {
      services: [
        {
          name: "workflow-agent",
          cluster: clusterName,
          ecsService: "workflow-agent",
          port: GRPC_PORT,
          cloudMapServiceId: cloudMapService.serviceId,
          // The reconcile role may change only this service's A records in the namespace's hosted zone.
          cloudMapDns: {
            hostedZoneId,
            namespaceName: namespace.namespaceName,
            // A literal: the service's serviceName attribute is a token, and IAM needs the name at synthesis.
            serviceName: CLOUD_MAP_SERVICE_NAME,
            recordTypes: ["A"],
          },
          targetGroupArns: [targetGroup.targetGroupArn],
          parameterName: `/discovery/${app.stage}/workflow-agent/endpoints`,
        },
      ],
    },
    configSource: "ExampleWorkload",
    functionsDir,
    ...(options.code === undefined ? {} : { code: options.code }),
  });

  new CfnOutput(stack, "ClusterName", { value: cluster.clusterName });
  new CfnOutput(stack, "CloudMapServiceId", { value: cloudMapService.serviceId });
  new CfnOutput(stack, "TargetGroupArn", { value: targetGroup.targetGroupArn });
  new CfnOutput(stack, "NlbDnsName", { value: nlb.loadBalancerDnsName });
  new CfnOutput(stack, "EndpointParameter", { value: `/discovery/${app.stage}/workflow-agent/endpoints` });
  new CfnOutput(stack, "DashboardName", { value: controlPlane.observability.dashboard.dashboardName });
  return { controlPlane };
}
