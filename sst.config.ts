import type { SSTConfig } from "sst";
import { importStacks } from "./stacks/importStacks.js";

/**
 * SST v2 app of discovery-sync.
 *
 * - `DiscoverySync`: the control plane for the stage's configuration file (`DISCOVERY_SYNC_CONFIG_FILE`, else
 *   `discovery-sync.<stage>.config.json`, else `discovery-sync.config.json`).
 * - `ExampleWorkload` (only with `DISCOVERY_SYNC_EXAMPLE=1`): the reference architecture with its own control plane,
 *   for a demo deploy (needs `WORKFLOW_AGENT_IMAGE`). With `DISCOVERY_SYNC_EXAMPLE=1` the `DiscoverySync` stack is
 *   deployed only when `DISCOVERY_SYNC_CONFIG_FILE` is set too.
 *
 * The stacks are loaded through {@link importStacks}: SST's own bundling of this file cannot resolve the workspace
 * packages from their sources.
 *
 * @example
 * ```sh
 * npx sst deploy --stage prod
 * DISCOVERY_SYNC_EXAMPLE=1 WORKFLOW_AGENT_IMAGE=<image> npx sst deploy --stage demo
 * ```
 */
export default {
  config(_input) {
    return {
      name: "discovery-sync",
      region: process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"] ?? "us-east-1",
    };
  },
  async stacks(app) {
    const { DiscoverySync, ExampleWorkload } = await importStacks();
    const example = process.env["DISCOVERY_SYNC_EXAMPLE"] === "1";
    if (example) app.stack(ExampleWorkload);
    if (!example || process.env["DISCOVERY_SYNC_CONFIG_FILE"] !== undefined) app.stack(DiscoverySync);
  },
} satisfies SSTConfig;
