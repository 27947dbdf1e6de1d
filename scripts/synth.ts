/**
 * Synthesises the CloudFormation templates of the SST v2 stacks with plain CDK, offline (no AWS credentials, no
 * Docker: the functions are bundled with the local esbuild), into `cdk.out/`.
 *
 * The stack functions of `stacks/` are called through a minimal adapter: they use only `app.stage` and the CDK
 * `Stack` API, so a plain `cdk.App` and `cdk.Stack` stand in for SST's.
 *
 * Configuration: `DISCOVERY_SYNC_CONFIG_FILE`, else `discovery-sync.<stage>.config.json`, else
 * `discovery-sync.config.json`; when none exists, `stacks/config/example.json` (said so on the output).
 * Stage: `--stage <name>` or `SST_STAGE`, default `local`. Output: `--outdir <dir>`, default `cdk.out`.
 * The example workload's image: `WORKFLOW_AGENT_IMAGE`, else a placeholder (said so on the output).
 *
 * @example
 * ```sh
 * npm run synth -- --stage prod
 * ```
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { App, Stack } from "aws-cdk-lib";
import type { StackContext } from "sst/constructs";
import { DiscoverySync } from "../stacks/DiscoverySync.js";
import { ExampleWorkload, WORKLOAD_IMAGE_ENV_VAR } from "../stacks/ExampleWorkload.js";
import { CONFIG_FILE_ENV_VAR, repoRoot } from "../stacks/loadConfig.js";

const started = performance.now();
const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const stage = flag("--stage") ?? process.env["SST_STAGE"] ?? "local";
const appName = "discovery-sync";
const outdir = path.resolve(flag("--outdir") ?? path.join(repoRoot, "cdk.out"));

const stageFiles = [`discovery-sync.${stage}.config.json`, "discovery-sync.config.json"].map((f) => path.join(repoRoot, f));
if (process.env[CONFIG_FILE_ENV_VAR] === undefined && !stageFiles.some((f) => existsSync(f))) {
  process.env[CONFIG_FILE_ENV_VAR] = path.join(repoRoot, "stacks/config/example.json");
  console.log(`no discovery-sync.${stage}.config.json or discovery-sync.config.json: using stacks/config/example.json`);
}
if (process.env[WORKLOAD_IMAGE_ENV_VAR] === undefined) {
  process.env[WORKLOAD_IMAGE_ENV_VAR] = "public.ecr.aws/docker/library/busybox:stable";
  console.log(`${WORKLOAD_IMAGE_ENV_VAR} is not set: the example workload's template names a placeholder image`);
}

const app = new App({ outdir });
/** What an SST v2 stack function reads from its context, built on plain CDK. */
function run<T>(fn: (ctx: StackContext) => T, id: string): T {
  // SST names stacks <stage>-<app>-<id>; do the same so templates and deploys line up.
  const stack = new Stack(app, `${stage}-${appName}-${id}`, {
    env: { account: process.env["CDK_DEFAULT_ACCOUNT"], region: process.env["CDK_DEFAULT_REGION"] },
    tags: { "sst:app": appName, "sst:stage": stage },
  });
  const ctx = { app: { stage, name: appName, region: stack.region, account: stack.account }, stack };
  return fn(ctx as unknown as StackContext);
}

try {
  run(DiscoverySync, "DiscoverySync");
  run(ExampleWorkload, "ExampleWorkload");
  const assembly = app.synth();
  console.log(`synthesised to ${path.relative(process.cwd(), outdir) || outdir}/:`);
  for (const stack of assembly.stacks) {
    const file = path.join(assembly.directory, stack.templateFile);
    const resources = Object.keys((stack.template as { Resources?: object }).Resources ?? {}).length;
    console.log(`  ${path.relative(process.cwd(), file)}  (${resources} resources, ${statSync(file).size} bytes)`);
  }
  const assets = readdirSync(outdir).filter((f) => f.startsWith("asset.")).length;
  console.log(`  ${assets} asset directories (bundled functions)`);
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  // A configuration error names the field; print the message, not a stack trace.
  console.error(`synth failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
