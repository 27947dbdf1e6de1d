import {
  DeleteParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { advancedTierMaxBytes, EndpointDocumentError } from "@discovery-sync/client/document";
import {
  assembleShardedDocument,
  parseShard,
  parseStoredDocument,
  serializeShardManifest,
  shardedDocumentSchemaVersion,
  shardParameterName,
  shardPath,
  type ShardRef,
} from "@discovery-sync/client/shards";
import { getParametersMaxNames, readShardValues, shardCacheKey } from "@discovery-sync/client/ssm-shards";
import { requestLimit, unlimited, type RequestLimit } from "../concurrency.js";
import { DocumentTooLargeError } from "../errors.js";
import { buildShardManifest, minimumTierFor, type ParameterState, type ShardedPublishPlan, type SinglePublishPlan } from "../plan.js";
import { writerStateParameterName } from "./writer-state.js";

/**
 * Shard values read before, per document parameter, keyed by `index:version`. A pinned version never changes, so a
 * warm reconcile reads only the shards rewritten since (by itself: none). Holds only what the last manifest named.
 */
export class ShardValueCache {
  readonly #byParameter = new Map<string, Map<string, string>>();

  /** The cache of one parameter (created on first use). */
  public forParameter(parameterName: string): Map<string, string> {
    let cache = this.#byParameter.get(parameterName);
    if (cache === undefined) this.#byParameter.set(parameterName, (cache = new Map()));
    return cache;
  }

  /** Drops every entry of `parameterName` but `keep`. */
  public retain(parameterName: string, keep: ReadonlySet<string>): void {
    const cache = this.forParameter(parameterName);
    for (const key of cache.keys()) if (!keep.has(key)) cache.delete(key);
  }
}

/**
 * Reads the endpoint document: the single value, or the manifest and the shards it pins. A value that is not a valid
 * document, or a manifest whose shards are missing or do not match it, is reported as `invalid` (with the SSM version,
 * and what could be read of the manifest) rather than thrown: the reconcile then replaces it.
 *
 * @example
 * ```ts
 * const state = await readParameter(clients.ssm, "/discovery/workflow-agent/endpoints");
 * ```
 */
export async function readParameter(ssm: SSMClient, name: string, shardValues = new ShardValueCache()): Promise<ParameterState> {
  let value: string;
  let version: number;
  try {
    const output = await ssm.send(new GetParameterCommand({ Name: name }));
    value = output.Parameter?.Value ?? "";
    version = output.Parameter?.Version ?? 0;
  } catch (error) {
    if (error instanceof ParameterNotFound) return { kind: "missing" };
    throw error;
  }
  return parameterStateOf(ssm, name, value, version, shardValues);
}

/** The endpoint document and the writer's state beside it, as {@link readDocumentAndState} reads them. */
export interface DocumentAndState {
  readonly parameter: ParameterState;
  /** The value of the writer's state parameter (`<parameter>/state`); undefined when it does not exist yet. */
  readonly stateValue: string | undefined;
}

/**
 * Reads the endpoint document (as {@link readParameter}) and the writer's state parameter beside it in one
 * GetParameters call: a reconcile needs both before it can decide anything, and one request is one round trip and one
 * API call against the account's shared SSM throughput instead of two.
 *
 * @example
 * ```ts
 * const { parameter, stateValue } = await readDocumentAndState(clients.ssm, "/discovery/workflow-agent/endpoints");
 * ```
 */
export async function readDocumentAndState(ssm: SSMClient, name: string, shardValues = new ShardValueCache()): Promise<DocumentAndState> {
  const stateName = writerStateParameterName(name);
  const output = await ssm.send(new GetParametersCommand({ Names: [name, stateName] }));
  // Answered in no particular order; a name that does not exist comes back in InvalidParameters, not as an error.
  const byName = new Map((output.Parameters ?? []).map((parameter) => [parameter.Name, parameter]));
  const document = byName.get(name);
  const parameter: ParameterState =
    document === undefined ? { kind: "missing" } : await parameterStateOf(ssm, name, document.Value ?? "", document.Version ?? 0, shardValues);
  return { parameter, stateValue: byName.get(stateName)?.Value };
}

/** What a document parameter's value is: valid (with its shards read, the cached ones reused), invalid or newer. */
async function parameterStateOf(
  ssm: SSMClient,
  name: string,
  value: string,
  version: number,
  shardValues: ShardValueCache,
): Promise<ParameterState> {
  const newer = newerSchemaVersion(value);
  if (newer !== undefined) return { kind: "newer", version, schemaVersion: newer };
  let stored: ReturnType<typeof parseStoredDocument>;
  try {
    stored = parseStoredDocument(value);
  } catch (error) {
    if (error instanceof EndpointDocumentError) return { kind: "invalid", version, reason: error.message };
    throw error;
  }
  if (stored.form === "single") return { kind: "valid", version, document: stored.document };

  const { manifest } = stored;
  const broken = (reason: string): ParameterState => ({
    kind: "invalid",
    version,
    reason,
    head: { epoch: manifest.epoch, revision: manifest.revision },
    shardIndexes: manifest.shards.map((ref) => ref.index),
  });
  const cache = shardValues.forParameter(name);
  const key = (ref: ShardRef) => shardCacheKey(ref.index, ref.version);
  const gone = await readShardValues(ssm, name, manifest.shards.filter((ref) => !cache.has(key(ref))), cache);
  if (gone.length > 0) {
    const selectors = gone.map((ref) => `${shardParameterName(name, ref.index)}:${ref.version}`);
    return broken(`the manifest names shard versions that do not exist: ${selectors.join(", ")}`);
  }
  const values = manifest.shards.map((ref) => cache.get(key(ref))!);
  try {
    const document = assembleShardedDocument(manifest, values);
    const shards = manifest.shards.map((ref, position) => parseShard(values[position], { service: manifest.service, index: ref.index }));
    shardValues.retain(name, new Set(manifest.shards.map(key)));
    return { kind: "valid", version, document, sharded: { manifest, shards } };
  } catch (error) {
    if (error instanceof EndpointDocumentError) {
      // A cached value can be stale under the same key (a shard deleted and created again starts over at version 1):
      // the next read fetches every shard afresh.
      shardValues.retain(name, new Set());
      return broken(error.message);
    }
    throw error;
  }
}

/** The schemaVersion of a value written by a newer writer (above the sharded form's), if it is one. */
function newerSchemaVersion(value: string): number | undefined {
  try {
    const schemaVersion = (JSON.parse(value) as { schemaVersion?: unknown } | null)?.schemaVersion;
    return Number.isSafeInteger(schemaVersion) && (schemaVersion as number) > shardedDocumentSchemaVersion ? (schemaVersion as number) : undefined;
  } catch {
    return undefined;
  }
}

/** What {@link publishDocument} did. */
export interface PublishOutcome {
  /** The SSM version of the parameter after the write. */
  readonly version: number;
  readonly tier: "Standard" | "Advanced";
  /** PutParameter calls made: shards and the manifest, or the single value. */
  readonly parametersWritten: number;
  /**
   * True when another writer wrote the parameter between the plan's read and this write: the version returned is not
   * the next one after the plan's, or the create-only write found the parameter there. The caller must publish the
   * current truth again at once, or readers may be left on the other writer's (older) list.
   */
  readonly conflict: boolean;
}

// PutParameter's default throughput is a few per second per account: a handful of shard writes in flight, the SDK's
// retries absorbing throttling, keeps a large first publish moving without a storm of rejected calls.
const shardWriteConcurrency = 4;

/**
 * The tier asked for the document's own parameter (the single value or the manifest). With Intelligent-Tiering SSM
 * picks Standard when the value fits it and Advanced when it does not, and keeps a parameter that is already Advanced
 * Advanced (SSM never downgrades one, and refuses an explicit `Standard` for it). So no read is needed to choose the
 * tier, whoever wrote the parameter before: neither GetParameterHistory nor DescribeParameters.
 */
const documentTierRequest = "Intelligent-Tiering";

async function putValue(
  ssm: SSMClient,
  name: string,
  value: string,
  options: { tier: "Standard" | "Intelligent-Tiering"; overwrite: boolean; description: string },
): Promise<{ version: number; tier: string | undefined } | "exists"> {
  try {
    const output = await ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: "String",
        Tier: options.tier,
        Overwrite: options.overwrite,
        Description: options.description,
      }),
    );
    return { version: output.Version ?? 0, tier: output.Tier };
  } catch (error) {
    if (error instanceof ParameterAlreadyExists) return "exists";
    throw error;
  }
}

/** Options of {@link publishDocument}. */
export interface PublishDocumentOptions {
  /** Bounds the requests in flight, shared with the reconcile's other writes. @default unbounded */
  readonly limit?: RequestLimit;
}

/**
 * Writes the planned document and returns the new SSM version. Sharded: the changed shards first, then the manifest
 * pinning their new versions, so a reader of the old manifest keeps reading the old, complete snapshot until the new
 * manifest is in place. The document's parameter is written with Intelligent-Tiering: Standard while it fits 4 KB,
 * Advanced above, and an existing Advanced parameter stays Advanced (SSM never downgrades one). Shards always fit
 * Standard.
 *
 * @example
 * ```ts
 * const plan = planReconcile(service, desired, actual, new Date()).document;
 * if (plan.kind === "publish") await publishDocument(clients.ssm, service.parameterName, plan, shardValues);
 * ```
 * @throws {DocumentTooLargeError} when the manifest, built from the versions the shard writes returned, exceeds 8 KB.
 */
export async function publishDocument(
  ssm: SSMClient,
  name: string,
  plan: SinglePublishPlan | ShardedPublishPlan,
  shardValues?: ShardValueCache,
  options: PublishDocumentOptions = {},
): Promise<PublishOutcome> {
  const limit = options.limit ?? unlimited;
  const service = plan.document.service;
  let value: string;
  let bytes: number;
  let shardsWritten = 0;
  if (plan.form === "single") {
    value = plan.text;
    bytes = plan.bytes;
  } else {
    const changed = plan.shards.filter((shard) => shard.changed);
    const shardSlot = requestLimit(shardWriteConcurrency);
    const written = await Promise.all(
      changed.map((shard) =>
        shardSlot(() =>
          limit(async () => {
            const outcome = await putValue(ssm, shardParameterName(name, shard.index), shard.text, {
              tier: "Standard",
              overwrite: true,
              description: `discovery-sync endpoint document of ${service}, shard ${shard.index} (schema version 2)`,
            });
            // Overwrite is set, so SSM never answers ParameterAlreadyExists here.
            return { shard, version: outcome === "exists" ? 0 : outcome.version };
          }),
        ),
      ),
    );
    shardsWritten = written.length;
    // What we wrote is what the next reconcile would read: keep it, so that it reads none of it again.
    const cache = shardValues?.forParameter(name);
    for (const { shard, version } of written) cache?.set(shardCacheKey(shard.index, version), shard.text);
    const versions = new Map([...plan.keptVersions, ...written.map(({ shard, version }) => [shard.index, version] as const)]);
    const manifest = buildShardManifest(plan.document, plan.shards, versions);
    value = serializeShardManifest(manifest);
    bytes = Buffer.byteLength(value, "utf8");
    if (bytes > advancedTierMaxBytes) {
      throw new DocumentTooLargeError(service, name, bytes, plan.document.endpoints.length, plan.document.draining.length,
        `its manifest of ${plan.shards.length} shards is ${bytes} bytes, over SSM's Advanced tier limit of ${advancedTierMaxBytes}`);
    }
  }
  const outcome = await limit(() =>
    putValue(ssm, name, value, {
      tier: documentTierRequest,
      overwrite: plan.overwrite,
      description: `discovery-sync endpoint document of ${service} (schema version ${plan.form === "single" ? 1 : 2})`,
    }),
  );
  // SSM answers the tier it gave the parameter; should it not, the smallest tier that holds the value is the best guess.
  const tierOf = (answered: string | undefined) => (answered === "Standard" || answered === "Advanced" ? answered : minimumTierFor(bytes));
  if (outcome === "exists") return { version: 0, tier: minimumTierFor(bytes), parametersWritten: shardsWritten, conflict: true };
  return { version: outcome.version, tier: tierOf(outcome.tier), parametersWritten: shardsWritten + 1, conflict: outcome.version !== plan.baseVersion + 1 };
}

/**
 * After `plan` was published at `publishedVersion`: deletes the shards the new document no longer names, and looks
 * for orphans (a reconcile that stopped between its shard writes and its manifest can leave shards no manifest names;
 * a later publish at the same indexes overwrites them, so they are looked for, with GetParametersByPath on the shard
 * path, only when shards go away or the layout starts afresh, not on every change). Returns the number deleted.
 *
 * @example
 * ```ts
 * const outcome = await publishDocument(ssm, name, plan);
 * if (!outcome.conflict) await removeShardsAfterPublish(ssm, name, plan, outcome.version);
 * ```
 */
export function removeShardsAfterPublish(
  ssm: SSMClient,
  name: string,
  plan: SinglePublishPlan | ShardedPublishPlan,
  publishedVersion: number,
  options: PublishDocumentOptions = {},
): Promise<number> {
  return removeUnreferencedShards(ssm, name, {
    referenced: new Set(plan.form === "sharded" ? plan.shards.map((shard) => shard.index) : []),
    candidates: plan.obsoleteShards,
    listOrphans: plan.obsoleteShards.length > 0 || (plan.form === "sharded" && plan.repacked),
    publishedVersion,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
}

/**
 * Indexes of every shard parameter that exists under the document's shard path: GetParametersByPath on
 * `shardPath(name)`, one level, which IAM authorises on the path itself (`<parameter ARN>/shards`), not on `*`.
 * Pages hold at most 10 parameters and may be short, or empty, while a NextToken is still given: always follow it.
 */
export async function listShardIndexes(ssm: SSMClient, name: string, limit: RequestLimit = unlimited): Promise<number[]> {
  const path = shardPath(name);
  const indexes: number[] = [];
  let nextToken: string | undefined;
  do {
    const output = await limit(() => ssm.send(
      new GetParametersByPathCommand({
        Path: path,
        Recursive: false,
        MaxResults: 10,
        ...(nextToken === undefined ? {} : { NextToken: nextToken }),
      }),
    ));
    for (const parameter of output.Parameters ?? []) {
      const match = parameter.Name?.startsWith(`${path}/`) ? /^(0|[1-9]\d*)$/.exec(parameter.Name.slice(path.length + 1)) : null;
      if (match !== null) indexes.push(Number(match[1]));
    }
    nextToken = output.NextToken;
  } while (nextToken !== undefined);
  return indexes.sort((a, b) => a - b);
}

/**
 * Deletes shards no published manifest names: `candidates`, plus (with `listOrphans`) any other shard found under the
 * shard path (left by a reconcile that stopped between its shard writes and its manifest). Only while the parameter
 * is still at `publishedVersion`: if another writer has published since, its manifest may name these shards, and
 * cleaning up is its job. Returns the number deleted.
 */
export async function removeUnreferencedShards(
  ssm: SSMClient,
  name: string,
  options: {
    referenced: ReadonlySet<number>;
    candidates: readonly number[];
    listOrphans: boolean;
    publishedVersion: number;
    /** Bounds the requests in flight. @default unbounded */
    limit?: RequestLimit;
  },
): Promise<number> {
  const limit = options.limit ?? unlimited;
  const found = options.listOrphans ? await listShardIndexes(ssm, name, limit) : [];
  const doomed = [...new Set([...options.candidates, ...found])].filter((index) => !options.referenced.has(index)).sort((a, b) => a - b);
  if (doomed.length === 0) return 0;
  const current = await limit(() => ssm.send(new GetParameterCommand({ Name: name })));
  if (current.Parameter?.Version !== options.publishedVersion) return 0;
  const batches: string[][] = [];
  for (let i = 0; i < doomed.length; i += getParametersMaxNames) {
    batches.push(doomed.slice(i, i + getParametersMaxNames).map((index) => shardParameterName(name, index)));
  }
  const deleted = await Promise.all(
    batches.map(async (names) => (await limit(() => ssm.send(new DeleteParametersCommand({ Names: names })))).DeletedParameters?.length ?? 0),
  );
  return deleted.reduce((sum, n) => sum + n, 0);
}
