/**
 * How the control plane's handlers are built and run, stated once: the construct bundles with these settings
 * (through `NodejsFunction`), and `scripts/bench-coldstart.ts` bundles the same way to measure cold imports.
 * Plain data (no aws-cdk-lib import), so a script can read it without loading the CDK.
 *
 * @packageDocumentation
 */

/**
 * The Lambda runtime of every function: the newest Node.js runtime the pinned aws-cdk-lib offers. AWS SDK v3 releases
 * after early 2027 require Node.js 22 or later.
 */
export const HANDLER_RUNTIME_NAME = "nodejs24.x";

/**
 * The esbuild settings of every handler bundle.
 *
 * - ESM, minified, one file per function, the pinned AWS SDK v3 clients bundled (the runtime's copy drifts).
 * - No source maps. A source map is only worth its cost when a stack trace must be read: Node.js loads the whole map
 *   (about as large as the bundle) and rewrites every stack through it once `--enable-source-maps` is on, which
 *   added 14-17 ms to every cold start (issue 9). The handlers' errors are typed and say what failed, on which
 *   resource and service (docs/reconcile-record.md), so the minified frame adds nothing the message does not.
 * - The `source` export condition: the workspace packages export their TypeScript sources under it. And `module`,
 *   which esbuild sets by default but drops once any condition is given: with it the AWS SDK and Smithy packages
 *   resolve to their ESM builds, which esbuild tree-shakes, instead of their CommonJS builds (which also pull in a
 *   browser user-agent parser): about 140 KB less per bundle.
 * - A `require` for the CommonJS dependencies that ESM output still meets.
 *
 * @example
 * ```ts
 * import { build } from "esbuild";
 * await build({ entryPoints: ["functions/route.ts"], outfile: "out/index.mjs", ...esbuildOptionsOf(handlerBundling) });
 * ```
 */
export const handlerBundling = {
  target: "node24",
  format: "esm",
  minify: true,
  sourceMap: false,
  conditions: ["source", "module"],
  mainFields: ["module", "main"],
  banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
} as const;

/** The settings of {@link handlerBundling}. */
export type HandlerBundling = typeof handlerBundling;

/**
 * The esbuild build options (JavaScript API) equivalent to the command line `NodejsFunction` runs for
 * {@link handlerBundling}: `--bundle --platform=node`, no externals.
 *
 * @example
 * ```ts
 * await build({ entryPoints: [entry], outfile, ...esbuildOptionsOf(handlerBundling) });
 * ```
 */
export function esbuildOptionsOf(bundling: HandlerBundling = handlerBundling): {
  bundle: true;
  platform: "node";
  target: string;
  format: "esm";
  minify: boolean;
  sourcemap: boolean;
  conditions: string[];
  mainFields: string[];
  banner: { js: string };
  external: string[];
} {
  return {
    bundle: true,
    platform: "node",
    target: bundling.target,
    format: bundling.format,
    minify: bundling.minify,
    sourcemap: bundling.sourceMap,
    conditions: [...bundling.conditions],
    mainFields: [...bundling.mainFields],
    banner: { js: bundling.banner },
    external: [],
  };
}
