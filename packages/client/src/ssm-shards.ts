import { GetParametersCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { shardParameterName, type ShardRef } from "./shards.js";

/** GetParameters takes at most this many names per call. */
export const getParametersMaxNames = 10;

/** Options of {@link readShardValues}. */
export interface ReadShardValuesOptions {
  /** Called per request for its abort signal (a time limit per call). */
  readonly abortSignal?: () => AbortSignal;
}

/**
 * The cache key of a shard version, `index:version`. A pinned version's value never changes while the shard exists.
 *
 * @example
 * ```ts
 * cache.get(shardCacheKey(ref.index, ref.version));
 * ```
 */
export function shardCacheKey(index: number, version: number): string {
  return `${index}:${version}`;
}

/** A parameter name or ARN reduced to its name: `arn:aws:ssm:us-east-1:123456789012:parameter/a/b` -> `/a/b`. */
function parameterPath(nameOrArn: string): string {
  return nameOrArn.replace(/^arn:[^:]+:ssm:[^:]*:\d*:parameter(?=\/)/, "");
}

/**
 * Reads the given shard versions of the document at `parameterName` (`name:version` selectors), ten per GetParameters
 * call, the calls concurrent, into `into` (keyed by {@link shardCacheKey}). Returns the refs SSM does not have (the
 * shard was deleted, or that version is no longer kept): empty when every one was read.
 *
 * @example
 * ```ts
 * const values = new Map<string, string>();
 * const gone = await readShardValues(ssm, "/discovery/workflow-agent/endpoints", manifest.shards, values);
 * if (gone.length === 0) document = assembleShardedDocument(manifest, manifest.shards.map((r) => values.get(shardCacheKey(r.index, r.version))!));
 * ```
 * @throws the SDK's error when a request fails.
 */
export async function readShardValues(
  ssm: SSMClient,
  parameterName: string,
  refs: readonly ShardRef[],
  into: Map<string, string>,
  options: ReadShardValuesOptions = {},
): Promise<ShardRef[]> {
  const batches: ShardRef[][] = [];
  for (let i = 0; i < refs.length; i += getParametersMaxNames) batches.push(refs.slice(i, i + getParametersMaxNames));
  const gone = await Promise.all(
    batches.map(async (batch) => {
      const selectors = batch.map((ref) => `${shardParameterName(parameterName, ref.index)}:${ref.version}`);
      const output = await ssm.send(
        new GetParametersCommand({
          Names: selectors,
        }),
        options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal() },
      );
      // Matched by name and version: results come in any order, named without the selector (and, asked by ARN,
      // perhaps by plain name). A selector in InvalidParameters simply has no match.
      const values = new Map<string, string>();
      for (const { Name, Version, Value } of output.Parameters ?? []) {
        if (Name !== undefined && Version !== undefined && Value !== undefined) values.set(`${parameterPath(Name)}:${Version}`, Value);
      }
      return batch.filter((ref, i) => {
        const value = values.get(parameterPath(selectors[i]!));
        if (value !== undefined) into.set(shardCacheKey(ref.index, ref.version), value);
        return value === undefined;
      });
    }),
  );
  return gone.flat();
}
