/**
 * Lambda handler for the reconcile SQS FIFO queue (`SQSEvent` -> `SQSBatchResponse`, ReportBatchItemFailures).
 */
import { createAwsClients, createLogger, createMetrics, createReconcileHandler, loadConfig, queueUrlEnvVar } from "@discovery-sync/core";

const clients = createAwsClients();
const config = await loadConfig(process.env, () => clients.ssm);

export const handler = createReconcileHandler({
  config,
  clients,
  logger: createLogger("reconciler"),
  metrics: createMetrics(),
  // The work queue, to bring a failed message back in seconds rather than after the queue's visibility timeout.
  ...(process.env[queueUrlEnvVar] === undefined ? {} : { queueUrl: process.env[queueUrlEnvVar] }),
});
