import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { createAwsClients, type AwsClients, type SharedClientConfig } from "@discovery-sync/core";
import { CliError, CliInputError, describeAwsFailure } from "./errors.js";
import type { CliIo } from "./io.js";

/** The AWS settings every command takes, as every AWS tool takes them. */
export interface AwsOptions {
  readonly profile?: string;
  readonly region?: string;
  readonly endpointUrl?: string;
}

/**
 * The SDK clients of one command run: the core's, plus CloudFormation to find the queues from the deployed stack's
 * outputs (`--stack`, `--stage`). All of them go through `CliIo.decorateClients`.
 */
export type CliAwsClients = AwsClients & { readonly cloudFormation: CloudFormationClient };

/** The SDK clients of one command run, and how to report their failures. */
export interface AwsContext {
  readonly clients: CliAwsClients;
  /** The endpoint given with `--endpoint-url`, if any (the SDK's own `AWS_ENDPOINT_URL*` settings apply otherwise). */
  readonly endpoint: string | undefined;
  /** A {@link CliError} for a failed AWS call, saying what was being done and where. */
  failure(error: unknown, doing: string): CliError;
  /** A CloudWatch Logs client with the same settings (built on demand: only `dlq --log-group` reads logs). */
  logsClient(): CloudWatchLogsClient;
}

// An operator waiting on a dead endpoint should hear about it in seconds: the handlers' 6 adaptive attempts are for
// riding out throttling inside a Lambda invocation. AWS_MAX_ATTEMPTS still overrides it.
const cliMaxAttempts = 2;

/**
 * Builds the SDK clients from `--profile`, `--region` and `--endpoint-url`, falling back to the SDK's standard
 * settings (environment, shared config files, the default credential chain). Nothing is called yet.
 *
 * @example
 * ```ts
 * const aws = createAwsContext({ region: "eu-west-1", endpointUrl: "http://127.0.0.1:5000" }, io);
 * await aws.clients.ssm.send(new GetParameterCommand({ Name: "/discovery/x/endpoints" }));
 * ```
 * @throws {CliInputError} when `--endpoint-url` is not an http(s) URL.
 */
export function createAwsContext(options: AwsOptions, io: CliIo): AwsContext {
  const endpoint = options.endpointUrl;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new CliInputError(`--endpoint-url must be an http:// or https:// URL (given ${JSON.stringify(endpoint)})`);
    }
  }
  // `profile` (region and credentials of a named profile) and `disableHostPrefix` are SDK client options beyond the
  // core's shared settings; every client constructor accepts them.
  const clientConfig: SharedClientConfig & { profile?: string; disableHostPrefix?: boolean } = {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    // Host prefixes (`data-` of DiscoverInstances) break a custom endpoint's host name.
    ...(endpoint === undefined ? {} : { endpoint, disableHostPrefix: true }),
    ...(io.env.AWS_MAX_ATTEMPTS === undefined ? { maxAttempts: cliMaxAttempts } : {}),
  };
  const clients: CliAwsClients = { ...createAwsClients({ clientConfig, env: io.env }), cloudFormation: new CloudFormationClient(clientConfig) };
  io.decorateClients?.(clients);
  return {
    clients,
    endpoint,
    failure: (error, doing) => describeAwsFailure(error, doing, endpoint ?? io.env.AWS_ENDPOINT_URL),
    logsClient() {
      const client = new CloudWatchLogsClient(clientConfig);
      io.decorateLogsClient?.(client);
      return client;
    },
  };
}

/** A deployed CloudFormation stack, as far as the CLI reads it. */
export interface DeployedStack {
  /** The stack's name (DescribeStacks also accepts a stack id, which is then resolved to the name). */
  readonly name: string;
  /** `CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...: named in errors, since a failed create has no outputs. */
  readonly status: string;
  /** Output key to value. */
  readonly outputs: ReadonlyMap<string, string>;
}

/**
 * Reads a deployed stack's status and outputs (CloudFormation DescribeStacks).
 *
 * @example
 * ```ts
 * const stack = await describeDeployedStack(aws, "prod-discovery-sync-DiscoverySync");
 * const queueUrl = stack.outputs.get("QueueUrl");
 * ```
 * @throws {CliInputError} when there is no such stack in the account and Region (it is named, with the Region).
 * @throws {AwsAccessError} when CloudFormation cannot be reached or refuses (no credentials, access denied).
 */
export async function describeDeployedStack(aws: AwsContext, stackName: string): Promise<DeployedStack> {
  const cloudFormation = aws.clients.cloudFormation;
  try {
    const { Stacks: stacks = [] } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const [stack] = stacks;
    if (stack === undefined) throw await stackNotFound(cloudFormation, stackName, undefined);
    const outputs = new Map<string, string>();
    for (const output of stack.Outputs ?? []) {
      if (output.OutputKey !== undefined && output.OutputValue !== undefined) outputs.set(output.OutputKey, output.OutputValue);
    }
    return { name: stack.StackName ?? stackName, status: stack.StackStatus ?? "UNKNOWN", outputs };
  } catch (error) {
    if (error instanceof CliError) throw error;
    // CloudFormation answers a missing stack with a generic ValidationError ("Stack with id X does not exist"), the
    // same error code as a malformed request: only the message tells them apart.
    if ((error as Error).name === "ValidationError" && /does not exist/i.test((error as Error).message)) {
      throw await stackNotFound(cloudFormation, stackName, error);
    }
    throw aws.failure(error, `reading the outputs of the stack ${stackName}`);
  }
}

async function stackNotFound(cloudFormation: CloudFormationClient, stackName: string, cause: unknown): Promise<CliInputError> {
  let region: string | undefined;
  try {
    region = await cloudFormation.config.region();
  } catch {
    region = undefined;
  }
  return new CliInputError(
    `the stack ${JSON.stringify(stackName)} does not exist in this account${region === undefined ? "" : ` in Region ${region}`}: ` +
      "check --stack or --stage, --region and --profile",
    { cause },
  );
}
