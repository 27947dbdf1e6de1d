/**
 * Lambda handler for the sweep schedule: enqueues one reconcile per configured service through the FIFO queue.
 */
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createLogger, createSweepHandler, loadConfig, queueUrlEnvVar, requireEnv } from "@discovery-sync/core";

const config = await loadConfig(process.env, () => new SSMClient({}));

export const handler = createSweepHandler({
  config,
  sqs: new SQSClient({}),
  queueUrl: requireEnv(process.env, queueUrlEnvVar),
  logger: createLogger("sweep"),
});
