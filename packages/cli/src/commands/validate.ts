import { ConfigError, planReconcile, type DesiredState, type PublishedTask, type ServiceConfig } from "@discovery-sync/core";
import { Command, Option } from "commander";
import { CliInputError, exitCodes, type ExitCode } from "../errors.js";
import { formatTable } from "../format.js";
import { createOutput, type CliIo } from "../io.js";
import { loadCliConfig } from "../settings.js";
import { commonExitCodes, lazyAws, withAwsOptions, withConfigOption, withHelpFooter, type ConfigCommandOptions } from "./shared.js";

/** Options of `validate`. */
export interface ValidateOptions extends ConfigCommandOptions {
  readonly endpoints?: string;
}

/** The size of one service's document at a number of endpoints, as the planner would publish it. */
export interface DocumentEstimate {
  readonly endpoints: number;
  readonly form: "single" | "sharded" | "too-large";
  /** Bytes of every part written (the single value, or the shards and the manifest). */
  readonly bytes: number;
  /** Tier of the parameter itself (the single value or the manifest); shards are always Standard. */
  readonly tier: "Standard" | "Advanced" | undefined;
  readonly shards: number;
}

/** The `validate` command. */
export function validateCommand(io: CliIo, done: (code: ExitCode) => void): Command {
  const command = new Command("validate")
    .summary("check a configuration and estimate each service's document size and tier")
    .description(
      "Checks the configuration with the same rules as the deployed functions and lists every error, naming the field " +
        "and the value given. For a valid one, estimates each service's endpoint document with the reconcile's own " +
        "planner: its size, form (single or sharded) and SSM tier at --endpoints ready tasks, and the largest number of " +
        "endpoints that stays a single Standard (free) parameter and a single parameter at all.",
    )
    .addOption(new Option("--endpoints <count>", "number of ready tasks to estimate the document for").default("100"));
  withConfigOption(withAwsOptions(command));
  withHelpFooter(
    command,
    ["discovery-sync validate --config discovery-sync.prod.config.json", "discovery-sync validate --config big.json --endpoints 2000 --json"],
    ["0  the configuration is valid", "1  the configuration is invalid (every wrong field is listed)", ...commonExitCodes],
  );
  return command.action(async (options: ValidateOptions) => done(await runValidate(options, io)));
}

/**
 * Runs `validate`.
 *
 * @example
 * ```ts
 * await runValidate({ config: "discovery-sync.prod.config.json" }, io);
 * ```
 */
export async function runValidate(options: ValidateOptions, io: CliIo): Promise<ExitCode> {
  const out = createOutput(io, { json: options.json === true });
  const count = Number(options.endpoints ?? "100");
  if (!Number.isInteger(count) || count < 0 || count > 100_000) {
    throw new CliInputError(`--endpoints must be a whole number from 0 to 100000 (given ${JSON.stringify(options.endpoints)})`);
  }
  let loaded: Awaited<ReturnType<typeof loadCliConfig>>;
  try {
    loaded = await loadCliConfig(options.config, io, lazyAws(options, io));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (out.json) {
      out.printJson({ valid: false, issues: error.issues });
    } else {
      out.line(out.colors.red(error.message));
    }
    return exitCodes.notConverged;
  }
  const zone = `${options.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? "us-east-1"}a`;
  const services = loaded.config.services.map((service) => ({
    service: service.name,
    parameterName: service.parameterName,
    estimate: estimateDocument(service, count, zone),
    standardSingleUpTo: largestCount(service, zone, (e) => e.form === "single" && e.tier === "Standard"),
    singleUpTo: largestCount(service, zone, (e) => e.form === "single"),
  }));
  if (out.json) {
    out.printJson({ valid: true, source: loaded.source, services });
    return exitCodes.ok;
  }
  const c = out.colors;
  out.line(c.green(`valid configuration (${loaded.source}): ${services.length} service(s)`));
  out.line();
  out.line(
    formatTable([
      ["SERVICE", "PARAMETER", `AT ${count} ENDPOINTS`, "STANDARD SINGLE UP TO", "SINGLE UP TO"].map((h) => c.dim(h)),
      ...services.map((s) => [
        s.service,
        s.parameterName,
        describeEstimate(s.estimate),
        `${s.standardSingleUpTo} endpoints`,
        `${s.singleUpTo} endpoints`,
      ]),
    ]),
  );
  out.line();
  out.line(c.dim("Shards are Standard parameters; an Advanced parameter is charged per month and never goes back to Standard."));
  return exitCodes.ok;
}

function describeEstimate(estimate: DocumentEstimate): string {
  if (estimate.form === "too-large") return `too large to publish (${estimate.bytes} bytes)`;
  if (estimate.form === "single") return `single, ${estimate.bytes} bytes, ${estimate.tier}`;
  return `sharded, ${estimate.shards} shards, ${estimate.bytes} bytes, manifest ${estimate.tier}`;
}

/** A ready task with the longest address, zone and task id a service of this kind has, so the estimate errs high. */
function syntheticTask(index: number, zone: string): PublishedTask {
  const taskId = index.toString(16).padStart(32, "0");
  const octet = (shift: number) => 100 + ((index >> shift) & 0x7f);
  return { taskId, taskArn: `arn:aws:ecs:us-east-1:123456789012:task/cluster/${taskId}`, address: `10.${octet(14)}.${octet(7)}.${octet(0)}`, zone };
}

/**
 * The document the planner would publish for `count` ready tasks of the service into a missing parameter. Pure.
 *
 * @example
 * ```ts
 * estimateDocument(service, 100, "us-east-1a"); // { endpoints: 100, form: "sharded", bytes: 9876, tier: "Standard", shards: 2 }
 * ```
 */
export function estimateDocument(service: ServiceConfig, count: number, zone: string): DocumentEstimate {
  const desired: DesiredState = { ready: Array.from({ length: count }, (_, i) => syntheticTask(i, zone)), draining: [] };
  const plan = planReconcile(service, desired, { targetGroups: [], parameter: { kind: "missing" } }, new Date(0)).document;
  if (plan.kind === "too-large") return { endpoints: count, form: "too-large", bytes: plan.error.bytes, tier: undefined, shards: 0 };
  if (plan.kind !== "publish") throw new Error(`unexpected document plan ${plan.kind} for a missing parameter`);
  return { endpoints: count, form: plan.form, bytes: plan.bytes, tier: plan.minimumTier, shards: plan.form === "sharded" ? plan.shards.length : 0 };
}

/** The largest count (up to 1,000) whose estimate satisfies `fits`, which holds for 0 and stops holding once it fails. */
function largestCount(service: ServiceConfig, zone: string, fits: (estimate: DocumentEstimate) => boolean): number {
  let low = 0;
  let high = 1_000;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (fits(estimateDocument(service, middle, zone))) low = middle;
    else high = middle - 1;
  }
  return low;
}
