/**
 * Names shared between the handlers and the infrastructure: environment variables, metric names and dimensions,
 * and the fields of the reconcile log record. The dashboard, the alarms and the saved queries are built on these,
 * so a rename here (or in the handlers) silently empties a graph: keep both sides in step.
 *
 * @packageDocumentation
 */

/** Environment variable that holds the configuration as JSON (read by every handler). */
export const CONFIG_ENV_VAR = "DISCOVERY_SYNC_CONFIG";
/**
 * Environment variable that names an SSM parameter holding the configuration, used instead of
 * {@link CONFIG_ENV_VAR} when the configuration does not fit in the 4 KB Lambda environment.
 */
export const CONFIG_PARAMETER_ENV_VAR = "DISCOVERY_SYNC_CONFIG_PARAMETER";
/** Environment variable with the URL of the SQS FIFO work queue (router and sweep). */
export const QUEUE_URL_ENV_VAR = "DISCOVERY_SYNC_QUEUE_URL";

/**
 * Lambda rejects a function whose environment variables (keys plus values, all together) exceed 4 KB.
 *
 * @see https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;
/** Largest value of a Standard SSM parameter. */
export const SSM_STANDARD_LIMIT_BYTES = 4096;
/** Largest value of an Advanced SSM parameter. */
export const SSM_ADVANCED_LIMIT_BYTES = 8192;

/** Default CloudWatch namespace of the EMF metrics (`POWERTOOLS_METRICS_NAMESPACE`). */
export const DEFAULT_METRICS_NAMESPACE = "DiscoverySync";
/** Default Powertools service name (`POWERTOOLS_SERVICE_NAME`); Powertools adds it as the `service` dimension. */
export const DEFAULT_SERVICE_NAME = "discovery-sync";

/**
 * Metric names the reconcile handler emits (EMF, through Powertools Metrics).
 *
 * Dimensions (the contract the alarms and the dashboard rely on; CloudWatch matches dimension sets exactly):
 * - every metric carries Powertools' default dimension {@link METRIC_DIMENSIONS.powertoolsService} (`service`,
 *   the value of `POWERTOOLS_SERVICE_NAME`);
 * - `ReconcileSucceeded`, `ReconcileFailed`, `ReconcileDurationMs` carry nothing else (aggregate over services:
 *   a CloudWatch alarm can combine at most 10 metrics, so per-service sums would cap the number of services; the
 *   per-service detail is in the reconcile log record);
 * - `ReadyEndpoints` and `DocumentAgeSeconds` also carry {@link METRIC_DIMENSIONS.service} (`Service`, the
 *   configured service name): the stale-document alarm is per service;
 * - `Writes` also carries {@link METRIC_DIMENSIONS.target} (`Target`: `cloudmap`, `targetgroup` or `ssm`).
 */
export const METRICS = {
  /** Count, one per reconcile that converged the service. */
  reconcileSucceeded: "ReconcileSucceeded",
  /** Count, one per reconcile that failed. */
  reconcileFailed: "ReconcileFailed",
  /** Milliseconds one reconcile took. */
  reconcileDurationMs: "ReconcileDurationMs",
  /** Count of writes made (register, deregister, publish), by `Target`. */
  writes: "Writes",
  /** Number of endpoints in the published document after the reconcile. */
  readyEndpoints: "ReadyEndpoints",
  /** Seconds since the endpoint document was last confirmed to match the ready tasks. */
  documentAgeSeconds: "DocumentAgeSeconds",
} as const;

/** Dimension names of {@link METRICS}. */
export const METRIC_DIMENSIONS = {
  /** Powertools' default dimension: the function's `POWERTOOLS_SERVICE_NAME`. */
  powertoolsService: "service",
  /** The configured service (`services[].name`). */
  service: "Service",
  /** The system written to. */
  target: "Target",
} as const;

/** Values of the `Target` dimension of the `Writes` metric. */
export const WRITE_TARGETS = ["cloudmap", "targetgroup", "ssm"] as const;

/**
 * Fields of the one structured JSON record the reconcile handler logs per reconcile (the saved Logs Insights
 * queries read these).
 */
export const RECONCILE_RECORD_FIELDS = {
  /** Configured service name. */
  service: "service",
  /** What triggered the reconcile (event, sweep). */
  trigger: "trigger",
  /** Milliseconds the reconcile took. */
  durationMs: "durationMs",
  /** Total number of writes done. */
  writes: "writes",
  /** Published revision, or "unchanged". */
  revision: "revision",
  /** Error message when the reconcile failed. */
  error: "error",
} as const;
