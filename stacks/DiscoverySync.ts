import { CfnOutput } from "aws-cdk-lib";
import type { StackContext } from "sst/constructs";
import { DiscoverySyncControlPlane, type DiscoverySyncControlPlaneProps } from "@discovery-sync/cdk";
import { functionsDir, readStageConfig } from "./loadConfig.js";

/** What a caller may change about a stack besides its configuration: tests pass prebuilt code to skip bundling. */
export type StackOptions = Pick<DiscoverySyncControlPlaneProps, "code">;

/**
 * The discovery-sync control plane for the configuration of the stage (see {@link readStageConfig}). A bad
 * configuration throws here, during synthesis, so `sst deploy` fails before anything is created.
 *
 * Only `app.stage` and the CDK `Stack` API are used, so the plain CDK entry point (`scripts/synth.ts`) can call this
 * function too.
 *
 * @example
 * ```ts
 * // sst.config.ts
 * stacks(app) { app.stack(DiscoverySync); }
 * ```
 */
export function DiscoverySync(context: StackContext): { controlPlane: DiscoverySyncControlPlane } {
  return discoverySyncStack(context);
}

/**
 * The body of {@link DiscoverySync}, with {@link StackOptions}.
 *
 * @example
 * ```ts
 * app.stack(function DiscoverySync(context) { return discoverySyncStack(context, { code }); });
 * ```
 */
export function discoverySyncStack({ app, stack }: StackContext, options: StackOptions = {}): { controlPlane: DiscoverySyncControlPlane } {
  const { config, source } = readStageConfig(app.stage);
  // Construct id "ControlPlane" is a contract: renaming it replaces every resource of the control plane.
  const controlPlane = new DiscoverySyncControlPlane(stack, "ControlPlane", {
    config,
    configSource: source,
    functionsDir,
    ...(options.code === undefined ? {} : { code: options.code }),
  });
  new CfnOutput(stack, "QueueUrl", { value: controlPlane.queue.queueUrl, description: "SQS FIFO work queue" });
  // `discovery-sync dlq --stack` reads it; without it the CLI falls back to the work queue's redrive policy.
  new CfnOutput(stack, "DeadLetterQueueUrl", { value: controlPlane.deadLetterQueue.queueUrl, description: "SQS FIFO dead-letter queue of the work queue" });
  new CfnOutput(stack, "ReconcileFunctionName", { value: controlPlane.reconcileFunction.functionName });
  new CfnOutput(stack, "RouterFunctionName", { value: controlPlane.routerFunction.functionName });
  new CfnOutput(stack, "SweepFunctionName", { value: controlPlane.sweepFunction.functionName });
  new CfnOutput(stack, "DashboardName", { value: controlPlane.observability.dashboard.dashboardName });
  return { controlPlane };
}
