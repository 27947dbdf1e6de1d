import { ParameterNotFound, ParameterVersionNotFound, SSMClient } from "@aws-sdk/client-ssm";
import {
  layoutShards,
  serializeEndpointDocument,
  serializeShardManifest,
  shardDigest,
  shardParameterName,
  type Endpoint,
  type EndpointDocument,
  type ShardContent,
  type ShardLayout,
  type ShardManifest,
} from "@discovery-sync/client";

/**
 * A real SSMClient whose requests never leave the process: a middleware at the `initialize` step answers
 * GetParameter and GetParameters (no network, no timers, so it works under `vi.useFakeTimers()`), and counts calls.
 * The reader under test therefore goes through the SDK's real `send()` path.
 *
 * GetParameter answers from `answer`, which by default reads `store`; GetParameters always reads `store`, like
 * SSM: a `name:version` selector per name, at most 10 names, results in no particular order (here: reversed) named
 * without the selector, and the names it cannot resolve in `InvalidParameters`.
 */
export interface FakeSsm {
  readonly client: SSMClient;
  /** GetParameter calls received. */
  calls: number;
  /** Names asked for by GetParameter, in order. */
  readonly names: string[];
  /** Names asked for by each GetParameters call, in order. */
  readonly batches: string[][];
  /** Requests received per command, for example `{ GetParameterCommand: 1, GetParametersCommand: 3 }`. */
  readonly byCommand: Record<string, number>;
  /** What the next GetParameter answers: a value, a thrown error, or a promise the test settles. Reads `store` by default. */
  answer: (name: string) => string | Promise<string>;
  /**
   * Runs before every request is answered, with the command name and its input: throw to fail the request, return
   * a promise to hold it, or change `store` to interleave a writer with the reader.
   */
  beforeAnswer: ((command: string, input: Record<string, unknown>) => void | Promise<void>) | undefined;
  /** The parameters GetParameters (and, by default, GetParameter) read. */
  readonly store: FakeParameterStore;
  /** Requests received, all commands. */
  total(): number;
}

/** One version of a parameter. */
export interface StoredVersion {
  readonly name: string;
  readonly version: number;
  readonly value: string;
}

/** An in-memory Parameter Store: versioned values per name, as SSM keeps them. */
export interface FakeParameterStore {
  /** Writes a value (PutParameter with Overwrite) and returns its version: 1 for a new (or recreated) name. */
  put(name: string, value: string): number;
  /** Deletes the parameter and its whole history; a later `put` starts again at version 1. */
  delete(name: string): void;
  /** The versions kept, oldest first (SSM keeps the last 100). */
  history(name: string): readonly StoredVersion[];
  /** The latest version, or the one a `name:version` selector asks for; undefined when there is none. */
  get(selector: string): StoredVersion | undefined;
}

/** SSM keeps this many versions of a parameter. */
const versionsKept = 100;

export function fakeParameterStore(): FakeParameterStore {
  const parameters = new Map<string, { next: number; versions: StoredVersion[] }>();
  return {
    put(name, value) {
      const entry = parameters.get(name) ?? { next: 1, versions: [] };
      parameters.set(name, entry);
      const version = entry.next++;
      entry.versions.push({ name, version, value });
      if (entry.versions.length > versionsKept) entry.versions.shift();
      return version;
    },
    delete(name) {
      parameters.delete(name);
    },
    history(name) {
      return [...(parameters.get(name)?.versions ?? [])];
    },
    get(selector) {
      const { name, version } = parseSelector(selector);
      const versions = parameters.get(name)?.versions ?? [];
      return version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
    },
  };
}

/** `/a/b:7` -> name `/a/b`, version 7; `/a/b` -> no version. */
function parseSelector(selector: string): { name: string; version: number | undefined } {
  const match = /^(.*[^:]):(\d+)$/.exec(selector);
  return match === null ? { name: selector, version: undefined } : { name: match[1]!, version: Number(match[2]) };
}

export function fakeSsm(): FakeSsm {
  const client = new SSMClient({
    region: "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  const store = fakeParameterStore();
  const byCommand: Record<string, number> = {};
  const fake: FakeSsm = {
    client,
    calls: 0,
    names: [],
    batches: [],
    byCommand,
    store,
    beforeAnswer: undefined,
    answer: (name) => {
      const stored = store.get(name);
      if (stored !== undefined) return stored.value;
      const { name: bare, version } = parseSelector(name);
      if (version !== undefined && store.history(bare).length > 0) {
        throw new ParameterVersionNotFound({ message: `Systems Manager could not find version ${version} of ${bare}.`, $metadata: {} });
      }
      throw new ParameterNotFound({ message: "not configured", $metadata: {} });
    },
    total: () => Object.values(byCommand).reduce((sum, n) => sum + n, 0),
  };
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const command = String((context as { commandName?: string }).commandName);
      byCommand[command] = (byCommand[command] ?? 0) + 1;
      const input = args.input as Record<string, unknown>;
      if (command === "GetParameterCommand") {
        fake.calls += 1;
        fake.names.push(input.Name as string);
      } else if (command === "GetParametersCommand") {
        fake.batches.push([...(input.Names as string[])]);
      }
      await fake.beforeAnswer?.(command, input);
      if (command === "GetParameterCommand") return { output: await getParameter(fake, input.Name as string), response: {} };
      if (command === "GetParametersCommand") return { output: getParameters(store, input.Names as string[]), response: {} };
      throw new Error(`the fake SSM does not answer ${command}`);
    },
    { step: "initialize", name: "fakeSsmAnswer" },
  );
  return fake;
}

async function getParameter(fake: FakeSsm, name: string) {
  const value = await fake.answer(name);
  // A test-given answer has no version of its own: number it by the call, as before the store existed.
  const version = fake.store.get(name)?.version ?? fake.calls;
  return { Parameter: { Name: parseSelector(name).name, Type: "String", Value: value, Version: version }, $metadata: {} };
}

function getParameters(store: FakeParameterStore, names: readonly string[]) {
  if (names.length > 10) {
    throw Object.assign(new Error(`1 validation error detected: 'names' must have length less than or equal to 10 (given ${names.length})`), {
      name: "ValidationException",
    });
  }
  const found = names.map((name) => store.get(name));
  return {
    // In no particular order, and named without the selector, as SSM and the emulator answer.
    Parameters: found
      .filter((stored) => stored !== undefined)
      .map((stored) => ({ Name: stored.name, Type: "String", Value: stored.value, Version: stored.version }))
      .reverse(),
    InvalidParameters: names.filter((_, i) => found[i] === undefined),
    $metadata: {},
  };
}

export function documentText(revision: number, endpoints: readonly Endpoint[], service = "workflow-agent"): string {
  return serializeEndpointDocument(documentOf(revision, endpoints, service));
}

export function documentOf(revision: number, endpoints: readonly Endpoint[], service = "workflow-agent"): EndpointDocument {
  return {
    schemaVersion: 1,
    service,
    revision,
    generatedAt: "2026-11-23T12:00:00.000Z",
    endpoints,
    draining: [],
  };
}

/** What a {@link shardedWriter} publishes: the content of one revision. */
export interface ShardedRevision {
  readonly epoch: number;
  readonly revision: number;
  readonly endpoints: readonly Endpoint[];
  readonly draining?: readonly Endpoint[];
}

/** Publishes documents to a store in the sharded form, the way the writer does. */
export interface ShardedWriter {
  /**
   * Puts the shards whose text changed, then the manifest pinning the versions of all shards, then deletes the
   * shards no longer used. Returns the manifest and the layout.
   */
  publish(revision: ShardedRevision): { manifest: ShardManifest; layout: ShardLayout };
}

/**
 * A writer of the sharded form into `store`, keeping the layout it published last (so one changed endpoint changes
 * one shard, as with the real writer).
 *
 * @example
 * ```ts
 * const writer = shardedWriter(ssm.store, parameterName);
 * writer.publish({ epoch: 1, revision: 1, endpoints });
 * ```
 */
export function shardedWriter(
  store: FakeParameterStore,
  parameterName: string,
  options: { service?: string; maxShardBytes?: number } = {},
): ShardedWriter {
  const service = options.service ?? "workflow-agent";
  let previous: readonly ShardContent[] = [];
  let versions = new Map<number, number>();
  return {
    publish({ epoch, revision, endpoints, draining = [] }) {
      const layout = layoutShards({
        service,
        endpoints,
        draining,
        previous,
        ...(options.maxShardBytes === undefined ? {} : { maxShardBytes: options.maxShardBytes }),
      });
      const shards = layout.shards.map((shard) => {
        const kept = versions.get(shard.index);
        const version = !shard.changed && kept !== undefined ? kept : store.put(shardParameterName(parameterName, shard.index), shard.text);
        return { index: shard.index, version };
      });
      const manifest: ShardManifest = {
        schemaVersion: 2,
        service,
        epoch,
        revision,
        generatedAt: "2026-11-28T12:00:00.000Z",
        endpointCount: layout.shards.reduce((sum, shard) => sum + shard.endpoints.length, 0),
        drainingCount: layout.shards.reduce((sum, shard) => sum + shard.draining.length, 0),
        shards,
        digest: shardDigest(layout.shards.map((shard) => shard.text)),
      };
      store.put(parameterName, serializeShardManifest(manifest));
      for (const index of layout.removed) store.delete(shardParameterName(parameterName, index));
      previous = layout.shards;
      versions = new Map(shards.map((ref) => [ref.index, ref.version]));
      return { manifest, layout };
    },
  };
}

export function throttling(): Error {
  return Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
}

export function notFound(name: string): Error {
  return new ParameterNotFound({ message: `Parameter ${name} not found.`, $metadata: {} });
}

/** A promise and the functions that settle it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
