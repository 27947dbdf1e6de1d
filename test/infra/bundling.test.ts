/**
 * The DiscoverySync stack synthesised the way it deploys: the functions bundled for real by the construct
 * (NodejsFunction, local esbuild, the `source` condition), once. Checks the assets and that each bundle starts.
 */
import { createRequire } from "node:module";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FunctionRole } from "@discovery-sync/cdk";
import { importInFreshProcess } from "@discovery-sync/emulator";
import { sdkCallsOf, type EntryAnalysis } from "./support/sdkCommands.js";
import { EXAMPLE_CONFIG_FILE, FUNCTION_ENTRIES, repoRoot, synthDiscoverySyncStack } from "./support/stacks.js";

const ROLES: readonly FunctionRole[] = ["router", "reconcile", "sweep"];

let outdir: string;
let synthesised: ReturnType<typeof synthDiscoverySyncStack>;
/** Per function: the SDK calls derived from its source, and the type of its bundle's `handler` export (or why it failed to import). */
let analyses: Record<FunctionRole, EntryAnalysis>;
let loaded: Record<FunctionRole, string>;
const bundleOf = (role: FunctionRole): string => {
  const code = synthesised.json.Resources[synthesised.functionIds[role]]!.Properties!["Code"] as { S3Key: string };
  return path.join(outdir, `asset.${code.S3Key.replace(/\.zip$/, "")}`, "index.mjs");
};

beforeAll(async () => {
  outdir = mkdtempSync(path.join(tmpdir(), "discovery-sync-synth-"));
  synthesised = synthDiscoverySyncStack({ configFile: EXAMPLE_CONFIG_FILE, outdir });
  const [derived, printed] = await Promise.all([
    Promise.all(ROLES.map((role) => sdkCallsOf(path.relative(repoRoot, FUNCTION_ENTRIES[role])))),
    Promise.all(
      ROLES.map((role) =>
        importInFreshProcess(bundleOf(role), { config: readFileSync(EXAMPLE_CONFIG_FILE, "utf8"), timeoutMs: 20_000 }).then(
          (imported) => imported.handlerType,
          (error: Error) => `failed: ${error.message}`,
        ),
      ),
    ),
  ]);
  analyses = Object.fromEntries(ROLES.map((role, i) => [role, derived[i]!])) as Record<FunctionRole, EntryAnalysis>;
  loaded = Object.fromEntries(ROLES.map((role, i) => [role, printed[i]!])) as Record<FunctionRole, string>;
}, 120_000);

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

describe("DiscoverySync stack with the functions bundled", () => {
  it("bundles each function into an ESM asset of its own, run as index.handler on nodejs24.x, without source maps", () => {
    const bundles = ROLES.map(bundleOf);
    for (const [i, role] of ROLES.entries()) {
      const fn = synthesised.json.Resources[synthesised.functionIds[role]]!.Properties!;
      expect(fn).toMatchObject({ Handler: "index.handler", Runtime: "nodejs24.x" });
      expect(existsSync(bundles[i]!), `${role}: ${bundles[i]}`).toBe(true);
      expect(existsSync(`${bundles[i]}.map`)).toBe(false);
    }
    expect(new Set(bundles).size).toBe(3);
  });

  it.each(ROLES)("%s: the bundle validates with valibot, with the configuration's English messages, and holds no zod (cold start)", (role) => {
    const bundle = readFileSync(bundleOf(role), "utf8");
    // valibot's schemas name their type ("strict_object"); zod's classes are constructed under "$Zod..." names.
    expect(bundle).toContain('"strict_object"');
    expect(bundle).not.toMatch(/\$Zod[A-Z]/);
    expect(bundle).toContain("Invalid input: expected");
  });

  it("resolves one copy of Powertools' commons for batch, logger and metrics (batch pins its version exactly)", () => {
    const fromCore = createRequire(path.join(repoRoot, "packages/core/package.json"));
    const commonsOf = (pkg: string) => createRequire(fromCore.resolve(pkg)).resolve("@aws-lambda-powertools/commons");
    const copies = new Set(["@aws-lambda-powertools/batch", "@aws-lambda-powertools/logger", "@aws-lambda-powertools/metrics"].map(commonsOf));
    expect([...copies]).toHaveLength(1);
  });

  it.each(ROLES)("%s: the bundle carries the AWS SDK operations its source sends (the IAM check's input)", (role) => {
    const bundle = readFileSync(bundleOf(role), "utf8");
    const { calls } = analyses[role];
    expect(calls.length).toBeGreaterThan(0);
    for (const { operation } of calls) expect(bundle, operation).toContain(`"${operation}"`);
  });

  it.each(ROLES)("%s: the bundle loads and exports a handler, with the configuration from the environment", (role) => {
    expect(loaded[role]).toBe("function");
  });
});
