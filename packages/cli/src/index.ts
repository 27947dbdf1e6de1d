/**
 * `@discovery-sync/cli`: the operator CLI of discovery-sync, runnable in-process through {@link run}.
 *
 * @module
 */
export { run, buildProgram, cliVersion } from "./program.js";
export { processIo, type CliIo, type OutputStream } from "./io.js";
export { exitCodes, CliError, CliInputError, AwsAccessError, type ExitCode } from "./errors.js";
