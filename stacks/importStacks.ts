import { rm } from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { findRepoRoot } from "./paths.js";

/** The stacks module, `stacks/index.ts`. */
export type StacksModule = typeof import("./index.js");

/**
 * Loads `stacks/index.ts` for `sst.config.ts`.
 *
 * SST v2 bundles `sst.config.ts` with its own esbuild before it runs it, without the `source` export condition that
 * makes the workspace packages (`@discovery-sync/cdk`, `@discovery-sync/core`, ...) resolve to their TypeScript
 * sources, so a static import of the stacks fails on a fresh clone (their `dist/` builds do not exist). Here the
 * stacks are bundled with the repository's esbuild and the `source` condition, every other package left external
 * (so the stacks share `aws-cdk-lib` and `constructs` with SST's App), written under `.sst/`, imported and removed.
 *
 * @example
 * ```ts
 * // sst.config.ts
 * async stacks(app) { const { DiscoverySync } = await importStacks(); app.stack(DiscoverySync); }
 * ```
 */
export async function importStacks(): Promise<StacksModule> {
  const root = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
  const outfile = path.join(root, ".sst", `stacks.${process.pid}.${Date.now()}.mjs`);
  await esbuild.build({
    entryPoints: [path.join(root, "stacks", "index.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // SST names a functional stack after its function: keep the names.
    keepNames: true,
    conditions: ["source"],
    logLevel: "error",
    plugins: [externalPackagesExceptWorkspace],
  });
  try {
    return (await import(pathToFileURL(outfile).href)) as StacksModule;
  } finally {
    await rm(outfile, { force: true });
  }
}

/** Leaves every package external except the workspace's own, which are bundled from their sources. */
const externalPackagesExceptWorkspace: esbuild.Plugin = {
  name: "external-packages-except-workspace",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("@discovery-sync/") ? undefined : { path: args.path, external: true },
    );
  },
};
