import type { SSTConfig } from "sst";
import { DiscoverySync } from "./stacks/DiscoverySync.js";
import { ExampleWorkload } from "./stacks/ExampleWorkload.js";

/**
 * SST v2 app of discovery-sync.
 *
 * - `DiscoverySync`: the control plane for the stage's configuration file (`DISCOVERY_SYNC_CONFIG_FILE`, else
 *   `discovery-sync.<stage>.config.json`, else `discovery-sync.config.json`).
 * - `ExampleWorkload` (only with `DISCOVERY_SYNC_EXAMPLE=1`): the reference architecture with its own control plane,
 *   for a demo deploy.
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
  stacks(app) {
    app.setDefaultFunctionProps({ runtime: "nodejs22.x" });
    if (process.env["DISCOVERY_SYNC_EXAMPLE"] === "1") {
      app.stack(ExampleWorkload);
    }
    if (process.env["DISCOVERY_SYNC_EXAMPLE"] !== "1" || process.env["DISCOVERY_SYNC_CONFIG_FILE"] !== undefined) {
      app.stack(DiscoverySync);
    }
  },
} satisfies SSTConfig;
