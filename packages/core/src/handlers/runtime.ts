import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { configEnvVar, loadConfigFromEnv, parseConfig, type DiscoverySyncConfig } from "../config.js";
import { ConfigError } from "../errors.js";

/** Environment variable naming an SSM parameter that holds the configuration, used when it outgrows Lambda's 4 KB environment. */
export const configParameterEnvVar = "DISCOVERY_SYNC_CONFIG_PARAMETER";
/** Environment variable holding the reconcile queue's URL (router and sweep). */
export const queueUrlEnvVar = "DISCOVERY_SYNC_QUEUE_URL";

/** Powertools defaults; `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE` and `POWERTOOLS_LOG_LEVEL` override them. */
export const defaultServiceName = "discovery-sync";
export const defaultMetricsNamespace = "DiscoverySync";

/**
 * The Powertools logger of a handler.
 *
 * @example
 * ```ts
 * const logger = createLogger("router");
 * ```
 */
export function createLogger(component: string): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? defaultServiceName, persistentKeys: { component } });
}

/** The Powertools metrics of a handler (EMF to stdout). */
export function createMetrics(): Metrics {
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? defaultMetricsNamespace,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? defaultServiceName,
  });
}

/**
 * Loads the configuration from `DISCOVERY_SYNC_CONFIG`, or, when that is unset, from the SSM parameter named by
 * `DISCOVERY_SYNC_CONFIG_PARAMETER`. Handlers call it at start, so a bad configuration fails the cold start.
 *
 * @example
 * ```ts
 * const config = await loadConfig(process.env, new SSMClient({}));
 * ```
 * @throws {ConfigError} naming the variable or parameter, the field and the value given.
 */
export async function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  ssm: () => SSMClient,
): Promise<DiscoverySyncConfig> {
  if (env[configEnvVar] !== undefined && env[configEnvVar] !== "") return loadConfigFromEnv(env);
  const parameterName = env[configParameterEnvVar];
  if (parameterName === undefined || parameterName === "") {
    throw new ConfigError(`neither ${configEnvVar} nor ${configParameterEnvVar} is set: one must give the configuration`, [
      { path: "$", message: "missing" },
    ]);
  }
  let value: string | undefined;
  try {
    value = (await ssm().send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
  } catch (error) {
    throw new ConfigError(`cannot read the configuration parameter ${parameterName}: ${(error as Error).message}`, [], { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? "");
  } catch (error) {
    throw new ConfigError(`SSM parameter ${parameterName} does not hold JSON`, [{ path: "$", message: "not JSON", given: value }], {
      cause: error,
    });
  }
  return parseConfig(parsed, `SSM parameter ${parameterName}`);
}

/** Reads a required environment variable, failing with its name when missing. */
export function requireEnv(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === "") {
    throw new ConfigError(`environment variable ${name} is not set`, [{ path: name, message: "missing" }]);
  }
  return value;
}
