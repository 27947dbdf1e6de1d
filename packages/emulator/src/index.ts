export { EmulatorError, EmulatorNotInstalledError } from "./errors.js";
export { startEmulator, findFreePort, type StartEmulatorOptions, type RunningEmulator } from "./launcher.js";
export { accountPlugin, randomAccountId, motoAccountHeader, emulatorCredentials } from "./account.js";
export { requestCounter, type RequestCounter } from "./request-counter.js";
export { waveCounter, countWaves, type WaveCounter, type WaveCounterOptions, type WaveMeasurement, type TimedRequest } from "./waves.js";
export * from "./world.js";
export * from "./lambda-runtime.js";
export * from "./fault-proxy.js";
export { importInFreshProcess, type FreshImport, type FreshImportOptions } from "./bundle-import.js";
export {
  createCloudMapOperations,
  type CloudMapOperation,
  type CloudMapOperations,
  type CloudMapOperationsOptions,
  type CloudMapOperationStatus,
  type SettleOptions,
} from "./cloudmap-operations.js";
export {
  resolveIntrinsics,
  resolveIntrinsicString,
  resourcesOfType,
  referencedId,
  TEST_PSEUDO,
  type CfnTemplate,
  type CfnResource,
  type PseudoParameters,
} from "./cfn-template.js";
