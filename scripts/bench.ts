/**
 * `npm run bench`: the endpoint reader of `@discovery-sync/client` next to Powertools' `getParameter`, in one run
 * against one local AWS emulator (moto). A benchmark, not a test: it asserts nothing beyond "every read returned the
 * document", and prints a markdown table.
 *
 * For each implementation, with its own SSM client, cache and request counter:
 *
 * 1. 1,000 concurrent cold reads of one parameter: how many GetParameter requests reach SSM (counted by an SDK
 *    middleware in the finalizeRequest step, so each attempt counts once and cache hits never), and how long until
 *    all 1,000 have settled.
 * 2. Cached reads, once warm: calls per second of `await reader.endpoints()` / `await getParameter(...)` over a fixed
 *    time, and how many requests that loop made (0 if the cache holds).
 * 3. Heap growth over the section, after a forced GC, against a baseline taken once the SDK's modules were loaded:
 *    the warm instance (cache, SSM client) plus whatever its cold requests left behind (keep-alive sockets, the
 *    SDK's and Node's state after many requests in flight). The cold results themselves are garbage by then.
 *
 * Powertools' `getParameter` reads through its default SSMProvider; the script installs one built with an
 * `awsSdkV3Client` pointed at the emulator (`DEFAULT_PROVIDERS.ssm`), which is exactly what `getParameter` calls.
 *
 * Then the section "Large services: reconcile and read cost by size" (`scripts/bench-large.ts`): the reconciler and
 * a reader end to end for 100 and 1,000 running tasks, and 5,000 + 5,000 endpoints at the document layer, each in
 * an emulator account of its own. It runs after the section above, so it cannot disturb that section's heap figures.
 * Unlike the section above, it fails (rather than print a count of the wrong work) when a step did not do what it is
 * measured for: a reader that read the wrong number of endpoints, a converged reconcile that published.
 */
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PROVIDERS } from "@aws-lambda-powertools/parameters/base";
import { getParameter, SSMProvider } from "@aws-lambda-powertools/parameters/ssm";
import { createEndpointReader, serializeEndpointDocument, type EndpointDocument } from "@discovery-sync/client";
import {
  emulatorCredentials,
  requestCounter,
  type RequestCounter,
  type RunningEmulator,
} from "@discovery-sync/emulator";
import { documentLayerSize, endToEndSizes, largeServiceTables, measureLargeServices } from "./bench-large.js";
import { withEmulator } from "./withEmulator.js";

const command = "npm run bench";
const region = "us-east-1";
const parameterName = "/discovery/workflow-agent/endpoints";
const coldReads = 1_000;
const warmLoopMs = 1_500;
/** Powertools' cache lifetime, in seconds: the reader's default refresh interval (30 s), so both hold the value. */
const powertoolsMaxAgeSeconds = 30;

const say = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};

// A forced GC makes the heap figures comparable; --expose-gc cannot be passed through the npm script, so enable it
// here (the standard trick: the flag is read when a new context is created).
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
const heapAfterGc = (): number => {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
};

/** A document like a real one: 12 ready tasks over 3 zones, 1 draining. */
function benchDocument(): EndpointDocument {
  const zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
  const endpoints = Array.from({ length: 12 }, (_, i) => ({
    address: `10.0.${i % 3}.${10 + i}`,
    port: 50051,
    zone: zones[i % 3]!,
    taskId: `c13b4cb4${String(i).padStart(24, "0")}`,
  }));
  return {
    schemaVersion: 1,
    service: "workflow-agent",
    revision: 42,
    generatedAt: new Date().toISOString(),
    endpoints,
    draining: [{ address: "10.0.9.9", port: 50051, zone: "us-east-1a", taskId: `d${"0".repeat(31)}` }],
  };
}

interface Candidate {
  readonly name: string;
  /** Builds a fresh, cold instance around `client`; returns its read function and how to dispose of it. */
  create(client: SSMClient): { read(): Promise<unknown>; close(): void };
  /** True when a read returned the benchmark document. */
  check(result: unknown): boolean;
}

interface Result {
  readonly coldRequests: number;
  readonly coldErrors: number;
  readonly coldWrong: number;
  readonly coldMs: number;
  readonly warmCalls: number;
  readonly warmPerSecond: number;
  readonly warmRequests: number;
  readonly heapBytes: number;
}

/** Runs the cold reads in their own scope, so their 1,000 results are garbage by the time the heap is measured. */
async function coldBurst(
  candidate: Candidate,
  read: () => Promise<unknown>,
): Promise<{ coldMs: number; coldErrors: number; coldWrong: number }> {
  const coldStart = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: coldReads }, () => read()));
  const coldMs = performance.now() - coldStart;
  const coldErrors = settled.filter((s) => s.status === "rejected").length;
  const coldWrong = settled.filter((s) => s.status === "fulfilled" && !candidate.check(s.value)).length;
  const firstError = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (firstError !== undefined) {
    const reason = firstError.reason as Error;
    process.stderr.write(`${candidate.name}: ${coldErrors} cold reads failed, first: ${reason.name}: ${reason.message}\n`);
  }
  return { coldMs, coldErrors, coldWrong };
}

async function measure(candidate: Candidate, emulator: RunningEmulator): Promise<Result> {
  const before = heapAfterGc();
  const counter: RequestCounter = requestCounter();
  const client = new SSMClient({ endpoint: emulator.endpoint, region, credentials: emulatorCredentials, maxAttempts: 1 });
  client.middlewareStack.use(counter.plugin);
  const instance = candidate.create(client);

  // 1. Cold: 1,000 reads started in the same tick, before anything is cached.
  const { coldMs, coldErrors, coldWrong } = await coldBurst(candidate, instance.read);
  const coldRequests = counter.count("GetParameterCommand");

  // 2. Warm: sequential awaited reads for a fixed time, checked against the clock every 10,000 calls.
  for (let i = 0; i < 10_000; i++) await instance.read(); // let the JIT settle
  const requestsBeforeLoop = counter.total();
  let warmCalls = 0;
  const loopStart = performance.now();
  let now = loopStart;
  while (now - loopStart < warmLoopMs) {
    for (let i = 0; i < 10_000; i++) await instance.read();
    warmCalls += 10_000;
    now = performance.now();
  }
  const warmPerSecond = warmCalls / ((now - loopStart) / 1_000);
  const warmRequests = counter.total() - requestsBeforeLoop;

  // 3. Heap growth: the warm instance (cache, client) and what its cold requests left behind.
  const heapBytes = heapAfterGc() - before;
  instance.close();
  client.destroy();
  return { coldRequests, coldErrors, coldWrong, coldMs, warmCalls, warmPerSecond, warmRequests, heapBytes };
}

function candidates(document: EndpointDocument): Candidate[] {
  const expectedFirst = document.endpoints[0]!.address;
  return [
    {
      name: "`@discovery-sync/client` `createEndpointReader`",
      create(client) {
        const reader = createEndpointReader({ parameterName, ssmClient: client, lambdaExtension: false });
        return { read: () => reader.endpoints(), close: () => reader.close() };
      },
      check: (result) => Array.isArray(result) && (result[0] as { address?: string } | undefined)?.address === expectedFirst,
    },
    {
      name: `Powertools \`getParameter\` (2.35.0, \`maxAge: ${powertoolsMaxAgeSeconds}\`, \`transform: "json"\`)`,
      create(client) {
        DEFAULT_PROVIDERS.ssm = new SSMProvider({ awsSdkV3Client: client });
        return {
          read: () => getParameter(parameterName, { maxAge: powertoolsMaxAgeSeconds, transform: "json" }),
          close: () => {
            delete DEFAULT_PROVIDERS.ssm;
          },
        };
      },
      check: (result) =>
        (result as { endpoints?: Array<{ address?: string }> } | undefined)?.endpoints?.[0]?.address === expectedFirst,
    },
  ];
}

const integer = (n: number): string => Math.round(n).toLocaleString("en-US");
const perSecond = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k/s` : `${n.toFixed(0)}/s`;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

function table(names: readonly string[], results: readonly Result[]): string[] {
  const row = (label: string, cells: readonly string[]): string => `| ${label} | ${cells.join(" | ")} |`;
  return [
    row("", names),
    row("---", names.map(() => "---:")),
    row(
      `cached reads per second (one warm instance, sequential \`await\`, ${(warmLoopMs / 1000).toFixed(1)} s)`,
      results.map((r) => perSecond(r.warmPerSecond)),
    ),
    row("SSM requests during the cached loop", results.map((r) => integer(r.warmRequests))),
    row(`SSM GetParameter requests for ${integer(coldReads)} concurrent cold reads`, results.map((r) => integer(r.coldRequests))),
    row(`time until all ${integer(coldReads)} cold reads settled`, results.map((r) => `${integer(r.coldMs)} ms`)),
    row("cold reads failed / wrong value", results.map((r) => `${r.coldErrors} / ${r.coldWrong}`)),
    row(
      "heap growth over the section, after GC (instance, its SSM client, what its cold requests left behind)",
      results.map((r) => kib(r.heapBytes)),
    ),
  ];
}

async function main(emulator: RunningEmulator): Promise<void> {
  const startedAt = Date.now();
  const document = benchDocument();
  const setup = new SSMClient({ endpoint: emulator.endpoint, region, credentials: emulatorCredentials });
  const value = serializeEndpointDocument(document);
  await setup.send(new PutParameterCommand({ Name: parameterName, Type: "String", Value: value, Overwrite: true }));
  setup.destroy();

  // One throwaway request first, so the SDK's lazily loaded modules (credentials, endpoint rules) are in memory
  // before any heap baseline: neither candidate is charged for them.
  const warmUp = new SSMClient({ endpoint: emulator.endpoint, region, credentials: emulatorCredentials });
  await warmUp.send(new GetParameterCommand({ Name: parameterName }));
  warmUp.destroy();

  const list = candidates(document);
  const results: Result[] = [];
  for (const candidate of list) {
    process.stderr.write(`measuring ${candidate.name.replaceAll("`", "")} ...\n`);
    results.push(await measure(candidate, emulator));
  }

  const cpu = cpus();
  say(`## Endpoint reads: @discovery-sync/client vs Powertools getParameter`);
  say();
  for (const line of table(list.map((c) => c.name), results)) say(line);
  say();
  say(`- command: \`${command}\` (${new Date().toISOString()}, ${((Date.now() - startedAt) / 1000).toFixed(1)} s in all)`);
  say(`- node ${process.version} on ${process.platform}/${process.arch}`);
  say(`- CPU: ${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);
  say(`- SSM: moto server (local emulator) at ${emulator.endpoint}; document of ${Buffer.byteLength(value)} bytes, ` +
    `${document.endpoints.length} endpoints; each implementation has its own SSMClient (maxAttempts 1) and cache`);

  await largeServices(emulator);
  await (await import("./bench-convergence.js")).convergenceSection(emulator, say);
  say();
  await (await import("./bench-pipeline.js")).pipelineSection(emulator, say);
}

async function largeServices(emulator: RunningEmulator): Promise<void> {
  const startedAt = Date.now();
  const rows = await measureLargeServices(emulator, (line) => process.stderr.write(`${line}\n`));
  const cpu = cpus();
  say();
  say("## Large services: reconcile and read cost by size");
  say();
  for (const line of largeServiceTables(rows)) say(line);
  say();
  say(`- command: \`${command}\` (${new Date().toISOString()}, ${((Date.now() - startedAt) / 1000).toFixed(1)} s for this section, ` +
    `of which ${(rows.reduce((sum, r) => sum + r.setupMs, 0) / 1000).toFixed(1)} s setup: provisioning and RunTask)`);
  say(`- node ${process.version} on ${process.platform}/${process.arch}`);
  say(`- CPU: ${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);
  const n = (x: number): string => x.toLocaleString("en-US");
  say(`- end to end (${endToEndSizes.map(n).join(" and ")} tasks): moto server, one account per size, one service with Cloud Map and one ` +
    "ip target group; `reconcileService` with warm caches of its own; the SSM writer's requests counted on its SSMClient, " +
    "each reader's on its own; the one-task change is a StopTask and the event trigger ECS would send");
  say(`- document layer (${n(documentLayerSize)} + ${n(documentLayerSize)}): \`readParameter\` + \`planReconcile\` on a synthetic desired state + ` +
    "`publishDocument` + `removeUnreferencedShards`, no ECS; times include the read of the current document");
  say("- the writer lists a document's shards with GetParametersByPath, at most 10 per page (the API's limit); moto also " +
    "answers a NextToken after a full last page, so a listing can take one empty page more here than on AWS");
}

// The SDK's notice that its 2027 releases need Node 22 says nothing about this benchmark.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
await withEmulator("bench", ".emulator-logs/moto-bench.log", main);
