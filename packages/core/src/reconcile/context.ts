import type { AwsClients } from "../aws/clients.js";
import type { CloudMapServiceCache } from "../aws/cloudmap.js";
import type { ServiceTaskArnCache, TaskDefinitionCache } from "../aws/ecs.js";
import type { ShardValueCache } from "../aws/parameter.js";
import type { TargetGroupTypeCache } from "../aws/targets.js";
import type { RequestLimit } from "../concurrency.js";

/** The structured logger the core writes to (Powertools' Logger fits). */
export interface ReconcileLogger {
  debug(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/** One AWS call of a reconcile that failed: what was done to which resource (`step`), and the error. */
export interface StepFailure {
  readonly step: string;
  readonly error: unknown;
}

/**
 * What the read and apply steps of one reconcile share: the clients, the logger, the process-wide caches (a warm
 * Lambda container keeps them between invocations) and the bound on requests in flight.
 *
 * @internal
 */
export interface ReconcileContext {
  readonly clients: AwsClients;
  readonly logger: ReconcileLogger;
  readonly taskDefinitions: TaskDefinitionCache;
  readonly cloudMapServices: CloudMapServiceCache;
  readonly shardValues: ShardValueCache;
  readonly targetGroupTypes: TargetGroupTypeCache;
  readonly serviceTasks: ServiceTaskArnCache;
  /** Shared by every request of the reconcile that fans out (DescribeTasks batches, writes). */
  readonly limit: RequestLimit;
}
