/**
 * Cold import of each handler bundle against an SSM-only handler bundled the same way (issue 9: at most 1.25x).
 *
 * Each of `functions/*.ts` is bundled with the construct's esbuild settings (`handlerBundling` of
 * `@discovery-sync/cdk`), next to a handler that only imports `SSMClient` and `GetParameterCommand` from
 * `@aws-sdk/client-ssm`. Each bundle is then imported in a fresh `node` process, `runs` times, rounds interleaved
 * (router, reconcile, sweep, SSM-only, router, ...) so that a busy moment of the machine hits every bundle alike; the
 * process measures its own `await import(bundle)` with `performance.now()`. The figure is the median.
 *
 * `npx tsx --conditions=source scripts/bench-coldstart.ts [runs]` prints a markdown table; `measureColdImports()` is
 * what other benchmarks call. A benchmark, not a test: timings are reported, never asserted.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { esbuildOptionsOf, handlerBundling, type HandlerBundling } from "@discovery-sync/cdk";
import { importInFreshProcess } from "@discovery-sync/emulator";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const exampleConfigFile = path.join(repoRoot, "stacks/config/example.json");

/** The handlers measured, by name, and the SSM-only reference. */
export const coldImportEntries = {
  router: path.join(repoRoot, "functions/route.ts"),
  reconcile: path.join(repoRoot, "functions/reconcile.ts"),
  sweep: path.join(repoRoot, "functions/sweep.ts"),
} as const;

/** Name of the reference bundle in the rows. */
export const ssmOnlyName = "ssm-only";

const ssmOnlySource = `import { SSMClient, GetParameterCommand } from "@aws-sdk/client-ssm";
const ssm = new SSMClient({});
export const handler = async (event) => (await ssm.send(new GetParameterCommand({ Name: event.name }))).Parameter?.Value;
`;

/** The cold import of one bundle. */
export interface ColdImportRow {
  /** `router`, `reconcile`, `sweep` or {@link ssmOnlyName}. */
  readonly name: string;
  /** Size of the bundle (`index.mjs`), bytes. */
  readonly bytes: number;
  /** Size of its source map, bytes (0 without one). */
  readonly sourceMapBytes: number;
  /** Median of the import times (wall clock), ms. */
  readonly medianMs: number;
  /** Every import time measured, ms, in the order measured. */
  readonly samplesMs: readonly number[];
  /** `medianMs` over the SSM-only bundle's median (1 for the SSM-only row). */
  readonly ratio: number;
  /**
   * Median of the CPU time (user + system, all threads of the process) the import took, ms: what a Lambda's share of
   * a core pays, and far less disturbed than the wall clock by other processes on a busy machine.
   */
  readonly medianCpuMs: number;
  /** `medianCpuMs` over the SSM-only bundle's. */
  readonly cpuRatio: number;
}

/**
 * What the reconcile handler's cold import is made of, one piece added at a time (each a bundle of its own, from
 * `@discovery-sync/core` as the handler imports it): the five SDK clients it talks through imported but not built,
 * then built (`createAwsClients`), then the configuration loaded, then Powertools' Logger and Metrics. The handler
 * itself (`functions/reconcile.ts`) adds the reconcile code, Powertools' batch processor and the handler's set-up.
 */
export const reconcileBreakdownSources = {
  "SDK clients imported, none built": `import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
export const handler = async () => [new ECSClient({}), new ElasticLoadBalancingV2Client({}), new ServiceDiscoveryClient({}), new SSMClient({}), new SQSClient({})];
`,
  "+ the five built (createAwsClients)": `import { createAwsClients } from "@discovery-sync/core";
const clients = createAwsClients();
export const handler = async () => clients;
`,
  "+ configuration loaded (loadConfig)": `import { createAwsClients, loadConfig } from "@discovery-sync/core";
const clients = createAwsClients();
const config = await loadConfig(process.env, () => clients.ssm);
export const handler = async () => [clients, config];
`,
  "+ Logger and Metrics": `import { createAwsClients, createLogger, createMetrics, loadConfig } from "@discovery-sync/core";
const clients = createAwsClients();
const config = await loadConfig(process.env, () => clients.ssm);
const logger = createLogger("reconciler");
const metrics = createMetrics();
export const handler = async () => [clients, config, logger, metrics];
`,
} as const;

/** Options of {@link measureColdImports}. */
export interface MeasureColdImportsOptions {
  /** Imports per bundle, each in a fresh process. @default 15 */
  readonly runs?: number;
  /** The handler files measured, by name. @default {@link coldImportEntries} */
  readonly entries?: Readonly<Record<string, string>>;
  /** More bundles, by name: module sources resolved from the repository root (see {@link reconcileBreakdownSources}). @default none */
  readonly sources?: Readonly<Record<string, string>>;
  /** The esbuild settings. @default the construct's (`handlerBundling`) */
  readonly bundling?: HandlerBundling;
  /** Extra `node` flags of each importing process (for example `["--enable-source-maps"]`). @default none */
  readonly nodeFlags?: readonly string[];
}

/**
 * Bundles each handler and the SSM-only reference, and measures their cold imports.
 *
 * @example
 * ```ts
 * const rows = await measureColdImports({ runs: 15 });
 * for (const row of rows) console.log(row.name, row.medianMs, `${row.ratio.toFixed(2)}x`);
 * ```
 */
export async function measureColdImports(options: MeasureColdImportsOptions = {}): Promise<ColdImportRow[]> {
  const runs = options.runs ?? 15;
  if (!Number.isInteger(runs) || runs < 1) throw new TypeError(`runs must be a positive integer (given ${String(runs)})`);
  const workDir = mkdtempSync(path.join(tmpdir(), "discovery-sync-coldstart-"));
  try {
    const entries: Array<[string, { file: string } | { source: string }]> = [
      ...Object.entries(options.entries ?? coldImportEntries).map(([name, file]) => [name, { file }] as [string, { file: string }]),
      ...Object.entries(options.sources ?? {}).map(([name, source]) => [name, { source }] as [string, { source: string }]),
      [ssmOnlyName, { source: ssmOnlySource }],
    ];
    const bundles = await Promise.all(
      entries.map(async ([name, entry], index) => {
        const outfile = path.join(workDir, String(index), "index.mjs");
        await build({
          // A source has no file of its own: resolved from the repository root, like the handlers' imports.
          ...("source" in entry ? { stdin: { contents: entry.source, resolveDir: repoRoot, loader: "js" as const } } : { entryPoints: [entry.file] }),
          outfile,
          logLevel: "warning",
          ...esbuildOptionsOf(options.bundling ?? handlerBundling),
        });
        return { name, file: outfile };
      }),
    );
    const samples = new Map<string, Array<{ ms: number; cpuMs: number }>>(bundles.map((b) => [b.name, []]));
    for (let round = 0; round < runs; round++) {
      for (const bundle of bundles) samples.get(bundle.name)!.push(await importOnce(bundle.file, options.nodeFlags ?? []));
    }
    const wall = new Map([...samples].map(([name, values]) => [name, median(values.map((v) => v.ms))]));
    const cpu = new Map([...samples].map(([name, values]) => [name, median(values.map((v) => v.cpuMs))]));
    return bundles.map(({ name, file }) => ({
      name,
      bytes: statSync(file).size,
      sourceMapBytes: sizeIfAny(`${file}.map`),
      medianMs: wall.get(name)!,
      samplesMs: samples.get(name)!.map((v) => v.ms),
      ratio: wall.get(name)! / wall.get(ssmOnlyName)!,
      medianCpuMs: cpu.get(name)!,
      cpuRatio: cpu.get(name)! / cpu.get(ssmOnlyName)!,
    }));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Imports a bundle in a fresh Node.js process, as Lambda's runtime would: how long it took, and how much CPU. */
async function importOnce(bundle: string, nodeFlags: readonly string[]): Promise<{ ms: number; cpuMs: number }> {
  const imported = await importInFreshProcess(bundle, { config: readFileSync(exampleConfigFile, "utf8"), nodeFlags });
  if (imported.handlerType !== "function") throw new Error(`${bundle} exports no handler function (its handler is ${imported.handlerType})`);
  return { ms: imported.ms, cpuMs: imported.cpuMs };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function sizeIfAny(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * The rows as a markdown table, with the issue's target (at most 1.25x the SSM-only bundle) checked per handler.
 *
 * @example
 * ```ts
 * process.stdout.write(coldImportTable(await measureColdImports()));
 * ```
 */
export function coldImportTable(rows: readonly ColdImportRow[], targetRatio = 1.25): string {
  const lines = [
    "| bundle | size (KB) | source map (KB) | cold import, median (ms) | vs SSM-only | CPU, median (ms) | CPU vs SSM-only | target (wall) |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
    ...rows.map(
      (row) =>
        `| ${row.name} | ${(row.bytes / 1024).toFixed(0)} | ${(row.sourceMapBytes / 1024).toFixed(0)} | ${row.medianMs.toFixed(1)} | ` +
        `${row.ratio.toFixed(2)}x | ${row.medianCpuMs.toFixed(1)} | ${row.cpuRatio.toFixed(2)}x | ` +
        `${row.name === ssmOnlyName ? "reference" : row.ratio <= targetRatio ? `met (<= ${targetRatio}x)` : `missed (> ${targetRatio}x)`} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const runs = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const rows = await measureColdImports(runs === undefined ? {} : { runs });
  process.stdout.write(`Cold import, node ${process.version}, ${rows[0]?.samplesMs.length ?? 0} fresh processes per bundle:\n\n`);
  process.stdout.write(coldImportTable(rows));
}
