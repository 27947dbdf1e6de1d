import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { reportCommand } from "../../packages/cli/src/report/command.js";
import { buildReport } from "../../packages/cli/src/report/build.js";
import { NoReconcileRecordsError, ReportOptionError } from "../../packages/cli/src/report/errors.js";
import { isSweepRepair, percentile, summarizeServices } from "../../packages/cli/src/report/aggregate.js";
import { parseLogLine, parseLogLines } from "../../packages/cli/src/report/records.js";
import { runReport } from "../../packages/cli/src/report/run.js";
import { parseSince } from "../../packages/cli/src/report/sources.js";
import { logLine, otherLogLines, reconcileRecord, sampleRecords } from "./cli-report-records.js";

describe("parseLogLine", () => {
  it("reads the record of a Powertools reconcile line", () => {
    const record = reconcileRecord({ durationMs: 77 });
    const verdict = parseLogLine(logLine(record));
    expect(verdict).toEqual({ record: expect.objectContaining({ service: "workflow-agent", durationMs: 77, outcome: "converged" }) });
  });

  it("reads a line behind Lambda's text prefix", () => {
    const line = `2026-11-25T06:00:00.000Z\t6d1b5d7e-1c2d\tINFO\t${logLine(reconcileRecord())}`;
    expect("record" in parseLogLine(line)).toBe(true);
  });

  it("says why other lines are not records", () => {
    expect(parseLogLine("START RequestId: 1 Version: $LATEST")).toEqual({ problem: expect.stringMatching(/^not JSON: "START/) });
    expect(parseLogLine('{"message":"event routed"}')).toEqual({ problem: expect.stringMatching(/^not a "reconcile" log line/) });
    expect(parseLogLine('{"message":"reconcile","reconcile":{"service":"x"}}')).toEqual({
      problem: expect.stringContaining("reconcile.startedAt"),
    });
  });
});

describe("parseLogLines", () => {
  it("keeps the records, counts the other non-empty lines as skipped", () => {
    const records = sampleRecords();
    const lines = [...records.map(logLine), "", ...otherLogLines, "   "];
    const parsed = parseLogLines(lines);
    expect(parsed.records).toHaveLength(records.length);
    expect(parsed.linesRead).toBe(records.length + otherLogLines.length);
    expect(parsed.linesSkipped).toBe(otherLogLines.length);
  });
});

describe("percentile", () => {
  it("is the nearest-rank value", () => {
    const values = [120, 95, 2400, 60, 40, 30, 45];
    expect(percentile(values, 50)).toBe(60);
    expect(percentile(values, 99)).toBe(2400);
    expect(percentile(values, 0)).toBe(30);
    expect(percentile([], 50)).toBe(0);
  });
});

describe("summarizeServices", () => {
  const [billing, agent] = summarizeServices(parseLogLines(sampleRecords().map(logLine)).records);

  it("gives one summary per service, by name", () => {
    expect([billing?.service, agent?.service]).toEqual(["billing", "workflow-agent"]);
  });

  it("counts outcomes and percentiles of duration", () => {
    expect(agent?.reconciles).toBe(7);
    expect(agent?.outcomeCounts).toEqual({ converged: 1, changed: 5, failed: 1 });
    expect(agent?.durationP50Ms).toBe(60);
    expect(agent?.durationP99Ms).toBe(2400);
    expect(agent?.lastDocumentRevision).toBe(4);
    expect(agent?.documentsPublished).toBe(4);
  });

  it("plots endpoints of the reconciles that did not fail, in time order", () => {
    expect(agent?.endpoints.map((point) => [point.ready, point.draining])).toEqual([[3, 0], [3, 3], [3, 0], [3, 0], [3, 0], [4, 0]]);
    expect(agent?.timeline.map((point) => point.at)).toEqual([...(agent?.timeline.map((point) => point.at) ?? [])].sort((a, b) => a - b));
  });

  it("sums writes by target", () => {
    expect(agent?.writesByTarget).toEqual([
      { target: "CloudMap", added: 8, removed: 4 },
      { target: "TargetGroup", added: 7, removed: 4 },
      { target: "Ssm", added: 4, removed: 0 },
    ]);
  });

  it("lists failures with their reasons, and counts reasons", () => {
    expect(billing?.failures.map((failure) => failure.reasons)).toEqual([["ThrottlingException"], ["DocumentTooLargeError", "ThrottlingException"]]);
    expect(billing?.failureReasons).toEqual([
      { reason: "ThrottlingException", count: 2 },
      { reason: "DocumentTooLargeError", count: 1 },
    ]);
  });

  it("counts as sweep repairs only reconciles that sweeps alone triggered and that wrote", () => {
    expect(agent?.sweepRepairs).toEqual([{ startedAt: "2026-11-25T06:10:00.000Z", writesTotal: 3, cloudMap: 2, targets: 1, parameters: 0 }]);
    expect(isSweepRepair(reconcileRecord({ triggers: ["sweep"] }))).toBe(false);
    expect(isSweepRepair(reconcileRecord({ triggers: ["event", "sweep"], writes: { cloudMapRegistered: 1 } }))).toBe(false);
  });
});

describe("buildReport", () => {
  it("is one self-contained page: no script, no external resource", () => {
    const { html } = buildReport({ lines: sampleRecords().map(logLine), sourceDescription: "file sample.jsonl" });
    // url(#id) inside an SVG refers to the SVG itself (clip paths); anything else would be fetched.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\((?!#)/i);
    expect(html).not.toMatch(/(src|href)=/i);
    expect(html.match(/<figure class="chart"/g)).toHaveLength(6);
    expect(html.match(/<svg /g)).toHaveLength(6);
  });

  it("escapes service names and messages", () => {
    const record = reconcileRecord({ service: "<b>x</b>", outcome: "failed", error: { name: "E", message: "<script>", reasons: [] } });
    const { html } = buildReport({ lines: [logLine(record)], sourceDescription: "file x" });
    expect(html).toContain("&#60;b&#62;x&#60;/b&#62;");
    expect(html).not.toContain("<script>");
  });

  it("refuses input without reconcile records, saying what it read", () => {
    const build = (): unknown => buildReport({ lines: otherLogLines, sourceDescription: "file other.log" });
    expect(build).toThrow(NoReconcileRecordsError);
    expect(build).toThrow(/file other.log holds no reconcile records .*4 line\(s\) read.*the first: not JSON: "START/);
    expect(() => buildReport({ lines: ["", ""], sourceDescription: "file empty.log" })).toThrow("file empty.log holds no log lines");
  });

  it("keeps one service with service, and names the known ones for an unknown one", () => {
    const lines = sampleRecords().map(logLine);
    expect(buildReport({ lines, sourceDescription: "f", service: "billing" }).services.map((s) => s.service)).toEqual(["billing"]);
    expect(() => buildReport({ lines, sourceDescription: "f", service: "nope" })).toThrow(ReportOptionError);
    expect(() => buildReport({ lines, sourceDescription: "f", service: "nope" })).toThrow(/--service: has no reconcile record in f; it holds billing, workflow-agent \(given "nope"\)/);
  });
});

describe("parseSince", () => {
  it("reads a number and a unit", () => {
    expect(parseSince("45s")).toBe(45_000);
    expect(parseSince("30m")).toBe(1_800_000);
    expect(parseSince("1h")).toBe(3_600_000);
    expect(parseSince("2d")).toBe(172_800_000);
  });

  it.each(["", "1", "h", "1.5h", "-1h", "0m", "1w"])("refuses %j, naming --since", (value) => {
    expect(() => parseSince(value)).toThrow(/^--since: must/);
  });
});

describe("runReport", () => {
  const capture = (): { stream: PassThrough; text: () => string } => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
  };
  const dir = mkdtempSync(path.join(tmpdir(), "cli-report-"));

  it("writes the report and says where, with the skipped lines", async () => {
    const input = path.join(dir, "run.jsonl");
    const output = path.join(dir, "out.html");
    writeFileSync(input, [...sampleRecords().map(logLine), ...otherLogLines].join("\n"));
    const stdout = capture();
    const stderr = capture();

    const code = await runReport({ input, output, since: "1h" }, { stdout: stdout.stream, stderr: stderr.stream, env: {} });

    expect(code).toBe(0);
    expect(stderr.text()).toBe("");
    expect(stdout.text()).toContain(`report written to ${output}`);
    expect(stdout.text()).toContain("4 line(s) that are not reconcile records skipped");
    expect(readFileSync(output, "utf8")).toContain('data-service="workflow-agent"');
  });

  it("ends with exit code 2 and one line for a log without records, a missing file, or no source", async () => {
    const other = path.join(dir, "other.log");
    writeFileSync(other, otherLogLines.join("\n"));
    const cases = [
      [{ input: other }, /^discovery-sync: error: file .*other.log holds no reconcile records/],
      [{ input: path.join(dir, "missing.jsonl") }, /^discovery-sync: error: cannot read .*missing.jsonl: ENOENT/],
      [{}, /^discovery-sync: error: --input: give --input FILE/],
      [{ logGroup: "/aws/lambda/x", since: "soon" }, /^discovery-sync: error: --since: must be a whole number/],
    ] as const;
    for (const [options, message] of cases) {
      const stdout = capture();
      const stderr = capture();
      const code = await runReport({ since: "1h", output: path.join(dir, "never.html"), ...options }, { stdout: stdout.stream, stderr: stderr.stream, env: {} });
      expect(code).toBe(2);
      expect(stderr.text()).toMatch(message);
      expect(stderr.text().trim().split("\n")).toHaveLength(1);
    }
  });
});

describe("reportCommand", () => {
  it("runs the report from the command line's options and sets the exit code", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cli-report-command-"));
    const input = path.join(dir, "run.jsonl");
    const output = path.join(dir, "report.html");
    writeFileSync(input, sampleRecords().map(logLine).join("\n"));
    const printed: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0);
    const exitCodeBefore = process.exitCode;
    try {
      await reportCommand().parseAsync(["--input", input, "--output", output, "--service", "billing"], { from: "user" });
      expect(process.exitCode).toBe(0);
    } finally {
      process.exitCode = exitCodeBefore;
      vi.restoreAllMocks();
    }
    expect(printed.join("")).toContain(`report written to ${output}`);
    const html = readFileSync(output, "utf8");
    expect(html).toContain('data-service="billing"');
    expect(html).not.toContain('data-service="workflow-agent"');
  });

  it("has help with an example and the exit codes", () => {
    const help = helpOutput();
    expect(help).toContain("--log-group <name>");
    expect(help).toContain("discovery-sync report --input reconcile.jsonl");
    expect(help).toContain("3  the logs could not be read from AWS");
  });
});

/** What `discovery-sync report --help` prints: the options, then the examples and exit codes. */
function helpOutput(): string {
  const command = reportCommand();
  let text = "";
  command.configureOutput({ writeOut: (chunk) => (text += chunk) });
  command.exitOverride();
  try {
    command.parse(["--help"], { from: "user" });
  } catch {
    // commander ends --help by "exiting", which exitOverride turns into a throw
  }
  return text;
}
