import { z } from "zod";

/**
 * The fields of a reconcile record (docs/reconcile-record.md, `ReconcileRecord` in `@discovery-sync/core`) the report
 * uses. Other fields are ignored, so records of newer versions (which only add fields) still parse.
 */
const reportRecordSchema = z.object({
  service: z.string().min(1),
  startedAt: z.iso.datetime({ offset: true }),
  durationMs: z.number().nonnegative(),
  triggers: z.array(z.string()),
  tasks: z.object({ seen: z.number(), ready: z.number(), draining: z.number() }),
  writes: z.object({
    cloudMapRegistered: z.number(),
    cloudMapDeregistered: z.number(),
    targetsRegistered: z.number(),
    targetsDeregistered: z.number(),
    documentsPublished: z.number(),
    parametersWritten: z.number(),
    parametersDeleted: z.number(),
  }),
  writesTotal: z.number(),
  documentRevision: z.number().optional(),
  outcome: z.enum(["converged", "changed", "failed"]),
  error: z.object({ name: z.string(), message: z.string(), reasons: z.array(z.string()) }).optional(),
});

/** A reconcile record as the report reads it. */
export type ReportRecord = z.infer<typeof reportRecordSchema>;

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
  const result = reportRecordSchema.safeParse((parsed as { reconcile?: unknown }).reconcile);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = ["reconcile", ...(issue?.path ?? [])].join(".");
    return { problem: `a "reconcile" line whose ${where} is wrong (${issue?.message ?? "invalid"})` };
  }
  return { record: result.data };
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
