/**
 * Lambda handler for EventBridge "ECS Task State Change" events: enqueues a reconcile of the task's service.
 * Configuration is read at cold start, so a bad one fails the start with a message naming the field.
 */
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createLogger, createRouteHandler, loadConfig, queueUrlEnvVar, requireEnv } from "@discovery-sync/core";

const logger = createLogger("router");
const config = await loadConfig(process.env, () => new SSMClient({}));

export const handler = createRouteHandler({
  config,
  sqs: new SQSClient({}),
  queueUrl: requireEnv(process.env, queueUrlEnvVar),
  logger,
});
