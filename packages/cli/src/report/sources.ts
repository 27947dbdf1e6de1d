import { readFile } from "node:fs/promises";
import { CloudWatchLogsClient, paginateFilterLogEvents } from "@aws-sdk/client-cloudwatch-logs";
import { LogGroupReadError, ReportFileError, ReportOptionError } from "./errors.js";

const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Reads a look-back duration: a whole number and a unit, `s`, `m`, `h` or `d` (`30m`, `1h`, `7d`).
 *
 * @example
 * ```ts
 * parseSince("90m"); // 5_400_000
 * ```
 * @throws {ReportOptionError} for anything else, naming `--since` and the value.
 */
export function parseSince(value: string): number {
  const match = /^(\d+)\s*([smhd])$/.exec(value.trim());
  if (match === null) throw new ReportOptionError("--since", value, "must be a whole number and a unit s, m, h or d, such as 30m, 1h or 2d");
  const amount = Number(match[1]);
  if (amount === 0) throw new ReportOptionError("--since", value, "must be more than zero");
  return amount * unitMs[match[2] as keyof typeof unitMs];
}

/**
 * The lines of a JSON-lines log file.
 *
 * @throws {ReportFileError} when the file cannot be read, naming it.
 */
export async function readLogFile(path: string): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).split(/\r?\n/);
  } catch (error) {
    throw new ReportFileError("cannot read", path, error);
  }
}

/** Where and what to read in CloudWatch Logs. */
export interface LogGroupQuery {
  readonly logGroupName: string;
  /** Earliest event time, epoch milliseconds. */
  readonly startTime: number;
  readonly endTime?: number;
  /** Events per FilterLogEvents page. @default the service's (up to 10,000) */
  readonly pageSize?: number;
}

/**
 * Only the reconcile records: CloudWatch Logs filters on the server (a JSON filter pattern), so a busy group's other
 * lines are not transferred. The parser checks every line anyway.
 */
export const reconcileFilterPattern = '{ $.message = "reconcile" }';

/**
 * The messages of a log group's events in a period (FilterLogEvents, every page, every stream).
 *
 * @example
 * ```ts
 * const lines = await readLogGroup(new CloudWatchLogsClient({}), { logGroupName: "/aws/lambda/x", startTime: Date.now() - 3_600_000 });
 * ```
 * @throws {LogGroupReadError} naming the group, with the SDK's error as `cause`.
 */
export async function readLogGroup(client: CloudWatchLogsClient, query: LogGroupQuery): Promise<string[]> {
  const lines: string[] = [];
  try {
    const pages = paginateFilterLogEvents(
      { client, ...(query.pageSize === undefined ? {} : { pageSize: query.pageSize }) },
      {
        logGroupName: query.logGroupName,
        startTime: query.startTime,
        ...(query.endTime === undefined ? {} : { endTime: query.endTime }),
        filterPattern: reconcileFilterPattern,
      },
    );
    for await (const page of pages) {
      for (const event of page.events ?? []) if (event.message !== undefined) lines.push(event.message);
    }
  } catch (error) {
    throw new LogGroupReadError(query.logGroupName, error);
  }
  return lines;
}
