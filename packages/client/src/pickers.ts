import type { Endpoint } from "./document.js";
import { assertKnownKeys, assertRecord, integerInRange, nonEmptyString } from "./validate.js";

/**
 * Chooses one endpoint from a list, for clients that make their own connections (HTTP, raw TCP). gRPC users do not
 * need one: the resolver from `@discovery-sync/client/grpc` hands the whole list to gRPC's `round_robin`.
 *
 * @example
 * ```ts
 * const picker = roundRobinPicker();
 * const endpoint = picker.pick(await reader.endpoints());
 * ```
 */
export interface EndpointPicker {
  /** One endpoint of `endpoints`, or `undefined` when the list is empty. */
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined;
}

/**
 * Options of {@link roundRobinPicker}.
 *
 * @example
 * ```ts
 * roundRobinPicker({ start: 0 }); // deterministic, for tests
 * ```
 */
export interface RoundRobinOptions {
  /**
   * Position to start from. A random start keeps a fleet of freshly started clients from all sending their first
   * request to the same endpoint. @default random
   */
  readonly start?: number;
}

/**
 * Takes the endpoints in turn. Works on whatever list it is given, so a changed list takes effect on the next pick.
 *
 * @example
 * ```ts
 * const picker = roundRobinPicker();
 * for (let i = 0; i < 3; i++) console.log(picker.pick([{ address: "10.0.0.1", port: 80 }, { address: "10.0.0.2", port: 80 }]));
 * ```
 */
export function roundRobinPicker(options: RoundRobinOptions = {}): EndpointPicker {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as Record<string, unknown>, ["start"]);
  let next = integerInRange("start", options.start, Math.floor(Math.random() * 1_000_000), 0, Number.MAX_SAFE_INTEGER);
  return {
    pick(endpoints) {
      if (endpoints.length === 0) return undefined;
      const endpoint = endpoints[next % endpoints.length];
      next = (next + 1) % Number.MAX_SAFE_INTEGER;
      return endpoint;
    },
  };
}

/**
 * Options of {@link zoneAwarePicker}.
 *
 * @example
 * ```ts
 * zoneAwarePicker({ zone: process.env.AWS_AVAILABILITY_ZONE ?? "us-east-1a" });
 * ```
 */
export interface ZoneAwareOptions extends RoundRobinOptions {
  /** The caller's own availability zone, for example `us-east-1a` (see {@link detectEcsZone}). */
  readonly zone: string;
}

/**
 * Prefers endpoints in the caller's own zone (cross-zone traffic is charged per GB), round robin among them; when the
 * own zone has none, round robin over all zones rather than failing. Endpoints without a zone count as other zones.
 *
 * @example
 * ```ts
 * const picker = zoneAwarePicker({ zone: await detectEcsZone() ?? "us-east-1a" });
 * const endpoint = picker.pick(await reader.endpoints());
 * ```
 */
export function zoneAwarePicker(options: ZoneAwareOptions): EndpointPicker {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as unknown as Record<string, unknown>, ["zone", "start"]);
  const zone = nonEmptyString("zone", options.zone);
  const local = roundRobinPicker(options.start === undefined ? {} : { start: options.start });
  const any = roundRobinPicker(options.start === undefined ? {} : { start: options.start });
  return {
    pick(endpoints) {
      const sameZone = endpoints.filter((endpoint) => endpoint.zone === zone);
      return sameZone.length > 0 ? local.pick(sameZone) : any.pick(endpoints);
    },
  };
}

/**
 * The availability zone of the ECS task this code runs in, from the task metadata endpoint v4
 * (`$ECS_CONTAINER_METADATA_URI_V4/task`, field `AvailabilityZone`), or `undefined` outside ECS or on failure.
 * Invalid options reject with `InvalidOptionError` (a mistake, not a failure to hide behind `undefined`).
 *
 * @example
 * ```ts
 * const zone = await detectEcsZone();
 * const picker = zone === undefined ? roundRobinPicker() : zoneAwarePicker({ zone });
 * ```
 */
export async function detectEcsZone(
  options: { readonly env?: Readonly<Record<string, string | undefined>>; readonly timeoutMs?: number } = {},
): Promise<string | undefined> {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as Record<string, unknown>, ["env", "timeoutMs"]);
  if (options.env !== undefined) assertRecord("env", options.env);
  const timeoutMs = integerInRange("timeoutMs", options.timeoutMs, 1_000, 1, 60_000);
  const base = (options.env ?? process.env).ECS_CONTAINER_METADATA_URI_V4;
  if (base === undefined || base === "") return undefined;
  try {
    const response = await fetch(`${base}/task`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { AvailabilityZone?: unknown };
    return typeof body.AvailabilityZone === "string" && body.AvailabilityZone !== "" ? body.AvailabilityZone : undefined;
  } catch {
    return undefined;
  }
}
