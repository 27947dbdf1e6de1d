/**
 * The ExampleWorkload stack: the reference architecture of shared/reference/grpc-ecs-service-discovery-design.md
 * (its Terraform) with a control plane that keeps its Cloud Map service, target group and document in sync.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Match } from "aws-cdk-lib/assertions";
import type { StackContext } from "sst/constructs";
import { ExampleWorkload, WORKLOAD_IMAGE_ENV_VAR } from "../../stacks/ExampleWorkload.js";
import { referencedId, resolveIntrinsics, resolveIntrinsicString, resourcesOfType, type CfnTemplate } from "@discovery-sync/emulator";
import { deployedConfigOf } from "./support/iamCheck.js";
import { synthExampleWorkload } from "./support/stacks.js";

let workload: ReturnType<typeof synthExampleWorkload>;
let json: CfnTemplate;

beforeAll(() => {
  workload = synthExampleWorkload({ stage: "demo", image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/workflow-agent:1.4.2" });
  json = workload.json;
});

const only = (type: string): [string, Record<string, any>] => {
  const found = resourcesOfType(json, type);
  expect(found, type).toHaveLength(1);
  return [found[0]![0], found[0]![1].Properties ?? {}];
};

describe("network", () => {
  it("has a VPC with private subnets, and puts the NLB and the tasks in them", () => {
    const [vpcId] = only("AWS::EC2::VPC");
    const privateSubnets = resourcesOfType(json, "AWS::EC2::Subnet")
      .filter(([, s]) => s.Properties!["MapPublicIpOnLaunch"] === false)
      .map(([id]) => id);
    expect(privateSubnets.length).toBeGreaterThanOrEqual(2);
    for (const id of privateSubnets) expect(json.Resources[id]!.Properties!["VpcId"]).toEqual({ Ref: vpcId });
    const [, nlb] = only("AWS::ElasticLoadBalancingV2::LoadBalancer");
    expect((nlb["Subnets"] as unknown[]).map(referencedId).sort()).toEqual([...privateSubnets].sort());
    const [, service] = only("AWS::ECS::Service");
    expect((service["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] as unknown[]).map(referencedId).sort()).toEqual(
      [...privateSubnets].sort(),
    );
    expect(service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]).toBe("DISABLED");
  });

  it("lets gRPC on 50051 into the tasks from the VPC CIDR only", () => {
    const [vpcId] = only("AWS::EC2::VPC");
    const [, service] = only("AWS::ECS::Service");
    const [groupRef] = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] as unknown[];
    const group = json.Resources[referencedId(groupRef)!]!.Properties!;
    const standalone = resourcesOfType(json, "AWS::EC2::SecurityGroupIngress")
      .filter(([, r]) => referencedId(r.Properties!["GroupId"]) === referencedId(groupRef))
      .map(([, r]) => r.Properties!);
    expect([...(group["SecurityGroupIngress"] ?? []), ...standalone]).toEqual([
      expect.objectContaining({ IpProtocol: "tcp", FromPort: 50051, ToPort: 50051, CidrIp: { "Fn::GetAtt": [vpcId, "CidrBlock"] } }),
    ]);
  });
});

describe("ECS", () => {
  it("has a cluster and a Fargate workflow-agent service on 50051 with a container health check", () => {
    const [clusterId, cluster] = only("AWS::ECS::Cluster");
    expect(cluster["ClusterName"]).toBe("workflow-demo");
    const [, service] = only("AWS::ECS::Service");
    expect(service).toMatchObject({ Cluster: { Ref: clusterId }, ServiceName: "workflow-agent", LaunchType: "FARGATE" });
    // discovery-sync owns the Cloud Map service and the target group: ECS must not register tasks there too.
    expect(service["ServiceRegistries"]).toBeUndefined();
    expect(service["LoadBalancers"]).toBeUndefined();
    const [, task] = only("AWS::ECS::TaskDefinition");
    expect(task).toMatchObject({ NetworkMode: "awsvpc", RequiresCompatibilities: ["FARGATE"], Cpu: "512", Memory: "1024" });
    const [container] = task["ContainerDefinitions"] as Record<string, any>[];
    expect(container).toMatchObject({
      Name: "workflow-agent",
      Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/workflow-agent:1.4.2",
      PortMappings: [{ ContainerPort: 50051, Protocol: "tcp" }],
      HealthCheck: { Command: ["CMD", "grpc_health_probe", "-addr=127.0.0.1:50051"] },
    });
    expect(container!["LogConfiguration"]["LogDriver"]).toBe("awslogs");
  });

  it("refuses to synthesise without WORKFLOW_AGENT_IMAGE, saying what to set", () => {
    const saved = process.env[WORKLOAD_IMAGE_ENV_VAR];
    delete process.env[WORKLOAD_IMAGE_ENV_VAR];
    try {
      expect(() => ExampleWorkload({} as StackContext)).toThrow(/^WORKFLOW_AGENT_IMAGE is not set: give the container image of workflow-agent/);
      process.env[WORKLOAD_IMAGE_ENV_VAR] = "  ";
      expect(() => ExampleWorkload({} as StackContext)).toThrow(/WORKFLOW_AGENT_IMAGE is not set/);
    } finally {
      if (saved === undefined) delete process.env[WORKLOAD_IMAGE_ENV_VAR];
      else process.env[WORKLOAD_IMAGE_ENV_VAR] = saved;
    }
  });
});

describe("Cloud Map", () => {
  it("has the private DNS namespace workflow.local in the VPC", () => {
    const [vpcId] = only("AWS::EC2::VPC");
    const [, namespace] = only("AWS::ServiceDiscovery::PrivateDnsNamespace");
    expect(namespace).toMatchObject({ Name: "workflow.local", Vpc: { Ref: vpcId } });
  });

  it("has the workflow-agent service: A records with TTL 10, MULTIVALUE routing, custom health", () => {
    const [namespaceId] = only("AWS::ServiceDiscovery::PrivateDnsNamespace");
    const [, service] = only("AWS::ServiceDiscovery::Service");
    expect(service).toMatchObject({
      Name: "workflow-agent",
      DnsConfig: { DnsRecords: [{ Type: "A", TTL: 10 }], RoutingPolicy: "MULTIVALUE", NamespaceId: { "Fn::GetAtt": [namespaceId, "Id"] } },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
    expect(service["HealthCheckConfig"]).toBeUndefined();
  });
});

describe("load balancer", () => {
  it("is an internal NLB with a TCP listener on 50051 forwarding to an ip target group on 50051", () => {
    const [nlbId, nlb] = only("AWS::ElasticLoadBalancingV2::LoadBalancer");
    expect(nlb).toMatchObject({ Type: "network", Scheme: "internal" });
    const [targetGroupId, targetGroup] = only("AWS::ElasticLoadBalancingV2::TargetGroup");
    expect(targetGroup).toMatchObject({ TargetType: "ip", Protocol: "TCP", Port: 50051, HealthCheckProtocol: "TCP" });
    workload.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      LoadBalancerArn: { Ref: nlbId },
      Port: 50051,
      Protocol: "TCP",
      DefaultActions: [Match.objectLike({ Type: "forward", TargetGroupArn: { Ref: targetGroupId } })],
    });
  });
});

describe("its control plane", () => {
  it("syncs exactly the stack's cluster, service, Cloud Map service, target group and a per-stage document", () => {
    const { functionIds } = workload;
    const [cloudMapId] = only("AWS::ServiceDiscovery::Service");
    const [targetGroupId] = only("AWS::ElasticLoadBalancingV2::TargetGroup");
    expect(deployedConfigOf(json, functionIds.reconcile, workload.pseudo)).toEqual({
      services: [
        {
          name: "workflow-agent",
          cluster: "workflow-demo",
          ecsService: "workflow-agent",
          port: 50051,
          cloudMapServiceId: `\${${cloudMapId}.Id}`,
          cloudMapDns: {
            hostedZoneId: `\${${only("AWS::ServiceDiscovery::PrivateDnsNamespace")[0]}.HostedZoneId}`,
            namespaceName: "workflow.local",
            serviceName: "workflow-agent",
            recordTypes: ["A"],
          },
          targetGroupArns: [`\${${targetGroupId}}`],
          parameterName: "/discovery/demo/workflow-agent/endpoints",
        },
      ],
    });
  });

  it("watches the stack's cluster in its event rule", () => {
    const rule = resourcesOfType(json, "AWS::Events::Rule").find(([, r]) => r.Properties!["EventPattern"] !== undefined)!;
    expect(resolveIntrinsics(rule[1].Properties!["EventPattern"])).toMatchObject({
      detail: { clusterArn: ["arn:aws:ecs:us-east-1:123456789012:cluster/workflow-demo"], group: ["service:workflow-agent"] },
    });
  });

  it("scopes the Route 53 record writes to the namespace's hosted zone, the service's A records and names", () => {
    const [namespaceId] = only("AWS::ServiceDiscovery::PrivateDnsNamespace");
    const role = json.Resources[referencedId(json.Resources[workload.functionIds.reconcile]!.Properties!["Role"])!]!;
    const statement = (role.Properties!["Policies"][0]["PolicyDocument"]["Statement"] as Record<string, any>[]).find(
      (s) => s["Sid"] === "CloudMapRoute53Records",
    );
    expect(resolveIntrinsicString(statement?.["Resource"])).toBe(`arn:aws:route53:::hostedzone/\${${namespaceId}.HostedZoneId}`);
    expect(statement?.["Condition"]).toEqual({
      "ForAllValues:StringEquals": { "route53:ChangeResourceRecordSetsRecordTypes": ["A"] },
      "ForAllValues:StringLike": {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["workflow-agent.workflow.local", "*.workflow-agent.workflow.local"],
      },
    });
  });
});
