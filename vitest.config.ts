import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const packagesDir = fileURLToPath(new URL("./packages/", import.meta.url));

export default defineConfig({
  resolve: {
    // Workspace packages export their TypeScript sources under the "source" condition (used by
    // `tsx --conditions=source` and esbuild). Vitest's global-setup runner ignores custom conditions,
    // so map them here by the same convention: `@discovery-sync/<pkg>/<sub>` is `packages/<pkg>/src/<sub>.ts`.
    alias: [
      { find: /^@discovery-sync\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
      { find: /^@discovery-sync\/([a-z-]+)\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/$2.ts` },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    env: {
      // The SDK's notice that its 2027 releases need Node 22 would print once per worker; it says nothing about a test.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      // Powertools Metrics flushes EMF blobs straight to stdout (its own Console, past vitest's console capture): a
      // handler run in a test would print them among the results. Tests that assert on the metrics turn them back on
      // for themselves (vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "false")).
      POWERTOOLS_METRICS_DISABLED: "true",
    },
  },
});
