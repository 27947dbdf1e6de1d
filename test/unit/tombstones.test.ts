import { describe, expect, it } from "vitest";
import {
  nextTombstones,
  parseTombstones,
  sameTombstones,
  serializeTombstones,
  staleTaskReads,
  tombstoneRetentionMs,
  type ObservedTask,
  type Tombstone,
} from "@discovery-sync/core";

const now = Date.parse("2026-11-28T12:00:00Z");
const task = (id: string, version: number | undefined, status: { last?: string; desired?: string } = {}): ObservedTask => ({
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/workflow/${id}`,
  taskId: id,
  group: "service:workflow-agent",
  lastStatus: status.last ?? "RUNNING",
  desiredStatus: status.desired ?? "RUNNING",
  healthStatus: "HEALTHY",
  availabilityZone: "us-east-1a",
  taskDefinitionArn: undefined,
  privateIpv4: "10.0.0.1",
  hasEni: true,
  version,
});
const stones = (entries: Record<string, [version: number, removedAtMs: number]>) =>
  new Map(Object.entries(entries).map(([id, [version, removedAtMs]]) => [id, { version, removedAtMs } satisfies Tombstone]));

describe("tombstones", () => {
  it("a read older than the tombstone is stale; the same or a newer version is not; a task without version cannot tell", () => {
    const tombstones = stones({ a: [5, now], b: [5, now], c: [5, now] });
    expect(staleTaskReads([task("a", 4), task("b", 5), task("c", undefined), task("d", 1)], tombstones)).toEqual([
      { taskArn: task("a", 4).taskArn, readVersion: 4, rememberedVersion: 5 },
    ]);
  });

  it("remembers a task told to stop whether or not it was published, and an unready task only if it was published", () => {
    const next = nextTombstones(
      new Map(),
      [task("stopping", 7, { desired: "STOPPED" }), task("stopped", 9, { last: "STOPPED", desired: "STOPPED" }), task("was-ready", 4), task("never-ready", 2), task("ready", 3)],
      new Set(["ready"]),
      new Set(["was-ready", "ready"]),
      now,
    );
    expect(Object.fromEntries(next)).toEqual({
      stopping: { version: 7, removedAtMs: now },
      stopped: { version: 9, removedAtMs: now },
      "was-ready": { version: 4, removedAtMs: now },
    });
  });

  it("keeps the first removal time, raises the version, forgets a task ready again at a newer version, and expires old ones", () => {
    const previous = stones({ a: [5, now - 60_000], b: [5, now - 60_000], old: [1, now - tombstoneRetentionMs] });
    const next = nextTombstones(previous, [task("a", 8, { desired: "STOPPED" }), task("b", 6)], new Set(["b"]), new Set(), now);
    expect(Object.fromEntries(next)).toEqual({ a: { version: 8, removedAtMs: now - 60_000 } });
    expect(sameTombstones(next, nextTombstones(next, [task("a", 8, { desired: "STOPPED" })], new Set(), new Set(), now))).toBe(true);
  });

  it("round-trips through the state parameter's value, newest first, cut to fit 4,096 bytes", () => {
    const many = new Map(Array.from({ length: 200 }, (_, i) => [i.toString(16).padStart(32, "0"), { version: i + 1, removedAtMs: now - i * 1_000 }] as const));
    const text = serializeTombstones(many);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4_096);
    const parsed = parseTombstones(text);
    expect(parsed.size).toBeGreaterThan(50);
    expect(parsed.size).toBeLessThan(200);
    // The newest survive: they are the ones ECS may still lag behind.
    for (const [id, stone] of parsed) expect(many.get(id)).toEqual(stone);
    expect(parsed.has((0).toString(16).padStart(32, "0"))).toBe(true);
    expect(parsed.has((199).toString(16).padStart(32, "0"))).toBe(false);
  });

  it("reads anything unreadable as no tombstones", () => {
    for (const text of [undefined, "", "{", "[]", '{"schemaVersion":2,"tombstones":[]}', '{"schemaVersion":1,"tombstones":[["a","x",1],[1,2,3],"z"]}']) {
      expect(parseTombstones(text).size).toBe(0);
    }
  });
});
