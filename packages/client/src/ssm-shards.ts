import { GetParametersCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { shardParameterName, type ShardManifest } from "./shards.js";

/** GetParameters takes at most this many names per call. */
export const getParametersMaxNames = 10;

/** Options of {@link readShardValues}. */
export interface ReadShardValuesOptions {
  /**
   * Shard values already read, keyed by `"<index>:<version>"`. A pinned version never changes, so a cached value
   * is reused without a request; values read are added. The caller decides what to keep.
   */
  readonly cache?: Map<string, string>;
  readonly withDecryption?: boolean;
  /** Called per request for its abort signal (a time limit per call). */
  readonly abortSignal?: () => AbortSignal;
}

/** The outcome of {@link readShardValues}. */
export type ShardValuesRead =
  | { readonly kind: "complete"; readonly values: readonly string[]; readonly requests: number }
  /** Some pinned versions do not exist (the manifest moved on, or a shard was deleted): the snapshot is gone. */
  | { readonly kind: "missing"; readonly selectors: readonly string[]; readonly requests: number };

/** The cache key of a shard version. */
export function shardCacheKey(index: number, version: number): string {
  return `${index}:${version}`;
}

/**
 * Reads the values of the shards a manifest pins (`name:version` selectors), ten per GetParameters call, the calls
 * concurrent, skipping those in the cache. Values come back in manifest order, ready for `assembleShardedDocument`.
 *
 * @example
 * ```ts
 * const read = await readShardValues(ssm, "/discovery/workflow-agent/endpoints", manifest, { cache });
 * if (read.kind === "complete") document = assembleShardedDocument(manifest, read.values);
 * ```
 */
export async function readShardValues(
  ssm: SSMClient,
  parameterName: string,
  manifest: ShardManifest,
  options: ReadShardValuesOptions = {},
): Promise<ShardValuesRead> {
  const cache = options.cache ?? new Map<string, string>();
  const wanted = manifest.shards.filter((ref) => !cache.has(shardCacheKey(ref.index, ref.version)));
  const batches: (typeof wanted)[] = [];
  for (let i = 0; i < wanted.length; i += getParametersMaxNames) batches.push(wanted.slice(i, i + getParametersMaxNames));
  const missing: string[] = [];
  await Promise.all(
    batches.map(async (batch) => {
      const byName = new Map(batch.map((ref) => [shardParameterName(parameterName, ref.index), ref]));
      const output = await ssm.send(
        new GetParametersCommand({
          Names: batch.map((ref) => `${shardParameterName(parameterName, ref.index)}:${ref.version}`),
          ...(options.withDecryption === undefined ? {} : { WithDecryption: options.withDecryption }),
        }),
        options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal() },
      );
      const found = new Set<string>();
      // AWS answers with the plain name (the selector apart) and the version, in any order.
      for (const parameter of output.Parameters ?? []) {
        const name = parameter.Name?.replace(/:\d+$/, "");
        const ref = name === undefined ? undefined : byName.get(name);
        if (ref === undefined || parameter.Version !== ref.version || parameter.Value === undefined) continue;
        cache.set(shardCacheKey(ref.index, ref.version), parameter.Value);
        found.add(shardCacheKey(ref.index, ref.version));
      }
      for (const ref of batch) {
        if (!found.has(shardCacheKey(ref.index, ref.version))) {
          missing.push(`${shardParameterName(parameterName, ref.index)}:${ref.version}`);
        }
      }
    }),
  );
  if (missing.length > 0) return { kind: "missing", selectors: missing.sort(), requests: batches.length };
  return {
    kind: "complete",
    values: manifest.shards.map((ref) => cache.get(shardCacheKey(ref.index, ref.version))!),
    requests: batches.length,
  };
}
