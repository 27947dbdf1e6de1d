/**
 * The writer's SSM calls that need no `*` grant and no extra read: a document's tier is left to SSM's
 * Intelligent-Tiering (Standard while the value fits 4 KB, Advanced above, and an Advanced parameter stays Advanced:
 * SSM never downgrades it, and refuses an explicit Standard for it), so no read chooses it; and the shards under a
 * document's shard path come from GetParametersByPath, every page followed. No network: SSM is a small in-memory
 * model that resolves Intelligent-Tiering as AWS documents it.
 */
import { describe, expect, it } from "vitest";
import { ParameterAlreadyExists, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { parseConfig, planReconcile, publishDocument, readParameter, type PublishedTask, type ServiceConfig } from "@discovery-sync/core";
// Not part of the package's API: the reconciler calls it through removeShardsAfterPublish.
import { listShardIndexes } from "../../packages/core/src/aws/parameter.js";

interface Version {
  readonly version: number;
  readonly value: string;
  readonly tier: string;
}

/** Parameter Store as far as these reads and writes go, with the requests it answered. */
class Store {
  readonly parameters = new Map<string, Version[]>();
  readonly requests: Array<{ command: string; input: Record<string, unknown> }> = [];
  /** Pages GetParametersByPath answers: short ones, and empty ones with a NextToken. */
  pageSize = 10;
  emptyPagesFirst = 0;

  put(name: string, value: string, tier: string): void {
    const history = this.parameters.get(name) ?? [];
    this.parameters.set(name, [...history, { version: (history.at(-1)?.version ?? 0) + 1, value, tier }]);
  }

  answer(command: string, input: Record<string, unknown>): Record<string, unknown> {
    this.requests.push({ command, input });
    switch (command) {
      case "GetParameterCommand": {
        const latest = this.parameters.get(String(input.Name))?.at(-1);
        if (latest === undefined) throw new ParameterNotFound({ message: String(input.Name), $metadata: {} });
        return { Parameter: { Name: input.Name, Value: latest.value, Version: latest.version, Type: "String" } };
      }
      case "PutParameterCommand": {
        const name = String(input.Name);
        if (this.parameters.has(name) && input.Overwrite !== true) throw new ParameterAlreadyExists({ message: name, $metadata: {} });
        const previous = this.parameters.get(name)?.at(-1)?.tier;
        const bytes = Buffer.byteLength(String(input.Value), "utf8");
        // AWS: Intelligent-Tiering picks Standard unless the request needs Advanced (a value over 4 KB) or the
        // parameter already is Advanced; an explicit Standard on an Advanced parameter is refused.
        const tier =
          input.Tier === "Intelligent-Tiering" ? (previous === "Advanced" || bytes > 4_096 ? "Advanced" : "Standard") : String(input.Tier ?? "Standard");
        if (previous === "Advanced" && tier === "Standard") throw new Error("This parameter uses the advanced-parameter tier. You can't downgrade ...");
        if (tier === "Standard" && bytes > 4_096) throw new Error(`Standard tier parameters support a maximum parameter value of 4096 characters (given ${bytes})`);
        this.put(name, String(input.Value), tier);
        return { Version: this.parameters.get(name)!.at(-1)!.version, Tier: tier };
      }
      case "GetParametersByPathCommand": {
        const path = String(input.Path);
        const children = [...this.parameters.keys()].filter((n) => n.startsWith(`${path}/`) && !n.slice(path.length + 1).includes("/"));
        return this.#page(children.map((n) => ({ Name: n, Value: this.parameters.get(n)!.at(-1)!.value })), input);
      }
      default:
        throw new Error(`the model does not answer ${command}`);
    }
  }

  /** One page; the token counts the empty pages served first, then the offset. */
  #page(items: unknown[], input: Record<string, unknown>): Record<string, unknown> {
    const [empties, offset] = String(input.NextToken ?? "0:0").split(":").map(Number) as [number, number];
    if (empties < this.emptyPagesFirst) return { Parameters: [], NextToken: `${empties + 1}:0` };
    const page = items.slice(offset, offset + this.pageSize);
    const next = offset + this.pageSize < items.length ? `${empties}:${offset + this.pageSize}` : undefined;
    return { Parameters: page, ...(next === undefined ? {} : { NextToken: next }) };
  }

  count(command: string): number {
    return this.requests.filter((r) => r.command === command).length;
  }
}

function clientOf(store: Store): SSMClient {
  const client = new SSMClient({ region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" }, maxAttempts: 1 });
  client.middlewareStack.add(
    (_next, context) => async (args) => ({
      output: { $metadata: {}, ...store.answer(String((context as { commandName?: string }).commandName), args.input as Record<string, unknown>) },
      response: {},
    }),
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
    const store = new Store();
    const writer = clientOf(store);
    // Past 4 KB: Advanced.
    expect(await publish(writer, 60)).toBe("Advanced");
    // Shrunk: fits Standard, but SSM keeps the parameter Advanced (an explicit Standard would be refused).
    expect(await publish(writer, 2)).toBe("Advanced");
    // Another process (a cold start) knows nothing of the earlier writes, and needs nothing either.
    expect(await publish(clientOf(store), 3)).toBe("Advanced");
    expect(store.parameters.get(parameterName)!.map((v) => v.tier)).toEqual(["Advanced", "Advanced", "Advanced"]);
    expect(store.requests.filter((r) => tierReads.includes(r.command))).toEqual([]);
    // Every write of the document leaves the tier to SSM.
    const documentWrites = store.requests.filter((r) => r.command === "PutParameterCommand" && r.input.Name === parameterName);
    expect(documentWrites.map((r) => r.input.Tier)).toEqual(["Intelligent-Tiering", "Intelligent-Tiering", "Intelligent-Tiering"]);
  });

  it("writes Standard while the value fits, and follows a parameter upgraded by someone else", async () => {
    const store = new Store();
    const writer = clientOf(store);
    expect(await publish(writer, 2)).toBe("Standard");
    // Someone else upgrades it (same size).
    const latest = store.parameters.get(parameterName)!.at(-1)!;
    store.put(parameterName, latest.value, "Advanced");
    expect(await publish(writer, 3)).toBe("Advanced");
    expect(store.parameters.get(parameterName)!.map((v) => v.tier)).toEqual(["Standard", "Advanced", "Advanced"]);
    expect(store.requests.filter((r) => tierReads.includes(r.command))).toEqual([]);
  });

  it("writes shards Standard and the manifest with Intelligent-Tiering, and reports the tier SSM answered", async () => {
    const store = new Store();
    const writer = clientOf(store);
    // Past 8 KB: sharded; the manifest of a few shards fits Standard.
    expect(await publish(writer, 150)).toBe("Standard");
    const puts = store.requests.filter((r) => r.command === "PutParameterCommand");
    const shardPuts = puts.filter((r) => String(r.input.Name).startsWith(`${parameterName}/shards/`));
    expect(shardPuts.length).toBeGreaterThan(1);
    for (const put of shardPuts) expect(put.input.Tier).toBe("Standard");
    expect(puts.filter((r) => r.input.Name === parameterName).map((r) => r.input.Tier)).toEqual(["Intelligent-Tiering"]);
    expect(store.requests.filter((r) => tierReads.includes(r.command))).toEqual([]);
  });
});

describe("the shards under a document's shard path, without DescribeParameters", () => {
  it("follows every NextToken of GetParametersByPath, one level under <parameter>/shards, indexes only", async () => {
    const store = new Store();
    for (let i = 0; i < 23; i++) store.put(`${parameterName}/shards/${i}`, "s", "Standard");
    store.put(`${parameterName}/shards/7/deeper`, "s", "Standard");
    store.put(`${parameterName}/shards/notes`, "s", "Standard");
    store.pageSize = 4;
    store.emptyPagesFirst = 1;
    expect(await listShardIndexes(clientOf(store), parameterName)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    const listings = store.requests.filter((r) => r.command === "GetParametersByPathCommand");
    // 1 empty page, then 24 children (23 shards and "notes") in pages of 4.
    expect(listings).toHaveLength(7);
    for (const { input } of listings) expect(input).toMatchObject({ Path: `${parameterName}/shards`, Recursive: false, MaxResults: 10 });
  });

  it("lists a flat name's shards under /<name>/shards", async () => {
    const store = new Store();
    store.put("/flat/shards/0", "s", "Standard");
    expect(await listShardIndexes(clientOf(store), "flat")).toEqual([0]);
    expect(store.requests[0]?.input).toMatchObject({ Path: "/flat/shards" });
  });
});
