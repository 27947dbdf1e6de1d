import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Pluggable } from "@smithy/types";

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
}

/** Options of {@link createAwsClients}. */
export interface CreateAwsClientsOptions {
  /** Passed to every client. @default {} (the SDK reads region, credentials and `AWS_ENDPOINT_URL*` from the environment) */
  readonly clientConfig?: SharedClientConfig;
  /** SDK middleware plugins added to every client (tests use one to pick an emulator account). @default [] */
  readonly plugins?: readonly Pluggable<any, any>[];
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
  const config = { ...options.clientConfig };
  const clients: AwsClients = {
    ecs: new ECSClient(config),
    serviceDiscovery: new ServiceDiscoveryClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ssm: new SSMClient(config),
    sqs: new SQSClient(config),
  };
  for (const plugin of options.plugins ?? []) {
    for (const client of Object.values(clients)) client.middlewareStack.use(plugin);
  }
  return clients;
}
