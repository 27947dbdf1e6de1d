import { createHash } from "node:crypto";
import {
  compareEndpoints,
  EndpointDocumentError,
  parseEndpointDocument,
  standardTierMaxBytes,
  type Endpoint,
  type EndpointDocument,
} from "./document.js";
import { describeValue as describe } from "./errors.js";
import { isRecord } from "./validate.js";

/**
 * The sharded form of the endpoint document (schema version 2), for services whose list does not fit one SSM
 * parameter. See docs/document-format.md for the design and its reasons.
 *
 * - The **manifest** sits at the configured parameter: service, `epoch`, `revision`, counts, the version-pinned
 *   shards (`"<index>:<version>"`) and a SHA-256 `digest` of the shard values.
 * - **Shard** `i` is the parameter `<parameter>/shards/<i>` (a leading `/` is added to a flat name). The manifest
 *   pins one version of each, read with the `name:version` selector, so a snapshot never mixes two revisions; the
 *   digest rejects anything else (a shard deleted and recreated, a manifest restored by hand).
 *
 * This module is pure (no I/O) and shared by the writer and every reader.
 */

/** Schema version of the manifest and of its shards. */
export const shardedDocumentSchemaVersion = 2;

/** Every shard is a Standard parameter: no monthly charge, and at most this many bytes. */
export const shardMaxBytes = standardTierMaxBytes;

/** One shard's place in a manifest: its index and the SSM version of its parameter that belongs to the snapshot. */
export interface ShardRef {
  readonly index: number;
  readonly version: number;
}

/**
 * The value at the configured parameter when the list is sharded.
 *
 * @example
 * ```json
 * { "schemaVersion": 2, "service": "workflow-agent", "epoch": 1764316800000, "revision": 57,
 *   "generatedAt": "2026-11-28T12:00:00.000Z", "endpointCount": 1000, "drainingCount": 3,
 *   "shards": ["0:12", "1:5", "2:9"], "digest": "sha256:9f2c..." }
 * ```
 */
export interface ShardManifest {
  readonly schemaVersion: 2;
  readonly service: string;
  readonly epoch: number;
  readonly revision: number;
  readonly generatedAt: string;
  readonly endpointCount: number;
  readonly drainingCount: number;
  /** Ascending by index. */
  readonly shards: readonly ShardRef[];
  /** `sha256:` + hex SHA-256 of the shard values (exact stored text) joined by `\n`, in manifest order. */
  readonly digest: string;
}

/** The parsed content of one shard. */
export interface ShardContent {
  readonly index: number;
  /** Sorted like the document's lists. */
  readonly endpoints: readonly Endpoint[];
  readonly draining: readonly Endpoint[];
}

/** What a parameter holds: a whole document (schema version 1) or a manifest (schema version 2). */
export type StoredDocument =
  | { readonly form: "single"; readonly document: EndpointDocument }
  | { readonly form: "sharded"; readonly manifest: ShardManifest };

function parseJson(input: unknown): unknown {
  if (typeof input !== "string") return input;
  try {
    return JSON.parse(input);
  } catch (error) {
    throw new EndpointDocumentError("$", `not JSON (given ${describe(input)})`, { cause: error });
  }
}

function nonNegativeInteger(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new EndpointDocumentError(path, `expected a non-negative integer (given ${describe(value)})`);
  }
  return value;
}

/**
 * Name of shard `index` of the document at `parameterName`: `<parameterName>/shards/<index>`. A flat name (no
 * leading `/`) gets one, since SSM requires names with a `/` to start with one; an ARN keeps its prefix, so a
 * reader given an ARN reads the shards from the same account and Region.
 *
 * @example
 * ```ts
 * shardParameterName("/discovery/workflow-agent/endpoints", 3); // "/discovery/workflow-agent/endpoints/shards/3"
 * shardParameterName("workflow-endpoints", 0);                  // "/workflow-endpoints/shards/0"
 * ```
 */
export function shardParameterName(parameterName: string, index: number): string {
  const base = parameterName.startsWith("arn:") || parameterName.startsWith("/") ? parameterName : `/${parameterName}`;
  return `${base}/shards/${index}`;
}

/** The path under which every shard of `parameterName` lives (for listing them), without a trailing `/`. */
export function shardPath(parameterName: string): string {
  return shardParameterName(parameterName, 0).replace(/\/0$/, "");
}

/**
 * Parses what the configured parameter holds: a schema version 1 document or a schema version 2 manifest.
 *
 * @example
 * ```ts
 * const stored = parseStoredDocument(parameter.Value!);
 * if (stored.form === "sharded") console.log(stored.manifest.shards.length, "shards");
 * ```
 * @throws {EndpointDocumentError} naming the first wrong field and the value given.
 */
export function parseStoredDocument(input: unknown): StoredDocument {
  const value = parseJson(input);
  if (isRecord(value) && value.schemaVersion === shardedDocumentSchemaVersion) {
    return { form: "sharded", manifest: parseShardManifest(value) };
  }
  if (isRecord(value) && value.schemaVersion !== 1) {
    throw new EndpointDocumentError("schemaVersion", `expected 1 or ${shardedDocumentSchemaVersion} (given ${describe(value.schemaVersion)})`);
  }
  return { form: "single", document: parseEndpointDocument(value) };
}

/**
 * Validates a manifest given as JSON text or a parsed value.
 *
 * @example
 * ```ts
 * const manifest = parseShardManifest(text);
 * ```
 * @throws {EndpointDocumentError}
 */
export function parseShardManifest(input: unknown): ShardManifest {
  const value = parseJson(input);
  if (!isRecord(value)) throw new EndpointDocumentError("$", `expected an object (given ${describe(value)})`);
  if (value.schemaVersion !== shardedDocumentSchemaVersion) {
    throw new EndpointDocumentError("schemaVersion", `expected ${shardedDocumentSchemaVersion} (given ${describe(value.schemaVersion)})`);
  }
  // The common fields are checked by the version 1 parser on a stand-in with no endpoints.
  const head = parseEndpointDocument({ ...value, schemaVersion: 1, endpoints: [], draining: [] });
  if (head.epoch === undefined) throw new EndpointDocumentError("epoch", "expected a non-negative integer (given undefined)");
  const endpointCount = nonNegativeInteger(value.endpointCount, "endpointCount");
  const drainingCount = nonNegativeInteger(value.drainingCount, "drainingCount");
  if (!Array.isArray(value.shards)) throw new EndpointDocumentError("shards", `expected an array (given ${describe(value.shards)})`);
  const shards = value.shards.map((item: unknown, position): ShardRef => {
    const match = typeof item === "string" ? /^(0|[1-9]\d{0,5}):([1-9]\d{0,14})$/.exec(item) : null;
    if (match === null) {
      throw new EndpointDocumentError(`shards[${position}]`, `expected "<index>:<version>" (given ${describe(item)})`);
    }
    return { index: Number(match[1]), version: Number(match[2]) };
  });
  shards.forEach((ref, position) => {
    const previous = shards[position - 1];
    if (previous !== undefined && previous.index >= ref.index) {
      throw new EndpointDocumentError(`shards[${position}]`, `indexes must ascend (given ${previous.index} then ${ref.index})`);
    }
  });
  if (typeof value.digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(value.digest)) {
    throw new EndpointDocumentError("digest", `expected "sha256:" and 64 lower-case hex digits (given ${describe(value.digest)})`);
  }
  return {
    schemaVersion: shardedDocumentSchemaVersion,
    service: head.service,
    epoch: head.epoch,
    revision: head.revision,
    generatedAt: head.generatedAt,
    endpointCount,
    drainingCount,
    shards,
    digest: value.digest,
  };
}

type EndpointTuple = [address: string, port: number, zone?: string | null, taskId?: string | null];

function toTuple(endpoint: Endpoint): EndpointTuple {
  if (endpoint.taskId !== undefined) return [endpoint.address, endpoint.port, endpoint.zone ?? null, endpoint.taskId];
  if (endpoint.zone !== undefined) return [endpoint.address, endpoint.port, endpoint.zone];
  return [endpoint.address, endpoint.port];
}

function fromTuple(value: unknown, path: string): Endpoint {
  if (!Array.isArray(value) || value.length < 2 || value.length > 4) {
    throw new EndpointDocumentError(path, `expected [address, port, zone?, taskId?] (given ${describe(value)})`);
  }
  const [address, port, zone, taskId] = value as unknown[];
  // The version 1 parser checks each field and names it.
  const parsed = parseEndpointDocument({
    schemaVersion: 1,
    service: "x",
    revision: 1,
    generatedAt: "1970-01-01T00:00:00Z",
    endpoints: [{ address, port, ...(zone === null ? {} : { zone }), ...(taskId === null ? {} : { taskId }) }],
    draining: [],
  });
  return parsed.endpoints[0]!;
}

function parseTupleList(value: unknown, path: string): Endpoint[] {
  if (!Array.isArray(value)) throw new EndpointDocumentError(path, `expected an array (given ${describe(value)})`);
  return value.map((item, position) => {
    try {
      return fromTuple(item, `${path}[${position}]`);
    } catch (error) {
      if (!(error instanceof EndpointDocumentError) || error.path === `${path}[${position}]`) throw error;
      // Rename the stand-in's `endpoints[0].port` to this tuple's place.
      throw new EndpointDocumentError(`${path}[${position}]${error.path.replace(/^endpoints\[0\]/, "")}`, error.message.replace(/^invalid endpoint document at \S+: /, ""), { cause: error });
    }
  });
}

/**
 * Serialises one shard: `{"schemaVersion":2,"service":...,"shard":i,"endpoints":[[address,port,zone,taskId],...],"draining":[...]}`,
 * lists sorted, so that equal content gives equal text (and an unchanged shard is never rewritten).
 *
 * @example
 * ```ts
 * const text = serializeShard("workflow-agent", { index: 0, endpoints, draining: [] });
 * ```
 */
export function serializeShard(service: string, shard: ShardContent): string {
  return JSON.stringify({
    schemaVersion: shardedDocumentSchemaVersion,
    service,
    shard: shard.index,
    endpoints: [...shard.endpoints].sort(compareEndpoints).map(toTuple),
    draining: [...shard.draining].sort(compareEndpoints).map(toTuple),
  });
}

/**
 * Parses a shard's value and checks it belongs where the manifest put it (service and index).
 *
 * @example
 * ```ts
 * const shard = parseShard(text, { service: "workflow-agent", index: 3 });
 * ```
 * @throws {EndpointDocumentError} with a path such as `shards[3].endpoints[2].port`.
 */
export function parseShard(input: unknown, expected: { readonly service: string; readonly index: number }): ShardContent {
  const at = (path: string) => `shards[${expected.index}]${path === "$" ? "" : `.${path}`}`;
  const value = parseJson(input);
  if (!isRecord(value)) throw new EndpointDocumentError(at("$"), `expected an object (given ${describe(value)})`);
  if (value.schemaVersion !== shardedDocumentSchemaVersion) {
    throw new EndpointDocumentError(at("schemaVersion"), `expected ${shardedDocumentSchemaVersion} (given ${describe(value.schemaVersion)})`);
  }
  if (value.service !== expected.service) {
    throw new EndpointDocumentError(at("service"), `expected ${describe(expected.service)} (given ${describe(value.service)})`);
  }
  if (value.shard !== expected.index) {
    throw new EndpointDocumentError(at("shard"), `expected ${expected.index} (given ${describe(value.shard)})`);
  }
  return {
    index: expected.index,
    endpoints: parseTupleList(value.endpoints, at("endpoints")),
    draining: parseTupleList(value.draining, at("draining")),
  };
}

/**
 * The manifest's `digest` of shard values, in manifest order.
 *
 * @example
 * ```ts
 * shardDigest(['{"schemaVersion":2,...}']); // "sha256:..."
 * ```
 */
export function shardDigest(shardValues: readonly string[]): string {
  return `sha256:${createHash("sha256").update(shardValues.join("\n"), "utf8").digest("hex")}`;
}

/** Identity of an endpoint within a document: its task, or its address and port when no task id is known. */
export function endpointKey(endpoint: Endpoint): string {
  return endpoint.taskId === undefined ? `${endpoint.address}:${endpoint.port}` : `task:${endpoint.taskId}`;
}

/**
 * Assembles the whole document from a manifest and the values of the shards it pins, in manifest order. Refuses
 * anything that is not exactly the snapshot the manifest describes: a wrong digest (a shard of another revision),
 * a shard of another service or index, counts that differ, or an endpoint listed twice.
 *
 * @example
 * ```ts
 * const document = assembleShardedDocument(manifest, values); // values[i] is the value of manifest.shards[i]
 * ```
 * @throws {EndpointDocumentError} naming what did not match.
 */
export function assembleShardedDocument(manifest: ShardManifest, shardValues: readonly string[]): EndpointDocument {
  if (shardValues.length !== manifest.shards.length) {
    throw new EndpointDocumentError("shards", `the manifest names ${manifest.shards.length} shards, ${shardValues.length} values were given`);
  }
  const digest = shardDigest(shardValues);
  if (digest !== manifest.digest) {
    throw new EndpointDocumentError(
      "digest",
      `the shard values do not match the manifest of revision ${manifest.revision} (expected ${manifest.digest}, computed ${digest}): ` +
        "a shard was replaced, deleted or recreated outside the manifest's snapshot",
    );
  }
  const endpoints: Endpoint[] = [];
  const draining: Endpoint[] = [];
  const seen = new Set<string>();
  manifest.shards.forEach((ref, position) => {
    const shard = parseShard(shardValues[position], { service: manifest.service, index: ref.index });
    for (const [list, target] of [[shard.endpoints, endpoints], [shard.draining, draining]] as const) {
      for (const endpoint of list) {
        const key = endpointKey(endpoint);
        if (seen.has(key)) throw new EndpointDocumentError(`shards[${ref.index}]`, `endpoint ${key} is listed twice`);
        seen.add(key);
        target.push(endpoint);
      }
    }
  });
  if (endpoints.length !== manifest.endpointCount || draining.length !== manifest.drainingCount) {
    throw new EndpointDocumentError(
      endpoints.length !== manifest.endpointCount ? "endpointCount" : "drainingCount",
      `the manifest counts ${manifest.endpointCount} endpoints and ${manifest.drainingCount} draining, the shards hold ` +
        `${endpoints.length} and ${draining.length}`,
    );
  }
  return {
    schemaVersion: shardedDocumentSchemaVersion,
    service: manifest.service,
    epoch: manifest.epoch,
    revision: manifest.revision,
    generatedAt: manifest.generatedAt,
    endpoints: endpoints.sort(compareEndpoints),
    draining: draining.sort(compareEndpoints),
  };
}

/**
 * Serialises a manifest with a fixed key order.
 *
 * @example
 * ```ts
 * const text = serializeShardManifest(manifest);
 * ```
 */
export function serializeShardManifest(manifest: ShardManifest): string {
  return JSON.stringify({
    schemaVersion: shardedDocumentSchemaVersion,
    service: manifest.service,
    epoch: manifest.epoch,
    revision: manifest.revision,
    generatedAt: manifest.generatedAt,
    endpointCount: manifest.endpointCount,
    drainingCount: manifest.drainingCount,
    shards: manifest.shards.map((ref) => `${ref.index}:${ref.version}`),
    digest: manifest.digest,
  });
}

/**
 * The order in which readers accept documents: a higher `epoch` wins (a new incarnation of the parameter, started
 * after it was deleted, recreated or overwritten by hand), and within one epoch a higher `revision`. A document
 * without `epoch` (written before epochs existed) counts as epoch 0. Positive when `a` is newer than `b`.
 *
 * @example
 * ```ts
 * if (held === undefined || compareDocumentOrder(candidate, held) > 0) held = candidate;
 * ```
 */
export function compareDocumentOrder(
  a: { readonly epoch?: number; readonly revision: number },
  b: { readonly epoch?: number; readonly revision: number },
): number {
  const epochA = a.epoch ?? 0;
  const epochB = b.epoch ?? 0;
  if (epochA !== epochB) return epochA > epochB ? 1 : -1;
  return a.revision - b.revision;
}

/** One shard the writer will publish: its content and text, and whether that differs from what the index holds now. */
export interface PlannedShard extends ShardContent {
  readonly text: string;
  readonly bytes: number;
  /** False when the index already holds exactly this text: the writer keeps its version and makes no write. */
  readonly changed: boolean;
}

/** The result of {@link layoutShards}. */
export interface ShardLayout {
  /** Ascending by index. */
  readonly shards: readonly PlannedShard[];
  /** Indexes that held a shard before and hold none now: delete them once a manifest without them is published. */
  readonly removed: readonly number[];
  /** True when the layout was packed afresh (fragmentation, or no usable previous layout). */
  readonly repacked: boolean;
}

/** Input of {@link layoutShards}. */
export interface LayoutInput {
  readonly service: string;
  readonly endpoints: readonly Endpoint[];
  readonly draining: readonly Endpoint[];
  /** The shards published now (from the current manifest), or none. */
  readonly previous?: readonly ShardContent[];
  /** @default {@link shardMaxBytes} */
  readonly maxShardBytes?: number;
}

interface Slot {
  readonly index: number;
  readonly ready: Map<string, Endpoint>;
  readonly draining: Map<string, Endpoint>;
  bytes: number;
}

/**
 * Assigns endpoints to shards, stably: an endpoint stays in the shard that holds it now (a task that starts draining
 * stays there too, moved to the shard's `draining` list), new endpoints go to the lowest-indexed shard with room, and
 * a shard left empty is removed. One task starting or stopping therefore changes one shard. When the shards have
 * become more than twice as many as a fresh packing needs (after a service shrank), everything is packed afresh.
 * Pure and deterministic.
 *
 * @example
 * ```ts
 * const layout = layoutShards({ service: "workflow-agent", endpoints, draining, previous });
 * for (const shard of layout.shards.filter((s) => s.changed)) await put(shardParameterName(name, shard.index), shard.text);
 * ```
 * @throws {RangeError} when a single endpoint cannot fit an empty shard (its fields are absurdly long).
 */
export function layoutShards(input: LayoutInput): ShardLayout {
  const maxBytes = input.maxShardBytes ?? shardMaxBytes;
  const emptyBytes = Buffer.byteLength(serializeShard(input.service, { index: 0, endpoints: [], draining: [] }), "utf8");
  const indexBytes = (index: number) => String(index).length - 1;
  const entryBytes = (endpoint: Endpoint) => Buffer.byteLength(JSON.stringify(toTuple(endpoint)), "utf8");
  // Each entry costs its JSON and one comma, except the first of its list.
  const slotBytes = (slot: Slot) =>
    emptyBytes + indexBytes(slot.index) + listBytes([...slot.ready.values()]) + listBytes([...slot.draining.values()]);
  const listBytes = (list: readonly Endpoint[]) => list.reduce((sum, e) => sum + entryBytes(e), 0) + Math.max(0, list.length - 1);
  // A shard holding both lists keeps one byte spare: when its last ready task starts draining, the two lists become
  // one whose entries need one comma more, and the shard must not overflow (which would move another endpoint).
  const fits = (slot: Slot, endpoint: Endpoint, kind: "ready" | "draining") => {
    const list = kind === "ready" ? slot.ready : slot.draining;
    const other = kind === "ready" ? slot.draining : slot.ready;
    return slot.bytes + entryBytes(endpoint) + (list.size > 0 ? 1 : 0) + (other.size > 0 ? 1 : 0) <= maxBytes;
  };

  const wanted = new Map<string, { endpoint: Endpoint; kind: "ready" | "draining" }>();
  for (const endpoint of input.endpoints) wanted.set(endpointKey(endpoint), { endpoint, kind: "ready" });
  for (const endpoint of input.draining) {
    const key = endpointKey(endpoint);
    // A task both ready and draining cannot be; if the caller says so, ready wins (clients may still use it).
    if (!wanted.has(key)) wanted.set(key, { endpoint, kind: "draining" });
  }
  for (const { endpoint } of wanted.values()) {
    if (emptyBytes + 6 + entryBytes(endpoint) > maxBytes) {
      throw new RangeError(`endpoint ${endpointKey(endpoint)} needs ${entryBytes(endpoint)} bytes, more than a shard of ${maxBytes} bytes holds`);
    }
  }

  const previousText = new Map((input.previous ?? []).map((shard) => [shard.index, serializeShard(input.service, shard)]));
  const place = (slots: Slot[], placed: Set<string>, entries: readonly [string, { endpoint: Endpoint; kind: "ready" | "draining" }][]) => {
    for (const [key, { endpoint, kind }] of entries) {
      if (placed.has(key)) continue;
      let slot = slots.find((s) => fits(s, endpoint, kind));
      if (slot === undefined) {
        const used = new Set(slots.map((s) => s.index));
        let index = 0;
        while (used.has(index)) index++;
        slot = { index, ready: new Map(), draining: new Map(), bytes: 0 };
        slot.bytes = slotBytes(slot);
        slots.push(slot);
        slots.sort((a, b) => a.index - b.index);
      }
      (kind === "ready" ? slot.ready : slot.draining).set(key, endpoint);
      slot.bytes = slotBytes(slot);
      placed.add(key);
    }
  };
  const sortedWanted = [...wanted.entries()].sort(([, a], [, b]) => compareEndpoints(a.endpoint, b.endpoint));

  // Keep every wanted endpoint where it is, updated to its current content and list.
  let slots: Slot[] = [];
  const placed = new Set<string>();
  for (const shard of [...(input.previous ?? [])].sort((a, b) => a.index - b.index)) {
    const slot: Slot = { index: shard.index, ready: new Map(), draining: new Map(), bytes: 0 };
    for (const endpoint of [...shard.endpoints, ...shard.draining]) {
      const key = endpointKey(endpoint);
      const want = wanted.get(key);
      if (want === undefined || placed.has(key)) continue;
      (want.kind === "ready" ? slot.ready : slot.draining).set(key, want.endpoint);
      placed.add(key);
    }
    slot.bytes = slotBytes(slot);
    // An entry that grew (a zone learnt late) may overflow its shard: move the last ones out again.
    while (slot.bytes > maxBytes) {
      const list = slot.draining.size > 0 ? slot.draining : slot.ready;
      const lastKey = [...list.keys()].at(-1)!;
      list.delete(lastKey);
      placed.delete(lastKey);
      slot.bytes = slotBytes(slot);
    }
    if (slot.ready.size + slot.draining.size > 0) slots.push(slot);
  }
  place(slots, placed, sortedWanted);

  const totalBytes = sortedWanted.reduce((sum, [, { endpoint }]) => sum + entryBytes(endpoint) + 1, 0);
  const freshCount = Math.max(1, Math.ceil(totalBytes / (maxBytes - emptyBytes - 6)));
  let repacked = (input.previous ?? []).length === 0;
  if (slots.length > 2 * freshCount) {
    slots = [];
    place(slots, new Set(), sortedWanted);
    repacked = true;
  }

  const shards = slots.map((slot): PlannedShard => {
    const content: ShardContent = {
      index: slot.index,
      endpoints: [...slot.ready.values()].sort(compareEndpoints),
      draining: [...slot.draining.values()].sort(compareEndpoints),
    };
    const text = serializeShard(input.service, content);
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes !== slot.bytes) throw new Error(`shard ${slot.index}: computed ${slot.bytes} bytes, serialised ${bytes}`);
    return { ...content, text, bytes, changed: previousText.get(slot.index) !== text };
  });
  const kept = new Set(shards.map((s) => s.index));
  const removed = [...previousText.keys()].filter((index) => !kept.has(index)).sort((a, b) => a - b);
  return { shards, removed, repacked };
}
