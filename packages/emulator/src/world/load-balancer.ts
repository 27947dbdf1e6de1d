/**
 * The world's load balancer: an internal NLB in the world's subnets with 1 to 5 TCP target groups of type ip, each
 * behind a listener of its own.
 */
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  type ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { required, step } from "./errors.js";
import type { WorldSubnet } from "./types.js";

/** @internal */
export interface WorldLoadBalancer {
  readonly loadBalancerArn: string;
  readonly targetGroupArns: string[];
  readonly listenerArns: string[];
}

/**
 * Creates the NLB, then each target group with its listener, in order: the first target group is `<service>-grpc`
 * on `port`.
 *
 * @internal
 */
export async function provisionLoadBalancer(
  elbv2: ElasticLoadBalancingV2Client,
  params: { service: string; suffix: string; port: number; vpcId: string; subnets: readonly WorldSubnet[]; targetGroupCount: number },
): Promise<WorldLoadBalancer> {
  const { service, suffix, port } = params;
  const lbName = elbName(`${service}${suffix}`, "nlb");
  const lb = await step("CreateLoadBalancer", { name: lbName }, () =>
    elbv2.send(
      new CreateLoadBalancerCommand({
        Name: lbName,
        Type: "network",
        Scheme: "internal",
        Subnets: params.subnets.map((s) => s.subnetId),
      }),
    ),
  );
  const loadBalancerArn = required(lb.LoadBalancers?.[0]?.LoadBalancerArn, "LoadBalancers[0].LoadBalancerArn", "CreateLoadBalancer");
  const targetGroupArns: string[] = [];
  const listenerArns: string[] = [];
  for (let index = 0; index < params.targetGroupCount; index += 1) {
    const tgName = elbName(`${service}${suffix}`, index === 0 ? "grpc" : `grpc${index + 1}`);
    const targetGroupArn = await createTargetGroup(elbv2, tgName, port, params.vpcId);
    targetGroupArns.push(targetGroupArn);
    // One listener per target group; extra target groups listen on the following ports.
    const listenerPort = port + index <= 65_535 ? port + index : port - index;
    listenerArns.push(await createListener(elbv2, loadBalancerArn, listenerPort, targetGroupArn));
  }
  return { loadBalancerArn, targetGroupArns, listenerArns };
}

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

async function createTargetGroup(elbv2: ElasticLoadBalancingV2Client, name: string, port: number, vpcId: string): Promise<string> {
  const tg = await step("CreateTargetGroup", { name }, () =>
    elbv2.send(
      new CreateTargetGroupCommand({
        Name: name,
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
  return required(tg.TargetGroups?.[0]?.TargetGroupArn, "TargetGroups[0].TargetGroupArn", "CreateTargetGroup");
}

async function createListener(
  elbv2: ElasticLoadBalancingV2Client,
  loadBalancerArn: string,
  port: number,
  targetGroupArn: string,
): Promise<string> {
  const listener = await step("CreateListener", { loadBalancerArn, port }, () =>
    elbv2.send(
      new CreateListenerCommand({
        LoadBalancerArn: loadBalancerArn,
        Protocol: "TCP",
        Port: port,
        DefaultActions: [{ Type: "forward", TargetGroupArn: targetGroupArn }],
      }),
    ),
  );
  return required(listener.Listeners?.[0]?.ListenerArn, "Listeners[0].ListenerArn", "CreateListener");
}
