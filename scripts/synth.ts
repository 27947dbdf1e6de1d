/**
 * Synthesises the CloudFormation templates of the SST v2 stacks with plain CDK, offline (no AWS credentials, no
 * Docker: the functions are bundled with the local esbuild), into `cdk.out/`.
 *
 * The stack functions of `stacks/` are called through a minimal adapter: they use only `app.stage` and the CDK
 * `Stack` API, so a plain `cdk.App` and `cdk.Stack` stand in for SST's.
 *
 * It is also the app of the CDK CLI (`npm run cdk -- deploy -c stage=prod ...`), so plain CDK deploys the same stacks.
 * Not through a root `cdk.json`: SST v2 runs `cdk bootstrap` in the repository, which would run this app too.
 *
 * Stage: `--stage <name>`, else the CDK context `stage` (`-c stage=<name>`), else `SST_STAGE`, default `local`.
 * Configuration: `DISCOVERY_SYNC_CONFIG_FILE`, else `discovery-sync.<stage>.config.json`, else
 * `discovery-sync.config.json`. Output: `--outdir <dir>`, else the CDK CLI's `CDK_OUTDIR`, else `cdk.out`.
 * The example workload's image: `WORKFLOW_AGENT_IMAGE`.
 *
 * Run by hand with no stage named (`npm run synth`, to read the templates), a missing configuration falls back to
 * `stacks/config/example.json` and a missing image to a placeholder, both said on the output. A named stage
 * (`--stage prod`, `-c stage=prod`, `SST_STAGE`) never falls back: its configuration is the one its deploy would use,
 * so a missing one is an error, as it is for the CDK CLI (which sets `CDK_OUTDIR`). A deploy never ships the example's
 * made-up ids, and under the CDK CLI the example stack exists only with an image.
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
import { APP_NAME, plainCdkContext } from "../stacks/plainCdkContext.js";

const started = performance.now();
const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const underCdkCli = process.env["CDK_OUTDIR"] !== undefined;
const outdir = path.resolve(flag("--outdir") ?? process.env["CDK_OUTDIR"] ?? path.join(repoRoot, "cdk.out"));
const app = new App({ outdir });
const stageContext: unknown = app.node.tryGetContext("stage");
const namedStage = flag("--stage") ?? (typeof stageContext === "string" ? stageContext : undefined) ?? process.env["SST_STAGE"];
const stage = namedStage ?? "local";

const stageFiles = [`discovery-sync.${stage}.config.json`, "discovery-sync.config.json"].map((f) => path.join(repoRoot, f));
// Only the unnamed default stage falls back to the example: `--stage prod` validates prod's own configuration (the
// README's "check offline" step), and passing on the example's made-up ids would say a broken deploy is fine.
if (!underCdkCli && namedStage === undefined && process.env[CONFIG_FILE_ENV_VAR] === undefined && !stageFiles.some((f) => existsSync(f))) {
  process.env[CONFIG_FILE_ENV_VAR] = path.join(repoRoot, "stacks/config/example.json");
  console.log(`no stage named and no discovery-sync.${stage}.config.json or discovery-sync.config.json: using stacks/config/example.json`);
}
const withExample = !underCdkCli || process.env[WORKLOAD_IMAGE_ENV_VAR] !== undefined;
if (!underCdkCli && process.env[WORKLOAD_IMAGE_ENV_VAR] === undefined) {
  process.env[WORKLOAD_IMAGE_ENV_VAR] = "public.ecr.aws/docker/library/busybox:stable";
  console.log(`${WORKLOAD_IMAGE_ENV_VAR} is not set: the example workload's template names a placeholder image`);
}

/** Runs an SST v2 stack function on a plain CDK stack named as SST names it. */
function run<T>(fn: (ctx: StackContext) => T, id: string): T {
  // SST names stacks <stage>-<app>-<id>; do the same so templates and deploys line up.
  const stack = new Stack(app, `${stage}-${APP_NAME}-${id}`, {
    env: { account: process.env["CDK_DEFAULT_ACCOUNT"], region: process.env["CDK_DEFAULT_REGION"] },
    tags: { "sst:app": APP_NAME, "sst:stage": stage },
  });
  return fn(plainCdkContext(app, stack, stage));
}

try {
  run(DiscoverySync, "DiscoverySync");
  if (withExample) run(ExampleWorkload, "ExampleWorkload");
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
