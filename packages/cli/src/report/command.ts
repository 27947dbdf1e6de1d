import { Command, Option } from "commander";
import type { ReportExitCode } from "./errors.js";
import type { ReportCommandOptions, ReportIo } from "./run.js";

/**
 * The `report` command: a self-contained HTML dashboard (no network, no CDN) over the reconcile records of a JSON-lines
 * log file or a CloudWatch Logs group. `io` is where it writes (default the process's streams), `done` receives the
 * exit code (default: set as `process.exitCode`).
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { reportCommand } from "./report/command.js";
 *
 * let exitCode = 0;
 * const program = new Command("discovery-sync").addCommand(reportCommand(processIo(), (code) => (exitCode = code)));
 * await program.parseAsync(["report", "--input", "reconcile.jsonl"], { from: "user" });
 * ```
 */
export function reportCommand(
  io: ReportIo = { stdout: process.stdout, stderr: process.stderr },
  done: (code: ReportExitCode) => void = (code) => {
    process.exitCode = code;
  },
): Command {
  return new Command("report")
    .summary("write an HTML dashboard of reconcile records")
    .description(
      "Builds a self-contained HTML dashboard (it opens from a file, with no network) from the reconcile records that the\n" +
        "reconcile Lambda logs (`message: \"reconcile\"`): per service, a timeline of reconciles by outcome, endpoints\n" +
        "ready and draining over time, writes by target, duration p50/p99, failures with their reasons, and the drift\n" +
        "the sweep repaired. Reads a JSON-lines file of Lambda log lines (--input) or a CloudWatch Logs group (--log-group).",
    )
    .addOption(new Option("--input <file>", "JSON-lines file of Lambda log lines").conflicts("logGroup"))
    .addOption(new Option("--log-group <name>", "CloudWatch Logs group of the reconcile Lambda").conflicts("input"))
    .option("--since <duration>", "with --log-group: how far back to read (30m, 1h, 2d)", "1h")
    .option("--service <name>", "only this service's records")
    .option("--output <file>", "where to write the HTML file", "discovery-sync-report.html")
    .option("--profile <name>", "AWS profile (default: the SDK's standard settings)")
    .option("--region <region>", "AWS Region (default: the SDK's standard settings)")
    .option("--endpoint-url <url>", "AWS endpoint URL, for example a local emulator")
    .option("--json", "print the summary as JSON instead of text")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  $ discovery-sync report --input reconcile.jsonl --output report.html",
        "  $ discovery-sync report --log-group /aws/lambda/prod-discovery-sync-reconcile --since 6h",
        "",
        "Exit codes:",
        "  0  the report was written",
        "  2  bad input: no reconcile record in the input, an unreadable file, a bad option",
        "  3  the logs could not be read from AWS (credentials, endpoint, log group)",
      ].join("\n"),
    )
    .action(async (options: ReportCommandOptions) => {
      // Loaded when the command runs: the charting library would otherwise slow every command's start, --help included.
      const { runReport } = await import("./run.js");
      done(await runReport(options, io));
    });
}
