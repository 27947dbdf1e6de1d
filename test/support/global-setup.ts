import type { TestProject } from "vitest/node";
import { startEmulator, type RunningEmulator } from "@discovery-sync/emulator";

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
