/**
 * A demo world like the reference architecture (VPC, ECS service on Fargate, Cloud Map, internal NLB, the
 * EventBridge rule and the SQS queues of discovery-sync), provisioned on the local emulator, plus the tools to
 * drive it: run and stop tasks, patch what moto's DescribeTasks lacks, and emit the "ECS Task State Change"
 * events AWS would emit (moto emits none).
 *
 * The modules under `world/` each do one job; this entry names what the package exports from them, and nothing of
 * their internal steps.
 *
 * @packageDocumentation
 */
export { WorldError } from "./world/errors.js";
export { createWorldClients, type WorldClientConfig, type WorldClients } from "./world/clients.js";
export type { World, WorldServiceConfig, WorldSubnet } from "./world/types.js";
export { provisionWorld, type ProvisionWorldOptions } from "./world/provision.js";
export { reconcileDlqName, reconcileQueueName, routerInboxName } from "./world/queues.js";
export { describeTasks, runForeignTask, runServiceTasks, stopServiceTask, taskIdOf, taskIp } from "./world/tasks.js";
export { createTaskOverlay, type TaskOverlay, type TaskOverlayOptions, type TaskPatch } from "./world/overlay.js";
export {
  emitTaskStateChanges,
  putTaskEvents,
  taskStateChangeEvent,
  type EmitTaskStateChangesOptions,
  type TaskStateChangeDetail,
  type TaskStateChangeEvent,
  type TaskStateChangeEventOptions,
} from "./world/events.js";
