/**
 * `npm run synth -- --stage <name>` is the README's offline check of a stage's configuration: a named stage without a
 * configuration must fail (naming the stage and where it looked), not pass on the example's made-up ids; with one it
 * synthesises that configuration. Runs the real entry (`scripts/synth.ts` under tsx), as npm runs it.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_CONFIG_FILE, repoRoot } from "./support/stacks.js";

const execFileAsync = promisify(execFile);
const tsx = path.join(repoRoot, "node_modules/.bin/tsx");
const synthEntry = path.join(repoRoot, "scripts/synth.ts");
// A stage nobody configures: the test must not depend on which discovery-sync.<stage>.config.json files exist.
const unconfiguredStage = `synth-stage-test-${process.pid}`;

interface SynthRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the synth entry in the repository root with the settings that choose a stage or a configuration removed from
 * the environment, so only `args` and `env` decide.
 */
async function synth(args: readonly string[], env: Record<string, string> = {}): Promise<SynthRun> {
  const inherited = { ...process.env };
  for (const name of ["DISCOVERY_SYNC_CONFIG_FILE", "SST_STAGE", "CDK_OUTDIR", "CDK_CONTEXT_JSON"]) delete inherited[name];
  try {
    const { stdout, stderr } = await execFileAsync(tsx, ["--conditions=source", synthEntry, ...args], {
      cwd: repoRoot,
      env: { ...inherited, ...env },
      encoding: "utf8",
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

let workDir: string;

beforeAll(() => {
  workDir = mkdtempSync(path.join(tmpdir(), "discovery-sync-synth-stage-"));
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe("npm run synth -- --stage <name>", () => {
  it("fails with exit code 1 and a message naming the stage when the stage has no configuration", async () => {
    // Prepare: neither of the files the stage would read exists (else this stage would be configured after all).
    const outdir = path.join(workDir, "unconfigured");
    const looked = [`discovery-sync.${unconfiguredStage}.config.json`, "discovery-sync.config.json"];
    expect(looked.filter((file) => existsSync(path.join(repoRoot, file)))).toEqual([]);

    // Act
    const run = await synth(["--stage", unconfiguredStage, "--outdir", outdir]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `synth failed: no discovery-sync configuration for stage "${unconfiguredStage}": looked for ${looked.join(", ")}. ` +
        "Create one (see stacks/config/example.json) or set DISCOVERY_SYNC_CONFIG_FILE",
    );
    // No fallback to the example, no stack trace, no template.
    expect(run.stdout).not.toContain("using stacks/config/example.json");
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(outdir, `${unconfiguredStage}-discovery-sync-DiscoverySync.template.json`))).toBe(false);
  });

  it("synthesises the stage's stacks from the configuration file given", async () => {
    // Prepare: the example with a name of its own, to find in the template.
    const example = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, "utf8")) as { services: Record<string, unknown>[] };
    const parameterName = `/discovery/${unconfiguredStage}/endpoints`;
    const configFile = path.join(workDir, "stage.config.json");
    writeFileSync(configFile, JSON.stringify({ services: [{ ...example.services[0], parameterName }] }));
    const outdir = path.join(workDir, "configured");

    // Act: bundling skipped (CDK's own context key for it): the functions' bundles are bundling.test.ts's subject.
    const run = await synth(["--stage", unconfiguredStage, "--outdir", outdir], {
      DISCOVERY_SYNC_CONFIG_FILE: configFile,
      CDK_CONTEXT_JSON: JSON.stringify({ "aws:cdk:bundling-stacks": [] }),
    });

    // Assess
    expect(run.stderr).not.toContain("synth failed");
    expect(run.code).toBe(0);
    const templateFile = `${unconfiguredStage}-discovery-sync-DiscoverySync.template.json`;
    expect(readdirSync(outdir)).toContain(templateFile);
    expect(run.stdout).toContain(templateFile);
    const template = readFileSync(path.join(outdir, templateFile), "utf8");
    expect(template).toContain(parameterName);
    expect(JSON.parse(template)).toHaveProperty("Resources");
  });
});
