/**
 * The report as a reader meets it: the HTML file opened from disk in a real headless Chromium (Debian's `chromium`,
 * driven by playwright-core; no browser is downloaded), every number read back from the rendered page's DOM and
 * compared with numbers this test computes from the records it wrote. A screenshot is kept in test-artifacts/.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runReport } from "../../packages/cli/src/report/run.js";
import { logLine, otherLogLines, sampleRecords } from "../unit/cli-report-records.js";

const chromiumEnvVar = "DISCOVERY_SYNC_CHROMIUM";
const screenshotPath = path.resolve("test-artifacts/report.png");

const installHint =
  "install Debian's package (`sudo apt-get install -y chromium`; .ci/run does it), or set " +
  `${chromiumEnvVar} to a Chromium or Chrome executable`;

/** The Chromium to drive: `DISCOVERY_SYNC_CHROMIUM`, else Debian's `/usr/bin/chromium`, else one on the PATH. */
function findChromium(): string {
  const named = process.env[chromiumEnvVar];
  if (named !== undefined && named !== "") {
    if (!existsSync(named)) throw new Error(`${chromiumEnvVar}=${named}: no such file; ${installHint}`);
    return named;
  }
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(candidate)) return candidate;
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim();
    } catch {
      // not on the PATH: try the next name
    }
  }
  throw new Error(`no Chromium found for the report's browser test (looked at /usr/bin and the PATH): ${installHint}`);
}

const records = sampleRecords();
const services = [...new Set(records.map((record) => record.service))].sort();
const recordsOf = (service: string): typeof records => records.filter((record) => record.service === service);
/** Nearest rank, computed here on its own rather than with the report's function under test. */
const nearestRank = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.ceil((p / 100) * values.length) - 1] ?? 0;

describe("the HTML report in headless Chromium", () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const executablePath = findChromium();
    const dir = mkdtempSync(path.join(tmpdir(), "report-browser-"));
    const input = path.join(dir, "reconcile.jsonl");
    const output = path.join(dir, "report.html");
    writeFileSync(input, [...records.map(logLine), ...otherLogLines].join("\n"));
    const sink = new PassThrough().resume();
    const errors: string[] = [];
    const stderr = new PassThrough().on("data", (chunk: Buffer) => errors.push(chunk.toString()));
    const code = await runReport({ input, output, since: "1h" }, { stdout: sink, stderr, env: {} });
    expect(errors.join("")).toBe("");
    expect(code).toBe(0);

    browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
    // Any request beyond the file itself would be the report reaching for the network.
    const requests: string[] = [];
    page.on("request", (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(output).href);
    expect(requests).toEqual([pathToFileURL(output).href]);
  });

  afterAll(async () => {
    if (page !== undefined) {
      mkdirSync(path.dirname(screenshotPath), { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
    }
    await browser?.close();
  });

  it("shows the totals of the input: services, records, skipped lines", async () => {
    const stat = (key: string): Promise<string> => page.locator(`header [data-stat="${key}"] dd`).innerText();
    expect(await stat("services")).toBe(String(services.length));
    expect(await stat("records")).toBe(String(records.length));
    expect(await stat("skipped")).toBe(String(otherLogLines.length));
  });

  it("has one section per service, with its reconciles, outcomes and duration percentiles", async () => {
    expect(await page.locator("section.service h2").allInnerTexts()).toEqual(services);
    for (const service of services) {
      const own = recordsOf(service);
      const section = page.locator(`section.service[data-service="${service}"]`);
      const stat = (key: string): Promise<string> => section.locator(`[data-stat="${key}"] dd`).innerText();
      expect(await stat("reconciles")).toBe(String(own.length));
      for (const outcome of ["converged", "changed", "failed"] as const) {
        expect(await stat(outcome)).toBe(String(own.filter((record) => record.outcome === outcome).length));
      }
      const durations = own.map((record) => record.durationMs);
      expect(await stat("p50")).toBe(String(nearestRank(durations, 50)));
      expect(await stat("p99")).toBe(String(nearestRank(durations, 99)));
      const repairs = own.filter((r) => r.triggers.every((kind) => kind === "sweep") && r.writesTotal > 0);
      expect(await stat("sweep-repairs")).toBe(String(repairs.length));
      const repairRows = section.locator("table.sweep-repairs tbody tr.repair");
      expect(await repairRows.count()).toBe(repairs.length);
      for (const [index, repair] of repairs.entries()) {
        expect(await repairRows.nth(index).locator("td").nth(1).innerText()).toBe(String(repair.writesTotal));
      }
    }
  });

  it("draws each chart of each service as a visible SVG, with the numbers in its legend and labels", async () => {
    for (const service of services) {
      const own = recordsOf(service);
      const section = page.locator(`section.service[data-service="${service}"]`);
      for (const kind of ["timeline", "endpoints", "writes"]) {
        const svg = section.locator(`figure[data-chart="${kind}"] svg`);
        expect(await svg.count()).toBe(1);
        const box = await svg.boundingBox();
        expect(box?.width).toBeGreaterThan(400);
        expect(box?.height).toBeGreaterThan(100);
      }
      const texts = (kind: string): Promise<string[]> => section.locator(`figure[data-chart="${kind}"] svg text`).allTextContents();
      const timeline = await texts("timeline");
      for (const outcome of ["converged", "changed", "failed"] as const) {
        expect(timeline).toContain(`${outcome} ${own.filter((record) => record.outcome === outcome).length}`);
      }
      expect(timeline).toContain(`p99 ${nearestRank(own.map((record) => record.durationMs), 99)} ms`);
      const lastGood = own.filter((record) => record.outcome !== "failed").sort((a, b) => a.startedAt.localeCompare(b.startedAt)).at(-1);
      expect(await texts("endpoints")).toContain(`ready (last ${lastGood?.tasks.ready ?? 0})`);
      const writes = await texts("writes");
      const sum = (pick: (record: (typeof own)[number]) => number): number => own.reduce((total, record) => total + pick(record), 0);
      for (const value of [
        sum((r) => r.writes.cloudMapRegistered),
        sum((r) => r.writes.targetsRegistered),
        sum((r) => r.writes.parametersWritten),
      ]) {
        expect(writes).toContain(String(value));
      }
    }
  });

  it("lists each failure with its error and reasons, and counts the reasons", async () => {
    for (const service of services) {
      const failed = recordsOf(service).filter((record) => record.outcome === "failed");
      const section = page.locator(`section.service[data-service="${service}"]`);
      const rows = section.locator("table.failures tbody tr.failure");
      expect(await rows.count()).toBe(failed.length);
      for (const [index, record] of failed.entries()) {
        const cells = await rows.nth(index).locator("td").allInnerTexts();
        expect(cells[0]).toBe(record.startedAt);
        expect(cells[1]).toBe(record.error?.name);
        expect(cells[2]?.split(" ")).toEqual(record.error?.reasons);
        expect(cells[3]).toBe(record.error?.message);
      }
      const reasons = failed.flatMap((record) => record.error?.reasons ?? []);
      for (const reason of new Set(reasons)) {
        const count = reasons.filter((r) => r === reason).length;
        expect(await section.locator(`li[data-reason="${reason}"] b`).innerText()).toBe(String(count));
      }
      if (failed.length === 0) expect(await section.locator("table.failures tbody tr.empty").count()).toBe(1);
    }
  });
});
