/**
 * AWS CDK construct of the discovery-sync control plane, usable from SST v2 stacks and plain CDK apps.
 *
 * @example
 * ```ts
 * import { DiscoverySyncControlPlane } from "@discovery-sync/cdk";
 * new DiscoverySyncControlPlane(stack, "ControlPlane", { config });
 * ```
 * @packageDocumentation
 */
export * from "./constants.js";
export { esbuildOptionsOf, handlerBundling, HANDLER_RUNTIME_NAME, type HandlerBundling } from "./bundling.js";
export { validateConfig, type ValidatedConfig } from "./config.js";
export {
  DiscoverySyncControlPlane,
  type ConfigDelivery,
  type DiscoverySyncControlPlaneProps,
  type FunctionRole,
  type LogLevel,
} from "./DiscoverySyncControlPlane.js";
export { Observability } from "./Observability.js";
