import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "@discovery-sync/core";
import { run, type CliIo } from "@discovery-sync/cli";
import { describeAwsFailure, exitCodes } from "../../packages/cli/src/errors.js";
import { formatAge, formatTable, parseDuration } from "../../packages/cli/src/format.js";
import { colorEnabled } from "../../packages/cli/src/io.js";
import { estimateDocument } from "../../packages/cli/src/commands/validate.js";
import { planJson } from "../../packages/cli/src/commands/plan.js";
import { statusJson } from "../../packages/cli/src/commands/status.js";
import type { ServiceObservation } from "../../packages/cli/src/observe.js";
import { missingOutput, queueSource, stackNameOfStage } from "../../packages/cli/src/settings.js";
import { APP_NAME } from "../../stacks/plainCdkContext.js";

const service = {
  name: "workflow-agent",
  cluster: "workflow",
  ecsService: "workflow-agent",
  port: 50051,
  parameterName: "/discovery/workflow-agent/endpoints",
};

/** Runs the CLI in-process with no AWS settings at all: these commands must not need the network. */
async function cli(argv: readonly string[], env: Record<string, string> = {}, tty = false) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text), isTTY: tty },
    stderr: { write: (text: string) => (stderr += text), isTTY: tty },
    env,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

async function configFile(content: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "discovery-sync-cli-unit-"));
  const file = join(dir, "config.json");
  await writeFile(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

describe("discovery-sync validate", () => {
  it("a valid configuration: exit 0, each service's document size and tier at the given count", async () => {
    const file = await configFile({ services: [service] });
    const result = await cli(["validate", "--config", file, "--endpoints", "10", "--json"]);
    expect(result.code).toBe(0);
    const [estimate] = JSON.parse(result.stdout).services;
    expect(estimate).toMatchObject({ service: "workflow-agent", estimate: { endpoints: 10, form: "single", tier: "Standard", shards: 0 } });
    // The limits come from the planner: Standard single < single (8 KB) < sharded.
    expect(estimate.standardSingleUpTo).toBeGreaterThan(10);
    expect(estimate.singleUpTo).toBeGreaterThan(estimate.standardSingleUpTo);
    expect(estimateDocument(parseConfig({ services: [service] }).services[0]!, estimate.singleUpTo + 1, "us-east-1a").form).toBe("sharded");
    expect(estimateDocument(parseConfig({ services: [service] }).services[0]!, estimate.standardSingleUpTo + 1, "us-east-1a").tier).toBe("Advanced");
  });

  it("an invalid configuration: exit 1, every wrong field named with the value given", async () => {
    const file = await configFile({ services: [{ ...service, port: 70000 }, { ...service, cluster: "other" }] });
    const result = await cli(["validate", "--config", file]);
    expect(result.code).toBe(exitCodes.notConverged);
    expect(result.stdout).toContain("services[0].port: must be from 1 to 65535 (given 70000)");
    expect(result.stdout).toContain('services[1].name: is already used by services[0]');
    const json = await cli(["validate", "--config", file, "--json"]);
    expect(JSON.parse(json.stdout).issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(["services[0].port", "services[1].name"]));
  });

  it("a file that is not JSON, a missing file, or no configuration at all: exit 2 with the reason", async () => {
    const notJson = await cli(["validate", "--config", await configFile("{ services: ")]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^discovery-sync: error: the configuration file ".*config.json" is not JSON: /);
    const none = await cli(["validate"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no configuration: pass --config FILE, or set DISCOVERY_SYNC_CONFIG (JSON) or DISCOVERY_SYNC_CONFIG_PARAMETER");
    const fromEnv = await cli(["validate"], { DISCOVERY_SYNC_CONFIG: "not json" });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain("DISCOVERY_SYNC_CONFIG is not valid JSON");
  });
});

describe("discovery-sync usage", () => {
  it.each(["status", "plan", "reconcile", "endpoints", "validate", "dlq list", "dlq redrive"])("%s --help has an example and the exit codes", async (command) => {
    const result = await cli([...command.split(" "), "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`$ discovery-sync ${command.split(" ")[0]}`);
    expect(result.stdout).toContain("Exit codes:");
    expect(result.stdout).toContain("--json");
  });

  it("bad arguments exit 2 with a message, not a stack trace", async () => {
    const unknown = await cli(["status", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    const both = await cli(["reconcile", "--service", "a", "--all"], { DISCOVERY_SYNC_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q.fifo" });
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("discovery-sync: error: reconcile needs exactly one of --service NAME or --all\n");
    const timeout = await cli(["reconcile", "--all", "--timeout", "soon"]);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('--timeout must be a duration like 30s, 2m or 500ms (given "soon")');
    const endpoint = await cli(["status", "--endpoint-url", "localhost:5000", "--config", await configFile({ services: [service] })]);
    expect(endpoint.code).toBe(2);
    expect(endpoint.stderr).toContain('--endpoint-url must be an http:// or https:// URL (given "localhost:5000")');
  });
});

describe("CLI building blocks", () => {
  it("parses durations and refuses anything else", () => {
    expect(parseDuration("60s", "--timeout")).toBe(60_000);
    expect(parseDuration("2m", "--timeout")).toBe(120_000);
    expect(parseDuration("500ms", "--timeout")).toBe(500);
    expect(parseDuration("3", "--timeout")).toBe(3_000);
    expect(() => parseDuration("0s", "--timeout")).toThrow("--timeout must be more than 0");
    expect(() => parseDuration("1d", "--timeout")).toThrow('given "1d"');
  });

  it("formats ages and tables (colour codes take no width)", () => {
    expect(formatAge(42_000)).toBe("42s");
    expect(formatAge(185_000)).toBe("3m 5s");
    expect(formatAge(26 * 3_600_000)).toBe("1d 2h");
    expect(formatTable([["A", "BB"], ["\x1b[31mccc\x1b[39m", "d"]])).toBe("A    BB\n\x1b[31mccc\x1b[39m  d");
  });

  it("colour only on a terminal, never for JSON; NO_COLOR and FORCE_COLOR are honoured", () => {
    const io = (isTTY: boolean, env: Record<string, string> = {}): CliIo => ({ stdout: { write: () => true, isTTY }, stderr: { write: () => true }, env });
    expect(colorEnabled(io(true), false)).toBe(true);
    expect(colorEnabled(io(false), false)).toBe(false);
    expect(colorEnabled(io(true), true)).toBe(false);
    expect(colorEnabled(io(true, { NO_COLOR: "1" }), false)).toBe(false);
    expect(colorEnabled(io(false, { FORCE_COLOR: "1" }), false)).toBe(true);
  });

  it("AWS failures become one line naming what was done, where and why", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    const error = describeAwsFailure(refused, "reading the tasks", "http://127.0.0.1:1");
    expect(error.exitCode).toBe(exitCodes.awsFailure);
    expect(error.message).toBe(
      "reading the tasks: cannot reach http://127.0.0.1:1: connection refused (ECONNREFUSED); is the emulator or endpoint running, and is --endpoint-url right?",
    );
    expect(error.cause).toBe(refused);
    const denied = Object.assign(new Error("User is not authorized to perform ssm:GetParameter"), { name: "AccessDeniedException" });
    expect(describeAwsFailure(denied, "reading /x", undefined).message).toBe(
      "reading /x: AWS refused the request (AccessDeniedException): User is not authorized to perform ssm:GetParameter",
    );
    const notAws = Object.assign(new Error("UnknownError"), { name: "Unknown", $metadata: { httpStatusCode: 404 } });
    expect(describeAwsFailure(notAws, "reading /x", "http://127.0.0.1:8080").message).toBe(
      "reading /x: http://127.0.0.1:8080 answered HTTP 404 without an AWS error; is --endpoint-url right?",
    );
    const noRegion = describeAwsFailure(new Error("Region is missing"), "reading /x", undefined);
    expect(noRegion.exitCode).toBe(exitCodes.badInput);
  });
});

describe("status and plan JSON of what the reconcile's read step reports", () => {
  const config = parseConfig({ services: [{ ...service, cloudMapServiceId: "srv-0123456789abcdef" }] }).services[0]!;
  const observedAt = new Date("2026-11-28T12:00:00.000Z");

  it("a stale ECS read: not converged, not drifted, no plan and no writes, the task named", () => {
    // Prepare
    const taskArn = "arn:aws:ecs:us-east-1:123456789012:task/workflow/0123456789abcdef0123456789abcdef";
    const stale: ServiceObservation = {
      service: config,
      observedAt,
      tasks: [],
      desired: { ready: [], draining: [] },
      targetGroups: [],
      writes: [],
      failures: [],
      inFlight: [],
      stale: { message: `DescribeTasks returned version 1 of task ${taskArn}, older than version 2 ...`, taskArn },
      warnings: [],
      drifted: false,
      converged: false,
    };

    // Act
    const status = statusJson(stale);
    const plan = planJson(stale);

    // Assess
    expect(status).toMatchObject({ service: "workflow-agent", converged: false, drifted: false, stale: { taskArn }, writes: [], plan: undefined });
    expect(status.document).toEqual({ parameterName: service.parameterName, state: "unreadable" });
    expect(plan).toMatchObject({ writes: [], document: undefined, unsettled: [], stale: { taskArn } });
  });

  it("operations in flight: each with its direction in status, the opposite ones as plan's unsettled", () => {
    // Prepare
    const asDesired = { operationId: "op-1", instanceId: "task-1", type: "REGISTER_INSTANCE" as const, direction: "as-desired" as const };
    const opposite = { operationId: "op-2", instanceId: "task-2", type: "REGISTER_INSTANCE" as const, direction: "opposite" as const };
    const unsettled = { instanceId: "task-2", operationId: "op-2", operation: "REGISTER_INSTANCE" as const, wanted: "deregistered" as const };
    const observation: ServiceObservation = {
      service: config,
      observedAt,
      tasks: [],
      desired: { ready: [{ taskId: "task-1", taskArn: "arn:task-1", address: "10.0.1.5" }], draining: [] },
      cloudMap: { serviceId: "srv-0123456789abcdef", instances: [], operations: [asDesired, opposite] },
      targetGroups: [],
      parameter: { kind: "missing" },
      plan: { cloudMap: { register: [], deregister: [], unsettled: [unsettled] }, targetGroups: [], document: { kind: "skipped" } },
      writes: [],
      failures: [],
      inFlight: [unsettled],
      warnings: [],
      drifted: false,
      converged: false,
    };

    // Act
    const status = statusJson(observation);
    const plan = planJson(observation);

    // Assess
    expect(status.cloudMap).toEqual({ serviceId: "srv-0123456789abcdef", instances: [], operations: [asDesired, opposite] });
    expect(status.plan).toEqual({ document: { kind: "skipped", summary: "not decided: the parameter could not be read" }, unsettled: [unsettled] });
    expect(plan.unsettled).toEqual([unsettled]);
  });
});

describe("where the queue comes from: a URL, or the deployed stack's outputs", () => {
  const url = "https://sqs.us-east-1.amazonaws.com/123456789012/prod-discovery-sync.fifo";
  const stackName = "prod-discovery-sync-DiscoverySync";

  it("options before the environment; a queue URL before a stack at each level", () => {
    expect(queueSource({ queueUrl: url }, { DISCOVERY_SYNC_STACK: "other" })).toEqual({ kind: "url", url, from: "--queue-url" });
    expect(queueSource({ stack: stackName }, { DISCOVERY_SYNC_QUEUE_URL: url })).toEqual({ kind: "stack", stackName, from: "--stack" });
    expect(queueSource({ stage: "prod" }, { DISCOVERY_SYNC_QUEUE_URL: url })).toEqual({ kind: "stack", stackName, from: "--stage prod" });
    expect(queueSource({}, { DISCOVERY_SYNC_QUEUE_URL: url, DISCOVERY_SYNC_STACK: "other" })).toEqual({ kind: "url", url, from: "DISCOVERY_SYNC_QUEUE_URL" });
    expect(queueSource({}, { DISCOVERY_SYNC_QUEUE_URL: "", DISCOVERY_SYNC_STACK: stackName })).toEqual({ kind: "stack", stackName, from: "DISCOVERY_SYNC_STACK" });
    expect(queueSource({}, { DISCOVERY_SYNC_STACK: "" })).toEqual({ kind: "none" });
    const stackId = "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-discovery-sync-DiscoverySync/6c2e0a10-0000-11ef-8000-0a1b2c3d4e5f";
    expect(queueSource({ stack: stackId }, {})).toMatchObject({ kind: "stack", stackName: stackId });
  });

  it("the stage's stack is named as SST and the plain CDK entry point name it", () => {
    expect(stackNameOfStage("prod")).toBe(`prod-${APP_NAME}-DiscoverySync`);
    expect(() => stackNameOfStage("my stage")).toThrow('--stage must be a stage name of letters, digits and hyphens, starting with a letter (given "my stage")');
    expect(() => queueSource({ stack: "prod_stack" }, {})).toThrow('--stack must be a CloudFormation stack name');
    expect(() => queueSource({}, { DISCOVERY_SYNC_STACK: "1prod" })).toThrow('DISCOVERY_SYNC_STACK must be a CloudFormation stack name');
  });

  it("a stack without the output names the outputs it has, and its status", () => {
    const failed = missingOutput({ name: stackName, status: "ROLLBACK_COMPLETE", outputs: new Map() }, "QueueUrl");
    expect(failed.exitCode).toBe(exitCodes.badInput);
    expect(failed.message).toBe(`the stack ${stackName} (ROLLBACK_COMPLETE) has no QueueUrl output: it has no outputs; is it a discovery-sync stack?`);
    const other = missingOutput({ name: "web", status: "UPDATE_COMPLETE", outputs: new Map([["Url", "x"], ["BucketName", "y"]]) }, "QueueUrl");
    expect(other.message).toContain("its outputs are BucketName, Url");
  });

  it("reconcile and dlq: more than one queue option, or none, exit 2 before any AWS call", async () => {
    const both = await cli(["reconcile", "--all", "--queue-url", url, "--stack", stackName]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("discovery-sync: error: pass one of --queue-url, --stack or --stage, not --queue-url and --stack\n");
    const stageAndStack = await cli(["dlq", "redrive", "--stage", "prod", "--stack", stackName]);
    expect(stageAndStack.code).toBe(2);
    expect(stageAndStack.stderr).toContain("not --stack and --stage");
    const none = await cli(["reconcile", "--all"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("(--stack NAME, --stage NAME or DISCOVERY_SYNC_STACK)");
    const noDlq = await cli(["dlq"]);
    expect(noDlq.code).toBe(2);
    expect(noDlq.stderr).toContain("or the deployed stack (--stack NAME, --stage NAME or DISCOVERY_SYNC_STACK)");
  });

  it.each(["reconcile", "dlq list", "dlq redrive"])("%s --help names --stack and --stage", async (command) => {
    const help = (await cli([...command.split(" "), "--help"])).stdout;
    expect(help).toContain("--stack <name>");
    expect(help).toContain("--stage <name>");
  });
});
