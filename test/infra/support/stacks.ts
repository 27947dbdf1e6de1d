/**
 * Synthesis of the control plane and the SST stacks in-process, for template tests. The functions get inline code
 * (no esbuild bundling) unless a test asks for the real thing.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import {
  DiscoverySyncControlPlane,
  type DiscoverySyncControlPlaneProps,
  type FunctionRole,
} from "@discovery-sync/cdk";
import { discoverySyncStack } from "../../../stacks/DiscoverySync.js";
import { exampleWorkloadStack } from "../../../stacks/ExampleWorkload.js";
import { CONFIG_FILE_ENV_VAR } from "../../../stacks/loadConfig.js";
import { plainCdkContext } from "../../../stacks/plainCdkContext.js";
import { TEST_PSEUDO, type CfnTemplate, type PseudoParameters } from "@discovery-sync/emulator";

/** The repository root. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** The three functions and their entry points under `functions/`. */
export const FUNCTION_ENTRIES: Record<FunctionRole, string> = {
  router: path.join(repoRoot, "functions/route.ts"),
  reconcile: path.join(repoRoot, "functions/reconcile.ts"),
  sweep: path.join(repoRoot, "functions/sweep.ts"),
};

/** The repository's example configuration, `stacks/config/example.json`. */
export const EXAMPLE_CONFIG_FILE = path.join(repoRoot, "stacks/config/example.json");

/** A fresh copy of the example configuration. */
export function exampleConfig(): { services: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, "utf8")) as { services: Record<string, unknown>[] };
}

/** Prebuilt stand-in code for every function, so that synthesis does not bundle. */
export function inlineCode(): Record<FunctionRole, lambda.Code> {
  const code = (): lambda.Code => lambda.InlineCode.fromInline("export const handler = async () => undefined;");
  return { router: code(), reconcile: code(), sweep: code() };
}

/** A synthesised stack and its template. */
export interface Synthesised {
  readonly stack: Stack;
  readonly template: Template;
  /** The template as JSON. */
  readonly json: CfnTemplate;
  readonly pseudo: PseudoParameters;
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  const child = construct.node.defaultChild;
  if (child === undefined) throw new Error("construct has no default child");
  return stack.getLogicalId(child as Parameters<Stack["getLogicalId"]>[0]);
}

/** Logical ids of the control plane's functions, by role. */
export function functionIds(stack: Stack, controlPlane: DiscoverySyncControlPlane): Record<FunctionRole, string> {
  return {
    router: logicalIdOf(stack, controlPlane.routerFunction),
    reconcile: logicalIdOf(stack, controlPlane.reconcileFunction),
    sweep: logicalIdOf(stack, controlPlane.sweepFunction),
  };
}

function newStack(id: string, pseudo: PseudoParameters, outdir?: string): { app: App; stack: Stack } {
  const app = new App(outdir === undefined ? {} : { outdir });
  const stack = new Stack(app, id, { env: { account: pseudo.account, region: pseudo.region } });
  return { app, stack };
}

/**
 * A stack holding only a control plane (inline code unless `props.code` says otherwise).
 *
 * @example
 * ```ts
 * const { template } = synthControlPlane({ config: exampleConfig() });
 * ```
 */
export function synthControlPlane(
  props: Omit<DiscoverySyncControlPlaneProps, "code"> & { code?: DiscoverySyncControlPlaneProps["code"] },
  pseudo: PseudoParameters = TEST_PSEUDO,
): Synthesised & { controlPlane: DiscoverySyncControlPlane; functionIds: Record<FunctionRole, string> } {
  const { stack } = newStack("ControlPlaneTest", pseudo);
  const controlPlane = new DiscoverySyncControlPlane(stack, "ControlPlane", { code: inlineCode(), ...props });
  return { ...templateOf(stack, pseudo), controlPlane, functionIds: functionIds(stack, controlPlane) };
}

/**
 * The SST `DiscoverySync` stack, built by its builder with a plain CDK App and Stack (as `scripts/synth.ts` does),
 * for the configuration file given. Without `code` the functions are bundled for real with esbuild.
 */
export function synthDiscoverySyncStack(options: {
  readonly configFile: string;
  readonly stage?: string;
  readonly code?: Record<FunctionRole, lambda.Code> | undefined;
  readonly outdir?: string;
}): Synthesised & { controlPlane: DiscoverySyncControlPlane; functionIds: Record<FunctionRole, string> } {
  const stage = options.stage ?? "test";
  const { app, stack } = newStack(`${stage}-discovery-sync-DiscoverySync`, TEST_PSEUDO, options.outdir);
  const saved = process.env[CONFIG_FILE_ENV_VAR];
  process.env[CONFIG_FILE_ENV_VAR] = options.configFile;
  try {
    const { controlPlane } = discoverySyncStack(plainCdkContext(app, stack, stage), options.code === undefined ? {} : { code: options.code });
    return { ...templateOf(stack, TEST_PSEUDO), controlPlane, functionIds: functionIds(stack, controlPlane) };
  } finally {
    if (saved === undefined) delete process.env[CONFIG_FILE_ENV_VAR];
    else process.env[CONFIG_FILE_ENV_VAR] = saved;
  }
}

/** The SST `ExampleWorkload` stack with inline function code. */
export function synthExampleWorkload(
  options: { readonly stage?: string; readonly image?: string } = {},
): Synthesised & { controlPlane: DiscoverySyncControlPlane; functionIds: Record<FunctionRole, string> } {
  const stage = options.stage ?? "test";
  const { app, stack } = newStack(`${stage}-discovery-sync-ExampleWorkload`, TEST_PSEUDO);
  const { controlPlane } = exampleWorkloadStack(plainCdkContext(app, stack, stage), {
    image: options.image ?? "public.ecr.aws/example/workflow-agent:1",
    code: inlineCode(),
  });
  return { ...templateOf(stack, TEST_PSEUDO), controlPlane, functionIds: functionIds(stack, controlPlane) };
}


function templateOf(stack: Stack, pseudo: PseudoParameters): Synthesised {
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as CfnTemplate, pseudo };
}
