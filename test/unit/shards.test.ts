import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { compareEndpoints, EndpointDocumentError, type Endpoint, type EndpointDocument } from "@discovery-sync/client/document";
import {
  assembleShardedDocument,
  compareDocumentOrder,
  layoutShards,
  parseShardManifest,
  parseStoredDocument,
  serializeShard,
  serializeShardManifest,
  shardDigest,
  shardMaxBytes,
  shardParameterName,
  shardPath,
  type LayoutInput,
  type ShardContent,
  type ShardLayout,
  type ShardManifest,
} from "@discovery-sync/client/shards";

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const service = "workflow-agent";
const port = 50051;
const zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "use1-az4"] as const;
const epoch = 1_764_316_800_000;
const generatedAt = "2026-11-28T12:00:00.000Z";

/** A 32-hex ECS task id, deterministic in `n`. */
const taskIdOf = (n: number): string => createHash("md5").update(`task-${n}`).digest("hex");

/** 10.x.y.z for n < 2^24. */
const ipv4 = (n: number): string => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const ipv6 = (n: number): string => `fd00:ec2:0:1::${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}`;

/** A realistic ECS task endpoint; `n` decides address, zone and task id. */
function task(n: number, options: { v6?: boolean; zone?: string | null; taskId?: boolean } = {}): Endpoint {
  const zone = options.zone === undefined ? zones[n % zones.length] : options.zone;
  return {
    address: options.v6 === true ? ipv6(n) : ipv4(n),
    port,
    ...(zone === null ? {} : { zone }),
    ...(options.taskId === false ? {} : { taskId: taskIdOf(n) }),
  };
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
const sorted = (list: readonly Endpoint[]): Endpoint[] => [...list].sort(compareEndpoints);
const bytesOf = (text: string): number => Buffer.byteLength(text, "utf8");

/** What the writer passes as `previous`: the content of each published shard. */
const contentsOf = (layout: ShardLayout): ShardContent[] =>
  layout.shards.map(({ index, endpoints, draining }) => ({ index, endpoints, draining }));

const changedIndexes = (layout: ShardLayout): number[] => layout.shards.filter((s) => s.changed).map((s) => s.index);

/** A published snapshot, as a reader would fetch it: the manifest text and the pinned shard values in manifest order. */
interface Snapshot {
  readonly manifest: ShardManifest;
  readonly manifestText: string;
  readonly values: string[];
  /** SSM version of each shard parameter after this publication. */
  readonly versions: ReadonlyMap<number, number>;
}

/**
 * Simulates the writer publishing `layout`: a changed shard gets the next SSM version of its parameter (made up:
 * the first is 1), an unchanged one keeps its version, and the manifest pins them with the digest of their texts.
 */
function publish(
  layout: ShardLayout,
  options: { revision: number; endpoints: number; draining: number; versions?: ReadonlyMap<number, number>; service?: string },
): Snapshot {
  const versions = new Map(options.versions ?? []);
  for (const shard of layout.shards) {
    if (shard.changed || !versions.has(shard.index)) versions.set(shard.index, (versions.get(shard.index) ?? 0) + 1);
  }
  for (const index of layout.removed) versions.delete(index);
  const values = layout.shards.map((s) => s.text);
  const manifest: ShardManifest = {
    schemaVersion: 2,
    service: options.service ?? service,
    epoch,
    revision: options.revision,
    generatedAt,
    endpointCount: options.endpoints,
    drainingCount: options.draining,
    shards: layout.shards.map((s) => ({ index: s.index, version: versions.get(s.index)! })),
    digest: shardDigest(values),
  };
  return { manifest, manifestText: serializeShardManifest(manifest), values, versions };
}

/** Lays out and publishes a fresh service. */
function publishFresh(endpoints: readonly Endpoint[], draining: readonly Endpoint[], revision = 1): Snapshot & { layout: ShardLayout } {
  const layout = layoutShards({ service, endpoints, draining });
  return { layout, ...publish(layout, { revision, endpoints: endpoints.length, draining: draining.length }) };
}

/** What a reader does: parse the configured parameter's value, then assemble the shards it pins. */
function read(manifestText: string, values: readonly string[]): EndpointDocument {
  const stored = parseStoredDocument(manifestText);
  if (stored.form !== "sharded") throw new Error(`expected a manifest, got form ${stored.form}`);
  expect(parseShardManifest(manifestText)).toEqual(stored.manifest);
  return assembleShardedDocument(stored.manifest, values);
}

/** The manifest of a snapshot with some fields replaced, re-serialised (the digest is kept unless given). */
const withManifest = (snapshot: Snapshot, patch: Partial<ShardManifest>): string =>
  serializeShardManifest({ ...snapshot.manifest, ...patch });

/** Runs `action` and returns the EndpointDocumentError it throws. */
function rejection(action: () => unknown): EndpointDocumentError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(EndpointDocumentError);
    return error as EndpointDocumentError;
  }
  throw new Error("expected an EndpointDocumentError, nothing was thrown");
}

/** Every invariant a layout must hold whatever its input: sizes, ascending indexes, texts matching contents. */
function expectWellFormed(layout: ShardLayout, maxBytes = shardMaxBytes): void {
  const indexes = layout.shards.map((s) => s.index);
  expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  expect(new Set(indexes).size).toBe(indexes.length);
  for (const shard of layout.shards) {
    expect(shard.bytes).toBe(bytesOf(shard.text));
    expect(shard.bytes).toBeLessThanOrEqual(maxBytes);
    expect(shard.endpoints.length + shard.draining.length).toBeGreaterThan(0);
    expect(shard.text).toBe(serializeShard(service, shard));
  }
  for (const index of layout.removed) expect(indexes).not.toContain(index);
}

/** Small deterministic PRNG (mulberry32), so that a fast-check seed describes a whole service. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface ServiceShape {
  readonly size: number;
  readonly drainingPercent: number;
  readonly ipv6Percent: number;
  readonly noTaskIdPercent: number;
  readonly noZonePercent: number;
  readonly seed: number;
}

/** A service of `size` tasks with distinct addresses; some draining, some IPv6, a few without task id or zone. */
function buildService(shape: ServiceShape): { endpoints: Endpoint[]; draining: Endpoint[]; fresh: () => Endpoint } {
  const random = prng(shape.seed);
  const used = new Set<number>();
  const next = (): Endpoint => {
    let n = Math.floor(random() * 0xffffff);
    while (used.has(n)) n = (n + 1) % 0xffffff;
    used.add(n);
    return task(n, {
      v6: random() * 100 < shape.ipv6Percent,
      zone: random() * 100 < shape.noZonePercent ? null : zones[Math.floor(random() * zones.length)]!,
      taskId: random() * 100 >= shape.noTaskIdPercent,
    });
  };
  const endpoints: Endpoint[] = [];
  const draining: Endpoint[] = [];
  for (let i = 0; i < shape.size; i++) (random() * 100 < shape.drainingPercent ? draining : endpoints).push(next());
  return { endpoints, draining, fresh: next };
}

const serviceShape: fc.Arbitrary<ServiceShape> = fc.record({
  size: fc.integer({ min: 1, max: 1_500 }),
  drainingPercent: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 })),
  ipv6Percent: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 })),
  noTaskIdPercent: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
  noZonePercent: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
  seed: fc.integer(),
});

type Change = { kind: "add" } | { kind: "remove"; pick: number } | { kind: "drain"; pick: number };
const change: fc.Arbitrary<Change> = fc.oneof(
  fc.constant({ kind: "add" as const }),
  fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("drain" as const), pick: fc.nat() }),
);

/** Applies one change: a task starts, a task is gone, or a ready task starts draining. */
function applyChange(
  endpoints: readonly Endpoint[],
  draining: readonly Endpoint[],
  delta: Change,
  fresh: () => Endpoint,
): { endpoints: Endpoint[]; draining: Endpoint[]; kind: Change["kind"] } {
  if (delta.kind === "add") return { endpoints: [...endpoints, fresh()], draining: [...draining], kind: "add" };
  if (delta.kind === "drain" && endpoints.length > 0) {
    const at = delta.pick % endpoints.length;
    return { endpoints: endpoints.filter((_, i) => i !== at), draining: [...draining, endpoints[at]!], kind: "drain" };
  }
  const all = endpoints.length + draining.length;
  const at = delta.pick % all;
  return at < endpoints.length
    ? { endpoints: endpoints.filter((_, i) => i !== at), draining: [...draining], kind: "remove" }
    : { endpoints: [...endpoints], draining: draining.filter((_, i) => i !== at - endpoints.length), kind: "remove" };
}

/**
 * `count` endpoints packed in shard 0 with exactly `target` bytes under the default limit: the last one (in sort
 * order) has its zone padded with `pad` (one character of `pad` may be several UTF-8 bytes).
 */
function exactlyFull(target: number, pad = "x"): Endpoint[] {
  const padBytes = bytesOf(pad);
  const list = range(1, 60).map((n) => task(n));
  const size = (l: readonly Endpoint[]) => bytesOf(serializeShard(service, { index: 0, endpoints: l, draining: [] }));
  // Leave room for "-" and at least 20 padding characters.
  while (size(list) > target - 1 - 20 * padBytes) list.pop();
  const last = list.at(-1)!;
  const missing = target - size(list) - 1;
  const padding = pad.repeat(Math.floor(missing / padBytes)) + "x".repeat(missing % padBytes);
  list[list.length - 1] = { ...last, zone: `${last.zone!}-${padding}` };
  expect(size(list)).toBe(target);
  return list;
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

describe("round trip: layout, manifest, parse, assemble", () => {
  const cases: Array<[string, Endpoint[], Endpoint[]]> = [
    ["no endpoint at all", [], []],
    ["one endpoint", [task(7)], []],
    ["only draining", [], range(1, 40).map((n) => task(n))],
    ["IPv4 and IPv6, some without zone or task id", [
      ...range(1, 150).map((n) => task(n)),
      ...range(1_001, 60).map((n) => task(n, { v6: true })),
      task(9_000, { zone: null }),
      task(9_001, { taskId: false }),
      task(9_002, { zone: null, taskId: false, v6: true }),
    ], [task(9_100), task(9_101, { v6: true })]],
    ["5,000 endpoints and 5,000 draining", range(0, 5_000).map((n) => task(n)), range(5_000, 5_000).map((n) => task(n, { v6: n % 3 === 0 }))],
  ];

  it.each(cases)("gives back exactly the input lists: %s", (_, endpoints, draining) => {
    // Unsorted input: the writer gets tasks in whatever order ECS lists them.
    const snapshot = publishFresh([...endpoints].reverse(), [...draining].reverse());
    expectWellFormed(snapshot.layout);
    const document = read(snapshot.manifestText, snapshot.values);
    expect(document).toEqual({
      schemaVersion: 2,
      service,
      epoch,
      revision: 1,
      generatedAt,
      endpoints: sorted(endpoints),
      draining: sorted(draining),
    });
    // Every endpoint is in exactly one shard.
    const placed = snapshot.layout.shards.reduce((sum, s) => sum + s.endpoints.length + s.draining.length, 0);
    expect(placed).toBe(endpoints.length + draining.length);
  });

  it("packs 10,000 endpoints into few shards, each written once, on its own index from 0", () => {
    const { layout, manifest } = publishFresh(range(0, 5_000).map((n) => task(n)), range(5_000, 5_000).map((n) => task(n)));
    expect(layout.repacked).toBe(true);
    expect(layout.removed).toEqual([]);
    expect(layout.shards.every((s) => s.changed)).toBe(true);
    expect(layout.shards.map((s) => s.index)).toEqual(range(0, layout.shards.length));
    // About 70 bytes an entry, about 4,000 useful bytes a shard: a fresh packing wastes little.
    const total = layout.shards.reduce((sum, s) => sum + s.bytes, 0);
    expect(layout.shards.length).toBeLessThanOrEqual(Math.ceil(total / (shardMaxBytes - 200)));
    expect(manifest.shards).toHaveLength(layout.shards.length);
    expect(bytesOf(serializeShardManifest(manifest))).toBeGreaterThan(0);
  });

  it("serialises a manifest that parses back to itself", () => {
    const { manifest, manifestText } = publishFresh(range(1, 200).map((n) => task(n)), [task(500)]);
    expect(parseShardManifest(manifestText)).toEqual(manifest);
    expect(parseShardManifest(JSON.parse(manifestText))).toEqual(manifest);
    expect(JSON.parse(manifestText).shards).toEqual(manifest.shards.map((r) => `${r.index}:${r.version}`));
  });

  it("still reads a schema version 1 document as the single form", () => {
    const v1 = { schemaVersion: 1, service, revision: 3, generatedAt, endpoints: [{ address: "10.0.1.5", port }], draining: [] };
    const stored = parseStoredDocument(JSON.stringify(v1));
    expect(stored.form).toBe("single");
    if (stored.form === "single") expect(stored.document.endpoints).toEqual([{ address: "10.0.1.5", port }]);
  });

  it("keeps a ready task out of draining when the caller lists it in both", () => {
    const both = task(3);
    const layout = layoutShards({ service, endpoints: [task(1), both], draining: [both, task(2)] });
    expect(layout.shards).toHaveLength(1);
    expect(layout.shards[0]!.endpoints).toEqual(sorted([task(1), both]));
    expect(layout.shards[0]!.draining).toEqual([task(2)]);
  });
});

describe("sizes", () => {
  it("keeps every shard within 4,096 bytes and reports its real byte length", () => {
    const { layout } = publishFresh(range(0, 3_000).map((n) => task(n, { v6: n % 4 === 0 })), range(3_000, 300).map((n) => task(n)));
    expectWellFormed(layout);
    expect(layout.shards.length).toBeGreaterThan(50);
    // Packed tightly: every shard but the last is within one entry of the limit.
    for (const shard of layout.shards.slice(0, -1)) expect(shard.bytes).toBeGreaterThan(shardMaxBytes - 120);
  });

  it("fills a shard to exactly 4,096 bytes, and one byte more needs a second shard", () => {
    const full = exactlyFull(shardMaxBytes);
    const one = layoutShards({ service, endpoints: full, draining: [] });
    expect(one.shards).toHaveLength(1);
    expect(one.shards[0]!.bytes).toBe(4_096);
    expect(bytesOf(one.shards[0]!.text)).toBe(4_096);

    const grown = [...full];
    const last = grown.at(-1)!;
    grown[grown.length - 1] = { ...last, zone: `${last.zone!}x` };
    const two = layoutShards({ service, endpoints: grown, draining: [] });
    expectWellFormed(two);
    expect(two.shards).toHaveLength(2);
    // Sorted first-fit: the last endpoint is the one that no longer fits.
    expect(two.shards[1]!.endpoints).toEqual([grown.at(-1)]);
    expect(read(publish(two, { revision: 1, endpoints: grown.length, draining: 0 }).manifestText, two.shards.map((s) => s.text)).endpoints)
      .toEqual(sorted(grown));
  });

  it("counts the shard index's digits: an exactly full shard 0 does not fit at index 10", () => {
    const full = exactlyFull(shardMaxBytes);
    // As the previous content of shard 10 it overflows by one byte ("10" is one digit longer than "0").
    const layout = layoutShards({ service, endpoints: full, draining: [], previous: [{ index: 10, endpoints: full, draining: [] }] });
    expectWellFormed(layout);
    expect(layout.shards.length).toBe(2);
  });

  it("honours a smaller maxShardBytes", () => {
    const layout = layoutShards({ service, endpoints: range(0, 500).map((n) => task(n)), draining: [], maxShardBytes: 1_000 });
    expectWellFormed(layout, 1_000);
    expect(layout.shards.length).toBeGreaterThan(30);
  });

  it.each([
    ["é (2 bytes)", "é"],
    ["東 (3 bytes)", "東"],
    ["🌐 (4 bytes, a surrogate pair)", "🌐"],
  ])("counts multi-byte zone characters as bytes: %s", (_, pad) => {
    const full = exactlyFull(shardMaxBytes, pad);
    const text = serializeShard(service, { index: 0, endpoints: full, draining: [] });
    expect(text.length).toBeLessThan(4_096);
    const one = layoutShards({ service, endpoints: full, draining: [] });
    expect(one.shards).toHaveLength(1);
    expect(one.shards[0]!.bytes).toBe(4_096);

    // One more multi-byte character: still under 4,096 characters, but over 4,096 bytes.
    const grown = [...full];
    const last = grown.at(-1)!;
    grown[grown.length - 1] = { ...last, zone: `${last.zone!}${pad}` };
    expect(serializeShard(service, { index: 0, endpoints: grown, draining: [] }).length).toBeLessThanOrEqual(4_096);
    const two = layoutShards({ service, endpoints: grown, draining: [] });
    expectWellFormed(two);
    expect(two.shards).toHaveLength(2);
    const snapshot = publish(two, { revision: 1, endpoints: grown.length, draining: 0 });
    expect(read(snapshot.manifestText, snapshot.values).endpoints).toEqual(sorted(grown));
  });

  it("packs a service whose zone names are all multi-byte within the byte limit", () => {
    const endpoints = range(0, 800).map((n) => task(n, { zone: `ゾーン-${"東京".repeat(n % 7)}-1a` }));
    const snapshot = publishFresh(endpoints, []);
    expectWellFormed(snapshot.layout);
    expect(read(snapshot.manifestText, snapshot.values).endpoints).toEqual(sorted(endpoints));
  });

  it("refuses an endpoint that cannot fit an empty shard", () => {
    expect(() => layoutShards({ service, endpoints: [task(1, { zone: "z".repeat(5_000) })], draining: [] })).toThrow(RangeError);
  });
});

describe("stability", () => {
  const withPrevious = (input: LayoutInput, previous: ShardLayout): LayoutInput => ({ ...input, previous: contentsOf(previous) });

  it("changes at most one shard for one task added, removed or starting to drain, and never repacks", () => {
    fc.assert(
      fc.property(serviceShape, change, (shape, delta) => {
        const { endpoints, draining, fresh } = buildService(shape);
        const before = layoutShards({ service, endpoints, draining });
        expect(before.repacked).toBe(true);
        const after = applyChange(endpoints, draining, delta, fresh);
        const layout = layoutShards({ service, endpoints: after.endpoints, draining: after.draining, previous: contentsOf(before) });

        expectWellFormed(layout);
        // A shard holding both lists keeps the byte its last ready task needs when it starts draining.
        for (const shard of [...before.shards, ...layout.shards]) {
          if (shard.endpoints.length > 0 && shard.draining.length > 0) expect(shard.bytes).toBeLessThan(shardMaxBytes);
        }
        expect(layout.repacked).toBe(false);
        const changed = changedIndexes(layout);
        expect(changed.length).toBeLessThanOrEqual(1);
        expect(layout.removed.length).toBeLessThanOrEqual(1);
        // One task touches one shard: it is either rewritten or, left empty, deleted.
        expect(changed.length + layout.removed.length).toBe(1);
        if (after.kind !== "remove") expect(layout.removed).toEqual([]);
        // Unchanged shards hold the very text published before.
        const previousText = new Map(before.shards.map((s) => [s.index, s.text]));
        expect(layout.shards.filter((s) => !s.changed && s.text !== previousText.get(s.index))).toEqual([]);
        // Every other endpoint stayed in its shard.
        const shardOf = (l: ShardLayout) =>
          new Map(l.shards.flatMap((s) => [...s.endpoints, ...s.draining].map((e) => [`${e.address}:${e.port}`, s.index] as const)));
        const was = shardOf(before);
        const strayed = [...shardOf(layout)].filter(([key, index]) => was.has(key) && was.get(key) !== index);
        expect(strayed).toEqual([]);

        const snapshot = publish(layout, { revision: 2, endpoints: after.endpoints.length, draining: after.draining.length });
        const document = read(snapshot.manifestText, snapshot.values);
        expect(document.endpoints).toEqual(sorted(after.endpoints));
        expect(document.draining).toEqual(sorted(after.draining));
      }),
      { numRuns: 100 },
    );
  }, 60_000);

  it("is idempotent: laying out the same lists over their own layout changes and removes nothing", () => {
    fc.assert(
      fc.property(serviceShape, change, (shape, delta) => {
        const { endpoints, draining, fresh } = buildService(shape);
        const first = layoutShards({ service, endpoints, draining });
        const again = layoutShards(withPrevious({ service, endpoints, draining }, first));
        expect(changedIndexes(again)).toEqual([]);
        expect(again.removed).toEqual([]);
        expect(again.repacked).toBe(false);
        expect(again.shards.map((s) => s.text)).toEqual(first.shards.map((s) => s.text));

        // Also after a change: the changed layout, laid out again, is a fixed point.
        const after = applyChange(endpoints, draining, delta, fresh);
        const changedInput: LayoutInput = { service, endpoints: after.endpoints, draining: after.draining };
        const second = layoutShards(withPrevious(changedInput, first));
        const third = layoutShards(withPrevious(changedInput, second));
        expect(changedIndexes(third)).toEqual([]);
        expect(third.removed).toEqual([]);
        expect(third.shards.map((s) => s.text)).toEqual(second.shards.map((s) => s.text));
      }),
      { numRuns: 30 },
    );
  }, 60_000);

  it("is deterministic: the same input gives the same layout, whatever the input order", () => {
    fc.assert(
      fc.property(serviceShape, fc.integer(), (shape, shuffleSeed) => {
        const { endpoints, draining } = buildService(shape);
        const input: LayoutInput = { service, endpoints, draining };
        // Compared as JSON: a deep equality of thousands of endpoints is slow, and the JSON holds every field.
        const expected = JSON.stringify(layoutShards(input));
        expect(JSON.stringify(layoutShards(input))).toBe(expected);
        const random = prng(shuffleSeed);
        const shuffle = (list: readonly Endpoint[]) =>
          list.map((e) => [random(), e] as const).sort(([a], [b]) => a - b).map(([, e]) => e);
        expect(JSON.stringify(layoutShards({ service, endpoints: shuffle(endpoints), draining: shuffle(draining) }))).toBe(expected);
        const previous = contentsOf(layoutShards(input));
        const grown = { service, endpoints: [...endpoints, task(0xfffffe)], draining, previous };
        expect(JSON.stringify(layoutShards(grown))).toBe(JSON.stringify(layoutShards(grown)));
      }),
      { numRuns: 20 },
    );
  }, 60_000);

  it("puts a new task in the lowest-indexed shard with room, and a new shard on the lowest free index", () => {
    const base = publishFresh(range(0, 400).map((n) => task(n)), []).layout;
    expect(base.shards.length).toBeGreaterThan(3);
    // Free room in shard 1 by removing two of its tasks.
    const freed = base.shards[1]!.endpoints.slice(0, 2);
    const keys = new Set(freed.map((e) => e.taskId));
    const endpoints = range(0, 400).map((n) => task(n)).filter((e) => !keys.has(e.taskId));
    const roomy = layoutShards({ service, endpoints, draining: [], previous: contentsOf(base) });
    expect(changedIndexes(roomy)).toEqual([1]);

    const added = layoutShards({ service, endpoints: [...endpoints, task(10_000)], draining: [], previous: contentsOf(roomy) });
    expect(changedIndexes(added)).toEqual([1]);
    expect(added.shards[1]!.endpoints).toContainEqual(task(10_000));

    // Empty shard 0 entirely: it is removed, and the next shard needed takes index 0 again.
    const zero = new Set(added.shards[0]!.endpoints.map((e) => e.taskId));
    const rest = [...endpoints, task(10_000)].filter((e) => !zero.has(e.taskId));
    const gone = layoutShards({ service, endpoints: rest, draining: [], previous: contentsOf(added) });
    expect(gone.removed).toEqual([0]);
    expect(gone.repacked).toBe(false);
    const overflow = range(20_000, 60).map((n) => task(n));
    const refilled = layoutShards({ service, endpoints: [...rest, ...overflow], draining: [], previous: contentsOf(gone) });
    expect(refilled.shards[0]!.index).toBe(0);
    expect(changedIndexes(refilled)).toContain(0);
  });

  it("keeps a draining task in its shard, moved to the shard's draining list", () => {
    const endpoints = range(0, 300).map((n) => task(n));
    const base = layoutShards({ service, endpoints, draining: [] });
    const leaving = base.shards[2]!.endpoints[5]!;
    const layout = layoutShards({
      service,
      endpoints: endpoints.filter((e) => e !== leaving),
      draining: [leaving],
      previous: contentsOf(base),
    });
    expect(changedIndexes(layout)).toEqual([2]);
    expect(layout.shards[2]!.draining).toEqual([leaving]);
    expect(layout.shards[2]!.endpoints).not.toContainEqual(leaving);
  });

  it("drains the last ready task of a byte-full shard without moving anything else", () => {
    // Shard 0: one ready task and draining ones. When the ready task drains, the two lists become one, whose
    // entries need one comma more than the two lists did; a shard holding both lists must keep that byte spare.
    const ready = task(1);
    const draining = range(2, 70).map((n) => task(n));
    const others = range(1_000, 100).map((n) => task(n));
    const size = (d: readonly Endpoint[]) => bytesOf(serializeShard(service, { index: 0, endpoints: [ready], draining: d }));
    while (size(draining) > shardMaxBytes - 40) draining.pop();
    const last = draining.at(-1)!;
    // Pad the last zone so that the shard would be exactly 4,096 bytes with both lists.
    draining[draining.length - 1] = { ...last, zone: `${last.zone!}-${"x".repeat(shardMaxBytes - size(draining) - 1)}` };
    expect(size(draining)).toBe(shardMaxBytes);

    const before = layoutShards({ service, endpoints: [ready, ...others], draining });
    expectWellFormed(before);
    for (const shard of before.shards.filter((s) => s.endpoints.length > 0 && s.draining.length > 0)) {
      expect(shard.bytes).toBeLessThanOrEqual(shardMaxBytes - 1);
    }
    const after = layoutShards({ service, endpoints: others, draining: [...draining, ready], previous: contentsOf(before) });
    expectWellFormed(after);
    expect(after.repacked).toBe(false);
    expect(changedIndexes(after)).toHaveLength(1);
    expect(after.removed).toEqual([]);
    const holder = before.shards.find((s) => s.endpoints.some((e) => e.taskId === ready.taskId))!;
    expect(changedIndexes(after)).toEqual([holder.index]);
  });

  it("keeps a task whose address changed in its shard (the task id is its identity)", () => {
    const endpoints = range(0, 300).map((n) => task(n));
    const base = layoutShards({ service, endpoints, draining: [] });
    const moved = base.shards[1]!.endpoints[0]!;
    const renumbered = { ...moved, address: "10.200.0.1" };
    const layout = layoutShards({
      service,
      endpoints: endpoints.map((e) => (e === moved ? renumbered : e)),
      draining: [],
      previous: contentsOf(base),
    });
    expect(changedIndexes(layout)).toEqual([1]);
    expect(layout.shards[1]!.endpoints).toContainEqual(renumbered);
  });

  it("moves entries out of a shard they no longer fit (zones learnt late), keeping sizes within the limit", () => {
    const unzoned = range(0, 100).map((n) => task(n, { zone: null }));
    const base = layoutShards({ service, endpoints: unzoned, draining: [] });
    expect(base.shards).toHaveLength(2);
    expect(base.shards[0]!.bytes).toBeGreaterThan(shardMaxBytes - 60);
    const zoned = range(0, 100).map((n) => task(n));
    const layout = layoutShards({ service, endpoints: zoned, draining: [], previous: contentsOf(base) });
    expectWellFormed(layout);
    expect(layout.repacked).toBe(false);
    expect(layout.shards[0]!.changed).toBe(true);
    // Shard 0 keeps a prefix of what it held; the entries moved out went to later shards.
    const kept = layout.shards[0]!.endpoints.map((e) => e.taskId);
    expect(kept).toEqual(base.shards[0]!.endpoints.slice(0, kept.length).map((e) => e.taskId));
    expect(kept.length).toBeLessThan(base.shards[0]!.endpoints.length);
    const snapshot = publish(layout, { revision: 2, endpoints: zoned.length, draining: 0, versions: new Map([[0, 1], [1, 1]]) });
    expect(read(snapshot.manifestText, snapshot.values).endpoints).toEqual(sorted(zoned));
  });
});

describe("shrinking", () => {
  const thousand = range(0, 1_000).map((n) => task(n, { v6: n % 10 === 0 }));

  it("repacks 1,000 → 10 spread endpoints into the minimal number of shards and frees the other indexes", () => {
    const before = layoutShards({ service, endpoints: thousand, draining: [] });
    expect(before.shards.length).toBeGreaterThan(15);
    // One survivor in each of 10 different shards: 10 nearly empty shards, far more than the 1 needed.
    const survivors = before.shards.slice(0, 10).map((s) => s.endpoints[0]!);
    const after = layoutShards({ service, endpoints: survivors, draining: [], previous: contentsOf(before) });
    expectWellFormed(after);
    expect(after.repacked).toBe(true);
    const minimal = layoutShards({ service, endpoints: survivors, draining: [] });
    expect(minimal.shards).toHaveLength(1);
    expect(after.shards).toHaveLength(minimal.shards.length);
    expect(after.shards.map((s) => s.text)).toEqual(minimal.shards.map((s) => s.text));
    const kept = after.shards.map((s) => s.index);
    expect(after.removed).toEqual(before.shards.map((s) => s.index).filter((i) => !kept.includes(i)));
    expect(after.removed).toEqual(range(1, before.shards.length - 1));
    expect(after.shards[0]!.changed).toBe(true);

    const snapshot = publish(after, { revision: 2, endpoints: survivors.length, draining: 0 });
    expect(read(snapshot.manifestText, snapshot.values).endpoints).toEqual(sorted(survivors));
  });

  it("needs no repack when the 10 survivors already share one shard: the emptied shards are just removed", () => {
    const before = layoutShards({ service, endpoints: thousand, draining: [] });
    const survivors = before.shards[3]!.endpoints.slice(0, 10);
    const after = layoutShards({ service, endpoints: survivors, draining: [], previous: contentsOf(before) });
    expect(after.repacked).toBe(false);
    expect(after.shards.map((s) => s.index)).toEqual([3]);
    expect(after.removed).toEqual(before.shards.map((s) => s.index).filter((i) => i !== 3));
    expect(changedIndexes(after)).toEqual([3]);
  });

  it("shrinks step by step without ever exceeding twice the shards a fresh packing needs", () => {
    let endpoints = [...thousand];
    let previous = layoutShards({ service, endpoints, draining: [] });
    const random = prng(42);
    while (endpoints.length > 10) {
      endpoints = endpoints.filter(() => random() > 0.1);
      const layout = layoutShards({ service, endpoints, draining: [], previous: contentsOf(previous) });
      expectWellFormed(layout);
      const fresh = layoutShards({ service, endpoints, draining: [] });
      expect(layout.shards.length).toBeLessThanOrEqual(2 * fresh.shards.length);
      previous = layout;
    }
  });
});

describe("rejections", () => {
  const endpoints = range(0, 300).map((n) => task(n, { v6: n % 5 === 0 }));
  const draining = range(300, 20).map((n) => task(n));
  const snapshot = publishFresh(endpoints, draining, 7);
  const { manifest, values } = snapshot;

  /** A manifest whose digest matches `shardValues`, so that the check under test is the one that fails. */
  const consistent = (shardValues: readonly string[], patch: Partial<ShardManifest> = {}): ShardManifest => ({
    ...manifest,
    ...patch,
    digest: shardDigest(shardValues),
  });

  it("has a multi-shard snapshot to tamper with", () => {
    expect(values.length).toBeGreaterThanOrEqual(3);
    expect(read(snapshot.manifestText, values).endpoints).toHaveLength(300);
  });

  it("rejects a torn snapshot: a shard value from another revision (digest)", () => {
    // Revision 8 drains one task: one shard changes, the manifest pins its new version.
    const leaving = endpoints[42]!;
    const next = layoutShards({
      service,
      endpoints: endpoints.filter((e) => e !== leaving),
      draining: [...draining, leaving],
      previous: contentsOf(snapshot.layout),
    });
    const revision8 = publish(next, { revision: 8, endpoints: 299, draining: 21, versions: snapshot.versions });
    expect(changedIndexes(next)).toHaveLength(1);
    expect(revision8.manifest.shards.filter((r) => r.version > 1)).toHaveLength(1);
    // A reader that fetched the old value of the changed shard alongside the new manifest.
    const torn = revision8.values.map((value, i) => (next.shards[i]!.changed ? values[i]! : value));
    const error = rejection(() => assembleShardedDocument(revision8.manifest, torn));
    expect(error.path).toBe("digest");
    expect(error.message).toContain("revision 8");
    // And the other way round: the old manifest with the new shard.
    expect(rejection(() => assembleShardedDocument(manifest, revision8.values)).path).toBe("digest");
    // The consistent pairs assemble.
    expect(assembleShardedDocument(revision8.manifest, revision8.values).draining).toContainEqual(leaving);
  });

  it("rejects a shard of another service (shards[i].service)", () => {
    const foreign = layoutShards({ service: "billing-agent", endpoints, draining });
    const mixed = [...values];
    mixed[1] = foreign.shards[1]!.text;
    const error = rejection(() => assembleShardedDocument(consistent(mixed), mixed));
    expect(error.path).toBe(`shards[${manifest.shards[1]!.index}].service`);
    expect(error.message).toContain("billing-agent");
  });

  it("rejects a shard at another index (shards[i].shard)", () => {
    const swapped = [values[1]!, values[0]!, ...values.slice(2)];
    expect(rejection(() => assembleShardedDocument(consistent(swapped), swapped)).path).toBe("shards[0].shard");
    // A manifest that names index 5 for what is shard 2's value.
    const renamed = consistent(values, { shards: manifest.shards.map((r, i) => (i === 2 ? { index: 5, version: r.version } : r)) });
    expect(rejection(() => assembleShardedDocument(renamed, values)).path).toBe("shards[5].shard");
  });

  it("rejects counts that differ from the manifest (endpointCount, drainingCount)", () => {
    expect(rejection(() => assembleShardedDocument({ ...manifest, endpointCount: 301 }, values)).path).toBe("endpointCount");
    expect(rejection(() => assembleShardedDocument({ ...manifest, endpointCount: 299 }, values)).path).toBe("endpointCount");
    expect(rejection(() => assembleShardedDocument({ ...manifest, drainingCount: 19 }, values)).path).toBe("drainingCount");
    expect(rejection(() => assembleShardedDocument({ ...manifest, drainingCount: 0 }, values)).path).toBe("drainingCount");
    // Through the reader's path too: the manifest text parses, the assembly refuses.
    const text = withManifest(snapshot, { endpointCount: 1_000 });
    expect(rejection(() => read(text, values)).path).toBe("endpointCount");
  });

  it("rejects an endpoint listed in two shards, or twice in one (shards[i])", () => {
    const [a, b, c] = [task(1), task(2), task(3)];
    const twice = [
      serializeShard(service, { index: 0, endpoints: [a!, b!], draining: [] }),
      serializeShard(service, { index: 1, endpoints: [b!, c!], draining: [] }),
    ];
    const two = consistent(twice, { shards: [{ index: 0, version: 1 }, { index: 1, version: 1 }], endpointCount: 4, drainingCount: 0 });
    const error = rejection(() => assembleShardedDocument(two, twice));
    expect(error.path).toBe("shards[1]");
    expect(error.message).toContain(`task:${b!.taskId!}`);

    // Ready in one shard, draining in another.
    const split = [
      serializeShard(service, { index: 0, endpoints: [a!], draining: [] }),
      serializeShard(service, { index: 3, endpoints: [], draining: [a!] }),
    ];
    const refs = [{ index: 0, version: 4 }, { index: 3, version: 2 }];
    expect(rejection(() => assembleShardedDocument(consistent(split, { shards: refs, endpointCount: 1, drainingCount: 1 }), split)).path)
      .toBe("shards[3]");

    // The same address and port without task id, twice in one shard.
    const bare = task(9, { taskId: false });
    const dup = [serializeShard(service, { index: 0, endpoints: [bare, bare], draining: [] })];
    const one = consistent(dup, { shards: [{ index: 0, version: 1 }], endpointCount: 2, drainingCount: 0 });
    const dupError = rejection(() => assembleShardedDocument(one, dup));
    expect(dupError.path).toBe("shards[0]");
    expect(dupError.message).toContain(`${bare.address}:${port}`);
  });

  it("rejects a wrong number of values (shards)", () => {
    expect(rejection(() => assembleShardedDocument(manifest, values.slice(1))).path).toBe("shards");
    expect(rejection(() => assembleShardedDocument(manifest, [...values, values[0]!])).path).toBe("shards");
    expect(rejection(() => assembleShardedDocument(manifest, [])).path).toBe("shards");
  });

  it("rejects a bad endpoint inside a shard, naming it (shards[i].endpoints[j].field)", () => {
    const bad = JSON.parse(values[0]!);
    bad.endpoints[3][1] = 0;
    const broken = [JSON.stringify(bad), ...values.slice(1)];
    expect(rejection(() => assembleShardedDocument(consistent(broken), broken)).path).toBe("shards[0].endpoints[3].port");
    bad.endpoints[3] = ["10.0.0.999", port];
    const badAddress = [JSON.stringify(bad), ...values.slice(1)];
    expect(rejection(() => assembleShardedDocument(consistent(badAddress), badAddress)).path).toBe("shards[0].endpoints[3].address");
    bad.endpoints[3] = "10.0.0.1:50051";
    const notTuple = [JSON.stringify(bad), ...values.slice(1)];
    expect(rejection(() => assembleShardedDocument(consistent(notTuple), notTuple)).path).toBe("shards[0].endpoints[3]");
    const notJson = ["{", ...values.slice(1)];
    expect(rejection(() => assembleShardedDocument(consistent(notJson), notJson)).path).toBe("$");
  });

  describe("bad manifest fields", () => {
    const base = JSON.parse(snapshot.manifestText) as Record<string, unknown>;
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['a shards entry "x"', { shards: ["0:1", "x"] }, "shards[1]"],
      ["a shards entry without version", { shards: ["0"] }, "shards[0]"],
      ["a shards entry of version 0", { shards: ["0:0"] }, "shards[0]"],
      ["a shards entry with a leading zero", { shards: ["01:3"] }, "shards[0]"],
      ["a shards entry that is a number", { shards: [0] }, "shards[0]"],
      ["descending indexes", { shards: ["0:1", "2:1", "1:1"] }, "shards[2]"],
      ["a repeated index", { shards: ["0:1", "0:2"] }, "shards[1]"],
      ["shards not an array", { shards: "0:1" }, "shards"],
      ["a missing epoch", { epoch: undefined }, "epoch"],
      ["a negative epoch", { epoch: -1 }, "epoch"],
      ["a missing digest", { digest: undefined }, "digest"],
      ["a digest without prefix", { digest: "a".repeat(64) }, "digest"],
      ["an upper-case digest", { digest: `sha256:${"A".repeat(64)}` }, "digest"],
      ["a short digest", { digest: `sha256:${"a".repeat(63)}` }, "digest"],
      ["a missing endpointCount", { endpointCount: undefined }, "endpointCount"],
      ["a fractional drainingCount", { drainingCount: 1.5 }, "drainingCount"],
      ["a revision of 0", { revision: 0 }, "revision"],
      ["an empty service", { service: "" }, "service"],
      ["a local generatedAt", { generatedAt: "2026-11-28T12:00:00+01:00" }, "generatedAt"],
    ];

    it.each(cases)("rejects %s", (_, patch, path) => {
      const text = JSON.stringify({ ...base, ...patch });
      expect(rejection(() => parseShardManifest(text)).path).toBe(path);
      expect(rejection(() => parseStoredDocument(text)).path).toBe(path);
    });

    it("rejects a wrong schema version and non-objects", () => {
      expect(rejection(() => parseShardManifest({ ...base, schemaVersion: 3 })).path).toBe("schemaVersion");
      expect(rejection(() => parseShardManifest("[]")).path).toBe("$");
      expect(rejection(() => parseShardManifest("not json")).path).toBe("$");
    });

    it("accepts the untouched manifest", () => {
      expect(parseShardManifest(JSON.stringify(base))).toEqual(manifest);
    });
  });
});

describe("compareDocumentOrder", () => {
  it("lets a higher epoch win over a higher revision", () => {
    expect(compareDocumentOrder({ epoch: 2, revision: 1 }, { epoch: 1, revision: 900 })).toBeGreaterThan(0);
    expect(compareDocumentOrder({ epoch: 1, revision: 900 }, { epoch: 2, revision: 1 })).toBeLessThan(0);
    expect(compareDocumentOrder({ epoch: 1_764_316_800_001, revision: 1 }, { epoch: 1_764_316_800_000, revision: 2 })).toBeGreaterThan(0);
  });

  it("orders by revision within an epoch", () => {
    expect(compareDocumentOrder({ epoch: 5, revision: 8 }, { epoch: 5, revision: 7 })).toBeGreaterThan(0);
    expect(compareDocumentOrder({ epoch: 5, revision: 7 }, { epoch: 5, revision: 8 })).toBeLessThan(0);
    expect(compareDocumentOrder({ epoch: 5, revision: 7 }, { epoch: 5, revision: 7 })).toBe(0);
  });

  it("reads a missing epoch as 0", () => {
    expect(compareDocumentOrder({ revision: 3 }, { epoch: 0, revision: 3 })).toBe(0);
    expect(compareDocumentOrder({ revision: 4 }, { epoch: 0, revision: 3 })).toBeGreaterThan(0);
    expect(compareDocumentOrder({ revision: 900 }, { epoch: 1, revision: 1 })).toBeLessThan(0);
    expect(compareDocumentOrder({ epoch: 1, revision: 1 }, { revision: 900 })).toBeGreaterThan(0);
  });

  it("is antisymmetric over random epochs and revisions", () => {
    const doc = fc.record({ epoch: fc.option(fc.nat(), { nil: undefined }), revision: fc.integer({ min: 1, max: 1_000_000 }) });
    fc.assert(
      fc.property(doc, doc, (a, b) => {
        const forward = Math.sign(compareDocumentOrder(a, b));
        expect(Math.sign(compareDocumentOrder(b, a))).toBe(forward === 0 ? 0 : -forward);
        if ((a.epoch ?? 0) !== (b.epoch ?? 0)) expect(forward).toBe((a.epoch ?? 0) > (b.epoch ?? 0) ? 1 : -1);
      }),
    );
  });

  it("compares a manifest with a version 1 document", () => {
    const { manifest } = publishFresh([task(1)], [], 2);
    const legacy: EndpointDocument = { schemaVersion: 1, service, revision: 50, generatedAt, endpoints: [], draining: [] };
    expect(compareDocumentOrder(manifest, legacy)).toBeGreaterThan(0);
  });
});

describe("shardParameterName", () => {
  it("appends /shards/<index> to a hierarchical name", () => {
    expect(shardParameterName("/discovery/workflow-agent/endpoints", 3)).toBe("/discovery/workflow-agent/endpoints/shards/3");
    expect(shardParameterName("/discovery/workflow-agent/endpoints", 0)).toBe("/discovery/workflow-agent/endpoints/shards/0");
    expect(shardParameterName("/discovery/workflow-agent/endpoints", 123)).toBe("/discovery/workflow-agent/endpoints/shards/123");
  });

  it("gives a flat name a leading /", () => {
    expect(shardParameterName("workflow-endpoints", 0)).toBe("/workflow-endpoints/shards/0");
    expect(shardParameterName("workflow-endpoints", 12)).toBe("/workflow-endpoints/shards/12");
  });

  it("keeps an ARN's prefix, so shards are read from the same account and Region", () => {
    const arn = "arn:aws:ssm:us-east-1:123456789012:parameter/discovery/workflow-agent/endpoints";
    expect(shardParameterName(arn, 2)).toBe(`${arn}/shards/2`);
    // The ARN of the flat "workflow-endpoints" names the same shard as the flat name's "/workflow-endpoints/shards/1".
    expect(shardParameterName("arn:aws-cn:ssm:cn-north-1:123456789012:parameter/workflow-endpoints", 1)).toBe(
      "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/workflow-endpoints/shards/1",
    );
  });

  it("gives the path that holds every shard, without trailing /", () => {
    expect(shardPath("/discovery/workflow-agent/endpoints")).toBe("/discovery/workflow-agent/endpoints/shards");
    expect(shardPath("workflow-endpoints")).toBe("/workflow-endpoints/shards");
    for (const index of [0, 1, 10, 999]) {
      expect(shardParameterName("/a/b", index).startsWith(`${shardPath("/a/b")}/`)).toBe(true);
    }
  });
});
