/**
 * The SST v2 stacks of discovery-sync, in one module so that `sst.config.ts` can load them together (see
 * {@link importStacks}).
 *
 * @example
 * ```ts
 * const { DiscoverySync, ExampleWorkload } = await importStacks();
 * ```
 * @packageDocumentation
 */
export { DiscoverySync, discoverySyncStack, type StackOptions } from "./DiscoverySync.js";
export { ExampleWorkload, exampleWorkloadStack, WORKLOAD_IMAGE_ENV_VAR } from "./ExampleWorkload.js";
export { CONFIG_FILE_ENV_VAR, readStageConfig } from "./loadConfig.js";
