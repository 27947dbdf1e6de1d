import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import ora from "ora";
import pc from "picocolors";
import { colorEnabled } from "../io.js";
import { buildReport, type BuiltReport } from "./build.js";
import { ReportError, ReportFileError, ReportOptionError, type ReportExitCode } from "./errors.js";
import { parseSince, readLogFile, readLogGroup } from "./sources.js";

/** The options of `discovery-sync report`, as commander parses them. */
export interface ReportCommandOptions {
  readonly input?: string;
  readonly logGroup?: string;
  readonly since: string;
  readonly service?: string;
  readonly output: string;
  readonly profile?: string;
  readonly region?: string;
  readonly endpointUrl?: string;
  readonly json?: boolean;
}

/** A stream the command writes to: `process.stdout`, or anything with `write` (a test's collector). */
export interface ReportOutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Where the command writes (the CLI's `CliIo` is one). */
export interface ReportIo {
  readonly stdout: ReportOutputStream;
  readonly stderr: ReportOutputStream;
  /** Where `NO_COLOR`, `FORCE_COLOR` and `TERM` are read, as every command of the CLI reads them. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Adjusts the CloudWatch Logs client built from the AWS options before any call (tests add an emulator account). */
  readonly decorateLogsClient?: (client: CloudWatchLogsClient) => void;
}

/** Exit code of an error nobody expected (the message is printed, not the stack). */
const unexpectedExitCode = 1;

/** How the CLI's lines begin, for errors. */
const errorPrefix = "discovery-sync: error:";

/**
 * Runs `discovery-sync report`: reads the records, writes the HTML file, prints where, and returns the exit code
 * (0, or that of the {@link ReportError} met; never throws).
 *
 * @example
 * ```ts
 * process.exitCode = await runReport({ input: "run.jsonl", since: "1h", output: "report.html" }, { stdout: process.stdout, stderr: process.stderr });
 * ```
 */
export async function runReport(options: ReportCommandOptions, io: ReportIo): Promise<ReportExitCode> {
  const color = colorsOf(io, false);
  try {
    const { lines, sourceDescription } = await readLines(options, io);
    const report = buildReport({
      lines,
      sourceDescription,
      generatedAt: (io.now ?? (() => new Date()))(),
      ...(options.service === undefined ? {} : { service: options.service }),
    });
    const output = await writeReport(options.output, report);
    printSummary(options, io, report, output);
    return 0;
  } catch (error) {
    if (error instanceof ReportError) {
      io.stderr.write(`${color.red(errorPrefix)} ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`${color.red(errorPrefix)} unexpected ${(error as Error).name ?? "error"}: ${(error as Error).message ?? String(error)}\n`);
    return unexpectedExitCode;
  }
}

async function readLines(options: ReportCommandOptions, io: ReportIo): Promise<{ lines: string[]; sourceDescription: string }> {
  if (options.input !== undefined && options.logGroup !== undefined) {
    throw new ReportOptionError("--input", options.input, "cannot be given with --log-group: read one source at a time");
  }
  if (options.input !== undefined) {
    return { lines: await readLogFile(options.input), sourceDescription: `file ${options.input}` };
  }
  if (options.logGroup === undefined) {
    throw new ReportOptionError("--input", undefined, "give --input FILE (JSON lines of Lambda logs) or --log-group NAME");
  }
  const sinceMs = parseSince(options.since);
  const client = new CloudWatchLogsClient({
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpointUrl === undefined ? {} : { endpoint: options.endpointUrl }),
  });
  io.decorateLogsClient?.(client);
  // A spinner only on the process's terminal: piped or collected, it would add control characters and lines.
  const onTerminal = io.stderr === process.stderr && process.stderr.isTTY;
  const spinner = ora({ text: `reading ${options.logGroup} (last ${options.since})`, stream: process.stderr, isSilent: !onTerminal });
  spinner.start();
  try {
    const now = (io.now ?? (() => new Date()))().getTime();
    const lines = await readLogGroup(client, { logGroupName: options.logGroup, startTime: now - sinceMs, endTime: now });
    spinner.succeed(`read ${lines.length} event(s) from ${options.logGroup}`);
    return { lines, sourceDescription: `log group ${options.logGroup} (last ${options.since})` };
  } catch (error) {
    spinner.fail();
    throw error;
  } finally {
    client.destroy();
  }
}

/**
 * Writes a built report to a file and returns its absolute path.
 *
 * @throws {ReportFileError} naming the file when it cannot be written.
 */
export async function writeReport(file: string, report: BuiltReport): Promise<string> {
  const output = path.resolve(file);
  try {
    await writeFile(output, report.html, "utf8");
  } catch (error) {
    throw new ReportFileError("cannot write the report to", output, error);
  }
  return output;
}

function printSummary(options: ReportCommandOptions, io: ReportIo, report: BuiltReport, output: string): void {
  if (options.json === true) {
    const summary = {
      output,
      linesRead: report.linesRead,
      linesSkipped: report.linesSkipped,
      services: report.services.map((s) => ({
        service: s.service,
        reconciles: s.reconciles,
        outcomes: s.outcomeCounts,
        durationP50Ms: s.durationP50Ms,
        durationP99Ms: s.durationP99Ms,
        failures: s.failures.length,
        sweepRepairs: s.sweepRepairs.length,
      })),
    };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const color = colorsOf(io, false);
  for (const s of report.services) {
    const failed = s.outcomeCounts.failed > 0 ? color.red(`${s.outcomeCounts.failed} failed`) : "0 failed";
    io.stdout.write(
      `${color.bold(s.service)}: ${s.reconciles} reconciles (${s.outcomeCounts.changed} changed, ${s.outcomeCounts.converged} converged, ${failed}), ` +
        `p50 ${s.durationP50Ms} ms, p99 ${s.durationP99Ms} ms, ${s.sweepRepairs.length} sweep repair(s)\n`,
    );
  }
  if (report.linesSkipped > 0) io.stdout.write(color.dim(`${report.linesSkipped} line(s) that are not reconcile records skipped\n`));
  io.stdout.write(`report written to ${output}\n`);
}

/** Colour functions by the CLI's one rule (`colorEnabled`): never for JSON, `NO_COLOR`, `FORCE_COLOR`, a terminal. */
function colorsOf(io: ReportIo, json: boolean): ReturnType<typeof pc.createColors> {
  return pc.createColors(colorEnabled({ stdout: io.stdout, stderr: io.stderr, env: io.env ?? process.env }, json));
}
