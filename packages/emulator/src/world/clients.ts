import { EC2Client } from "@aws-sdk/client-ec2";
import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Pluggable } from "@smithy/types";

/** The SDK clients a world is provisioned and driven with. */
export interface WorldClients {
  readonly ec2: EC2Client;
  readonly ecs: ECSClient;
  readonly serviceDiscovery: ServiceDiscoveryClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
}

/** Client settings shared by every client of {@link createWorldClients} (a subset of each client's config). */
export interface WorldClientConfig {
  /** The emulator's base URL, for example `http://127.0.0.1:41234`. @default the SDK's own resolution (env) */
  readonly endpoint?: string;
  /** @default the SDK's own resolution (env `AWS_REGION`) */
  readonly region?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Needed for Cloud Map's DiscoverInstances against a custom endpoint (else `data-127.0.0.1`). @default false */
  readonly disableHostPrefix?: boolean;
  /** @default the SDK's default (3) */
  readonly maxAttempts?: number;
}

/**
 * Builds one SDK client per service a world uses, all with the same settings and plugins.
 *
 * Plugins given here go on every client. The {@link createTaskOverlay} plugin belongs on the ECS client only:
 * add it afterwards with `clients.ecs.middlewareStack.use(overlay.plugin)`.
 *
 * @example
 * ```ts
 * const account = randomAccountId();
 * const clients = createWorldClients(
 *   { endpoint: emulator.endpoint, region: "us-east-1", credentials: emulatorCredentials, disableHostPrefix: true },
 *   [accountPlugin(account)],
 * );
 * ```
 */
export function createWorldClients(clientConfig: WorldClientConfig, plugins: readonly Pluggable<any, any>[] = []): WorldClients {
  const config = { ...clientConfig };
  const clients: WorldClients = {
    ec2: new EC2Client(config),
    ecs: new ECSClient(config),
    serviceDiscovery: new ServiceDiscoveryClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ssm: new SSMClient(config),
    sqs: new SQSClient(config),
    eventBridge: new EventBridgeClient(config),
  };
  for (const client of Object.values(clients) as Array<{ middlewareStack: { use(p: Pluggable<any, any>): void } }>) {
    for (const plugin of plugins) client.middlewareStack.use(plugin);
  }
  return clients;
}
