import { PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { shardPath } from "@discovery-sync/client/shards";
import { serializeTombstones, type Tombstones } from "../tombstones.js";

/**
 * The writer's own state parameter beside a document: `<parameter>/state` (a flat name gets a leading `/`, as its
 * shards do). Readers never read it.
 *
 * @example
 * ```ts
 * writerStateParameterName("/discovery/workflow-agent/endpoints"); // "/discovery/workflow-agent/endpoints/state"
 * ```
 */
export function writerStateParameterName(parameterName: string): string {
  return shardPath(parameterName).replace(/\/shards$/, "/state");
}

/** Stores the tombstones of a document (a Standard parameter; the oldest are dropped to fit). */
export async function writeTombstones(ssm: SSMClient, parameterName: string, tombstones: Tombstones): Promise<void> {
  await ssm.send(
    new PutParameterCommand({
      Name: writerStateParameterName(parameterName),
      Value: serializeTombstones(tombstones),
      Type: "String",
      Tier: "Standard",
      Overwrite: true,
      Description: "discovery-sync writer state: tasks recently out of the ready set (not for readers)",
    }),
  );
}
