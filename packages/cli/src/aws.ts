import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { createAwsClients, type AwsClients, type SharedClientConfig } from "@discovery-sync/core";
import { CliInputError, describeAwsFailure, type CliError } from "./errors.js";
import type { CliIo } from "./io.js";

/** The AWS settings every command takes, as every AWS tool takes them. */
export interface AwsOptions {
  readonly profile?: string;
  readonly region?: string;
  readonly endpointUrl?: string;
}

/** The SDK clients of one command run, and how to report their failures. */
export interface AwsContext {
  readonly clients: AwsClients;
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
  const clients = createAwsClients({ clientConfig, env: io.env });
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
