import { ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
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
import { fakeParameterStore, parseSelector, type FakeParameterStore } from "./fake-parameter-store.js";

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
    answer: (name) => (store.answer("GetParameter", { Name: name }) as { Parameter: { Value: string } }).Parameter.Value,
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
      if (command === "GetParametersCommand") return { output: { ...store.answer(command, input), $metadata: {} }, response: {} };
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
