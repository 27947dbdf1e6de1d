import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { detectEcsZone, roundRobinPicker, zoneAwarePicker, type Endpoint } from "@discovery-sync/client";

const a1 = { address: "10.0.1.1", port: 80, zone: "us-east-1a" };
const a2 = { address: "10.0.1.2", port: 80, zone: "us-east-1a" };
const b1 = { address: "10.0.2.1", port: 80, zone: "us-east-1b" };
const b2 = { address: "10.0.2.2", port: 80, zone: "us-east-1b" };
const noZone = { address: "10.0.3.1", port: 80 };

function tally(pick: () => Endpoint | undefined, times: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const endpoint = pick();
    const key = endpoint === undefined ? "none" : endpoint.address;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe("roundRobinPicker", () => {
  it("takes every endpoint in turn, equally often, from any start", () => {
    for (const start of [0, 1, 7, undefined]) {
      const picker = roundRobinPicker(start === undefined ? {} : { start });
      expect(tally(() => picker.pick([a1, a2, b1]), 300)).toEqual({ "10.0.1.1": 100, "10.0.1.2": 100, "10.0.2.1": 100 });
    }
  });

  it("follows a changed list on the next pick and gives undefined for an empty one", () => {
    const picker = roundRobinPicker({ start: 0 });
    expect(picker.pick([a1, a2])).toBe(a1);
    expect(picker.pick([b1])).toBe(b1);
    expect(picker.pick([])).toBeUndefined();
  });
});

describe("zoneAwarePicker", () => {
  it("keeps traffic in the caller's zone, round robin within it", () => {
    const picker = zoneAwarePicker({ zone: "us-east-1b", start: 0 });
    expect(tally(() => picker.pick([a1, a2, b1, b2, noZone]), 100)).toEqual({ "10.0.2.1": 50, "10.0.2.2": 50 });
  });

  it("falls back to all zones when its own has no endpoint", () => {
    const picker = zoneAwarePicker({ zone: "us-east-1c", start: 0 });
    expect(tally(() => picker.pick([a1, b1, noZone]), 30)).toEqual({ "10.0.1.1": 10, "10.0.2.1": 10, "10.0.3.1": 10 });
    expect(picker.pick([])).toBeUndefined();
  });
});

describe("detectEcsZone", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
  });

  it("reads AvailabilityZone from the ECS task metadata endpoint v4", async () => {
    // Prepare: a stand-in for the metadata endpoint
    server = createServer((request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(request.url === "/v4/abc/task" ? JSON.stringify({ AvailabilityZone: "us-east-1b" }) : "{}");
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };

    // Act + Assess
    expect(await detectEcsZone({ env: { ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${port}/v4/abc` } })).toBe("us-east-1b");
    expect(await detectEcsZone({ env: {} })).toBeUndefined();
  });

  it.each([
    ["timeoutMs", { timeoutMs: -1 }, -1],
    ["timeoutMs", { timeoutMs: "1000" }, "1000"],
    ["env", { env: "ECS_CONTAINER_METADATA_URI_V4=http://x" }, "ECS_CONTAINER_METADATA_URI_V4=http://x"],
    ["timeout", { timeout: 5 }, 5],
  ])("rejects an invalid %s instead of answering undefined", async (option, options, value) => {
    // Act
    const result = detectEcsZone({ env: { ECS_CONTAINER_METADATA_URI_V4: "http://127.0.0.1:9" }, ...options } as never);

    // Assess
    await expect(result).rejects.toMatchObject({ name: "InvalidOptionError", option, value });
  });
});
