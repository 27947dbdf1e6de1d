import { describe, expect, it, vi } from "vitest";
import { createEndpointReader, dnsFallback, type DnsResolver } from "@discovery-sync/client";
import { fakeSsm, throttling } from "./client-fake-ssm.js";

function resolver(records: { a?: Record<string, string[]>; srv?: Record<string, Awaited<ReturnType<DnsResolver["resolveSrv"]>>> }): DnsResolver & {
  asked: string[];
} {
  const asked: string[] = [];
  return {
    asked,
    resolve4: vi.fn(async (name: string) => {
      asked.push(`A ${name}`);
      const found = records.a?.[name];
      if (found === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: "ENOTFOUND" });
      return found;
    }),
    resolveSrv: vi.fn(async (name: string) => {
      asked.push(`SRV ${name}`);
      const found = records.srv?.[name];
      if (found === undefined) throw Object.assign(new Error(`querySrv ENOTFOUND ${name}`), { code: "ENOTFOUND" });
      return found;
    }),
  };
}

describe("dnsFallback", () => {
  it("turns A records of service.namespace into endpoints on the configured port", async () => {
    const dns = resolver({ a: { "workflow-agent.workflow.local": ["10.0.0.7", "10.0.0.5", "10.0.0.7"] } });
    const fallback = dnsFallback({ service: "workflow-agent", namespace: "workflow.local", port: 50051, resolver: dns });
    expect(await fallback.resolve()).toEqual([
      { address: "10.0.0.5", port: 50051 },
      { address: "10.0.0.7", port: 50051 },
    ]);
    expect(dns.asked).toEqual(["A workflow-agent.workflow.local"]);
  });

  it("follows SRV records of the lowest priority to their targets' A records and ports", async () => {
    const dns = resolver({
      srv: {
        "workflow-agent.workflow.local": [
          { name: "task-1.workflow-agent.workflow.local", port: 50051, priority: 1, weight: 1 },
          { name: "task-2.workflow-agent.workflow.local.", port: 50052, priority: 1, weight: 1 },
          { name: "backup.workflow.local", port: 9999, priority: 10, weight: 1 },
        ],
      },
      a: {
        "task-1.workflow-agent.workflow.local": ["10.0.0.1"],
        "task-2.workflow-agent.workflow.local": ["10.0.0.2"],
      },
    });
    const fallback = dnsFallback({ service: "workflow-agent", namespace: "workflow.local", recordType: "SRV", resolver: dns });
    expect(await fallback.resolve()).toEqual([
      { address: "10.0.0.1", port: 50051 },
      { address: "10.0.0.2", port: 50052 },
    ]);
    expect(dns.asked).not.toContain("A backup.workflow.local");
  });

  it("serves the DNS answer from a reader when SSM fails, and reports both failure and source", async () => {
    // Prepare
    const ssm = fakeSsm();
    ssm.answer = () => {
      throw throttling();
    };
    const dns = resolver({ a: { "workflow-agent.workflow.local": ["10.0.0.9"] } });
    const reasons: string[] = [];
    const reader = createEndpointReader({
      parameterName: "/discovery/workflow-agent/endpoints",
      ssmClient: ssm.client,
      lambdaExtension: false,
      fallbacks: [dnsFallback({ service: "workflow-agent", namespace: "workflow.local", port: 7000, resolver: dns })],
    });
    reader.on("error", (e) => reasons.push(`${e.source}:${e.reason}`));

    // Act
    const endpoints = await reader.endpoints();
    reader.close();

    // Assess
    expect(endpoints).toEqual([{ address: "10.0.0.9", port: 7000 }]);
    expect(reader.status().source).toBe("dns");
    expect(reasons).toEqual(["ssm:throttled"]);
  });

  it("rejects (not an empty list) when the name does not resolve", async () => {
    const fallback = dnsFallback({ service: "gone", namespace: "workflow.local", port: 1, resolver: resolver({}) });
    await expect(fallback.resolve()).rejects.toThrow(/ENOTFOUND/);
  });
});
