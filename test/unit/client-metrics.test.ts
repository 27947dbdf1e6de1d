import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Registry } from "prom-client";
import { createEndpointReader, serializeEndpointDocument, type EndpointReader } from "@discovery-sync/client";
import { registerReaderMetrics } from "@discovery-sync/client/prometheus";
import { documentOf, documentText, fakeSsm, throttling, type FakeSsm } from "./client-fake-ssm.js";

let ssm: FakeSsm;
let readers: EndpointReader[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-11-25T06:00:00.000Z") });
  vi.spyOn(Math, "random").mockReturnValue(1);
  ssm = fakeSsm();
});

afterEach(() => {
  for (const reader of readers) reader.close();
  readers = [];
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function make(parameterName: string): EndpointReader {
  const reader = createEndpointReader({ parameterName, ssmClient: ssm.client, lambdaExtension: false, refreshIntervalMs: 10_000, jitter: 0 });
  readers.push(reader);
  return reader;
}

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value;
}

describe("registerReaderMetrics", () => {
  it("exports refreshes, failures by reason, staleness, endpoints held and revision held", async () => {
    // Prepare
    const registry = new Registry();
    ssm.answer = () =>
      serializeEndpointDocument({ ...documentOf(12, [{ address: "10.0.0.1", port: 1 }, { address: "10.0.0.2", port: 1 }]), epoch: 1_764_316_800_000 });
    const reader = make("/discovery/workflow-agent/endpoints");
    registerReaderMetrics(reader, { registry });
    const parameter = reader.parameterName;

    // Act
    await reader.endpoints();
    ssm.answer = () => {
      throw throttling();
    };
    await vi.advanceTimersByTimeAsync(10_000 + 1_000);

    // Assess
    expect(await value(registry, "discovery_client_refreshes_total", { parameter, source: "ssm" })).toBe(1);
    expect(await value(registry, "discovery_client_refresh_failures_total", { parameter, reason: "throttled", source: "ssm" })).toBe(2);
    expect(await value(registry, "discovery_client_seconds_since_last_good_refresh", { parameter })).toBe(11);
    expect(await value(registry, "discovery_client_endpoints", { parameter })).toBe(2);
    expect(await value(registry, "discovery_client_revision", { parameter })).toBe(12);
    expect(await value(registry, "discovery_client_epoch", { parameter })).toBe(1_764_316_800_000);
    const text = await registry.metrics();
    expect(text).toContain("# TYPE discovery_client_refresh_failures_total counter");
  });

  it("lets several readers share one registry, and stops exporting a reader when asked", async () => {
    // Prepare
    const registry = new Registry();
    ssm.answer = () => documentText(1, [{ address: "10.0.0.1", port: 1 }]);
    const first = make("/discovery/a/endpoints");
    const second = make("/discovery/b/endpoints");
    registerReaderMetrics(first, { registry });
    const stopSecond = registerReaderMetrics(second, { registry });
    await Promise.all([first.endpoints(), second.endpoints()]);

    // Act
    const before = await value(registry, "discovery_client_revision", { parameter: "/discovery/b/endpoints" });
    stopSecond();
    const after = await value(registry, "discovery_client_revision", { parameter: "/discovery/b/endpoints" });

    // Assess
    expect(before).toBe(1);
    expect(after).toBeUndefined();
    expect(await value(registry, "discovery_client_revision", { parameter: "/discovery/a/endpoints" })).toBe(1);
  });

  it("validates its options", () => {
    const reader = make("/discovery/a/endpoints");
    expect(() => registerReaderMetrics(reader, { prefix: "bad prefix" })).toThrow(/invalid option prefix/);
    expect(() => registerReaderMetrics({} as EndpointReader)).toThrow(/invalid option reader/);
    expect(() => registerReaderMetrics(reader, { registry: {} as Registry })).toThrow(
      /invalid option registry: expected a prom-client Registry \(given \{\}\)/,
    );
    expect(() => registerReaderMetrics(reader, { registry: "default" as unknown as Registry })).toThrow(
      /invalid option registry: .*\(given "default"\)/,
    );
  });
});
