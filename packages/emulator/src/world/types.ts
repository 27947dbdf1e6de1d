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
