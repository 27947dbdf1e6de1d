import { Command, Option } from "commander";
import { createAwsContext, type AwsContext, type AwsOptions } from "../aws.js";
import type { CliIo, Output } from "../io.js";
import { createObserveCaches, observeService, type ServiceObservation } from "../observe.js";
import { requireConfig, selectServices } from "../settings.js";

/** Options every command that talks to AWS takes. */
export interface AwsCommandOptions extends AwsOptions {
  readonly json?: boolean;
}

/** Options of commands that read the configuration. */
export interface ConfigCommandOptions extends AwsCommandOptions {
  readonly config?: string;
}

/** Adds `--profile`, `--region`, `--endpoint-url` and `--json`. */
export function withAwsOptions(command: Command): Command {
  return command
    .addOption(new Option("--profile <name>", "AWS profile from your shared config files (or AWS_PROFILE)"))
    .addOption(new Option("--region <region>", "AWS Region (or AWS_REGION, or your profile's)"))
    .addOption(new Option("--endpoint-url <url>", "AWS endpoint for every service, for example a local emulator (or AWS_ENDPOINT_URL)"))
    .option("--json", "print JSON for scripts instead of text");
}

/** Adds `--config FILE`. */
export function withConfigOption(command: Command): Command {
  return command.addOption(
    new Option(
      "--config <file>",
      "configuration JSON file (default: DISCOVERY_SYNC_CONFIG, else the SSM parameter named by DISCOVERY_SYNC_CONFIG_PARAMETER)",
    ),
  );
}

/** Appends the examples and exit codes to a command's help. */
export function withHelpFooter(command: Command, examples: readonly string[], exitCodes: readonly string[]): Command {
  return command.addHelpText("after", ["", "Examples:", ...examples.map((e) => `  $ ${e}`), "", "Exit codes:", ...exitCodes.map((e) => `  ${e}`)].join("\n"));
}

/** The exit code lines shared by every command that reads AWS. */
export const commonExitCodes = [
  "2  bad input: an unknown option or service, no or unreadable configuration",
  "3  AWS could not be reached or refused: no credentials, endpoint down, access denied",
] as const;

/** Creates the AWS context on first use (commands that end before calling AWS never build clients). */
export function lazyAws(options: AwsOptions, io: CliIo): () => AwsContext {
  let context: AwsContext | undefined;
  return () => (context ??= createAwsContext(options, io));
}

/**
 * Loads the configuration, picks the services and observes each (concurrently), with a spinner on a terminal.
 */
export async function observeServices(
  options: ConfigCommandOptions & { readonly service?: string },
  io: CliIo,
  out: Output,
): Promise<ServiceObservation[]> {
  const aws = lazyAws(options, io);
  const { config } = await requireConfig(options.config, io, aws);
  const services = selectServices(config, options.service);
  const caches = createObserveCaches();
  const now = io.now?.() ?? new Date();
  return out.withSpinner(`reading ECS, Cloud Map, target groups and SSM for ${services.length} service(s)`, () =>
    Promise.all(services.map((service) => observeService(aws(), service, caches, now, io.sleep === undefined ? {} : { sleep: io.sleep }))),
  );
}
