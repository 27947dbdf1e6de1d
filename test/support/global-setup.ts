import type { TestProject } from "vitest/node";
// The launcher module alone: the package index pulls in every SDK client, which costs seconds of setup.
import { EmulatorNotInstalledError } from "../../packages/emulator/src/errors.js";
import { startEmulator, type RunningEmulator } from "../../packages/emulator/src/launcher.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the moto server shared by every test file; each test isolates itself in its own account. */
    emulatorEndpoint: string;
  }
}

let emulator: RunningEmulator | undefined;

export async function setup(project: TestProject): Promise<void> {
  try {
    emulator = await startEmulator({ logFile: ".emulator-logs/moto-test.log" });
  } catch (error) {
    if (!(error instanceof EmulatorNotInstalledError)) throw error;
    // Thrown, vitest would first report "No test files found" and then this error with two stack traces: a newcomer
    // without moto should read how to install it, and nothing else.
    process.stderr.write(`\n${error.message}\n`);
    process.exit(1);
  }
  project.provide("emulatorEndpoint", emulator.endpoint);
}

export async function teardown(): Promise<void> {
  await emulator?.stop();
}
