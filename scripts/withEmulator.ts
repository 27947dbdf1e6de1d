import { EmulatorNotInstalledError, startEmulator, type RunningEmulator } from "@discovery-sync/emulator";

/**
 * Runs the body of a script (`npm start`, `npm run bench`) against a fresh emulator, and owns the emulator's life:
 * when moto is not installed it prints how to install it and sets exit code 1; the emulator is stopped when the body
 * ends, fails (reported with its cause, the stack with `DEBUG` set) or the process gets SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * await withEmulator("bench", ".emulator-logs/moto-bench.log", async (emulator) => { ... emulator.endpoint ... });
 * ```
 */
export async function withEmulator(
  scriptName: string,
  logFile: string,
  body: (emulator: RunningEmulator) => Promise<void>,
): Promise<void> {
  let emulator: RunningEmulator | undefined;
  const stop = async (): Promise<void> => {
    const running = emulator;
    emulator = undefined;
    await running?.stop();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping the emulator\n`);
      void stop().finally(() => process.exit(130));
    });
  }
  try {
    emulator = await startEmulator({ logFile });
    await body(emulator);
  } catch (error) {
    if (error instanceof EmulatorNotInstalledError) {
      process.stderr.write(`${error.message}\n`);
    } else {
      const cause =
        error instanceof Error && error.cause instanceof Error ? `\n  caused by ${error.cause.name}: ${error.cause.message}` : "";
      process.stderr.write(
        `\n${scriptName} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}${cause}\n`,
      );
      if (process.env["DEBUG"] !== undefined && error instanceof Error) process.stderr.write(`${error.stack ?? ""}\n`);
    }
    process.exitCode = 1;
  } finally {
    await stop();
  }
}
