/**
 * The writer's SSM reads that need no `*` grant: a document's tier (an Advanced parameter stays Advanced, SSM never
 * downgrades it) from what this process wrote or else from the parameter's history, and the shards under a document's
 * shard path from GetParametersByPath, every page followed. No network: SSM is a small in-memory model.
 */
import { describe, expect, it } from "vitest";
import { ParameterAlreadyExists, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { planReconcile, publishDocument, readParameter, type PublishedTask, type ServiceConfig } from "@discovery-sync/core";
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
  /** Pages GetParametersByPath and GetParameterHistory answer: short ones, and empty ones with a NextToken. */
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
        if (previous === "Advanced" && input.Tier === "Standard") throw new Error("This parameter uses the advanced-parameter tier. You can't downgrade ...");
        this.put(name, String(input.Value), String(input.Tier));
        return { Version: this.parameters.get(name)!.at(-1)!.version, Tier: input.Tier };
      }
      case "GetParameterHistoryCommand": {
        const history = this.parameters.get(String(input.Name));
        if (history === undefined) throw new ParameterNotFound({ message: String(input.Name), $metadata: {} });
        return this.#page(history.map((v) => ({ Name: input.Name, Version: v.version, Value: v.value, Tier: v.tier })), input);
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
const service: ServiceConfig = { name: "tiered", cluster: "c", ecsService: "tiered", port: 50051, parameterName };
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

describe("a document's tier, without DescribeParameters", () => {
  it("keeps an Advanced parameter Advanced after it shrinks, reading the history only for a version it did not write", async () => {
    const store = new Store();
    const writer = clientOf(store);
    // Past 4 KB: Advanced, known from the size alone.
    expect(await publish(writer, 60)).toBe("Advanced");
    expect(store.count("GetParameterHistoryCommand")).toBe(0);
    // Shrunk: fits Standard, but the version the plan read is the one this process wrote Advanced.
    expect(await publish(writer, 2)).toBe("Advanced");
    expect(store.count("GetParameterHistoryCommand")).toBe(0);
    // Another process (a cold start): it did not write that version, so it asks the history.
    const coldStart = clientOf(store);
    expect(await publish(coldStart, 3)).toBe("Advanced");
    expect(store.requests.filter((r) => r.command === "GetParameterHistoryCommand").map((r) => r.input.Name)).toEqual([parameterName]);
    expect(store.parameters.get(parameterName)!.map((v) => v.tier)).toEqual(["Advanced", "Advanced", "Advanced"]);
  });

  it("writes Standard while the parameter is Standard, and asks the history again after a write by someone else", async () => {
    const store = new Store();
    const writer = clientOf(store);
    expect(await publish(writer, 2)).toBe("Standard");
    // Created: no tier to read.
    expect(store.count("GetParameterHistoryCommand")).toBe(0);
    // Someone else upgrades it (same size): this process's memory is of an older version.
    const latest = store.parameters.get(parameterName)!.at(-1)!;
    store.put(parameterName, latest.value, "Advanced");
    expect(await publish(writer, 3)).toBe("Advanced");
    expect(store.count("GetParameterHistoryCommand")).toBe(1);
  });

  it("reads every page of the history, short and empty ones included, and takes the newest version's tier", async () => {
    const store = new Store();
    for (let i = 0; i < 7; i++) store.put(parameterName, "{}", i < 6 ? "Standard" : "Advanced");
    store.pageSize = 3;
    store.emptyPagesFirst = 2;
    // An invalid value ("{}") is replaced; the replacement fits Standard, the parameter is Advanced.
    expect(await publish(clientOf(store), 2)).toBe("Advanced");
    // 2 empty pages, then 7 versions in pages of 3.
    expect(store.count("GetParameterHistoryCommand")).toBe(5);
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
