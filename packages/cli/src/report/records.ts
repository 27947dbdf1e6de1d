import * as v from "valibot";
import { englishMessages } from "@discovery-sync/core";

// A finite number: valibot's number() takes Infinity, which JSON.parse gives for 1e999.
const finiteNumber = v.pipe(v.number(), v.finite());

// RFC 3339 as the records write it (Date.toISOString): seconds required, "Z" or a ±hh:mm offset.
const isoDateTime = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

/** Whether a text is an ISO 8601 date and time (see {@link isoDateTime}) of a day that exists, 29 February of leap years included. */
function isIsoDateTime(text: string): boolean {
  const match = isoDateTime.exec(text);
  if (match === null) return false;
  // Day 0 of the next month is the last day of this one; setUTCFullYear, unlike Date.UTC, takes years 0-99 as given.
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(Number(match[1]), Number(match[2]), 0);
  return Number(match[3]) <= lastDay.getUTCDate();
}

/**
 * The fields of a reconcile record (docs/reconcile-record.md, `ReconcileRecord` in `@discovery-sync/core`) the report
 * uses. Other fields are ignored, so records of newer versions (which only add fields) still parse.
 */
const reportRecordSchema = v.object({
  service: v.pipe(v.string(), v.minLength(1)),
  startedAt: v.pipe(v.string(), v.check(isIsoDateTime, "Invalid ISO datetime")),
  durationMs: v.pipe(finiteNumber, v.minValue(0)),
  triggers: v.array(v.string()),
  tasks: v.object({ seen: finiteNumber, ready: finiteNumber, draining: finiteNumber }),
  writes: v.object({
    cloudMapRegistered: finiteNumber,
    cloudMapDeregistered: finiteNumber,
    targetsRegistered: finiteNumber,
    targetsDeregistered: finiteNumber,
    documentsPublished: finiteNumber,
    parametersWritten: finiteNumber,
    parametersDeleted: finiteNumber,
  }),
  writesTotal: finiteNumber,
  documentRevision: v.optional(finiteNumber),
  outcome: v.picklist(["converged", "changed", "failed"]),
  error: v.optional(v.object({ name: v.string(), message: v.string(), reasons: v.array(v.string()) })),
});

/** A reconcile record as the report reads it. */
export type ReportRecord = v.InferOutput<typeof reportRecordSchema>;

/** What {@link parseLogLines} found in a log. */
export interface ParsedLog {
  readonly records: ReportRecord[];
  /** Non-empty lines read. */
  readonly linesRead: number;
  /** Lines that are not reconcile records (other log lines, text, broken records): skipped, not fatal. */
  readonly linesSkipped: number;
  /** Why the first skipped line was skipped, for the error when nothing at all is a record. */
  readonly firstProblem: string | undefined;
}

/** Why one line is not a reconcile record, or the record. */
export type LineVerdict = { readonly record: ReportRecord } | { readonly problem: string };

/**
 * Reads one log line: a Powertools JSON line, alone or after Lambda's text prefix (`<time>\t<request id>\tINFO\t{...}`).
 *
 * @example
 * ```ts
 * const verdict = parseLogLine('{"message":"reconcile","reconcile":{...}}');
 * if ("record" in verdict) console.log(verdict.record.outcome);
 * ```
 */
export function parseLogLine(line: string): LineVerdict {
  const start = line.indexOf("{");
  if (start < 0) return { problem: `not JSON: ${preview(line)}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.slice(start));
  } catch {
    return { problem: `not JSON: ${preview(line)}` };
  }
  if (typeof parsed !== "object" || parsed === null || (parsed as { message?: unknown }).message !== "reconcile") {
    return { problem: `not a "reconcile" log line: ${preview(line)}` };
  }
  const result = v.safeParse(reportRecordSchema, (parsed as { reconcile?: unknown }).reconcile, { message: englishMessages });
  if (!result.success) {
    const issue = result.issues[0];
    const where = ["reconcile", ...(issue.path ?? []).map((item) => String(item.key))].join(".");
    return { problem: `a "reconcile" line whose ${where} is wrong (${issue.message})` };
  }
  return { record: result.output };
}

/**
 * Picks the reconcile records out of Lambda log lines; every other line is counted and skipped.
 *
 * @example
 * ```ts
 * const { records, linesSkipped } = parseLogLines(readFileSync("reconcile.jsonl", "utf8").split("\n"));
 * ```
 */
export function parseLogLines(lines: Iterable<string>): ParsedLog {
  const records: ReportRecord[] = [];
  let linesRead = 0;
  let linesSkipped = 0;
  let firstProblem: string | undefined;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "") continue;
    linesRead += 1;
    const verdict = parseLogLine(line);
    if ("record" in verdict) {
      records.push(verdict.record);
    } else {
      linesSkipped += 1;
      firstProblem ??= verdict.problem;
    }
  }
  return { records, linesRead, linesSkipped, firstProblem };
}

function preview(line: string): string {
  const text = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}...` : line);
  return text;
}
