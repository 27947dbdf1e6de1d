import { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";
import {
  configErrorOf,
  shardPath,
  writerStateParameterName,
  type CloudMapDnsConfig,
  type ConfigIssue,
  type DiscoverySyncConfig,
  type ServiceConfig,
} from "@discovery-sync/core";

/**
 * The IAM statements of the reconcile function, derived from the configuration: exact actions, scoped to the
 * configured resources wherever the action supports resource-level permissions (Service Authorization Reference).
 * Actions that support none are granted on `*`, each with a comment saying so.
 *
 * @example
 * ```ts
 * new iam.Role(this, "ReconcileRole", { assumedBy, inlinePolicies: { Reconcile: new iam.PolicyDocument({ statements: reconcileStatements(this, config, {}) }) } });
 * ```
 * @throws {ConfigError} when a service has a Cloud Map service but no `cloudMapDns`, unless `allowUnscopedCloudMapDns`.
 * @internal
 */
export function reconcileStatements(
  scope: IConstruct,
  config: DiscoverySyncConfig,
  options: ReconcileStatementOptions,
): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const clusterArns = unique(config.services.map((s) => clusterArn(stack, s)));
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
        // Not UpdateInstanceCustomHealthStatus: the reconciler sets the initial health with AWS_INIT_HEALTH_STATUS.
        actions: [
          "servicediscovery:DeregisterInstance",
          "servicediscovery:GetService",
          "servicediscovery:ListInstances",
          "servicediscovery:RegisterInstance",
        ],
        resources: cloudMapServiceArns,
      }),
      new iam.PolicyStatement({
        sid: "CloudMapOperations",
        // Register/DeregisterInstance are asynchronous: each reconcile lists the service's operations still in flight
        // (ListOperations filtered on the service) and reads each one's instance (GetOperation). Neither action
        // supports resource-level permissions (Service Authorization Reference, AWS Cloud Map): "*" is the only resource.
        actions: ["servicediscovery:GetOperation", "servicediscovery:ListOperations"],
        resources: ["*"],
      }),
    );
    statements.push(...cloudMapDnsStatements(stack, config, options));
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
      // GetParameters: the reconcile reads each document with its writer state in one call; GetParameter: the shard
      // clean-up checks that the document is still at the version it published.
      actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"],
      resources: unique(config.services.map((s) => parameterArn(stack, s.parameterName))),
    }),
    new iam.PolicyStatement({
      sid: "WriterState",
      // The writer's own state beside each document (`<parameter>/state`: tombstones of stopped tasks), read with the
      // document.
      actions: ["ssm:GetParameters", "ssm:PutParameter"],
      resources: unique(config.services.map((s) => parameterArn(stack, writerStateParameterName(s.parameterName)))),
    }),
    new iam.PolicyStatement({
      sid: "EndpointDocumentShards",
      // A large document's shards live under the parameter's own path (`<parameter>/shards/<i>`), and nowhere else.
      actions: ["ssm:DeleteParameters", "ssm:GetParameters", "ssm:PutParameter"],
      resources: unique(config.services.map((s) => `${parameterArn(stack, shardPath(s.parameterName))}/*`)),
    }),
    new iam.PolicyStatement({
      sid: "EndpointDocumentShardList",
      // The shards that exist under a document's shard path, to delete orphans. GetParametersByPath is authorised on
      // the path in the request (`<parameter>/shards`), not on the parameters it returns.
      actions: ["ssm:GetParametersByPath"],
      resources: unique(config.services.map((s) => parameterArn(stack, shardPath(s.parameterName)))),
    }),
  );
  return statements;
}

/** Options of {@link reconcileStatements}. @internal */
export interface ReconcileStatementOptions {
  /**
   * Grant the Route 53 record changes of Cloud Map services without `cloudMapDns` on any hosted zone and any record
   * name (A and SRV records only), with the health-check actions, instead of failing.
   */
  readonly allowUnscopedCloudMapDns?: boolean | undefined;
  /** Where the configuration came from, for error messages. */
  readonly configSource?: string | undefined;
}

/**
 * What Cloud Map does in Route 53 with the CALLER's credentials when the reconciler registers or deregisters an
 * instance of a service in a DNS namespace (Cloud Map API permissions reference; the managed policy
 * AWSCloudMapRegisterInstanceAccess grants the same actions): it changes the service's records in the namespace's
 * hosted zone, reads the zone, and creates, updates and deletes the instance's Route 53 health check when the service
 * has one (HealthCheckConfig). Without these the calls pass on the emulator and fail on AWS.
 *
 * Scoped per hosted zone, from each service's `cloudMapDns`: ChangeResourceRecordSets on the zone, only for the record
 * types of the services (`route53:ChangeResourceRecordSetsRecordTypes`) and only for their names
 * (`route53:ChangeResourceRecordSetsNormalizedRecordNames`, lower case, no trailing dot): `<service>.<namespace>`
 * (the A and SRV records) and `*.<service>.<namespace>` (the A record of each instance an SRV record points at).
 * Health-check actions only when a service has a Route 53 health check. Never `ec2:DescribeInstances`: Cloud Map needs
 * it only for instances registered with AWS_EC2_INSTANCE_ID (HTTP namespaces), which the reconciler never sends.
 */
function cloudMapDnsStatements(stack: Stack, config: DiscoverySyncConfig, options: ReconcileStatementOptions): iam.PolicyStatement[] {
  const zones = new Map<string, CloudMapDnsConfig[]>();
  const unscoped: string[] = [];
  const issues: ConfigIssue[] = [];
  config.services.forEach((service, index) => {
    if (service.cloudMapServiceId === undefined || service.cloudMapDns === "none") return;
    if (service.cloudMapDns === undefined) {
      if (options.allowUnscopedCloudMapDns === true) unscoped.push(service.name);
      else
        issues.push({
          path: `services[${index}].cloudMapDns`,
          message:
            "is missing: Cloud Map writes the service's DNS records with the reconcile role's credentials, and the role may " +
            "change only the records of the namespace's hosted zone it is told about; give { hostedZoneId, namespaceName, " +
            'serviceName } of the Cloud Map service ("none" for a service in an HTTP namespace), or set the construct\'s ' +
            "allowUnscopedCloudMapDns to let the role change A and SRV records of any name in any hosted zone",
        });
      return;
    }
    const group = zones.get(service.cloudMapDns.hostedZoneId) ?? [];
    group.push(service.cloudMapDns);
    zones.set(service.cloudMapDns.hostedZoneId, group);
  });
  if (issues.length > 0) throw configErrorOf(options.configSource ?? "configuration", issues);
  if (zones.size === 0 && unscoped.length === 0) return [];

  const hostedZoneArn = (id: string) => `arn:${stack.partition}:route53:::hostedzone/${id}`;
  const statements: iam.PolicyStatement[] = [];
  let n = 0;
  for (const [zoneId, services] of zones) {
    n++;
    statements.push(
      new iam.PolicyStatement({
        sid: `CloudMapRoute53Records${zones.size > 1 ? n : ""}`,
        actions: ["route53:ChangeResourceRecordSets"],
        resources: [hostedZoneArn(zoneId)],
        conditions: {
          "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsRecordTypes": unique(services.flatMap((s) => s.recordTypes ?? defaultRecordTypes)).sort(),
          },
          "ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": unique(services.flatMap((s) => normalizedRecordNames(s))),
          },
        },
      }),
    );
  }
  if (unscoped.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: "CloudMapRoute53RecordsUnscoped",
        // allowUnscopedCloudMapDns, for services without cloudMapDns: any hosted zone, any name; A and SRV records only
        // (what an IPv4 registration with a port can make Cloud Map write).
        actions: ["route53:ChangeResourceRecordSets"],
        resources: ["*"],
        conditions: { "ForAllValues:StringEquals": { "route53:ChangeResourceRecordSetsRecordTypes": [...defaultRecordTypes] } },
      }),
    );
  }
  statements.push(
    new iam.PolicyStatement({
      sid: "CloudMapHostedZones",
      actions: ["route53:GetHostedZone"],
      resources: unscoped.length > 0 ? ["*"] : [...zones.keys()].map(hostedZoneArn),
    }),
    new iam.PolicyStatement({
      sid: "CloudMapHostedZoneLookup",
      // ListHostedZonesByName supports no resource-level permissions.
      actions: ["route53:ListHostedZonesByName"],
      resources: ["*"],
    }),
  );
  const healthChecks = unscoped.length > 0 || [...zones.values()].some((services) => services.some((s) => s.route53HealthCheck === true));
  if (healthChecks) {
    statements.push(
      new iam.PolicyStatement({
        sid: "CloudMapRoute53HealthCheckCreate",
        // A service with a Route 53 health check (HealthCheckConfig): Cloud Map creates one per instance. CreateHealthCheck
        // supports no resource-level permissions (the health check does not exist yet).
        actions: ["route53:CreateHealthCheck"],
        resources: ["*"],
      }),
      new iam.PolicyStatement({
        sid: "CloudMapRoute53HealthChecks",
        // These support the healthcheck resource type; the ids are Cloud Map's own, unknown in advance: any health check.
        actions: ["route53:DeleteHealthCheck", "route53:GetHealthCheck", "route53:UpdateHealthCheck"],
        resources: [`arn:${stack.partition}:route53:::healthcheck/*`],
      }),
    );
  }
  return statements;
}

/** Record types when `cloudMapDns.recordTypes` is not given: all an IPv4 registration with a port can make Cloud Map write. */
const defaultRecordTypes: readonly ("A" | "SRV")[] = ["A", "SRV"];

/**
 * The record names Cloud Map writes for a service, as `route53:ChangeResourceRecordSetsNormalizedRecordNames` compares
 * them (lower case, no trailing dot; the configuration allows no character that would need escaping): the service's
 * own name, and any name under it (the instances an SRV record points at).
 */
function normalizedRecordNames(dns: Pick<CloudMapDnsConfig, "namespaceName" | "serviceName">): string[] {
  const name = `${dns.serviceName}.${dns.namespaceName}`.toLowerCase().replace(/\.$/, "");
  return [name, `*.${name}`];
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
 * ARN of a configured cluster: the ARN given, or the one the stack's account and Region give its name.
 *
 * @internal
 */
export function clusterArn(stack: Stack, service: Pick<ServiceConfig, "clusterName" | "clusterArn">): string {
  return service.clusterArn ?? stack.formatArn({ service: "ecs", resource: "cluster", resourceName: service.clusterName });
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
