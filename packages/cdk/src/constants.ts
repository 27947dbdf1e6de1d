/**
 * Names shared between the handlers and the infrastructure. Environment variables and metric names come from
 * `@discovery-sync/core` (the handlers' own constants), so the two sides cannot drift; what the core leaves implicit
 * (dimension names, the `Target` values, the reconcile record's field paths, documented in docs/reconcile-record.md)
 * is stated here once.
 *
 * @packageDocumentation
 */
import {
  configEnvVar,
  configParameterEnvVar,
  defaultMetricsNamespace,
  defaultServiceName,
  queueUrlEnvVar,
  reconcileMetricNames,
} from "@discovery-sync/core";

/** Environment variable that holds the configuration as JSON (read by every handler). */
export const CONFIG_ENV_VAR = configEnvVar;
/**
 * Environment variable that names an SSM parameter holding the configuration, used instead of
 * {@link CONFIG_ENV_VAR} when the configuration does not fit in the 4 KB Lambda environment.
 */
export const CONFIG_PARAMETER_ENV_VAR = configParameterEnvVar;
/** Environment variable with the URL of the SQS FIFO work queue (router and sweep). */
export const QUEUE_URL_ENV_VAR = queueUrlEnvVar;

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
export const DEFAULT_METRICS_NAMESPACE = defaultMetricsNamespace;
/** Default Powertools service name (`POWERTOOLS_SERVICE_NAME`); Powertools adds it as the `service` dimension. */
export const DEFAULT_SERVICE_NAME = defaultServiceName;

/**
 * Metric names the reconcile handler emits per reconcile (EMF, through Powertools Metrics single metrics).
 *
 * Dimensions (CloudWatch matches dimension sets exactly, so the alarms and graphs name all of them): Powertools'
 * default `service` (= `POWERTOOLS_SERVICE_NAME`) and `Service` (the configured service) on every metric; `Writes`
 * also carries `Target` (see {@link WRITE_TARGETS}).
 */
export const METRICS = reconcileMetricNames;

/** Dimension names of {@link METRICS}. */
export const METRIC_DIMENSIONS = {
  /** Powertools' default dimension: the function's `POWERTOOLS_SERVICE_NAME`. */
  powertoolsService: "service",
  /** The configured service (`services[].name`). */
  service: "Service",
  /** The system written to, on `Writes`. */
  target: "Target",
} as const;

/** Values of the `Target` dimension of the `Writes` metric. */
export const WRITE_TARGETS = ["CloudMap", "TargetGroup", "Ssm"] as const;

/**
 * Field paths (Logs Insights syntax) of the one `"message": "reconcile"` record the reconcile handler logs per
 * reconcile; the record sits under the key `reconcile` (docs/reconcile-record.md).
 */
export const RECONCILE_RECORD = {
  /** Value of `message` on the record's line. */
  message: "reconcile",
  service: "reconcile.service",
  triggers: "reconcile.triggers",
  durationMs: "reconcile.durationMs",
  writesTotal: "reconcile.writesTotal",
  cloudMapRegistered: "reconcile.writes.cloudMapRegistered",
  cloudMapDeregistered: "reconcile.writes.cloudMapDeregistered",
  targetsRegistered: "reconcile.writes.targetsRegistered",
  targetsDeregistered: "reconcile.writes.targetsDeregistered",
  documentsPublished: "reconcile.writes.documentsPublished",
  publishedRevision: "reconcile.publishedRevision",
  outcome: "reconcile.outcome",
  errorName: "reconcile.error.name",
  errorMessage: "reconcile.error.message",
  errorReasons: "reconcile.error.reasons",
} as const;

/**
 * The `lastStatus` values the task-state rule lets through to the router: the only steps of a task at which an event
 * can change what is published (the router's `routeTaskEvent` decides on the rest, by desiredStatus and health). A
 * task is published while RUNNING and listed as draining while told to stop and still alive (RUNNING, DEACTIVATING,
 * STOPPING); it leaves the document at STOPPED. PROVISIONING, PENDING and ACTIVATING come before a task can be
 * published, and DEPROVISIONING is always followed by STOPPED, so their events (about half of a task's) never invoke
 * the router. `test/infra/event-lifecycle.test.ts` checks, over generated task lifecycles on the emulator's
 * EventBridge, that the rule drops no event the router would enqueue.
 */
export const TASK_EVENT_LAST_STATUSES = ["RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"] as const;
