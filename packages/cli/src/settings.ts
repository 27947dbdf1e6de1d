import { readFile } from "node:fs/promises";
import {
  ConfigError,
  configEnvVar,
  configParameterEnvVar,
  loadConfig,
  parseConfig,
  queueUrlEnvVar,
  type DiscoverySyncConfig,
  type ServiceConfig,
} from "@discovery-sync/core";
import type { AwsContext } from "./aws.js";
import { CliInputError } from "./errors.js";
import type { CliIo } from "./io.js";

/** Environment variable of the dead-letter queue's URL (`dlq`); without it, the work queue's redrive policy names it. */
export const dlqUrlEnvVar = "DISCOVERY_SYNC_DLQ_URL";

/** Where the configuration came from, for messages. */
export interface LoadedConfig {
  readonly config: DiscoverySyncConfig;
  readonly source: string;
}

/**
 * The configuration: `--config FILE`, else `DISCOVERY_SYNC_CONFIG` (JSON), else the SSM parameter named by
 * `DISCOVERY_SYNC_CONFIG_PARAMETER` (the deployed configuration), parsed by the core's own `parseConfig`.
 *
 * @example
 * ```ts
 * const { config, source } = await loadCliConfig(options.config, io, aws);
 * ```
 * @throws {ConfigError} when the configuration is read but invalid (each field named, with the value given).
 * @throws {CliInputError} when there is none, or it cannot be read or is not JSON.
 * @throws {AwsAccessError} when the configuration parameter cannot be read from AWS.
 */
export async function loadCliConfig(file: string | undefined, io: CliIo, aws: () => AwsContext): Promise<LoadedConfig> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CliInputError(`cannot read the configuration file ${JSON.stringify(file)}: ${code ?? (error as Error).message}`, { cause: error });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new CliInputError(`the configuration file ${JSON.stringify(file)} is not JSON: ${(error as Error).message}`, { cause: error });
    }
    return { config: parseConfig(parsed, file), source: file };
  }
  const fromEnv = io.env[configEnvVar] !== undefined && io.env[configEnvVar] !== "";
  const parameter = io.env[configParameterEnvVar];
  if (!fromEnv && (parameter === undefined || parameter === "")) {
    throw new CliInputError(
      `no configuration: pass --config FILE, or set ${configEnvVar} (JSON) or ${configParameterEnvVar} (the SSM parameter the deployed stack reads)`,
    );
  }
  const source = fromEnv ? configEnvVar : `SSM parameter ${parameter}`;
  const context = fromEnv ? undefined : aws();
  try {
    return { config: await loadConfig(io.env, () => context!.clients.ssm), source };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Not JSON, or no parameter to read: the configuration is unusable as given.
    if (error.issues.length === 1 && error.issues[0]?.message === "not JSON") throw new CliInputError(error.message, { cause: error });
    // The core wraps a failed GetParameter in a ConfigError without issues: report it as the AWS failure it is.
    if (error.issues.length === 0 && context !== undefined) throw context.failure(error.cause, `reading the configuration parameter ${parameter}`);
    throw error;
  }
}

/**
 * Like {@link loadCliConfig}, for commands that need a valid configuration: an invalid one is bad input (exit 2).
 */
export async function requireConfig(file: string | undefined, io: CliIo, aws: () => AwsContext): Promise<LoadedConfig> {
  try {
    return await loadCliConfig(file, io, aws);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliInputError(`${error.message}\n(run \`discovery-sync validate\` for details)`, { cause: error });
    throw error;
  }
}

/**
 * The services a command works on: all of them, or the one named (an unknown name is refused, listing the known ones).
 *
 * @example
 * ```ts
 * const services = selectServices(config, "workflow-agent");
 * ```
 */
export function selectServices(config: DiscoverySyncConfig, name: string | undefined): ServiceConfig[] {
  if (name === undefined) return [...config.services];
  const service = config.services.find((s) => s.name === name);
  if (service === undefined) {
    throw new CliInputError(`unknown service ${JSON.stringify(name)}: the configuration has ${config.services.map((s) => s.name).join(", ")}`);
  }
  return [service];
}

/**
 * The reconcile queue's URL: `--queue-url`, else `DISCOVERY_SYNC_QUEUE_URL` (the deployed stack's `QueueUrl` output).
 */
export function requireQueueUrl(given: string | undefined, io: CliIo): string {
  const url = given ?? io.env[queueUrlEnvVar];
  if (url === undefined || url === "") {
    throw new CliInputError(`no queue URL: pass --queue-url or set ${queueUrlEnvVar} (the deployed stack's QueueUrl output)`);
  }
  return checkedQueueUrl(url, "queue URL");
}

/** A queue URL that is a URL (an SQS client would otherwise fail with an obscure endpoint error). */
export function checkedQueueUrl(url: string, what: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return url;
  } catch {
    // reported below
  }
  throw new CliInputError(`the ${what} must be an https:// URL like https://sqs.us-east-1.amazonaws.com/123456789012/name (given ${JSON.stringify(url)})`);
}
