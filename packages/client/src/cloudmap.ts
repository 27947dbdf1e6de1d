/**
 * Cloud Map fallback for the endpoint reader. A subpath export (`@discovery-sync/client/cloudmap`) because it needs
 * the optional peer dependency `@aws-sdk/client-servicediscovery`; `@discovery-sync/client` alone never loads it.
 *
 * @module
 */
import { isIP } from "node:net";
import {
  DiscoverInstancesCommand,
  DiscoverInstancesRevisionCommand,
  ServiceDiscoveryClient,
  type HttpInstanceSummary,
  type ServiceDiscoveryClientConfig,
} from "@aws-sdk/client-servicediscovery";
import { compareEndpoints, type Endpoint } from "./document.js";
import { InvalidOptionError } from "./errors.js";
import type { EndpointFallback } from "./reader.js";
import { assertKnownKeys, assertRecord, integerInRange, nonEmptyString } from "./validate.js";

/**
 * Options of {@link cloudMapFallback}. Give `client` or `clientConfig`, not both.
 *
 * @example
 * ```ts
 * const options: CloudMapFallbackOptions = { namespaceName: "workflow.local", serviceName: "workflow-agent" };
 * ```
 */
export interface CloudMapFallbackOptions {
  /** Cloud Map namespace name, for example `workflow.local`. */
  readonly namespaceName: string;
  /** Cloud Map service name, for example `workflow-agent`. */
  readonly serviceName: string;
  /**
   * A ServiceDiscoveryClient to use. If it has a custom endpoint it must have been built with
   * `disableHostPrefix: true` (the SDK otherwise prefixes `data-` to the endpoint's host name).
   */
  readonly client?: ServiceDiscoveryClient;
  /** Configuration for a client built here; `disableHostPrefix` is set when `endpoint` is given. */
  readonly clientConfig?: ServiceDiscoveryClientConfig;
  /** Port for instances without an `AWS_INSTANCE_PORT` attribute. @default none: such instances are skipped */
  readonly defaultPort?: number;
  /** Maximum instances asked for (1 to 1000). @default 1000 */
  readonly maxResults?: number;
  /**
   * Longest time (ms, 0 to 86 400 000) a listing is reused while `DiscoverInstancesRevision` stays the same.
   * Cloud Map's revision changes on register and deregister only, not on health changes, so without this bound
   * an instance that turned unhealthy would stay in the reused list until the next registration. `0` lists on every
   * call. @default 60 000
   */
  readonly maxListAgeMs?: number;
}

/**
 * A fallback that lists the healthy instances of a Cloud Map service with DiscoverInstances. Before each listing it
 * asks DiscoverInstancesRevision (cheap) and reuses the previous list when the revision is the one that list was
 * read at and the list is younger than `maxListAgeMs`.
 * Instances give `AWS_INSTANCE_IPV4` (or `AWS_INSTANCE_IPV6`) and `AWS_INSTANCE_PORT`; ECS-registered ones also
 * `AVAILABILITY_ZONE`, which becomes the endpoint's `zone` (the zone-aware picker uses it).
 *
 * Cloud Map's revision ignores health changes (only register and deregister change it), so a reused list can include
 * an instance that has since turned unhealthy, for at most `maxListAgeMs`; the SSM document is the better source.
 *
 * @example
 * ```ts
 * import { createEndpointReader } from "@discovery-sync/client";
 * import { cloudMapFallback } from "@discovery-sync/client/cloudmap";
 *
 * const reader = createEndpointReader({
 *   parameterName: "/discovery/workflow-agent/endpoints",
 *   fallbacks: [cloudMapFallback({ namespaceName: "workflow.local", serviceName: "workflow-agent" })],
 * });
 * ```
 */
export function cloudMapFallback(options: CloudMapFallbackOptions): EndpointFallback {
  assertRecord("options", options as unknown);
  assertKnownKeys("", options as unknown as Record<string, unknown>, [
    "namespaceName",
    "serviceName",
    "client",
    "clientConfig",
    "defaultPort",
    "maxResults",
    "maxListAgeMs",
  ]);
  const namespaceName = nonEmptyString("namespaceName", options.namespaceName);
  const serviceName = nonEmptyString("serviceName", options.serviceName);
  const maxResults = integerInRange("maxResults", options.maxResults, 1_000, 1, 1_000);
  const maxListAgeMs = integerInRange("maxListAgeMs", options.maxListAgeMs, 60_000, 0, 86_400_000);
  const defaultPort =
    options.defaultPort === undefined ? undefined : integerInRange("defaultPort", options.defaultPort, 0, 1, 65_535);
  if (options.client !== undefined && options.clientConfig !== undefined) {
    throw new InvalidOptionError("clientConfig", options.clientConfig, "give client or clientConfig, not both");
  }
  if (options.client !== undefined && typeof (options.client as { send?: unknown }).send !== "function") {
    throw new InvalidOptionError("client", options.client, "expected a ServiceDiscoveryClient");
  }
  if (options.client !== undefined) {
    const resolved = options.client.config as { isCustomEndpoint?: boolean; disableHostPrefix?: boolean } | undefined;
    if (resolved?.isCustomEndpoint === true && resolved.disableHostPrefix !== true) {
      // Fail now rather than with `getaddrinfo ENOTFOUND data-127.0.0.1` in the middle of an outage.
      throw new InvalidOptionError(
        "client",
        "ServiceDiscoveryClient with a custom endpoint",
        "build it with disableHostPrefix: true (DiscoverInstances would go to data-<endpoint host>)",
      );
    }
  }
  let client = options.client;
  const config = options.clientConfig;
  if (config !== undefined) assertRecord("clientConfig", config);

  let cache: { revision: number; endpoints: Endpoint[]; listedAt: number } | undefined;
  return {
    name: "cloudmap",
    async resolve() {
      client ??= new ServiceDiscoveryClient({
        ...config,
        // DiscoverInstances* are sent to `data-<endpoint host>`; against a custom endpoint that host does not exist.
        ...(config?.endpoint !== undefined || hasEndpointEnv() ? { disableHostPrefix: true } : {}),
      });
      const { InstancesRevision: revision } = await client.send(
        new DiscoverInstancesRevisionCommand({ NamespaceName: namespaceName, ServiceName: serviceName }),
      );
      // Any difference means the registrations changed. Compare for equality, not order: AWS only increases the
      // revision, but nothing in the API promises that (and moto lowers it on deregister).
      if (cache !== undefined && cache.revision === revision && Date.now() - cache.listedAt < maxListAgeMs) {
        return cache.endpoints;
      }
      const listedAt = Date.now();
      const output = await client.send(
        new DiscoverInstancesCommand({
          NamespaceName: namespaceName,
          ServiceName: serviceName,
          HealthStatus: "HEALTHY",
          MaxResults: maxResults,
        }),
      );
      const endpoints = toEndpoints(output.Instances ?? [], defaultPort);
      // The revision was read before the listing: a change in between makes the next call list again, never less.
      cache = revision === undefined ? undefined : { revision, endpoints, listedAt };
      return endpoints;
    },
  };
}

function hasEndpointEnv(): boolean {
  return process.env.AWS_ENDPOINT_URL_SERVICEDISCOVERY !== undefined || process.env.AWS_ENDPOINT_URL !== undefined;
}

/** @internal Exported for tests. */
export function toEndpoints(instances: readonly HttpInstanceSummary[], defaultPort: number | undefined): Endpoint[] {
  const byKey = new Map<string, Endpoint>();
  for (const instance of instances) {
    const attributes = instance.Attributes ?? {};
    const address = attributes.AWS_INSTANCE_IPV4 ?? attributes.AWS_INSTANCE_IPV6;
    const portText = attributes.AWS_INSTANCE_PORT;
    const port = portText === undefined ? defaultPort : Number(portText);
    if (address === undefined || isIP(address) === 0) continue;
    if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) continue;
    const zone = attributes.AVAILABILITY_ZONE;
    const endpoint: Endpoint = {
      address,
      port,
      ...(zone === undefined || zone === "" ? {} : { zone }),
      ...(instance.InstanceId === undefined ? {} : { taskId: instance.InstanceId }),
    };
    // Keyed by address and port: one task registered twice is one endpoint.
    byKey.set(`${address}|${port}`, endpoint);
  }
  return [...byKey.values()].sort(compareEndpoints);
}
