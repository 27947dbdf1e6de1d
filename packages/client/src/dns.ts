import { isIP } from "node:net";
import { Resolver } from "node:dns/promises";
import { compareEndpoints, type Endpoint } from "./document.js";
import { InvalidOptionError } from "./errors.js";
import type { EndpointFallback } from "./reader.js";
import { assertKnownKeys, assertRecord, integerInRange, isHostname, nonEmptyString } from "./validate.js";

/**
 * The part of `node:dns/promises`' `Resolver` that {@link dnsFallback} uses; inject a stand-in in tests.
 *
 * @example
 * ```ts
 * const resolver: DnsResolver = {
 *   resolve4: async () => ["10.0.0.5"],
 *   resolveSrv: async () => [{ name: "a.workflow.local", port: 50051, priority: 1, weight: 1 }],
 * };
 * ```
 */
export interface DnsResolver {
  resolve4(hostname: string): Promise<string[]>;
  resolveSrv(hostname: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
}

/**
 * Options of {@link dnsFallback}.
 *
 * @example
 * ```ts
 * dnsFallback({ service: "workflow-agent", namespace: "workflow.local", recordType: "A", port: 50051 });
 * ```
 */
export interface DnsFallbackOptions {
  /** Cloud Map service name, the first label of the DNS name. */
  readonly service: string;
  /** Cloud Map DNS namespace, for example `workflow.local`. The name looked up is `service.namespace`. */
  readonly namespace: string;
  /**
   * `A`: addresses of `service.namespace`, all with `port`. `SRV`: targets and ports of `service.namespace` (the
   * lowest priority present), each target's A records looked up. @default "A"
   */
  readonly recordType?: "A" | "SRV";
  /** Port for A records (A records carry none). Required with `recordType: "A"`. */
  readonly port?: number;
  /** DNS resolver. @default a `node:dns/promises` Resolver using the system's name servers */
  readonly resolver?: DnsResolver;
}

/**
 * A fallback that finds endpoints in DNS, as Cloud Map's DNS namespaces publish them. DNS is the last resort:
 * records are cached by TTL and carry no readiness beyond Cloud Map's own health view.
 *
 * @example
 * ```ts
 * const reader = createEndpointReader({
 *   parameterName: "/discovery/workflow-agent/endpoints",
 *   fallbacks: [dnsFallback({ service: "workflow-agent", namespace: "workflow.local", recordType: "SRV" })],
 * });
 * ```
 */
export function dnsFallback(options: DnsFallbackOptions): EndpointFallback {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as unknown as Record<string, unknown>, ["service", "namespace", "recordType", "port", "resolver"]);
  const service = nonEmptyString("service", options.service);
  const namespace = nonEmptyString("namespace", options.namespace);
  const hostname = `${service}.${namespace}`;
  if (!isHostname(hostname)) throw new InvalidOptionError("namespace", namespace, `"${hostname}" is not a valid DNS name`);
  const recordType = options.recordType ?? "A";
  if (recordType !== "A" && recordType !== "SRV") {
    throw new InvalidOptionError("recordType", options.recordType, 'expected "A" or "SRV"');
  }
  let port: number | undefined;
  if (recordType === "A") {
    if (options.port === undefined) throw new InvalidOptionError("port", options.port, "required with recordType A");
    port = integerInRange("port", options.port, 0, 1, 65_535);
  } else if (options.port !== undefined) {
    throw new InvalidOptionError("port", options.port, "SRV records carry their own ports; leave port unset");
  }
  const given = options.resolver;
  if (given !== undefined && (typeof given.resolve4 !== "function" || typeof given.resolveSrv !== "function")) {
    throw new InvalidOptionError("resolver", given, "expected an object with resolve4 and resolveSrv");
  }
  let resolver = given;
  return {
    name: "dns",
    async resolve() {
      resolver ??= new Resolver({ timeout: 2_000, tries: 2 });
      if (recordType === "A") {
        const addresses = await resolver.resolve4(hostname);
        return unique(addresses.map((address) => ({ address, port: port! })));
      }
      const records = await resolver.resolveSrv(hostname);
      if (records.length === 0) return [];
      const best = Math.min(...records.map((record) => record.priority));
      const chosen = records.filter((record) => record.priority === best);
      const lists = await Promise.all(
        chosen.map(async (record) => {
          const target = record.name.endsWith(".") ? record.name.slice(0, -1) : record.name;
          const addresses = isIP(target) !== 0 ? [target] : await resolver!.resolve4(target);
          return addresses.map((address) => ({ address, port: record.port }));
        }),
      );
      return unique(lists.flat());
    },
  };
}

function unique(endpoints: Endpoint[]): Endpoint[] {
  const byKey = new Map(endpoints.map((endpoint) => [`${endpoint.address}|${endpoint.port}`, endpoint]));
  return [...byKey.values()].sort(compareEndpoints);
}
