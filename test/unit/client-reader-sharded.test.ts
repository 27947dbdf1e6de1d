import { createServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  compareEndpoints,
  createEndpointReader,
  serializeEndpointDocument,
  serializeShardManifest,
  shardDigest,
  shardParameterName,
  type Endpoint,
  type EndpointDocument,
  type EndpointReader,
  type EndpointRefreshError,
} from "@discovery-sync/client";
import { deferred, documentOf, fakeSsm, shardedWriter, throttling, type FakeSsm, type ShardedWriter } from "./client-fake-ssm.js";

const parameterName = "/discovery/workflow-agent/endpoints";
const epoch = 1_764_316_800_000;

let ssm: FakeSsm;
let writer: ShardedWriter;
let reader: EndpointReader | undefined;

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-11-28T12:00:00.000Z") });
  ssm = fakeSsm();
  writer = shardedWriter(ssm.store, parameterName);
});

afterEach(() => {
  reader?.close();
  reader = undefined;
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function make(options: Partial<Parameters<typeof createEndpointReader>[0]> = {}): EndpointReader {
  reader = createEndpointReader({ parameterName, ssmClient: ssm.client, lambdaExtension: false, ...options });
  return reader;
}

/** Task `i`: a full endpoint (about 60 bytes in a shard, so 58 or 59 to a shard of 4 KB). */
function task(i: number): Endpoint {
  return {
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 50051,
    zone: `us-east-1${"abc"[i % 3]}`,
    taskId: i.toString(16).padStart(32, "0"),
  };
}

function tasks(from: number, count: number): Endpoint[] {
  return Array.from({ length: count }, (_, i) => task(from + i));
}

function sorted(list: readonly Endpoint[]): Endpoint[] {
  return [...list].sort(compareEndpoints);
}

/** Requests sent since `before` (a copy of `ssm.byCommand`), per command. */
function since(before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(ssm.byCommand)
      .map(([command, n]) => [command, n - (before[command] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
}

function singleText(document: Omit<EndpointDocument, "schemaVersion" | "service" | "generatedAt" | "draining">): string {
  return serializeEndpointDocument({ ...documentOf(document.revision, document.endpoints), ...document });
}

describe("reading the sharded form", () => {
  it("reads a 3-shard document with one GetParameter and one GetParameters", async () => {
    // Prepare
    const endpoints = tasks(0, 150);
    const { manifest } = writer.publish({ epoch, revision: 7, endpoints });
    const r = make();

    // Act
    const document = await r.document();

    // Assess
    expect(manifest.shards).toHaveLength(3);
    expect(ssm.byCommand).toEqual({ GetParameterCommand: 1, GetParametersCommand: 1 });
    expect(ssm.batches).toEqual([manifest.shards.map((ref) => `${shardParameterName(parameterName, ref.index)}:${ref.version}`)]);
    expect(document).toEqual({
      schemaVersion: 2,
      service: "workflow-agent",
      epoch,
      revision: 7,
      generatedAt: manifest.generatedAt,
      endpoints: sorted(endpoints),
      draining: [],
    });
    expect(r.status()).toMatchObject({ source: "ssm", epoch, revision: 7, endpointCount: 150 });
  });

  it("reads a 25-shard document with 1 + ceil(25 / 10) = 4 requests, at most 10 shards each", async () => {
    // Prepare
    const endpoints = tasks(0, 1_400);
    const { manifest } = writer.publish({ epoch, revision: 1, endpoints });
    const r = make();

    // Act
    const list = await r.endpoints();

    // Assess
    expect(manifest.shards).toHaveLength(25);
    expect(ssm.byCommand).toEqual({ GetParameterCommand: 1, GetParametersCommand: 3 });
    expect(ssm.batches.map((names) => names.length).sort((x, y) => x - y)).toEqual([5, 10, 10]);
    expect(list).toEqual(sorted(endpoints));
  });

  it("shares one load among 1,000 concurrent endpoints() on a cold reader: 1 GetParameter + ceil(25 / 10) GetParameters", async () => {
    // Prepare: the manifest read is held until every call is waiting
    const endpoints = tasks(0, 1_400);
    writer.publish({ epoch, revision: 1, endpoints });
    const manifestRead = deferred<void>();
    ssm.beforeAnswer = (command) => (command === "GetParameterCommand" ? manifestRead.promise : undefined);
    const r = make();

    // Act
    const calls = Array.from({ length: 1_000 }, () => r.endpoints());
    await vi.advanceTimersByTimeAsync(0);
    manifestRead.resolve();
    const results = await Promise.all(calls);

    // Assess
    expect(ssm.byCommand).toEqual({ GetParameterCommand: 1, GetParametersCommand: 3 });
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toEqual(sorted(endpoints));
  });

  it("costs exactly one GetParameter when the sharded document is unchanged", async () => {
    // Prepare
    writer.publish({ epoch, revision: 3, endpoints: tasks(0, 150) });
    const r = make();
    const first = await r.document();
    const before = { ...ssm.byCommand };
    const seen: number[] = [];
    r.subscribe((d) => seen.push(d.revision));

    // Act
    await r.refresh();
    await r.refresh();

    // Assess
    expect(since(before)).toEqual({ GetParameterCommand: 2 });
    expect(r.current()).toBe(first);
    expect(seen).toEqual([]);
    expect(r.status()).toMatchObject({ revision: 3, consecutiveFailures: 0, lastError: undefined });
  });

  it("fetches only the changed shard when a new revision changes one shard: 2 requests", async () => {
    // Prepare
    const endpoints = tasks(0, 150);
    writer.publish({ epoch, revision: 1, endpoints });
    const r = make();
    await r.endpoints();
    const next = [...endpoints.filter((e) => e.taskId !== task(70).taskId), task(1_000)];
    const { manifest, layout } = writer.publish({ epoch, revision: 2, endpoints: next });
    const changed = layout.shards.filter((shard) => shard.changed).map((shard) => shard.index);
    const before = { ...ssm.byCommand };

    // Act
    await r.refresh();

    // Assess
    expect(changed).toEqual([1]);
    expect(since(before)).toEqual({ GetParameterCommand: 1, GetParametersCommand: 1 });
    expect(ssm.batches.at(-1)).toEqual([`${shardParameterName(parameterName, 1)}:${manifest.shards[1]?.version}`]);
    expect(manifest.shards[1]?.version).toBe(2);
    expect(await r.endpoints()).toEqual(sorted(next));
    expect(r.status().revision).toBe(2);
  });

  it("reads the shards without WithDecryption (documents are String parameters), each request with an abort signal", async () => {
    // Prepare
    writer.publish({ epoch, revision: 1, endpoints: tasks(0, 150) });
    const inputs: Array<Record<string, unknown>> = [];
    ssm.beforeAnswer = (command, input) => {
      if (command === "GetParameterCommand" || command === "GetParametersCommand") inputs.push(input);
    };
    const sent = vi.spyOn(ssm.client, "send");
    const r = make({ requestTimeoutMs: 1_234 });

    // Act
    await r.endpoints();

    // Assess
    expect(inputs).toHaveLength(2);
    for (const input of inputs) expect(input).not.toHaveProperty("WithDecryption");
    const shardCall = sent.mock.calls.find(([command]) => command.constructor.name === "GetParametersCommand");
    expect((shardCall?.[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal).toBeInstanceOf(AbortSignal);
  });
});

describe("ordering by epoch, then revision", () => {
  it("ignores a lower revision of the same epoch without reading a shard", async () => {
    // Prepare
    const endpoints = tasks(0, 150);
    const { manifest } = writer.publish({ epoch, revision: 5, endpoints });
    const r = make();
    await r.endpoints();
    ssm.store.put(parameterName, serializeShardManifest({ ...manifest, revision: 4, endpointCount: 1, digest: shardDigest(["x"]) }));
    const before = { ...ssm.byCommand };
    const errors: EndpointRefreshError[] = [];
    r.on("error", (e) => errors.push(e));

    // Act
    await r.refresh();

    // Assess
    expect(since(before)).toEqual({ GetParameterCommand: 1 });
    expect(errors).toEqual([]);
    expect(r.status()).toMatchObject({ epoch, revision: 5 });
    expect(await r.endpoints()).toEqual(sorted(endpoints));
  });

  it("accepts a higher epoch with revision 1: the parameter was recreated and its writer started anew", async () => {
    // Prepare
    writer.publish({ epoch, revision: 42, endpoints: tasks(0, 150) });
    const r = make();
    await r.endpoints();
    const seen: string[] = [];
    r.subscribe((d) => seen.push(`${d.epoch}/${d.revision}`));
    const recreated = tasks(500, 100);
    const { manifest } = writer.publish({ epoch: epoch + 60_000, revision: 1, endpoints: recreated });

    // Act
    await r.refresh();

    // Assess
    expect(manifest.revision).toBe(1);
    expect(seen).toEqual([`${epoch + 60_000}/1`]);
    expect(r.status()).toMatchObject({ epoch: epoch + 60_000, revision: 1 });
    expect(await r.endpoints()).toEqual(sorted(recreated));
  });

  it("accepts a single-form document of a higher epoch over revision 42 (deleted and recreated by hand)", async () => {
    // Prepare
    ssm.store.put(parameterName, singleText({ revision: 42, endpoints: [task(1)] }));
    const r = make();
    await r.endpoints();
    ssm.store.delete(parameterName);
    ssm.store.put(parameterName, singleText({ epoch, revision: 1, endpoints: [task(2)] }));

    // Act
    await r.refresh();

    // Assess
    expect(await r.endpoints()).toEqual([task(2)]);
    expect(r.status()).toMatchObject({ epoch, revision: 1 });
  });

  it("switches from the single form to the sharded form and back", async () => {
    // Prepare
    ssm.store.put(parameterName, singleText({ epoch, revision: 1, endpoints: [task(1)] }));
    const r = make();
    const seen: string[] = [];
    r.subscribe((d) => seen.push(`v${d.schemaVersion} r${d.revision} n${d.endpoints.length}`));
    await r.endpoints();
    const counts: Array<Record<string, number>> = [];
    const step = async (publish: () => void) => {
      const before = { ...ssm.byCommand };
      publish();
      await r.refresh();
      counts.push(since(before));
    };

    // Act
    await step(() => writer.publish({ epoch, revision: 2, endpoints: tasks(0, 150) }));
    await step(() => ssm.store.put(parameterName, singleText({ epoch, revision: 3, endpoints: [task(3)] })));
    await step(() => writer.publish({ epoch, revision: 4, endpoints: tasks(0, 151) }));

    // Assess
    expect(seen).toEqual(["v1 r1 n1", "v2 r2 n150", "v1 r3 n1", "v2 r4 n151"]);
    expect(counts).toEqual([
      { GetParameterCommand: 1, GetParametersCommand: 1 },
      { GetParameterCommand: 1 },
      // The single form held no shard: every shard is read again.
      { GetParameterCommand: 1, GetParametersCommand: 1 },
    ]);
    expect(ssm.batches.at(-1)).toHaveLength(3);
    expect(r.status()).toMatchObject({ epoch, revision: 4, endpointCount: 151 });
  });
});

describe("consistency and failures", () => {
  it("re-reads the manifest when a pinned shard is deleted meanwhile, and serves the new snapshot", async () => {
    // Prepare: between the reader's manifest read and its shard read, the writer drops shard 2 (the list shrank)
    const endpoints = tasks(0, 150);
    const first = writer.publish({ epoch, revision: 1, endpoints });
    const shard2 = first.layout.shards[2]!;
    const shrunk = endpoints.filter((e) => !shard2.endpoints.some((s) => s.taskId === e.taskId));
    let second: ReturnType<ShardedWriter["publish"]> | undefined;
    ssm.beforeAnswer = (command) => {
      if (command === "GetParametersCommand" && second === undefined) second = writer.publish({ epoch, revision: 2, endpoints: shrunk });
    };
    const errors: EndpointRefreshError[] = [];
    const r = make();
    r.on("error", (e) => errors.push(e));

    // Act
    const document = await r.document();

    // Assess
    expect(second?.layout.removed).toEqual([2]);
    expect(ssm.store.history(shardParameterName(parameterName, 2))).toEqual([]);
    // Shards 0 and 1 were fetched with the first manifest and are still pinned by the second: no second GetParameters.
    expect(ssm.byCommand).toEqual({ GetParameterCommand: 2, GetParametersCommand: 1 });
    expect(document.revision).toBe(2);
    expect(document.endpoints).toEqual(sorted(shrunk));
    expect(errors).toEqual([]);
  });

  it("fails with not-found naming the shard after reading the manifest 3 times, and keeps serving the last good list", async () => {
    // Prepare
    const endpoints = tasks(0, 150);
    writer.publish({ epoch, revision: 1, endpoints });
    const r = make();
    await r.endpoints();
    const { manifest } = writer.publish({ epoch, revision: 2, endpoints: [...endpoints, task(1_000)] });
    const changed = manifest.shards.find((ref) => ref.version > 1)!;
    ssm.store.delete(shardParameterName(parameterName, changed.index));
    const errors: EndpointRefreshError[] = [];
    r.on("error", (e) => errors.push(e));
    const before = { ...ssm.byCommand };

    // Act
    await r.refresh();

    // Assess
    expect(since(before)).toEqual({ GetParameterCommand: 3, GetParametersCommand: 3 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: "EndpointRefreshError", reason: "not-found", source: "ssm", parameterName });
    expect(errors[0]?.message).toContain(`${shardParameterName(parameterName, changed.index)}:${changed.version}`);
    expect(await r.endpoints()).toEqual(sorted(endpoints));
    expect(r.status()).toMatchObject({ revision: 1, consecutiveFailures: 1 });
  });

  it("reports invalid-document on a digest mismatch and keeps serving the last good list", async () => {
    // Prepare
    const endpoints = tasks(0, 150);
    const { manifest } = writer.publish({ epoch, revision: 1, endpoints });
    const r = make();
    await r.endpoints();
    ssm.store.put(parameterName, serializeShardManifest({ ...manifest, revision: 2, digest: shardDigest(["tampered"]) }));
    const errors: EndpointRefreshError[] = [];
    r.on("error", (e) => errors.push(e));
    const before = { ...ssm.byCommand };

    // Act
    await r.refresh();

    // Assess: the cached shards are fetched once more (they might have been stale) before the snapshot is refused
    expect(since(before)).toEqual({ GetParameterCommand: 1, GetParametersCommand: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: "invalid-document", source: "ssm" });
    expect(errors[0]?.message).toContain("digest");
    expect(await r.endpoints()).toEqual(sorted(endpoints));
    expect(r.status()).toMatchObject({ revision: 1, consecutiveFailures: 1 });
  });

  it("never serves a mix: a revision published between the manifest read and the shard read leaves the pinned snapshot", async () => {
    // Prepare: the writer rewrites shards 0 and 2 right after the reader read the manifest of revision 1
    const endpoints = tasks(0, 150);
    const first = writer.publish({ epoch, revision: 1, endpoints });
    const next = [...endpoints.filter((e) => e.taskId !== task(3).taskId && e.taskId !== task(140).taskId), task(2_000)];
    let second: ReturnType<ShardedWriter["publish"]> | undefined;
    ssm.beforeAnswer = (command) => {
      if (command === "GetParametersCommand" && second === undefined) second = writer.publish({ epoch, revision: 2, endpoints: next });
    };
    const r = make();

    // Act
    const seen = await r.document();
    await r.refresh();
    const after = await r.document();

    // Assess
    expect(second?.layout.shards.filter((s) => s.changed).map((s) => s.index)).toEqual([0, 2]);
    expect(first.manifest.shards.map((ref) => ref.version)).toEqual([1, 1, 1]);
    expect(seen.revision).toBe(1);
    expect(seen.endpoints).toEqual(sorted(endpoints));
    expect(after.revision).toBe(2);
    expect(after.endpoints).toEqual(sorted(next));
  });

  it("fetches a cached shard again when its index was deleted and created anew at the same version", async () => {
    // Prepare: revision 1 has shards 0-2 at version 1; revision 2 drops shard 2 (deleted); revision 3 creates it
    // again, so SSM numbers it version 1 again, with other content. The reader skips revision 2.
    const endpoints = tasks(0, 150);
    const first = writer.publish({ epoch, revision: 1, endpoints });
    const r = make();
    await r.endpoints();
    const shard2 = new Set(first.layout.shards[2]!.endpoints.map((e) => e.taskId));
    const shrunk = endpoints.filter((e) => !shard2.has(e.taskId));
    writer.publish({ epoch, revision: 2, endpoints: shrunk });
    const regrown = [...shrunk, ...tasks(3_000, 30)];
    const third = writer.publish({ epoch, revision: 3, endpoints: regrown });
    const before = { ...ssm.byCommand };
    const errors: EndpointRefreshError[] = [];
    r.on("error", (e) => errors.push(e));

    // Act
    await r.refresh();

    // Assess
    expect(third.manifest.shards).toEqual(first.manifest.shards);
    expect(third.layout.shards[2]?.text).not.toBe(first.layout.shards[2]?.text);
    expect(since(before)).toEqual({ GetParameterCommand: 1, GetParametersCommand: 1 });
    expect(errors).toEqual([]);
    expect(r.status().revision).toBe(3);
    expect(await r.endpoints()).toEqual(sorted(regrown));
  });

  it("reports a throttled GetParameters as throttled and keeps the last good list", async () => {
    // Prepare
    const endpoints = tasks(0, 150);
    writer.publish({ epoch, revision: 1, endpoints });
    const r = make();
    await r.endpoints();
    writer.publish({ epoch, revision: 2, endpoints: tasks(0, 151) });
    ssm.beforeAnswer = (command) => {
      if (command === "GetParametersCommand") throw throttling();
    };
    const errors: EndpointRefreshError[] = [];
    r.on("error", (e) => errors.push(e));

    // Act
    await r.refresh();

    // Assess
    expect(errors.map((e) => `${e.source}:${e.reason}`)).toEqual(["ssm:throttled"]);
    expect(await r.endpoints()).toEqual(sorted(endpoints));
  });
});

describe("through the Lambda extension", () => {
  const lambdaEnv = { AWS_LAMBDA_FUNCTION_NAME: "api", AWS_SESSION_TOKEN: "session-token-1" };
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
  });

  /** Answers the extension's GET with `value()`, as the extension answers from its cache. */
  async function startExtension(value: () => string): Promise<{ port: number; requests: number }> {
    const state = { port: 0, requests: 0 };
    server = createServer((_request, response) => {
      state.requests += 1;
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ Parameter: { Name: parameterName, Type: "String", Value: value(), Version: 1 } }));
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    state.port = (server.address() as { port: number }).port;
    return state;
  }

  it("reads the manifest through the extension and the shards from SSM", async () => {
    // Prepare
    vi.useRealTimers();
    const endpoints = tasks(0, 150);
    writer.publish({ epoch, revision: 1, endpoints });
    const extension = await startExtension(() => ssm.store.get(parameterName)!.value);
    const r = make({ env: lambdaEnv, lambdaExtension: { host: "127.0.0.1", port: extension.port } });

    // Act
    const list = await r.endpoints();

    // Assess
    expect(list).toEqual(sorted(endpoints));
    expect(extension.requests).toBe(1);
    expect(ssm.byCommand).toEqual({ GetParametersCommand: 1 });
    expect(r.status().source).toBe("lambda-extension");
  });

  it("re-reads the manifest from SSM, not from the extension's cache, when a pinned shard is gone", async () => {
    // Prepare: the extension keeps answering revision 1 from its cache; revision 2 dropped (deleted) shard 2
    vi.useRealTimers();
    const endpoints = tasks(0, 150);
    const first = writer.publish({ epoch, revision: 1, endpoints });
    const cached = ssm.store.get(parameterName)!.value;
    const shard2 = new Set(first.layout.shards[2]!.endpoints.map((e) => e.taskId));
    const shrunk = endpoints.filter((e) => !shard2.has(e.taskId));
    writer.publish({ epoch, revision: 2, endpoints: shrunk });
    const extension = await startExtension(() => cached);
    const r = make({ env: lambdaEnv, lambdaExtension: { host: "127.0.0.1", port: extension.port } });

    // Act
    const document = await r.document();

    // Assess
    expect(extension.requests).toBe(1);
    expect(ssm.byCommand).toEqual({ GetParameterCommand: 1, GetParametersCommand: 1 });
    expect(document.revision).toBe(2);
    expect(document.endpoints).toEqual(sorted(shrunk));
    expect(r.status().source).toBe("ssm");
  });
});
