import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import type { TargetGroupTarget, TargetRef } from "../plan.js";

/**
 * Reads every target of a target group with its state.
 *
 * @example
 * ```ts
 * const targets = await describeTargets(clients.elbv2, targetGroupArn);
 * ```
 */
export async function describeTargets(client: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<TargetGroupTarget[]> {
  const output = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (output.TargetHealthDescriptions ?? []).flatMap((description) =>
    description.Target?.Id === undefined
      ? []
      : [{ id: description.Target.Id, port: description.Target.Port, state: description.TargetHealth?.State }],
  );
}

/**
 * Target types of target groups, read once per Lambda container: a target group's type cannot change after creation.
 *
 * @example
 * ```ts
 * const type = await new TargetGroupTypeCache().targetType(clients.elbv2, targetGroupArn); // "ip"
 * ```
 */
export class TargetGroupTypeCache {
  readonly #types = new Map<string, Promise<string | undefined>>();

  public targetType(client: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<string | undefined> {
    const cached = this.#types.get(targetGroupArn);
    if (cached !== undefined) return cached;
    const loading = client
      .send(new DescribeTargetGroupsCommand({ TargetGroupArns: [targetGroupArn] }))
      .then((output) => output.TargetGroups?.[0]?.TargetType);
    this.#types.set(targetGroupArn, loading);
    loading.catch(() => this.#types.delete(targetGroupArn));
    return loading;
  }
}

// RegisterTargets and DeregisterTargets take lists; chunks keep each request well inside API limits.
const targetsPerCall = 100;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += targetsPerCall) out.push(items.slice(i, i + targetsPerCall));
  return out;
}

/** Registers IP targets with their port. */
export async function registerTargets(client: ElasticLoadBalancingV2Client, targetGroupArn: string, targets: readonly TargetRef[]) {
  for (const chunk of chunks(targets)) {
    await client.send(
      new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: chunk.map((t) => ({ Id: t.id, Port: t.port })) }),
    );
  }
}

/** Deregisters IP targets; ELBv2 treats absent targets as success. */
export async function deregisterTargets(client: ElasticLoadBalancingV2Client, targetGroupArn: string, targets: readonly TargetRef[]) {
  for (const chunk of chunks(targets)) {
    await client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: chunk.map((t) => ({ Id: t.id, Port: t.port })) }),
    );
  }
}
