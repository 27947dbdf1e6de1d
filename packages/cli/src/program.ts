import { Command, CommanderError } from "commander";
import { dlqCommand } from "./commands/dlq.js";
import { endpointsCommand } from "./commands/endpoints.js";
import { planCommand } from "./commands/plan.js";
import { reconcileCommand } from "./commands/reconcile.js";
import { statusCommand } from "./commands/status.js";
import { validateCommand } from "./commands/validate.js";
import { ConfigError } from "@discovery-sync/core";
import { CliError, exitCodes, type ExitCode } from "./errors.js";
import { processIo, type CliIo } from "./io.js";
import { reportCommand } from "./report/command.js";

/** The CLI's version, shown by `--version`. */
export const cliVersion = "0.1.0";

/**
 * Builds the `discovery-sync` program for one run; `done` receives each command's exit code.
 *
 * @example
 * ```ts
 * let code = 0;
 * await buildProgram(io, (c) => (code = c)).parseAsync(["status"], { from: "user" });
 * ```
 */
export function buildProgram(io: CliIo, done: (code: ExitCode) => void): Command {
  const program = new Command("discovery-sync")
    .description(
      "Operate discovery-sync: see whether ECS, Cloud Map, NLB target groups and the endpoint document agree, explain " +
        "what a reconcile would write, ask for one, read what clients read, check a configuration, handle dead letters, " +
        "and build an HTML report from reconcile logs. AWS settings come from --profile/--region/--endpoint-url or the " +
        "SDK's standard environment and shared config files.",
    )
    .version(cliVersion)
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    })
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  $ discovery-sync status --config discovery-sync.prod.config.json --profile prod",
        "  $ discovery-sync reconcile --service workflow-agent --wait",
        "  $ discovery-sync <command> --help",
        "",
        "Exit codes: 0 ok; 1 drifted, invalid configuration or timed out; 2 bad input; 3 AWS unreachable or refused.",
      ].join("\n"),
    );
  for (const command of [
    statusCommand(io, done),
    planCommand(io, done),
    reconcileCommand(io, done),
    endpointsCommand(io, done),
    validateCommand(io, done),
    dlqCommand(io, done),
  ]) {
    program.addCommand(command);
  }
  program.addCommand(reportCommand(io, done));
  // Every (sub)command reports its errors through run() instead of exiting the process.
  const configure = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/**
 * Runs the CLI in-process: parses `argv` (without `node` and the script), runs the command, and returns its exit code.
 * Errors are reported as one line on `io.stderr` (a stack trace only with `DISCOVERY_SYNC_DEBUG=1`), never thrown.
 *
 * @example
 * ```ts
 * import { run } from "@discovery-sync/cli";
 * process.exitCode = await run(process.argv.slice(2), processIo());
 * ```
 */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  let code: ExitCode = exitCodes.ok;
  try {
    await buildProgram(io, (c) => (code = c)).parseAsync([...argv], { from: "user" });
    return code;
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: CliIo): ExitCode {
  if (error instanceof CommanderError) {
    // Help and --version "fail" with code 0; usage errors were already printed by commander.
    return error.exitCode === 0 ? exitCodes.ok : exitCodes.badInput;
  }
  const debug = io.env.DISCOVERY_SYNC_DEBUG === "1";
  let exitCode: ExitCode = exitCodes.awsFailure;
  let message: string;
  if (error instanceof CliError) {
    exitCode = error.exitCode;
    message = error.message;
  } else if (error instanceof ConfigError) {
    exitCode = exitCodes.badInput;
    message = error.message;
  } else {
    message = `unexpected ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  }
  io.stderr.write(`discovery-sync: error: ${message}\n`);
  if (debug && error instanceof Error && error.stack !== undefined) io.stderr.write(`${error.stack}\n`);
  else if (!(error instanceof CliError) && !(error instanceof ConfigError)) io.stderr.write("(set DISCOVERY_SYNC_DEBUG=1 for the stack trace)\n");
  return exitCode;
}
