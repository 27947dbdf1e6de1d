/**
 * The world's ECS side: the cluster (or a shared world's), the service's Fargate awsvpc task definition, and the
 * ECS service. The service carries no `serviceRegistries` or `loadBalancers`: registering tasks is
 * discovery-sync's job.
 */
import {
  CreateClusterCommand,
  CreateServiceCommand,
  RegisterTaskDefinitionCommand,
  type ContainerDefinition,
  type ECSClient,
} from "@aws-sdk/client-ecs";
import { required, step } from "./errors.js";
import type { World, WorldSubnet } from "./types.js";

/** @internal */
export interface WorldCluster {
  readonly clusterName: string;
  readonly clusterArn: string;
}

/** @internal */
export interface WorldEcsService {
  readonly taskDefinitionArn: string;
  readonly ecsServiceArn: string;
  readonly deploymentId: string;
}

/**
 * Creates the cluster `<clusterName><suffix>`, or reuses the cluster of `shared`.
 *
 * @internal
 */
export async function provisionCluster(
  ecs: ECSClient,
  params: { clusterName: string; suffix: string; shared: World | undefined },
): Promise<WorldCluster> {
  if (params.shared !== undefined) return { clusterName: params.shared.clusterName, clusterArn: params.shared.clusterArn };
  const clusterName = `${params.clusterName}${params.suffix}`;
  const cluster = await step("CreateCluster", { clusterName }, () => ecs.send(new CreateClusterCommand({ clusterName })));
  return { clusterName, clusterArn: required(cluster.cluster?.clusterArn, "cluster.clusterArn", "CreateCluster") };
}

/**
 * Registers the service's task definition and creates its ECS service with no tasks (moto's CreateService starts
 * none; the world runs them with `runServiceTasks`).
 *
 * @internal
 */
export async function provisionEcsService(
  ecs: ECSClient,
  params: {
    clusterName: string;
    service: string;
    port: number;
    containerHealthCheck: boolean;
    subnets: readonly WorldSubnet[];
    securityGroupId: string;
  },
): Promise<WorldEcsService> {
  const { clusterName, service, subnets, securityGroupId } = params;
  const taskDefinitionArn = await registerTaskDefinition(ecs, service, serviceContainer(service, params.port, params.containerHealthCheck));
  const ecsService = await step("CreateService", { clusterName, service }, () =>
    ecs.send(
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
  return { taskDefinitionArn, ecsServiceArn, deploymentId };
}

function serviceContainer(service: string, port: number, containerHealthCheck: boolean): ContainerDefinition {
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
  return container;
}

async function registerTaskDefinition(ecs: ECSClient, family: string, container: ContainerDefinition): Promise<string> {
  const taskDefinition = await step("RegisterTaskDefinition", { family }, () =>
    ecs.send(
      new RegisterTaskDefinitionCommand({
        family,
        networkMode: "awsvpc",
        requiresCompatibilities: ["FARGATE"],
        cpu: "512",
        memory: "1024",
        containerDefinitions: [container],
      }),
    ),
  );
  return required(taskDefinition.taskDefinition?.taskDefinitionArn, "taskDefinition.taskDefinitionArn", "RegisterTaskDefinition");
}
