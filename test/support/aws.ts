import { inject } from "vitest";
import type { Pluggable } from "@smithy/types";
import { accountPlugin, emulatorCredentials, randomAccountId } from "@discovery-sync/emulator";

/** Region every test uses. */
export const testRegion = "us-east-1";

/** SDK client settings that point at the shared emulator, in a fresh account of the test's own. */
export interface IsolatedAccount {
  readonly accountId: string;
  readonly endpoint: string;
  /** Pass to any SDK v3 client constructor. */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: typeof emulatorCredentials;
    disableHostPrefix: boolean;
    maxAttempts: number;
  };
  /** Add to a client with `client.middlewareStack.use(plugin)`. */
  readonly plugin: Pluggable<any, any>;
  /** Builds an SDK client bound to this account. */
  client<C extends { middlewareStack: { use(p: Pluggable<any, any>): void } }>(
    Client: new (config: IsolatedAccount["clientConfig"]) => C,
  ): C;
}

/**
 * A new emulator account for one test.
 *
 * @example
 * ```ts
 * const account = isolatedAccount();
 * const ssm = account.client(SSMClient);
 * ```
 */
export function isolatedAccount(): IsolatedAccount {
  const endpoint = inject("emulatorEndpoint");
  const accountId = randomAccountId();
  const plugin = accountPlugin(accountId);
  const clientConfig = {
    endpoint,
    region: testRegion,
    credentials: emulatorCredentials,
    disableHostPrefix: true,
    maxAttempts: 1,
  };
  return {
    accountId,
    endpoint,
    clientConfig,
    plugin,
    client(Client) {
      const client = new Client(clientConfig);
      client.middlewareStack.use(plugin);
      return client;
    },
  };
}
