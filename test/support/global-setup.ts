import type { TestProject } from "vitest/node";
// The launcher module alone: the package index pulls in every SDK client, which costs seconds of setup.
import { startEmulator, type RunningEmulator } from "../../packages/emulator/src/launcher.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the moto server shared by every test file; each test isolates itself in its own account. */
    emulatorEndpoint: string;
  }
}

let emulator: RunningEmulator | undefined;

export async function setup(project: TestProject): Promise<void> {
  emulator = await startEmulator({ logFile: ".emulator-logs/moto-test.log" });
  project.provide("emulatorEndpoint", emulator.endpoint);
}

export async function teardown(): Promise<void> {
  await emulator?.stop();
}
