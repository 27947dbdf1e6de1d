/**
 * The writer's SSM calls that need no `*` grant and no extra read: a document's tier is left to SSM's
 * Intelligent-Tiering (Standard while the value fits 4 KB, Advanced above, and an Advanced parameter stays Advanced:
 * SSM never downgrades it, and refuses an explicit Standard for it), so no read chooses it; and the shards under a
 * document's shard path come from GetParametersByPath, every page followed. No network: SSM is the in-memory
 * Parameter Store of `fake-parameter-store.ts`, which resolves Intelligent-Tiering as AWS documents it.
 */
import { describe, expect, it } from "vitest";
import { SSMClient } from "@aws-sdk/client-ssm";
import { parseConfig, planReconcile, publishDocument, readParameter, type PublishedTask, type ServiceConfig } from "@discovery-sync/core";
// Not part of the package's API: the reconciler calls it through removeShardsAfterPublish.
import { listShardIndexes } from "../../packages/core/src/aws/parameter.js";
import { fakeParameterStore, type FakeParameterStore } from "./fake-parameter-store.js";

/** The in-memory Parameter Store, and every request it answered, in order. */
interface RecordedStore {
  readonly store: FakeParameterStore;
  readonly requests: Array<{ command: string; input: Record<string, unknown> }>;
}

function recordedStore(): RecordedStore {
  return { store: fakeParameterStore(), requests: [] };
}

/** An SSMClient (one process's) answered by `ssm.store`, recording each request in `ssm.requests`. */
function clientOf(ssm: RecordedStore): SSMClient {
  const client = new SSMClient({ region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" }, maxAttempts: 1 });
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const command = String((context as { commandName?: string }).commandName);
      const input = args.input as Record<string, unknown>;
      ssm.requests.push({ command, input });
      return { output: { $metadata: {}, ...ssm.store.answer(command, input) }, response: {} };
    },
    { step: "initialize", name: "memoryParameterStore" },
  );
  return client;
}

const parameterName = "/discovery/tiered/endpoints";
const service: ServiceConfig = parseConfig({ services: [{ name: "tiered", cluster: "c", ecsService: "tiered", port: 50051, parameterName }] }).services[0]!;
const task = (i: number): PublishedTask => ({
  taskId: i.toString(16).padStart(32, "0"),
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/c/${i.toString(16).padStart(32, "0")}`,
  address: `10.0.${i >> 8}.${i & 255}`,
  zone: "us-east-1a",
});

let clock = Date.parse("2026-11-28T00:00:00Z");

/** Reads the parameter, plans `ready` tasks and publishes them; returns the tier written. */
async function publish(ssm: SSMClient, ready: number): Promise<string> {
  const parameter = await readParameter(ssm, parameterName);
  const desired = { ready: Array.from({ length: ready }, (_, i) => task(i)), draining: [] };
  const plan = planReconcile(service, desired, { targetGroups: [], parameter }, new Date((clock += 1_000))).document;
  if (plan.kind !== "publish") throw new Error(`nothing to publish for ${ready} tasks`);
  return (await publishDocument(ssm, parameterName, plan)).tier;
}

/** The tier-choosing reads this writer must never make. */
const tierReads = ["GetParameterHistoryCommand", "DescribeParametersCommand"];

describe("a document's tier, without any read to choose it", () => {
  it("moves to Advanced past 4 KB and keeps an Advanced parameter Advanced after it shrinks, in any process", async () => {
    const ssm = recordedStore();
    const writer = clientOf(ssm);
    // Past 4 KB: Advanced.
    expect(await publish(writer, 60)).toBe("Advanced");
    // Shrunk: fits Standard, but SSM keeps the parameter Advanced (an explicit Standard would be refused).
    expect(await publish(writer, 2)).toBe("Advanced");
    // Another process (a cold start) knows nothing of the earlier writes, and needs nothing either.
    expect(await publish(clientOf(ssm), 3)).toBe("Advanced");
    expect(ssm.store.history(parameterName).map((v) => v.tier)).toEqual(["Advanced", "Advanced", "Advanced"]);
    expect(ssm.requests.filter((r) => tierReads.includes(r.command))).toEqual([]);
    // Every write of the document leaves the tier to SSM.
    const documentWrites = ssm.requests.filter((r) => r.command === "PutParameterCommand" && r.input.Name === parameterName);
    expect(documentWrites.map((r) => r.input.Tier)).toEqual(["Intelligent-Tiering", "Intelligent-Tiering", "Intelligent-Tiering"]);
  });

  it("writes Standard while the value fits, and follows a parameter upgraded by someone else", async () => {
    const ssm = recordedStore();
    const writer = clientOf(ssm);
    expect(await publish(writer, 2)).toBe("Standard");
    // Someone else upgrades it (same size).
    const latest = ssm.store.get(parameterName)!;
    ssm.store.put(parameterName, latest.value, "Advanced");
    expect(await publish(writer, 3)).toBe("Advanced");
    expect(ssm.store.history(parameterName).map((v) => v.tier)).toEqual(["Standard", "Advanced", "Advanced"]);
    expect(ssm.requests.filter((r) => tierReads.includes(r.command))).toEqual([]);
  });

  it("writes shards Standard and the manifest with Intelligent-Tiering, and reports the tier SSM answered", async () => {
    const ssm = recordedStore();
    const writer = clientOf(ssm);
    // Past 8 KB: sharded; the manifest of a few shards fits Standard.
    expect(await publish(writer, 150)).toBe("Standard");
    const puts = ssm.requests.filter((r) => r.command === "PutParameterCommand");
    const shardPuts = puts.filter((r) => String(r.input.Name).startsWith(`${parameterName}/shards/`));
    expect(shardPuts.length).toBeGreaterThan(1);
    for (const put of shardPuts) expect(put.input.Tier).toBe("Standard");
    expect(puts.filter((r) => r.input.Name === parameterName).map((r) => r.input.Tier)).toEqual(["Intelligent-Tiering"]);
    expect(ssm.requests.filter((r) => tierReads.includes(r.command))).toEqual([]);
  });
});

describe("the shards under a document's shard path, without DescribeParameters", () => {
  it("follows every NextToken of GetParametersByPath, one level under <parameter>/shards, indexes only", async () => {
    const ssm = recordedStore();
    for (let i = 0; i < 23; i++) ssm.store.put(`${parameterName}/shards/${i}`, "s", "Standard");
    ssm.store.put(`${parameterName}/shards/7/deeper`, "s", "Standard");
    ssm.store.put(`${parameterName}/shards/notes`, "s", "Standard");
    ssm.store.pageSize = 4;
    ssm.store.emptyPagesFirst = 1;
    expect(await listShardIndexes(clientOf(ssm), parameterName)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    const listings = ssm.requests.filter((r) => r.command === "GetParametersByPathCommand");
    // 1 empty page, then 24 children (23 shards and "notes") in pages of 4.
    expect(listings).toHaveLength(7);
    for (const { input } of listings) expect(input).toMatchObject({ Path: `${parameterName}/shards`, Recursive: false, MaxResults: 10 });
  });

  it("lists a flat name's shards under /<name>/shards", async () => {
    const ssm = recordedStore();
    ssm.store.put("/flat/shards/0", "s", "Standard");
    expect(await listShardIndexes(clientOf(ssm), "flat")).toEqual([0]);
    expect(ssm.requests[0]?.input).toMatchObject({ Path: "/flat/shards" });
  });
});
