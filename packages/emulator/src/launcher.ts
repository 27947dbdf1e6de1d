import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EmulatorError, EmulatorNotInstalledError } from "./errors.js";

const launcherScript = join(dirname(fileURLToPath(import.meta.url)), "..", "python", "moto_launcher.py");

/** Options of {@link startEmulator}. */
export interface StartEmulatorOptions {
  /** Python interpreter that has moto installed. @default env DISCOVERY_SYNC_PYTHON, else "python3" */
  readonly python?: string;
  /** Loopback port to listen on. @default a free port chosen by the OS */
  readonly port?: number;
  /** File that receives moto's own log (its Python tracebacks explain HTML 500 answers). @default no log kept */
  readonly logFile?: string;
  /** How long to wait for the server to answer. @default 20 000 ms */
  readonly startTimeoutMs?: number;
}

/** A running emulator. */
export interface RunningEmulator {
  /** Base URL, for example `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  readonly port: number;
  /** Stops the server; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts moto's server on a free loopback port, with the project's patch for awsvpc RunTask,
 * and freezes ECS task state progression (moto otherwise advances a task's status on every
 * DescribeTasks call, so a RUNNING task would "stop" by being looked at).
 *
 * @example
 * ```ts
 * const emulator = await startEmulator();
 * process.env.AWS_ENDPOINT_URL = emulator.endpoint;
 * // ... use the AWS SDK ...
 * await emulator.stop();
 * ```
 * @throws {EmulatorNotInstalledError} when moto is missing, with the command that installs it.
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const python = options.python ?? process.env.DISCOVERY_SYNC_PYTHON ?? "python3";
  assertMotoInstalled(python);
  const port = options.port ?? (await findFreePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(python, [launcherScript, "-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (options.logFile !== undefined) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    const log = createWriteStream(options.logFile, { flags: "a" });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitUntilAnswering(endpoint, child, options.startTimeoutMs ?? 20_000);
    await freezeTaskProgression(endpoint);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    port,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
          await exited;
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

function assertMotoInstalled(python: string): void {
  const probe = spawnSync(python, ["-c", "import moto.server, flask"], { encoding: "utf8" });
  if (probe.error !== undefined) {
    throw new EmulatorNotInstalledError(python, `cannot run ${python} (${probe.error.message})`, {
      cause: probe.error,
    });
  }
  if (probe.status !== 0) {
    const lastLine = (probe.stderr ?? "").trim().split("\n").at(-1) ?? "import failed";
    throw new EmulatorNotInstalledError(python, lastLine);
  }
}

/** Asks the OS for a free loopback port. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === "string") reject(new EmulatorError("no port assigned"));
        else resolve(address.port);
      });
    });
  });
}

async function waitUntilAnswering(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new EmulatorError(`moto's server exited with code ${child.exitCode} before answering at ${endpoint}`);
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.ok) return;
      lastError = new Error(`HTTP ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new EmulatorError(`moto's server did not answer at ${endpoint} within ${timeoutMs} ms`, { cause: lastError });
}

async function freezeTaskProgression(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/state-manager/set-transition`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model_name: "ecs::task", transition: { progression: "manual", times: 1_000_000_000 } }),
  });
  await response.arrayBuffer();
  if (!response.ok) {
    throw new EmulatorError(`could not freeze ECS task state progression at ${endpoint}: HTTP ${response.status}`);
  }
}
