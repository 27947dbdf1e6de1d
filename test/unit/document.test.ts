import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import {
  compareEndpoints,
  EndpointDocumentError,
  parseEndpointDocument,
  sameEndpointContent,
  serializeEndpointDocument,
  type Endpoint,
  type EndpointDocument,
} from "@discovery-sync/client/document";
import {
  layoutShards,
  parseShard,
  parseShardManifest,
  serializeShard,
  serializeShardManifest,
  shardDigest,
  type ShardManifest,
} from "@discovery-sync/client/shards";

const readSchema = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../packages/client/schemas/${name}`, import.meta.url), "utf8")) as object;
const ajv = new Ajv2020({ strict: false });
addFormats.default(ajv);
const validateWithJsonSchema = ajv.compile(readSchema("endpoint-document.v1.json"));
const validateManifest = ajv.compile(readSchema("endpoint-document.v2-manifest.json"));
const validateShard = ajv.compile(readSchema("endpoint-document.v2-shard.json"));

const valid: EndpointDocument = {
  schemaVersion: 1,
  service: "workflow-agent",
  revision: 7,
  generatedAt: "2026-11-23T12:00:00.000Z",
  endpoints: [{ address: "10.0.1.5", port: 50051, zone: "us-east-1a", taskId: "c13b4cb40f1f4fe4a2971f76ae5a47ad" }],
  draining: [],
};

const invalid: Array<[string, unknown, string]> = [
  ["not an object", [], "$"],
  ["wrong schema version", { ...valid, schemaVersion: 2 }, "schemaVersion"],
  ["empty service", { ...valid, service: "" }, "service"],
  ["revision 0", { ...valid, revision: 0 }, "revision"],
  ["fractional revision", { ...valid, revision: 1.5 }, "revision"],
  ["local time", { ...valid, generatedAt: "2026-11-23T12:00:00+01:00" }, "generatedAt"],
  ["hostname address", { ...valid, endpoints: [{ address: "example.com", port: 1 }] }, "endpoints[0].address"],
  ["bad IPv4", { ...valid, endpoints: [{ address: "10.0.1.256", port: 1 }] }, "endpoints[0].address"],
  ["port 0", { ...valid, endpoints: [{ address: "10.0.0.1", port: 0 }] }, "endpoints[0].port"],
  ["port 65536", { ...valid, draining: [{ address: "10.0.0.1", port: 65536 }] }, "draining[0].port"],
  ["port as text", { ...valid, endpoints: [{ address: "10.0.0.1", port: "80" }] }, "endpoints[0].port"],
  ["missing draining", { ...valid, draining: undefined }, "draining"],
  ["empty zone", { ...valid, endpoints: [{ address: "10.0.0.1", port: 1, zone: "" }] }, "endpoints[0].zone"],
  ["negative epoch", { ...valid, epoch: -1 }, "epoch"],
  ["fractional epoch", { ...valid, epoch: 1.5 }, "epoch"],
  ["epoch as text", { ...valid, epoch: "1764316800000" }, "epoch"],
];

describe("endpoint document", () => {
  it("accepts a valid document, as text or value, and the JSON Schema agrees", () => {
    expect(parseEndpointDocument(valid)).toEqual(valid);
    expect(parseEndpointDocument(serializeEndpointDocument(valid))).toEqual(valid);
    expect(validateWithJsonSchema(JSON.parse(serializeEndpointDocument(valid)))).toBe(true);
  });

  it("accepts a document with an epoch, and the JSON Schema agrees", () => {
    const withEpoch: EndpointDocument = { ...valid, epoch: 1_764_316_800_000 };
    const text = serializeEndpointDocument(withEpoch);
    expect(JSON.parse(text)).toMatchObject({ epoch: 1_764_316_800_000 });
    expect(parseEndpointDocument(text)).toEqual(withEpoch);
    expect(validateWithJsonSchema(JSON.parse(text)), JSON.stringify(validateWithJsonSchema.errors)).toBe(true);
    expect(validateWithJsonSchema({ ...withEpoch, epoch: 0 })).toBe(true);
  });

  it("accepts IPv6 addresses and drops unknown fields", () => {
    const doc = parseEndpointDocument({ ...valid, extra: true, endpoints: [{ address: "fd00::1", port: 443, weight: 3 }] });
    expect(doc.endpoints).toEqual([{ address: "fd00::1", port: 443 }]);
    expect("extra" in doc).toBe(false);
  });

  it.each(invalid)("refuses %s, naming the field, and the JSON Schema refuses it too", (_, value, path) => {
    expect(() => parseEndpointDocument(value)).toThrowError(EndpointDocumentError);
    try {
      parseEndpointDocument(value);
    } catch (error) {
      expect((error as EndpointDocumentError).path).toBe(path);
    }
    expect(validateWithJsonSchema(value)).toBe(false);
  });

  it("refuses text that is not JSON, quoting it", () => {
    expect(() => parseEndpointDocument("{not json")).toThrowError(/not JSON \(given "\{not json"\)/);
  });

  it("serialises with a fixed key order and compares content without revision or time", () => {
    const reordered = { draining: [], endpoints: valid.endpoints, generatedAt: valid.generatedAt, revision: 7, service: valid.service, schemaVersion: 1 as const };
    expect(serializeEndpointDocument(reordered)).toBe(serializeEndpointDocument(valid));
    expect(sameEndpointContent(valid, { ...valid, revision: 8, generatedAt: "2027-01-01T00:00:00Z" })).toBe(true);
    expect(sameEndpointContent(valid, { ...valid, endpoints: [] })).toBe(false);
  });
});

describe("compareEndpoints", () => {
  it("orders addresses numerically, IPv4 before IPv6, then by port", () => {
    const sorted = [
      { address: "fd00::10", port: 1 },
      { address: "10.0.0.10", port: 2 },
      { address: "10.0.0.9", port: 5 },
      { address: "fd00::9", port: 1 },
      { address: "10.0.0.10", port: 1 },
      { address: "10.105.0.1", port: 1 },
      { address: "10.90.0.1", port: 1 },
    ].sort(compareEndpoints);
    expect(sorted.map((e) => `${e.address}/${e.port}`)).toEqual([
      "10.0.0.9/5",
      "10.0.0.10/1",
      "10.0.0.10/2",
      "10.90.0.1/1",
      "10.105.0.1/1",
      "fd00::9/1",
      "fd00::10/1",
    ]);
  });
});

describe("JSON Schemas of the sharded form (schema version 2)", () => {
  const service = "workflow-agent";
  const zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
  const endpoint = (n: number): Endpoint => ({
    address: `10.0.${n >> 8}.${n & 255}`,
    port: 50051,
    zone: zones[n % zones.length]!,
    taskId: n.toString(16).padStart(32, "0"),
  });
  const endpoints = Array.from({ length: 150 }, (_, n) => endpoint(n + 10));
  const draining = [endpoint(1), { address: "fd00::7", port: 50051 }, { address: "10.0.0.8", port: 50051, taskId: "f".repeat(32) }];
  const layout = layoutShards({ service, endpoints, draining });
  const manifest: ShardManifest = {
    schemaVersion: 2,
    service,
    epoch: 1_764_316_800_000,
    revision: 57,
    generatedAt: "2026-11-28T12:00:00.000Z",
    endpointCount: endpoints.length,
    drainingCount: draining.length,
    shards: layout.shards.map((shard, i) => ({ index: shard.index, version: 3 + i })),
    digest: shardDigest(layout.shards.map((shard) => shard.text)),
  };
  const manifestValue = JSON.parse(serializeShardManifest(manifest)) as Record<string, unknown>;
  const shardValue = JSON.parse(layout.shards[0]!.text) as Record<string, unknown>;

  it("accepts the manifest serializeShardManifest writes", () => {
    expect(layout.shards.length).toBeGreaterThan(1);
    expect(validateManifest(manifestValue), JSON.stringify(validateManifest.errors)).toBe(true);
    expect(parseShardManifest(manifestValue)).toEqual(manifest);
  });

  it("accepts every shard serializeShard writes, with zone or task id absent (null or left out)", () => {
    for (const shard of layout.shards) {
      expect(shard.text).toBe(serializeShard(service, shard));
      expect(validateShard(JSON.parse(shard.text)), JSON.stringify(validateShard.errors)).toBe(true);
    }
    const partial = JSON.parse(serializeShard(service, { index: 4, endpoints: [], draining: draining.slice(1) }));
    expect(partial.draining).toEqual([["10.0.0.8", 50051, null, "f".repeat(32)], ["fd00::7", 50051]]);
    expect(validateShard(partial), JSON.stringify(validateShard.errors)).toBe(true);
  });

  const badManifests: Array<[string, Record<string, unknown>]> = [
    ["schema version 1", { ...manifestValue, schemaVersion: 1 }],
    ["no epoch", { ...manifestValue, epoch: undefined }],
    ["negative epoch", { ...manifestValue, epoch: -1 }],
    ["revision 0", { ...manifestValue, revision: 0 }],
    ["local time", { ...manifestValue, generatedAt: "2026-11-28T12:00:00+01:00" }],
    ["fractional count", { ...manifestValue, endpointCount: 1.5 }],
    ["no drainingCount", { ...manifestValue, drainingCount: undefined }],
    ["shards not an array", { ...manifestValue, shards: "0:1" }],
    ["shard ref without version", { ...manifestValue, shards: ["0"] }],
    ["version 0", { ...manifestValue, shards: ["0:0"] }],
    ["leading zero", { ...manifestValue, shards: ["01:3"] }],
    ["shard ref as number", { ...manifestValue, shards: [0] }],
    ["same shard twice", { ...manifestValue, shards: ["0:3", "0:3"] }],
    ["upper-case digest", { ...manifestValue, digest: (manifestValue.digest as string).toUpperCase().replace("SHA256", "sha256") }],
    ["digest of another algorithm", { ...manifestValue, digest: `md5:${"0".repeat(32)}` }],
  ];

  it.each(badManifests)("refuses a manifest with %s, as parseShardManifest does", (_, value) => {
    const json = JSON.parse(JSON.stringify(value));
    expect(() => parseShardManifest(json)).toThrowError(EndpointDocumentError);
    expect(validateManifest(json)).toBe(false);
  });

  const badShards: Array<[string, Record<string, unknown>]> = [
    ["schema version 1", { ...shardValue, schemaVersion: 1 }],
    ["no shard index", { ...shardValue, shard: undefined }],
    ["endpoints as objects", { ...shardValue, endpoints: [{ address: "10.0.0.1", port: 50051 }] }],
    ["a one-item tuple", { ...shardValue, endpoints: [["10.0.0.1"]] }],
    ["a five-item tuple", { ...shardValue, endpoints: [["10.0.0.1", 50051, "us-east-1a", "abc", "extra"]] }],
    ["a host name", { ...shardValue, endpoints: [["example.com", 50051]] }],
    ["port 0", { ...shardValue, endpoints: [["10.0.0.1", 0]] }],
    ["port as text", { ...shardValue, draining: [["10.0.0.1", "50051"]] }],
    ["an empty zone", { ...shardValue, endpoints: [["10.0.0.1", 50051, ""]] }],
    ["a numeric task id", { ...shardValue, endpoints: [["10.0.0.1", 50051, null, 7]] }],
    ["no draining list", { ...shardValue, draining: undefined }],
  ];

  it.each(badShards)("refuses a shard with %s, as parseShard does", (_, value) => {
    const json = JSON.parse(JSON.stringify(value));
    expect(() => parseShard(json, { service, index: 0 })).toThrowError(EndpointDocumentError);
    expect(validateShard(json)).toBe(false);
  });
});
