import type { App, Stack } from "aws-cdk-lib";
import type { StackContext } from "sst/constructs";

/** The SST app name, the middle part of every stack name (`<stage>-discovery-sync-<Stack>`). */
export const APP_NAME = "discovery-sync";

/**
 * What an SST v2 stack function reads from its context, built on a plain CDK `App` and `Stack`: the stacks of this
 * directory use only `app.stage`, `app.name` and the CDK `Stack` API, so `scripts/synth.ts` and the template tests
 * run them without SST.
 *
 * @example
 * ```ts
 * const stack = new Stack(app, `${stage}-${APP_NAME}-DiscoverySync`);
 * DiscoverySync(plainCdkContext(app, stack, stage));
 * ```
 */
export function plainCdkContext(app: App, stack: Stack, stage: string): StackContext {
  return {
    app: { stage, name: APP_NAME, region: stack.region, account: stack.account, node: app.node },
    stack,
  } as unknown as StackContext;
}
