import { randomInt } from "node:crypto";
import type { Pluggable } from "@smithy/types";

/** Header moto reads to choose the account a request acts in. */
export const motoAccountHeader = "x-moto-account-id";

/**
 * A random 12-digit account id, so that each test works in an account of its own
 * (moto's `/moto-api/reset` is global and would disturb parallel tests).
 *
 * @example
 * ```ts
 * const accountId = randomAccountId(); // "384920173645"
 * ```
 */
export function randomAccountId(): string {
  return String(randomInt(100_000_000_000, 999_999_999_999));
}

/**
 * An AWS SDK v3 plugin that makes every request of a client act in the given emulator account.
 *
 * @example
 * ```ts
 * const ssm = new SSMClient({ endpoint });
 * ssm.middlewareStack.use(accountPlugin("384920173645"));
 * ```
 */
export function accountPlugin(accountId: string): Pluggable<any, any> {
  return {
    applyToStack(stack) {
      stack.add(
        (next) => async (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if (request.headers !== undefined) request.headers[motoAccountHeader] = accountId;
          return next(args);
        },
        { step: "build", name: "discoverySyncMotoAccount", override: true },
      );
    },
  };
}

/** Static credentials for the emulator (moto accepts any). */
export const emulatorCredentials = { accessKeyId: "testing", secretAccessKey: "testing" } as const;
