/**
 * Lambda handler for the reconcile SQS FIFO queue (`SQSEvent` -> `SQSBatchResponse`, ReportBatchItemFailures).
 */
import { createAwsClients, createLogger, createMetrics, createReconcileHandler, loadConfig } from "@discovery-sync/core";

const clients = createAwsClients();
const config = await loadConfig(process.env, () => clients.ssm);

export const handler = createReconcileHandler({
  config,
  clients,
  logger: createLogger("reconciler"),
  metrics: createMetrics(),
});
