/**
 * `discovery-sync report --log-group`: reconcile records read back from CloudWatch Logs in the emulator (every page of
 * FilterLogEvents, every stream), the other lines of the group left out, and the failures of reading AWS reported
 * with exit code 3 and one line.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseLogLines } from "../../packages/cli/src/report/records.js";
import { runReport, type ReportIo } from "../../packages/cli/src/report/run.js";
import { readLogGroup } from "../../packages/cli/src/report/sources.js";
import { isolatedAccount, testRegion } from "../support/aws.js";
import { logLine, otherLogLines, reconcileRecord } from "../unit/cli-report-records.js";

function collector(): { stream: { write(text: string): boolean }; text: () => string } {
  const chunks: string[] = [];
  return { stream: { write: (text: string) => chunks.push(text) > 0 }, text: () => chunks.join("") };
}

afterEach(() => vi.unstubAllEnvs());

describe("report --log-group", () => {
  it("reads every reconcile record of the period from every stream and page, and no other line", async () => {
    // Prepare: two streams (two Lambda instances), more events than one FilterLogEvents page may hold.
    const account = isolatedAccount();
    vi.stubEnv("AWS_ACCESS_KEY_ID", account.clientConfig.credentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", account.clientConfig.credentials.secretAccessKey);
    const logs = account.client(CloudWatchLogsClient);
    const logGroupName = "/aws/lambda/test-discovery-sync-reconcile";
    await logs.send(new CreateLogGroupCommand({ logGroupName }));
    const now = Date.now();
    const perStream = 60;
    const streams = ["2026/11/28/[$LATEST]aaaa", "2026/11/28/[$LATEST]bbbb"];
    for (const [streamIndex, logStreamName] of streams.entries()) {
      await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
      const events = Array.from({ length: perStream }, (_, i) => {
        const timestamp = now - 20 * 60_000 + i * 10_000 + streamIndex;
        const failed = i % 20 === 0;
        const record = reconcileRecord({
          service: streamIndex === 0 ? "workflow-agent" : "billing",
          startedAt: new Date(timestamp).toISOString(),
          durationMs: 10 + i,
          ...(failed ? { outcome: "failed", error: { name: "ReconcileError", message: "throttled", reasons: ["ThrottlingException"] } } : {}),
        });
        return [{ timestamp, message: logLine(record) }, { timestamp, message: otherLogLines[i % otherLogLines.length] ?? "" }];
      }).flat();
      // A record older than the period: it must not be read.
      events.unshift({ timestamp: now - 3 * 3_600_000, message: logLine(reconcileRecord({ service: "too-old" })) });
      await logs.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents: events }));
    }
    // Every page: FilterLogEvents answers at most `limit` events and a nextToken (the emulator's default page holds
    // 10,000 events, so a small page makes the pagination visible here).
    let filterCalls = 0;
    logs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "FilterLogEventsCommand") filterCalls += 1;
        return next(args);
      },
      { step: "initialize", name: "countFilterLogEvents" },
    );
    const lines = await readLogGroup(logs, { logGroupName, startTime: now - 3_600_000, endTime: now, pageSize: 25 });
    const parsed = parseLogLines(lines);
    expect(parsed.records).toHaveLength(2 * perStream);
    expect(filterCalls).toBeGreaterThanOrEqual(Math.ceil(lines.length / 25));
    expect(filterCalls).toBeGreaterThan(1);

    const output = path.join(mkdtempSync(path.join(tmpdir(), "report-logs-")), "report.html");
    const stdout = collector();
    const stderr = collector();
    const io: ReportIo = { stdout: stdout.stream, stderr: stderr.stream, env: {}, decorateLogsClient: (client) => client.middlewareStack.use(account.plugin) };

    // Act
    const code = await runReport(
      { logGroup: logGroupName, since: "1h", output, region: testRegion, endpointUrl: account.endpoint, json: true },
      io,
    );

    // Assess
    expect(stderr.text()).toBe("");
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.text()) as { services: { service: string; reconciles: number; outcomes: { failed: number } }[] };
    expect(summary.services.map((s) => [s.service, s.reconciles, s.outcomes.failed])).toEqual([
      ["billing", perStream, perStream / 20],
      ["workflow-agent", perStream, perStream / 20],
    ]);
    const html = readFileSync(output, "utf8");
    expect(html).toContain('data-service="billing"');
    expect(html).not.toContain("too-old");
  });

  it("ends with exit code 3 and one line naming the group when it does not exist", async () => {
    const account = isolatedAccount();
    vi.stubEnv("AWS_ACCESS_KEY_ID", account.clientConfig.credentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", account.clientConfig.credentials.secretAccessKey);
    const stdout = collector();
    const stderr = collector();

    const code = await runReport(
      { logGroup: "/aws/lambda/missing", since: "1h", output: path.join(tmpdir(), "never.html"), region: testRegion, endpointUrl: account.endpoint },
      { stdout: stdout.stream, stderr: stderr.stream, env: {}, decorateLogsClient: (client) => client.middlewareStack.use(account.plugin) },
    );

    expect(code).toBe(3);
    expect(stderr.text()).toMatch(/^discovery-sync: error: cannot read log group \/aws\/lambda\/missing: ResourceNotFoundException: /);
    expect(stderr.text().trim().split("\n")).toHaveLength(1);
  });

  it("ends with exit code 3 when the endpoint is down", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", "testing");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "testing");
    vi.stubEnv("AWS_MAX_ATTEMPTS", "1");
    const stderr = collector();
    // Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    const code = await runReport(
      { logGroup: "/aws/lambda/x", since: "1h", output: path.join(tmpdir(), "never.html"), region: testRegion, endpointUrl: "http://127.0.0.1:9" },
      { stdout: collector().stream, stderr: stderr.stream, env: {} },
    );
    expect(code).toBe(3);
    expect(stderr.text()).toMatch(/^discovery-sync: error: cannot read log group \/aws\/lambda\/x: .*ECONNREFUSED/);
  });
});
