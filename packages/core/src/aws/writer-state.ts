import { GetParameterCommand, ParameterNotFound, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { shardPath } from "@discovery-sync/client/shards";
import { parseTombstones, serializeTombstones, type Tombstone, type Tombstones } from "../tombstones.js";

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

/** The tombstones kept for a document (none when the state parameter does not exist yet). */
export async function readTombstones(ssm: SSMClient, parameterName: string): Promise<Map<string, Tombstone>> {
  try {
    const output = await ssm.send(new GetParameterCommand({ Name: writerStateParameterName(parameterName) }));
    return parseTombstones(output.Parameter?.Value);
  } catch (error) {
    if (error instanceof ParameterNotFound) return new Map();
    throw error;
  }
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
