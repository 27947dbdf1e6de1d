/**
 * `@discovery-sync/client`: reads a service's endpoint document from SSM Parameter Store.
 * This entry only re-exports, and pulls in no optional peer dependency: the gRPC, Cloud Map, ECS and Prometheus
 * integrations live in the subpaths `@discovery-sync/client/grpc`, `/cloudmap`, `/ecs` and `/prometheus`, and the
 * readiness rule shared with the reconciler in `/readiness`.
 *
 * @module
 */
export * from "./document.js";
export * from "./shards.js";
export * from "./ssm-shards.js";
export {
  DiscoveryClientError,
  EndpointRefreshError,
  EndpointsUnavailableError,
  InvalidOptionError,
  ReaderClosedError,
  type FailureReason,
} from "./errors.js";
export {
  createEndpointReader,
  type EndpointFallback,
  type EndpointReader,
  type EndpointReaderEvents,
  type EndpointReaderOptions,
  type EndpointReaderStatus,
  type EndpointSourceName,
  type RefreshEvent,
} from "./reader.js";
export { lambdaExtensionDefaultPort, type LambdaExtensionOptions } from "./lambda-extension.js";
export { parseEndpointOverride, type EnvOverride } from "./override.js";
export { dnsFallback, type DnsFallbackOptions, type DnsResolver } from "./dns.js";
export {
  detectEcsZone,
  roundRobinPicker,
  zoneAwarePicker,
  type EndpointPicker,
  type RoundRobinOptions,
  type ZoneAwareOptions,
} from "./pickers.js";
