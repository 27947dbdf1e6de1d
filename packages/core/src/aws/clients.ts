import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Pluggable } from "@smithy/types";
import { invocationDeadlinePlugin } from "./deadline.js";

/** The AWS SDK clients the reconcile pipeline talks through. */
export interface AwsClients {
  readonly ecs: ECSClient;
  readonly serviceDiscovery: ServiceDiscoveryClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
}

/** Settings common to every client: anything the SDK client constructors accept in common. */
export interface SharedClientConfig {
  readonly region?: string;
  readonly endpoint?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly maxAttempts?: number;
  readonly retryMode?: "standard" | "adaptive";
}

/**
 * Every AWS API the reconcile calls throttles (SSM's PutParameter at a few per second per account): the adaptive mode
 * adds client-side rate limiting to the standard retries, and a few more attempts ride out a burst inside the
 * invocation instead of failing the message. `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` or the options override them.
 */
export const defaultRetrySettings = { retryMode: "adaptive", maxAttempts: 6 } as const;

/** Options of {@link createAwsClients}. */
export interface CreateAwsClientsOptions {
  /** Passed to every client. @default {} (the SDK reads region, credentials and `AWS_ENDPOINT_URL*` from the environment) */
  readonly clientConfig?: SharedClientConfig;
  /** SDK middleware plugins added to every client (tests use one to pick an emulator account). @default [] */
  readonly plugins?: readonly Pluggable<any, any>[];
  /** Where `AWS_RETRY_MODE` and `AWS_MAX_ATTEMPTS` are looked up. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Builds the SDK clients from the standard AWS settings. In Lambda nothing needs to be passed: region and
 * credentials come from the runtime, and `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` are honoured
 * by the SDK itself, which is how the local emulator is reached.
 *
 * @example
 * ```ts
 * const clients = createAwsClients();
 * const tasks = await clients.ecs.send(new ListTasksCommand({ cluster: "workflow" }));
 * ```
 */
export function createAwsClients(options: CreateAwsClientsOptions = {}): AwsClients {
  const env = options.env ?? process.env;
  const config = {
    ...(env.AWS_RETRY_MODE === undefined ? { retryMode: defaultRetrySettings.retryMode } : {}),
    ...(env.AWS_MAX_ATTEMPTS === undefined ? { maxAttempts: defaultRetrySettings.maxAttempts } : {}),
    ...options.clientConfig,
  };
  const clients: AwsClients = {
    ecs: new ECSClient(config),
    serviceDiscovery: new ServiceDiscoveryClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ssm: new SSMClient(config),
    sqs: new SQSClient(config),
  };
  // The deadline plugin is inert outside `withInvocationDeadline`; handlers bound each invocation's calls with it.
  for (const plugin of [invocationDeadlinePlugin, ...(options.plugins ?? [])]) {
    for (const client of Object.values(clients)) client.middlewareStack.use(plugin);
  }
  return clients;
}
