import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { compareEndpoints, serializeEndpointDocument, type Endpoint, type EndpointDocument } from "@discovery-sync/client/document";
import { layoutShards, serializeShardManifest, shardParameterName } from "@discovery-sync/client/shards";
import { buildShardManifest } from "@discovery-sync/core";
import { isolatedAccount, testRegion, type IsolatedAccount } from "../support/aws.js";

// The README's Python reader, run as the README shows it, against the emulator: it must read every form.

const run = promisify(execFile);
const python = process.env.DISCOVERY_SYNC_PYTHON ?? "python3";

/** The code block under "### From other languages: Python" in README.md. */
function readmePython(): string {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.indexOf("### From other languages: Python");
  if (section === -1) throw new Error('README.md has no "### From other languages: Python" section');
  const block = /```python\n([\s\S]*?)```/.exec(readme.slice(section));
  if (block === null) throw new Error('README.md has no ```python block under "From other languages: Python"');
  return block[1]!;
}

/**
 * Defines the README code (its `__main__` part does not run), sends every request of its `ssm` client to the test's
 * emulator account, and prints as JSON what `read_document` returns for each parameter (or the error it raises)
 * and what `newer` says of a few pairs.
 */
const harness = String.raw`
import json, os, sys
readme = {"__name__": "readme"}
exec(compile(os.environ["README_CODE"], "README.md", "exec"), readme)

def to_account(request, **_):
    request.headers["x-moto-account-id"] = os.environ["ACCOUNT_ID"]

readme["ssm"].meta.events.register("before-sign.ssm.*", to_account)
documents = {}
for key, name in json.loads(os.environ["PARAMETERS"]).items():
    try:
        documents[key] = readme["read_document"](name)
    except RuntimeError as error:
        documents[key] = {"error": str(error)}
newer = readme["newer"]
pairs = [
    ({"revision": 1}, None),
    ({"epoch": 5, "revision": 3}, {"epoch": 5, "revision": 3}),
    ({"epoch": 5, "revision": 4}, {"epoch": 5, "revision": 3}),
    ({"epoch": 5, "revision": 2}, {"epoch": 5, "revision": 3}),
    ({"epoch": 6, "revision": 1}, {"epoch": 5, "revision": 90}),
    ({"revision": 90}, {"epoch": 5, "revision": 3}),
    ({"epoch": 1, "revision": 1}, {"revision": 90}),
]
json.dump({"documents": documents, "newer": [newer(a, b) for a, b in pairs]}, sys.stdout)
`;

interface HarnessOutput {
  documents: Record<string, EndpointDocument & { error?: string }>;
  newer: boolean[];
}

async function runReadme(account: IsolatedAccount, parameters: Record<string, string>): Promise<HarnessOutput> {
  const { stdout } = await run(python, ["-c", harness], {
    env: {
      // The machine's own AWS settings (profile, region, credentials) must not leak into the run.
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("AWS_"))),
      README_CODE: readmePython(),
      ACCOUNT_ID: account.accountId,
      PARAMETERS: JSON.stringify(parameters),
      AWS_ENDPOINT_URL: account.endpoint,
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
      AWS_DEFAULT_REGION: testRegion,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    },
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as HarnessOutput;
}

const service = "workflow-agent";
const zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
const epoch = 1_764_316_800_000;

/** A realistic task endpoint: 10.x address, zone, 32-hex task id. */
function task(n: number): Endpoint {
  return {
    address: `10.0.${(n % 3) * 64 + (n >> 8)}.${(n & 255) || 1}`,
    port: 50051,
    zone: zones[n % 3]!,
    taskId: createHash("md5").update(`task-${n}`).digest("hex"),
  };
}

function documentOf(revision: number, endpoints: Endpoint[], draining: Endpoint[]): EndpointDocument {
  return {
    schemaVersion: 1,
    service,
    revision,
    epoch,
    generatedAt: "2026-11-28T12:00:00.000Z",
    endpoints: [...endpoints].sort(compareEndpoints),
    draining: [...draining].sort(compareEndpoints),
  };
}

async function put(ssm: SSMClient, name: string, value: string): Promise<number> {
  const output = await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "String", Tier: "Standard", Overwrite: true }));
  return output.Version!;
}

/** Publishes a document in the sharded form the way the writer does: shards first, then the manifest pinning them. */
async function publishSharded(ssm: SSMClient, name: string, document: EndpointDocument) {
  const layout = layoutShards({ service, endpoints: document.endpoints, draining: document.draining });
  const versions = new Map<number, number>();
  for (const shard of layout.shards) versions.set(shard.index, await put(ssm, shardParameterName(name, shard.index), shard.text));
  const manifest = buildShardManifest(document, layout.shards, versions);
  await put(ssm, name, serializeShardManifest(manifest));
  return { layout, manifest };
}

/** What the README's reader should return for endpoints: schema 1 objects, in any order. */
const sorted = (list: readonly Endpoint[]) => [...list].sort(compareEndpoints);

beforeAll(async () => {
  try {
    await run(python, ["-c", "import boto3"], { timeout: 30_000 });
  } catch (error) {
    throw new Error(
      `the README's Python reader needs ${python} with boto3 (pip install boto3, or set DISCOVERY_SYNC_PYTHON): ${(error as Error).message}`,
    );
  }
});

describe("the README's Python reader", () => {
  it("reads a single-form document and a sharded one of 1,000 endpoints, equal to what was published", async () => {
    // Prepare
    const account = isolatedAccount();
    const ssm = account.client(SSMClient);
    const single = documentOf(7, [task(1), task(2), task(3)], [{ address: "fd00::5", port: 50051 }]);
    const singleName = `/discovery/single-${account.accountId}/endpoints`;
    await put(ssm, singleName, serializeEndpointDocument(single));
    const large = documentOf(
      57,
      Array.from({ length: 1_000 }, (_, n) => task(n + 10)),
      [task(2_000), { address: "10.9.9.9", port: 50051, taskId: "f".repeat(32) }, { address: "10.9.9.8", port: 50051 }],
    );
    const shardedName = `/discovery/sharded-${account.accountId}/endpoints`;
    const { layout, manifest } = await publishSharded(ssm, shardedName, large);
    expect(layout.shards.length).toBeGreaterThan(10); // more than one GetParameters call

    // Act
    const output = await runReadme(account, { single: singleName, sharded: shardedName });

    // Assess
    expect(output.documents.single).toEqual(JSON.parse(serializeEndpointDocument(single)));
    const read = output.documents.sharded!;
    expect(read.error).toBeUndefined();
    expect(read).toMatchObject({ schemaVersion: 2, service, epoch, revision: 57, digest: manifest.digest });
    expect(sorted(read.endpoints)).toEqual(large.endpoints);
    expect(sorted(read.draining)).toEqual(large.draining);
  });

  it("reads the shard versions the manifest pins, a flat name's shards under a leading /, and refuses a torn snapshot", async () => {
    // Prepare
    const account = isolatedAccount();
    const ssm = account.client(SSMClient);
    const document = documentOf(3, Array.from({ length: 120 }, (_, n) => task(n)), []);
    const flatName = `workflow-endpoints-${account.accountId}`;
    const { layout } = await publishSharded(ssm, flatName, document);
    expect(shardParameterName(flatName, 0)).toBe(`/${flatName}/shards/0`);
    // A writer rewrites shard 0 (the next revision's first step) before its manifest: readers still get revision 3.
    await put(ssm, shardParameterName(flatName, 0), layout.shards[1]!.text);
    // A manifest whose digest matches no shard values (restored by hand, say).
    const tornName = `/discovery/torn-${account.accountId}/endpoints`;
    const torn = await publishSharded(ssm, tornName, document);
    await put(ssm, tornName, serializeShardManifest({ ...torn.manifest, digest: `sha256:${"0".repeat(64)}` }));
    // A manifest pinning a shard version that does not exist (deleted, or beyond the 100 versions SSM keeps).
    const goneName = `/discovery/gone-${account.accountId}/endpoints`;
    const gone = await publishSharded(ssm, goneName, document);
    const [first, ...rest] = gone.manifest.shards;
    await put(ssm, goneName, serializeShardManifest({ ...gone.manifest, shards: [{ index: first!.index, version: 9 }, ...rest] }));

    // Act
    const output = await runReadme(account, { flat: flatName, torn: tornName, gone: goneName });

    // Assess
    expect(output.documents.flat!.error).toBeUndefined();
    expect(sorted(output.documents.flat!.endpoints)).toEqual(document.endpoints);
    expect(output.documents.torn).toEqual({ error: `${tornName}: revision 3 is not whole any more; read it again` });
    expect(output.documents.gone).toEqual({ error: `${goneName}: revision 3 is not whole any more; read it again` });
  });

  it("orders documents by (epoch, revision), a missing epoch counting as 0", async () => {
    // Act
    const output = await runReadme(isolatedAccount(), {});

    // Assess
    expect(output.newer).toEqual([true, false, true, false, true, false, true]);
  });
});
