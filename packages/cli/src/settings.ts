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
import { describeDeployedStack, type AwsContext, type DeployedStack } from "./aws.js";
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

/** Environment variable naming the deployed stack whose outputs give the queues, when no queue URL is set. */
export const stackEnvVar = "DISCOVERY_SYNC_STACK";

/** The deployed stack's outputs the CLI reads (`stacks/DiscoverySync.ts` declares them). */
export const stackOutputNames = { queueUrl: "QueueUrl", deadLetterQueueUrl: "DeadLetterQueueUrl" } as const;

// SST names a stack `<stage>-<app>-<stack function>`; the app is `discovery-sync` (sst.config.ts, and APP_NAME of
// stacks/plainCdkContext.ts for plain CDK). A unit test holds this to APP_NAME.
const stackNameSuffix = "-discovery-sync-DiscoverySync";

// CloudFormation's rule for stack names: letters, digits and hyphens, from a letter, at most 128 characters.
const stackNamePattern = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/**
 * The name of the stack a stage deploys: `<stage>-discovery-sync-DiscoverySync`.
 *
 * @example
 * ```ts
 * stackNameOfStage("prod"); // "prod-discovery-sync-DiscoverySync"
 * ```
 * @throws {CliInputError} when the stage cannot be part of a stack name (letters, digits and hyphens, from a letter).
 */
export function stackNameOfStage(stage: string): string {
  if (!stackNamePattern.test(`${stage}${stackNameSuffix}`)) {
    throw new CliInputError(`--stage must be a stage name of letters, digits and hyphens, starting with a letter (given ${JSON.stringify(stage)})`);
  }
  return `${stage}${stackNameSuffix}`;
}

/** The queue options of `reconcile` and `dlq`. */
export interface QueueOptions {
  /** `--queue-url`. */
  readonly queueUrl?: string;
  /** `--stack`: a stack name or stack id. */
  readonly stack?: string;
  /** `--stage`: the stack `<stage>-discovery-sync-DiscoverySync`. */
  readonly stage?: string;
}

/** Where the work queue comes from, before anything is read: a URL as given, or a deployed stack's outputs. */
export type QueueSource =
  | { readonly kind: "url"; readonly url: string; readonly from: string }
  | { readonly kind: "stack"; readonly stackName: string; readonly from: string }
  | { readonly kind: "none" };

/**
 * Decides where the work queue comes from (pure): `--queue-url`, `--stack` or `--stage` (at most one of them), else
 * `DISCOVERY_SYNC_QUEUE_URL`, else `DISCOVERY_SYNC_STACK`. Options come before the environment, as in every AWS tool,
 * so `--stack prod-...` wins over a queue URL left in the shell.
 *
 * @example
 * ```ts
 * queueSource({ stage: "prod" }, {}); // { kind: "stack", stackName: "prod-discovery-sync-DiscoverySync", from: "--stage prod" }
 * ```
 * @throws {CliInputError} for more than one of the options, a queue URL that is not a URL, or a bad stack or stage name.
 */
export function queueSource(options: QueueOptions, env: CliIo["env"]): QueueSource {
  const given = (["queueUrl", "stack", "stage"] as const).filter((key) => options[key] !== undefined);
  if (given.length > 1) {
    const flags = { queueUrl: "--queue-url", stack: "--stack", stage: "--stage" };
    throw new CliInputError(`pass one of --queue-url, --stack or --stage, not ${given.map((key) => flags[key]).join(" and ")}`);
  }
  if (options.queueUrl !== undefined) return { kind: "url", url: checkedQueueUrl(options.queueUrl, "queue URL"), from: "--queue-url" };
  if (options.stack !== undefined) return { kind: "stack", stackName: checkedStackName(options.stack, "--stack"), from: "--stack" };
  if (options.stage !== undefined) return { kind: "stack", stackName: stackNameOfStage(options.stage), from: `--stage ${options.stage}` };
  const urlFromEnv = env[queueUrlEnvVar];
  if (urlFromEnv !== undefined && urlFromEnv !== "") return { kind: "url", url: checkedQueueUrl(urlFromEnv, "queue URL"), from: queueUrlEnvVar };
  const stackFromEnv = env[stackEnvVar];
  if (stackFromEnv !== undefined && stackFromEnv !== "") return { kind: "stack", stackName: checkedStackName(stackFromEnv, stackEnvVar), from: stackEnvVar };
  return { kind: "none" };
}

/** A stack name, or a stack id (an ARN), which DescribeStacks accepts too. */
function checkedStackName(name: string, what: string): string {
  if (stackNamePattern.test(name) || /^arn:[^:]+:cloudformation:[^:]*:\d{12}:stack\/.+/.test(name)) return name;
  throw new CliInputError(
    `${what} must be a CloudFormation stack name (letters, digits and hyphens, starting with a letter, at most 128) or a stack id (given ${JSON.stringify(name)})`,
  );
}

/** The queues a command works on. */
export interface LocatedQueues {
  /** The reconcile work queue, when known. */
  readonly workQueueUrl: string | undefined;
  /** The dead-letter queue, when a stack output names it. */
  readonly deadLetterQueueUrl: string | undefined;
}

/**
 * The queues from {@link queueSource}: a URL as given, or the `QueueUrl` and `DeadLetterQueueUrl` outputs of the
 * deployed stack (either may be missing: a stack deployed before `DeadLetterQueueUrl` existed has only `QueueUrl`,
 * and the dead-letter queue is then found through the work queue's redrive policy).
 *
 * @example
 * ```ts
 * const { workQueueUrl, deadLetterQueueUrl } = await locateQueues({ stage: "prod" }, io, aws);
 * ```
 * @throws {CliInputError} for bad options, a stack that does not exist, or a stack with neither output (its outputs named).
 * @throws {AwsAccessError} when CloudFormation cannot be reached or refuses.
 */
export async function locateQueues(options: QueueOptions, io: CliIo, aws: () => AwsContext): Promise<LocatedQueues> {
  const source = queueSource(options, io.env);
  if (source.kind === "none") return { workQueueUrl: undefined, deadLetterQueueUrl: undefined };
  if (source.kind === "url") return { workQueueUrl: source.url, deadLetterQueueUrl: undefined };
  const { stack, workQueueUrl, deadLetterQueueUrl } = await stackQueues(source.stackName, aws());
  if (workQueueUrl === undefined && deadLetterQueueUrl === undefined) {
    throw missingOutput(stack, `${stackOutputNames.queueUrl} or ${stackOutputNames.deadLetterQueueUrl}`);
  }
  return { workQueueUrl, deadLetterQueueUrl };
}

/**
 * The reconcile work queue's URL: `--queue-url`, `--stack` or `--stage` (the deployed stack's `QueueUrl` output), else
 * `DISCOVERY_SYNC_QUEUE_URL`, else the `QueueUrl` output of the stack `DISCOVERY_SYNC_STACK` names.
 *
 * @example
 * ```ts
 * const queueUrl = await requireQueueUrl({ stack: "prod-discovery-sync-DiscoverySync" }, io, aws);
 * ```
 * @throws {CliInputError} when none is given, or the stack does not exist or has no `QueueUrl` output.
 * @throws {AwsAccessError} when CloudFormation cannot be reached or refuses.
 */
export async function requireQueueUrl(options: QueueOptions, io: CliIo, aws: () => AwsContext): Promise<string> {
  const source = queueSource(options, io.env);
  if (source.kind === "none") {
    throw new CliInputError(
      `no queue URL: pass --queue-url or set ${queueUrlEnvVar}, or name the deployed stack whose ${stackOutputNames.queueUrl} output has it ` +
        `(--stack NAME, --stage NAME or ${stackEnvVar})`,
    );
  }
  if (source.kind === "url") return source.url;
  const { stack, workQueueUrl } = await stackQueues(source.stackName, aws());
  if (workQueueUrl === undefined) throw missingOutput(stack, stackOutputNames.queueUrl);
  return workQueueUrl;
}

/** The stack's queue outputs, each checked to be a URL. */
async function stackQueues(
  stackName: string,
  aws: AwsContext,
): Promise<{ stack: DeployedStack; workQueueUrl: string | undefined; deadLetterQueueUrl: string | undefined }> {
  const stack = await describeDeployedStack(aws, stackName);
  const output = (name: string) => {
    const value = stack.outputs.get(name);
    return value === undefined ? undefined : checkedQueueUrl(value, `${name} output of the stack ${stack.name}`);
  };
  return { stack, workQueueUrl: output(stackOutputNames.queueUrl), deadLetterQueueUrl: output(stackOutputNames.deadLetterQueueUrl) };
}

/** A stack that lacks the output the CLI needs: bad input (not a discovery-sync stack, or one whose create failed). */
export function missingOutput(stack: DeployedStack, output: string): CliInputError {
  const has = stack.outputs.size === 0 ? "it has no outputs" : `its outputs are ${[...stack.outputs.keys()].sort().join(", ")}`;
  return new CliInputError(`the stack ${stack.name} (${stack.status}) has no ${output} output: ${has}; is it a discovery-sync stack?`);
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
