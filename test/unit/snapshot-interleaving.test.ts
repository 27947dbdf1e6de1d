/**
 * Consistent snapshots under any interleaving: a writer replacing shards and publishing manifests, and readers
 * refreshing at the same time, each SSM request one step of a schedule fast-check chooses. Whatever the order, every
 * list a reader serves is exactly a list the writer published under that (epoch, revision), never a mix of two, and
 * a reader never goes back to an older one. No network: SSM is an in-memory model of Parameter Store's versioning.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ParameterAlreadyExists,
  ParameterNotFound,
  ParameterVersionNotFound,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { createEndpointReader, serializeEndpointDocument, type EndpointDocument } from "@discovery-sync/client";
import {
  planReconcile,
  publishDocument,
  readParameter,
  removeShardsAfterPublish,
  ShardValueCache,
  type PublishedTask,
  type ServiceConfig,
} from "@discovery-sync/core";

/** Parameter Store's versioning, as far as the writer and the readers use it. */
class MemoryParameterStore {
  readonly #parameters = new Map<string, { version: number; value: string; tier: string }[]>();

  public answer(command: string, input: Record<string, unknown>): Record<string, unknown> {
    switch (command) {
      case "GetParameterCommand": {
        const found = this.#find(String(input.Name));
        if (found === undefined) throw notFound(String(input.Name));
        if (found === "no-version") throw new ParameterVersionNotFound({ message: String(input.Name), $metadata: {} });
        return { Parameter: found };
      }
      case "GetParametersCommand": {
        const names = input.Names as string[];
        const found = names.map((name) => [name, this.#find(name)] as const);
        return {
          Parameters: found.flatMap(([, p]) => (typeof p === "object" ? [p] : [])),
          InvalidParameters: found.flatMap(([name, p]) => (typeof p === "object" ? [] : [name])),
        };
      }
      case "PutParameterCommand": {
        const name = String(input.Name);
        const history = this.#parameters.get(name) ?? [];
        if (history.length > 0 && input.Overwrite !== true) throw new ParameterAlreadyExists({ message: name, $metadata: {} });
        const version = (history.at(-1)?.version ?? 0) + 1;
        // AWS keeps the 100 newest versions.
        this.#parameters.set(name, [...history, { version, value: String(input.Value), tier: String(input.Tier ?? "Standard") }].slice(-100));
        return { Version: version, Tier: input.Tier };
      }
      case "DeleteParametersCommand": {
        const names = input.Names as string[];
        const deleted = names.filter((name) => this.#parameters.delete(name));
        return { DeletedParameters: deleted, InvalidParameters: names.filter((n) => !deleted.includes(n)) };
      }
      case "GetParametersByPathCommand": {
        // One level under the path, in pages of at most 10 (the writer lists a document's shards this way).
        const path = String(input.Path);
        const children = [...this.#parameters.keys()].filter((name) => name.startsWith(`${path}/`) && !name.slice(path.length + 1).includes("/"));
        const from = Number(input.NextToken ?? 0);
        const size = Math.min(Number(input.MaxResults ?? 10), 10);
        const page = children.slice(from, from + size);
        return {
          Parameters: page.map((name) => ({ Name: name, Value: this.#parameters.get(name)!.at(-1)!.value, Version: this.#parameters.get(name)!.at(-1)!.version })),
          ...(from + size < children.length ? { NextToken: String(from + size) } : {}),
        };
      }
      case "GetParameterHistoryCommand": {
        // The writer reads a parameter's tier from its history.
        const history = this.#parameters.get(String(input.Name));
        if (history === undefined) throw notFound(String(input.Name));
        return { Parameters: history.map((v) => ({ Name: String(input.Name), Version: v.version, Value: v.value, Tier: v.tier })) };
      }
      default:
        throw new Error(`the model does not answer ${command}`);
    }
  }

  #find(selector: string) {
    const match = /^(.*?)(?::(\d+))?$/.exec(selector)!;
    const history = this.#parameters.get(match[1]!);
    if (history === undefined) return undefined;
    const entry = match[2] === undefined ? history.at(-1) : history.find((v) => v.version === Number(match[2]));
    if (entry === undefined) return "no-version" as const;
    return { Name: match[1], Value: entry.value, Version: entry.version, Type: "String" };
  }
}

function notFound(name: string) {
  return new ParameterNotFound({ message: `Parameter ${name} not found.`, $metadata: {} });
}

/** A real SSMClient answered by the model; with a scheduler, every request first waits for it to let it run. */
function modelClient(store: MemoryParameterStore, scheduler?: fc.Scheduler, who = ""): SSMClient {
  const client = new SSMClient({ region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" }, maxAttempts: 1 });
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const command = String((context as { commandName?: string }).commandName);
      const input = args.input as Record<string, unknown>;
      await scheduler?.schedule(Promise.resolve(), `${who} ${command} ${String(input.Name ?? (input.Names as string[] | undefined)?.join(",") ?? "")}`);
      return { output: { $metadata: {}, ...store.answer(command, input) }, response: {} };
    },
    { step: "initialize", name: "memoryParameterStore" },
  );
  return client;
}

const parameterName = "/discovery/interleaved/endpoints";
const service: ServiceConfig = { name: "interleaved", cluster: "c", clusterName: "c", ecsService: "interleaved", port: 50051, parameterName };
const pool: PublishedTask[] = Array.from({ length: 400 }, (_, i) => ({
  taskId: i.toString(16).padStart(32, "0"),
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/c/${i.toString(16).padStart(32, "0")}`,
  address: `10.0.${i >> 8}.${i & 255}`,
  zone: `us-east-1${"abc"[i % 3]}`,
}));

/** A desired state: a slice of the pool as ready tasks (many, so that most are sharded), a few draining. */
const desiredArbitrary = fc
  .record({ from: fc.integer({ min: 0, max: 150 }), ready: fc.integer({ min: 1, max: 240 }), draining: fc.integer({ min: 0, max: 10 }) })
  .map(({ from, ready, draining }) => ({
    ready: pool.slice(from, from + ready),
    draining: pool.slice(from + ready, from + ready + draining),
  }));

/** What clients are told, independent of form, revision and time. */
const contentOf = (document: EndpointDocument) =>
  serializeEndpointDocument({ ...document, schemaVersion: 1, revision: 1, epoch: 0, generatedAt: "1970-01-01T00:00:00Z" });

describe("consistent snapshots under any interleaving of reads and writes", () => {
  it("readers serve only lists published as a whole, under their own (epoch, revision), and never go back", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(desiredArbitrary, { minLength: 2, maxLength: 5 }), fc.integer({ min: 1, max: 3 }), async (scheduler, states, readerCount) => {
        const store = new MemoryParameterStore();
        const writerSsm = modelClient(store, scheduler, "writer");
        const published = new Map<string, string>();
        const cache = new ShardValueCache();
        const writer = (async () => {
          let clock = Date.parse("2026-11-28T00:00:00Z");
          for (const desired of states) {
            const parameter = await readParameter(writerSsm, parameterName, cache);
            const plan = planReconcile(service, desired, { targetGroups: [], parameter }, new Date((clock += 1_000))).document;
            if (plan.kind !== "publish") continue;
            published.set(`${plan.document.epoch}:${plan.document.revision}`, contentOf(plan.document));
            const outcome = await publishDocument(writerSsm, parameterName, plan);
            expect(outcome.conflict).toBe(false);
            // What the reconcile does next: drop shards the new manifest no longer names.
            await removeShardsAfterPublish(writerSsm, parameterName, plan, outcome.version);
          }
        })();
        const readers = Array.from({ length: readerCount }, async (_, r) => {
          const reader = createEndpointReader({ parameterName, ssmClient: modelClient(store, scheduler, `reader${r}`), lambdaExtension: false });
          const seen: EndpointDocument[] = [];
          for (let i = 0; i < states.length + 2; i++) {
            await reader.refresh();
            const current = reader.current();
            if (current !== undefined) seen.push(current);
          }
          reader.close();
          return seen;
        });
        const [, ...seenByReader] = await scheduler.waitFor(Promise.all([writer, ...readers]));
        for (const seen of seenByReader) {
          for (const [i, document] of seen.entries()) {
            expect(published.get(`${document.epoch}:${document.revision}`), `(epoch, revision) never published`).toBeDefined();
            expect(contentOf(document)).toBe(published.get(`${document.epoch}:${document.revision}`));
            const previous = seen[i - 1];
            if (previous !== undefined) {
              expect((document.epoch ?? 0) > (previous.epoch ?? 0) || ((document.epoch ?? 0) === (previous.epoch ?? 0) && document.revision >= previous.revision)).toBe(true);
            }
          }
        }
        // After the last write the parameter holds the last state, complete, and no shard it does not name.
        const last = await readParameter(modelClient(store), parameterName);
        expect(last.kind === "valid" && contentOf(last.document)).toBe([...published.values()].at(-1));
        const shardsLeft: unknown[] = [];
        let token: string | undefined;
        do {
          const page = store.answer("GetParametersByPathCommand", { Path: `${parameterName}/shards`, NextToken: token });
          shardsLeft.push(...(page.Parameters as unknown[]));
          token = page.NextToken as string | undefined;
        } while (token !== undefined);
        expect(shardsLeft).toHaveLength(last.kind === "valid" ? (last.sharded?.manifest.shards.length ?? 0) : -1);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
