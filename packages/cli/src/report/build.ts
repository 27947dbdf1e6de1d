import { summarizeServices, type ServiceSummary } from "./aggregate.js";
import { NoReconcileRecordsError, ReportOptionError } from "./errors.js";
import { renderReportHtml } from "./html.js";
import { parseLogLines } from "./records.js";

/** A built report: the page and what it holds. */
export interface BuiltReport {
  readonly html: string;
  readonly services: readonly ServiceSummary[];
  readonly linesRead: number;
  readonly linesSkipped: number;
}

/** What to build a report from. */
export interface BuildReportInput {
  /** Lambda log lines; the reconcile records among them are used, the others counted and skipped. */
  readonly lines: Iterable<string>;
  /** Where the lines came from, for the page and errors (`file run.jsonl`). */
  readonly sourceDescription: string;
  /** Only this service's records. */
  readonly service?: string;
  /** @default new Date() */
  readonly generatedAt?: Date;
}

/**
 * Builds the HTML report from log lines, without I/O.
 *
 * @example
 * ```ts
 * const { html, linesSkipped } = buildReport({ lines: text.split("\n"), sourceDescription: "file run.jsonl" });
 * ```
 * @throws {NoReconcileRecordsError} when no line is a reconcile record.
 * @throws {ReportOptionError} when `service` has no record, naming the services that have.
 */
export function buildReport(input: BuildReportInput): BuiltReport {
  const parsed = parseLogLines(input.lines);
  if (parsed.records.length === 0) throw new NoReconcileRecordsError(input.sourceDescription, parsed.linesRead, parsed.firstProblem);
  let services = summarizeServices(parsed.records);
  if (input.service !== undefined) {
    const known = services.map((summary) => summary.service);
    services = services.filter((summary) => summary.service === input.service);
    if (services.length === 0) {
      throw new ReportOptionError("--service", input.service, `has no reconcile record in ${input.sourceDescription}; it holds ${known.join(", ")}`);
    }
  }
  const html = renderReportHtml(
    services,
    { description: input.sourceDescription, linesRead: parsed.linesRead, linesSkipped: parsed.linesSkipped },
    input.generatedAt ?? new Date(),
  );
  return { html, services, linesRead: parsed.linesRead, linesSkipped: parsed.linesSkipped };
}
