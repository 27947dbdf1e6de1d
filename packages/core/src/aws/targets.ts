import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { unlimited, type RequestLimit } from "../concurrency.js";
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

/**
 * Registers IP targets with their port, 100 per call, the calls concurrent (bounded by `limit`).
 *
 * @example
 * ```ts
 * await registerTargets(clients.elbv2, targetGroupArn, [{ id: "10.0.1.5", port: 50051 }]);
 * ```
 */
export async function registerTargets(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  targets: readonly TargetRef[],
  limit: RequestLimit = unlimited,
): Promise<void> {
  await sendInChunks(targets, limit, (Targets) => client.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets })));
}

/** One call per chunk of 100 targets, the calls concurrent (bounded by `limit`). */
async function sendInChunks(
  targets: readonly TargetRef[],
  limit: RequestLimit,
  send: (chunk: { Id: string; Port: number }[]) => Promise<unknown>,
): Promise<void> {
  await Promise.all(chunks(targets).map((chunk) => limit(() => send(chunk.map((t) => ({ Id: t.id, Port: t.port }))))));
}

/**
 * Deregisters IP targets, 100 per call, the calls concurrent (bounded by `limit`); ELBv2 treats absent targets as
 * success.
 *
 * @example
 * ```ts
 * await deregisterTargets(clients.elbv2, targetGroupArn, [{ id: "10.0.1.5", port: 50051 }]);
 * ```
 */
export async function deregisterTargets(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  targets: readonly TargetRef[],
  limit: RequestLimit = unlimited,
): Promise<void> {
  await sendInChunks(targets, limit, (Targets) => client.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets })));
}
