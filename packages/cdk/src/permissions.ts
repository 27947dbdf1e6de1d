import { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";
import { shardPath, writerStateParameterName, type DiscoverySyncConfig } from "@discovery-sync/core";

/**
 * The IAM statements of the reconcile function, derived from the configuration: exact actions, scoped to the
 * configured resources wherever the action supports resource-level permissions (Service Authorization Reference).
 * Actions that support none are granted on `*`, each with a comment saying so.
 *
 * @example
 * ```ts
 * new iam.Role(this, "ReconcileRole", { assumedBy, inlinePolicies: { Reconcile: new iam.PolicyDocument({ statements: reconcileStatements(this, config, {}) }) } });
 * ```
 * @internal
 */
export function reconcileStatements(
  scope: IConstruct,
  config: DiscoverySyncConfig,
  options: { readonly hostedZoneIds?: readonly string[] | undefined },
): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const clusterArns = unique(config.services.map((s) => clusterArn(stack, s.cluster)));
  const statements: iam.PolicyStatement[] = [
    new iam.PolicyStatement({
      sid: "EcsListTasks",
      // ListTasks authorises on the container-instance resource type, which a Fargate ListTasks call has none of, so
      // the resource must be "*"; the ecs:cluster condition key is what scopes it to the configured clusters.
      actions: ["ecs:ListTasks"],
      resources: ["*"],
      conditions: { ArnEquals: { "ecs:cluster": clusterArns } },
    }),
    new iam.PolicyStatement({
      sid: "EcsDescribeTasks",
      // Task ARNs carry the cluster name (long ARN format, the default since 2021): task/<cluster>/<id>.
      actions: ["ecs:DescribeTasks"],
      // A cluster given by ARN keeps its partition, Region and account.
      resources: unique(clusterArns.map((arn) => arn.replace(/:cluster\/([^/]+)$/, ":task/$1/*"))),
    }),
    new iam.PolicyStatement({
      sid: "EcsDescribeTaskDefinition",
      // DescribeTaskDefinition supports no resource-level permissions: "*" is the only accepted resource.
      actions: ["ecs:DescribeTaskDefinition"],
      resources: ["*"],
    }),
  ];

  const cloudMapServiceArns = unique(
    config.services.flatMap((s) =>
      s.cloudMapServiceId === undefined
        ? []
        : [stack.formatArn({ service: "servicediscovery", resource: "service", resourceName: s.cloudMapServiceId })],
    ),
  );
  if (cloudMapServiceArns.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: "CloudMapInstances",
        // What the reconciler calls: ListInstances (read), GetService (is health custom?), Register/DeregisterInstance.
        // Not UpdateInstanceCustomHealthStatus nor GetOperation: the reconciler sets the initial health with
        // AWS_INIT_HEALTH_STATUS and does not poll operations.
        actions: [
          "servicediscovery:DeregisterInstance",
          "servicediscovery:GetService",
          "servicediscovery:ListInstances",
          "servicediscovery:RegisterInstance",
        ],
        resources: cloudMapServiceArns,
      }),
      new iam.PolicyStatement({
        sid: "CloudMapRoute53Records",
        // On a DNS namespace, RegisterInstance/DeregisterInstance create and delete the Route 53 records with the
        // CALLER's credentials (Cloud Map API permissions reference; managed policy AWSCloudMapRegisterInstanceAccess).
        // Without these the calls pass on the emulator and fail on AWS. The hosted zone of a namespace is not known at
        // synth time unless given (`hostedZoneIds`).
        actions: ["route53:ChangeResourceRecordSets", "route53:GetHostedZone"],
        resources:
          options.hostedZoneIds === undefined || options.hostedZoneIds.length === 0
            ? ["*"]
            : options.hostedZoneIds.map((id) => `arn:${stack.partition}:route53:::hostedzone/${id}`),
      }),
      new iam.PolicyStatement({
        sid: "CloudMapRoute53Lookups",
        // ListHostedZonesByName and CreateHealthCheck support no resource-level permissions. ec2:DescribeInstances is
        // required by RegisterInstance when the instance attributes name an EC2 instance (AWS_EC2_INSTANCE_ID) and
        // supports no resource-level permissions for this use.
        actions: ["ec2:DescribeInstances", "route53:CreateHealthCheck", "route53:ListHostedZonesByName"],
        resources: ["*"],
      }),
      new iam.PolicyStatement({
        sid: "CloudMapRoute53HealthChecks",
        // Used by Cloud Map when a service has a Route 53 health check (HealthCheckConfig). These actions support the
        // healthcheck resource type; the ids are Cloud Map's own and not known in advance, so any health check.
        actions: ["route53:DeleteHealthCheck", "route53:GetHealthCheck", "route53:UpdateHealthCheck"],
        resources: [`arn:${stack.partition}:route53:::healthcheck/*`],
      }),
    );
  }

  const targetGroupArns = unique(config.services.flatMap((s) => s.targetGroupArns ?? []));
  if (targetGroupArns.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: "TargetGroupTargets",
        actions: ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"],
        resources: targetGroupArns,
      }),
      new iam.PolicyStatement({
        sid: "TargetGroupHealth",
        // DescribeTargetHealth and DescribeTargetGroups (a target group's type: only ip ones can take task IPs)
        // support no resource-level permissions.
        actions: ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"],
        resources: ["*"],
      }),
    );
  }

  statements.push(
    new iam.PolicyStatement({
      sid: "EndpointDocuments",
      actions: ["ssm:GetParameter", "ssm:PutParameter"],
      // Each document, and the writer's own state beside it (`<parameter>/state`: tombstones of stopped tasks).
      resources: unique(
        config.services.flatMap((s) => [parameterArn(stack, s.parameterName), parameterArn(stack, writerStateParameterName(s.parameterName))]),
      ),
    }),
    new iam.PolicyStatement({
      sid: "EndpointDocumentShards",
      // A large document's shards live under the parameter's own path (`<parameter>/shards/<i>`), and nowhere else.
      actions: ["ssm:DeleteParameters", "ssm:GetParameters", "ssm:PutParameter"],
      resources: unique(config.services.map((s) => `${parameterArn(stack, shardPath(s.parameterName))}/*`)),
    }),
    new iam.PolicyStatement({
      sid: "EndpointDocumentTier",
      // DescribeParameters (a parameter's tier; the shards that exist under a document's path, to delete orphans)
      // supports no resource-level permissions.
      actions: ["ssm:DescribeParameters"],
      resources: ["*"],
    }),
  );
  return statements;
}

/**
 * ARN of an SSM parameter. A hierarchical name starts with "/" and the ARN is `...:parameter/a/b`; a flat name has
 * no leading slash and the ARN is `...:parameter/name`. Writing `parameter/` + "/a/b" would give `parameter//a/b`,
 * which matches nothing.
 *
 * @internal
 */
export function parameterArn(stack: Stack, name: string): string {
  return stack.formatArn({ service: "ssm", resource: "parameter", resourceName: name.replace(/^\//, "") });
}

/**
 * ARN of a configured cluster (a name or an ARN).
 *
 * @internal
 */
export function clusterArn(stack: Stack, cluster: string): string {
  return cluster.startsWith("arn:") ? cluster : stack.formatArn({ service: "ecs", resource: "cluster", resourceName: cluster });
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
