import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { EmulatorError } from "./errors.js";

/** What importing a handler bundle in a fresh process gave. */
export interface FreshImport {
  /** `typeof` the bundle's `handler` export: `"function"` for a handler Lambda can call. */
  readonly handlerType: string;
  /** How long the `await import` took (wall clock), ms. */
  readonly ms: number;
  /** The CPU time (user + system, all threads of the process) it took, ms. */
  readonly cpuMs: number;
}

/** Options of {@link importInFreshProcess}. */
export interface FreshImportOptions {
  /** The discovery-sync configuration (JSON) the handler reads at start-up, as `DISCOVERY_SYNC_CONFIG`. */
  readonly config: string;
  /** Extra `node` flags (for example `["--enable-source-maps"]`). @default none */
  readonly nodeFlags?: readonly string[];
  /** @default 30 000 ms */
  readonly timeoutMs?: number;
}

/**
 * Imports a handler bundle in a fresh Node.js process, as Lambda's runtime would, with what a deployed function's
 * environment gives it at start-up (a region, credentials, the configuration, the queue's URL) and nothing of this
 * process's: how long the import took, and what the bundle exports as `handler`. Nothing is called, so no request
 * leaves the process.
 *
 * @example
 * ```ts
 * const imported = await importInFreshProcess("out/reconcile/index.mjs", { config: readFileSync("stacks/config/example.json", "utf8") });
 * if (imported.handlerType !== "function") throw new Error("no handler");
 * ```
 * @throws {EmulatorError} when the process fails or prints something other than its measurements.
 */
export async function importInFreshProcess(bundle: string, options: FreshImportOptions): Promise<FreshImport> {
  const script =
    `const cpu = process.cpuUsage(); const start = performance.now(); const m = await import(${JSON.stringify(`file://${bundle}`)}); ` +
    "const ms = performance.now() - start; const used = process.cpuUsage(cpu); " +
    "process.stdout.write(JSON.stringify({ handlerType: typeof m.handler, ms, cpuMs: (used.user + used.system) / 1000 }));";
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, [...(options.nodeFlags ?? []), "--input-type=module", "-e", script], {
      env: {
        PATH: process.env["PATH"] ?? "",
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        DISCOVERY_SYNC_CONFIG: options.config,
        DISCOVERY_SYNC_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/queue.fifo",
      },
      encoding: "utf8",
      timeout: options.timeoutMs ?? 30_000,
    }));
  } catch (error) {
    throw new EmulatorError(`importing ${bundle} in a fresh node process failed: ${(error as Error).message}`, { cause: error });
  }
  let measured: Partial<Record<keyof FreshImport, unknown>> = {};
  try {
    measured = JSON.parse(stdout) as typeof measured;
  } catch {
    // Not JSON: reported below with what was printed.
  }
  if (typeof measured.handlerType !== "string" || typeof measured.ms !== "number" || typeof measured.cpuMs !== "number") {
    throw new EmulatorError(`importing ${bundle} printed ${JSON.stringify(stdout)}, not its handler's type and durations`);
  }
  return { handlerType: measured.handlerType, ms: measured.ms, cpuMs: measured.cpuMs };
}
