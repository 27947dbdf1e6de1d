import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { AwsClients } from "@discovery-sync/core";
import ora, { type Ora } from "ora";
import picocolors from "picocolors";

/** A stream the CLI writes to: `process.stdout` or anything with `write` (a test's collector). */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** Terminal width, when a terminal. */
  readonly columns?: number;
}

/**
 * Everything the CLI touches outside its arguments, so that it runs in-process (tests) as it runs from the shell.
 *
 * @example
 * ```ts
 * const exitCode = await run(["status", "--json"], { stdout: process.stdout, stderr: process.stderr, env: process.env });
 * ```
 */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Where `DISCOVERY_SYNC_*`, `NO_COLOR` and `FORCE_COLOR` are read (the AWS SDK reads its own settings from `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Adjusts the SDK clients built from the AWS options before any call: tests add an emulator account plugin, or a
   * task overlay on `clients.ecs`. @default none
   */
  readonly decorateClients?: (clients: AwsClients) => void;
  /** Like `decorateClients`, for the CloudWatch Logs client of `report` and `dlq --log-group`. @default none */
  readonly decorateLogsClient?: (client: CloudWatchLogsClient) => void;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The I/O of the real process. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Colour functions (all identity when colour is off). */
export type Colors = ReturnType<typeof picocolors.createColors>;

/** How a command prints: text (coloured on a terminal) or JSON, and a spinner on a terminal's stderr. */
export interface Output {
  readonly json: boolean;
  readonly colors: Colors;
  /** Writes one line (or several) to stdout. */
  line(text?: string): void;
  /** Writes a value as indented JSON to stdout. */
  printJson(value: unknown): void;
  /** Writes one line to stderr. */
  note(text: string): void;
  /**
   * Runs `work` with a spinner on stderr when stderr is a terminal and the output is not JSON; it appears only once
   * the work has taken longer than a second, so quick commands do not flicker.
   */
  withSpinner<T>(text: string, work: (update: (text: string) => void) => Promise<T>): Promise<T>;
}

/** Whether colour is used: never for JSON; `NO_COLOR` turns it off, `FORCE_COLOR` on, otherwise only on a terminal. */
export function colorEnabled(io: CliIo, json: boolean): boolean {
  if (json) return false;
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== "") return false;
  if (io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== "" && io.env.FORCE_COLOR !== "0") return true;
  return io.stdout.isTTY === true && io.env.TERM !== "dumb";
}

/**
 * The output of one command run.
 *
 * @example
 * ```ts
 * const out = createOutput(io, { json: options.json === true });
 * out.line(out.colors.green("converged"));
 * ```
 */
export function createOutput(io: CliIo, options: { json: boolean }): Output {
  const colors = picocolors.createColors(colorEnabled(io, options.json));
  // A terminal that reports no width (a bare pseudo-terminal) would make the spinner's line arithmetic loop forever.
  const spinnerAllowed = !options.json && io.stderr.isTTY === true && (io.stderr.columns ?? 0) > 0 && io.env.CI === undefined;
  return {
    json: options.json,
    colors,
    line: (text = "") => void io.stdout.write(`${text}\n`),
    printJson: (value) => void io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    note: (text) => void io.stderr.write(`${text}\n`),
    async withSpinner(text, work) {
      if (!spinnerAllowed) return work(() => undefined);
      let spinner: Ora | undefined;
      let current = text;
      // A spinner only for work longer than a second.
      const timer = setTimeout(() => {
        spinner = ora({ text: current, stream: io.stderr as NodeJS.WritableStream, discardStdin: false }).start();
      }, 1_000);
      try {
        return await work((next) => {
          current = next;
          if (spinner !== undefined) spinner.text = next;
        });
      } finally {
        clearTimeout(timer);
        spinner?.stop();
      }
    },
  };
}
