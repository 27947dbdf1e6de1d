import { afterEach, describe, expect, it } from "vitest";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import {
  compareEndpoints,
  createEndpointReader,
  EndpointsUnavailableError,
  layoutShards,
  serializeEndpointDocument,
  serializeShardManifest,
  shardDigest,
  shardParameterName,
  type Endpoint,
  type EndpointDocument,
  type EndpointReader,
  type ShardContent,
  type ShardManifest,
} from "@discovery-sync/client";
import { isolatedAccount } from "../support/aws.js";
import { requestCounter } from "@discovery-sync/emulator";

const a = { address: "10.0.0.1", port: 50051, zone: "us-east-1a", taskId: "a" };
const b = { address: "10.0.0.2", port: 50051, zone: "us-east-1b", taskId: "b" };

function doc(revision: number, endpoints: Endpoint[]): EndpointDocument {
  return { schemaVersion: 1, service: "workflow-agent", revision, generatedAt: new Date().toISOString(), endpoints, draining: [] };
}

async function publish(ssm: SSMClient, name: string, value: string): Promise<void> {
  await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "String", Overwrite: true }));
}

/** Task `i` of a big service: a full endpoint (zone and a 32-character task id). */
function task(i: number): Endpoint {
  return {
    address: `10.1.${(i >> 8) & 255}.${i & 255}`,
    port: 50051,
    zone: `us-east-1${"abc"[i % 3]}`,
    taskId: i.toString(16).padStart(32, "0"),
  };
}

/**
 * Publishes in the sharded form as the writer does: the shards whose text changed (PutParameter, keeping the
 * version SSM gives), then the manifest pinning every shard's version.
 */
async function publishSharded(
  ssm: SSMClient,
  parameterName: string,
  content: { epoch: number; revision: number; endpoints: Endpoint[]; previous?: { shards: readonly ShardContent[]; manifest: ShardManifest } },
): Promise<{ shards: readonly ShardContent[]; manifest: ShardManifest; changed: number }> {
  const service = "workflow-agent";
  const layout = layoutShards({ service, endpoints: content.endpoints, draining: [], previous: content.previous?.shards ?? [] });
  const pinned = new Map(content.previous?.manifest.shards.map((ref) => [ref.index, ref.version]));
  const shards = await Promise.all(
    layout.shards.map(async (shard) => {
      const kept = pinned.get(shard.index);
      if (!shard.changed && kept !== undefined) return { index: shard.index, version: kept };
      const Name = shardParameterName(parameterName, shard.index);
      const output = await ssm.send(new PutParameterCommand({ Name, Value: shard.text, Type: "String", Overwrite: true }));
      return { index: shard.index, version: output.Version! };
    }),
  );
  const manifest: ShardManifest = {
    schemaVersion: 2,
    service,
    epoch: content.epoch,
    revision: content.revision,
    generatedAt: new Date().toISOString(),
    endpointCount: content.endpoints.length,
    drainingCount: 0,
    shards,
    digest: shardDigest(layout.shards.map((shard) => shard.text)),
  };
  await publish(ssm, parameterName, serializeShardManifest(manifest));
  return { shards: layout.shards, manifest, changed: layout.shards.filter((shard) => shard.changed).length };
}

let readers: EndpointReader[] = [];
afterEach(() => {
  for (const reader of readers) reader.close();
  readers = [];
});

function setUp() {
  const account = isolatedAccount();
  const writer = account.client(SSMClient);
  const readerClient = account.client(SSMClient);
  const counter = requestCounter();
  readerClient.middlewareStack.use(counter.plugin);
  const parameterName = `/discovery/workflow-agent-${account.accountId}/endpoints`;
  const make = (options: Partial<Parameters<typeof createEndpointReader>[0]> = {}) => {
    const reader = createEndpointReader({ parameterName, ssmClient: readerClient, lambdaExtension: false, ...options });
    readers.push(reader);
    return reader;
  };
  return { writer, counter, parameterName, make };
}

describe("endpoint reader against the emulator's SSM", () => {
  it("sends one GetParameter for 1,000 concurrent endpoints() on a cold reader", async () => {
    // Prepare
    const { writer, counter, parameterName, make } = setUp();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [a, b])));
    const reader = make();

    // Act
    const results = await Promise.all(Array.from({ length: 1_000 }, () => reader.endpoints()));

    // Assess
    expect(counter.byCommand).toEqual({ GetParameterCommand: 1 });
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toEqual([a, b]);
  });

  it("makes no request on the hot path", async () => {
    // Prepare
    const { writer, counter, parameterName, make } = setUp();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [a])));
    const reader = make();
    await reader.endpoints();

    // Act
    for (let i = 0; i < 10_000; i++) await reader.endpoints();

    // Assess
    expect(counter.total()).toBe(1);
  });

  it("follows newer revisions, ignores a lower one, and keeps the last good list over an invalid value", async () => {
    // Prepare
    const { writer, parameterName, make } = setUp();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [a])));
    const reader = make();
    const seen: number[] = [];
    const reasons: string[] = [];
    reader.subscribe((d) => seen.push(d.revision));
    reader.on("error", (e) => reasons.push(e.reason));
    await reader.endpoints();

    // Act
    await publish(writer, parameterName, serializeEndpointDocument(doc(2, [a, b])));
    await reader.refresh();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [b])));
    await reader.refresh();
    await publish(writer, parameterName, '{"schemaVersion":1,"service":"workflow-agent"');
    await reader.refresh();

    // Assess
    expect(seen).toEqual([1, 2]);
    expect(reader.current()?.revision).toBe(2);
    expect(await reader.endpoints()).toEqual([a, b]);
    expect(reasons).toEqual(["invalid-document"]);
  });

  it("reads a sharded document of 1,000 endpoints: 1 GetParameter + ceil(shards / 10) GetParameters, then 1 when unchanged and 2 for a one-shard change", async () => {
    // Prepare
    const { writer, counter, parameterName, make } = setUp();
    const endpoints = Array.from({ length: 1_000 }, (_, i) => task(i));
    const epoch = Date.now();
    const first = await publishSharded(writer, parameterName, { epoch, revision: 1, endpoints });
    const shardCount = first.manifest.shards.length;
    const reader = make();

    // Act: 1,000 concurrent calls on a cold reader, an unchanged refresh, then a revision that changes one task
    const results = await Promise.all(Array.from({ length: 1_000 }, () => reader.endpoints()));
    const coldCounts = { ...counter.byCommand };
    await reader.refresh();
    const unchangedCounts = { ...counter.byCommand };
    const next = [...endpoints.filter((e) => e.taskId !== task(500).taskId), task(5_000)];
    const second = await publishSharded(writer, parameterName, { epoch, revision: 2, endpoints: next, previous: first });
    await reader.refresh();

    // Assess
    expect(shardCount).toBeGreaterThan(10);
    expect(coldCounts).toEqual({ GetParameterCommand: 1, GetParametersCommand: Math.ceil(shardCount / 10) });
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toEqual([...endpoints].sort(compareEndpoints));
    expect(unchangedCounts).toEqual({ GetParameterCommand: 2, GetParametersCommand: Math.ceil(shardCount / 10) });
    expect(second.changed).toBe(1);
    expect(counter.byCommand).toEqual({ GetParameterCommand: 3, GetParametersCommand: Math.ceil(shardCount / 10) + 1 });
    expect(reader.current()).toMatchObject({ schemaVersion: 2, epoch, revision: 2, endpoints: [...next].sort(compareEndpoints) });
    expect(reader.status()).toMatchObject({ source: "ssm", epoch, revision: 2, endpointCount: 1_000, consecutiveFailures: 0 });
  });

  it("rejects with a typed not-found error when the parameter does not exist", async () => {
    // Prepare
    const { make, parameterName } = setUp();
    const reader = make();

    // Act
    const error = await reader.endpoints().catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointsUnavailableError);
    expect(error).toMatchObject({ parameterName, reason: "not-found", lastGoodAt: undefined });
  });
});
