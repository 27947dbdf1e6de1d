// The public API of @discovery-sync/core, named one by one: what the handlers, the CDK construct, the CLI, the scripts
// and the tests use. Internals (the reconcile's read/apply/record steps, the writer's state parameter, request limits)
// stay unexported.
export {
  ConcurrentWriteError,
  ConfigError,
  DiscoverySyncError,
  DocumentTooLargeError,
  NewerDocumentError,
  ReconcileError,
  StaleReadError,
  TargetGroupTypeError,
  type ConfigIssue,
} from "./errors.js";
export {
  arnScopeOf,
  clusterNameOf,
  configEnvVar,
  configErrorOf,
  loadConfigFromEnv,
  oneAccountAndRegionReason,
  parseConfig,
  type ArnScope,
  type CloudMapDnsConfig,
  type DiscoverySyncConfig,
  type ServiceConfig,
  type ServiceConfigInput,
} from "./config.js";
export { englishMessages } from "./validation.js";
export { parseReconcileMessage, type ReconcileMessage, type ReconcileTrigger } from "./messages.js";
export {
  classifyTask,
  eniAddressOf,
  needsTaskDefinition,
  observeTask,
  summariseTasks,
  taskIdOf,
  type ObservedTask,
  type SkippedTask,
  type TaskClass,
  type TaskDefinitionFacts,
  type TaskSummary,
} from "./tasks.js";
export {
  buildShardManifest,
  countDocumentPuts,
  countPlannedWrites,
  instanceAttributeNames,
  instanceAttributes,
  minimumTierFor,
  nextDocumentOrder,
  planReconcile,
  type ActualState,
  type CloudMapInstance,
  type DesiredState,
  type DocumentPlan,
  type InstanceRegistration,
  type ParameterState,
  type PendingInstanceOperation,
  type PublishedTask,
  type ReconcilePlan,
  type ShardedPublishPlan,
  type SinglePublishPlan,
  type TargetGroupTarget,
  type TargetRef,
  type UnsettledInstance,
} from "./plan.js";
export {
  nextTombstones,
  parseTombstones,
  sameTombstones,
  serializeTombstones,
  staleTaskReads,
  tombstoneRetentionMs,
  type StaleTaskRead,
  type Tombstone,
  type Tombstones,
} from "./tombstones.js";
export { writerStateParameterName } from "./aws/writer-state.js";
export {
  findServiceOfTask,
  publishingPhaseOf,
  routeTaskEvent,
  sweepMessages,
  type EcsTaskEvent,
  type PublishingPhase,
  type ReconcileQueueMessage,
  type RouteDecision,
} from "./routing.js";
export {
  defaultStaleReadRetryDelaysMs,
  emitReconcileMetrics,
  reconcileMetricNames,
  reconcileService,
  type ReconcileDependencies,
  type ReconcileLogger,
  type ReconcileRecord,
  type ReconcileResult,
} from "./reconcile.js";
// The reconcile's own read step (and what its context is made of), for tools that must see exactly what a reconcile
// sees without writing: the CLI's `status` and `plan`.
export { readFreshState, type ServiceRead, type StaleReadRetry } from "./reconcile/read.js";
export type { ReconcileContext, StepFailure } from "./reconcile/context.js";
export { TargetGroupTypeCache } from "./aws/targets.js";
export { requestLimit } from "./concurrency.js";
export { createAwsClients, type AwsClients, type CreateAwsClientsOptions, type SharedClientConfig } from "./aws/clients.js";
export { readServiceTasks, ServiceTaskArnCache, TaskDefinitionCache } from "./aws/ecs.js";
export { CloudMapOperationInFlightError, CloudMapServiceCache, listCloudMapInstances } from "./aws/cloudmap.js";
export { describeTargets } from "./aws/targets.js";
export {
  publishDocument,
  readParameter,
  removeShardsAfterPublish,
  ShardValueCache,
  type PublishDocumentOptions,
  type PublishOutcome,
} from "./aws/parameter.js";
export { shardParameterName, shardPath } from "@discovery-sync/client/shards";
export {
  configParameterEnvVar,
  createLogger,
  createMetrics,
  defaultMetricsNamespace,
  defaultServiceName,
  loadConfig,
  queueUrlEnvVar,
  requireEnv,
} from "./handlers/runtime.js";
export { createRouteHandler, sendReconcileMessage, type RouteHandlerDependencies, type RouteResult } from "./handlers/route.js";
export { createSweepHandler, type SweepHandlerDependencies } from "./handlers/sweep.js";
export { createReconcileHandler, retryVisibilitySeconds, type ReconcileHandlerDependencies } from "./handlers/reconcile.js";
