import { describe, expect, it } from "vitest";
import { SSMClient } from "@aws-sdk/client-ssm";
import {
  createEndpointReader,
  DiscoveryClientError,
  dnsFallback,
  EndpointDocumentError,
  InvalidOptionError,
  parseEndpointOverride,
  roundRobinPicker,
  zoneAwarePicker,
  type EndpointReaderOptions,
} from "@discovery-sync/client";

const parameterName = "/discovery/workflow-agent/endpoints";
const noEndpoints = async (): Promise<never[]> => [];

function optionError(run: () => unknown): InvalidOptionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(DiscoveryClientError);
    return error as InvalidOptionError;
  }
  throw new Error("expected an InvalidOptionError");
}

describe("createEndpointReader option validation", () => {
  const cases: Array<[string, Record<string, unknown>, string, unknown]> = [
    ["missing parameterName", { parameterName: undefined }, "parameterName", undefined],
    ["blank parameterName", { parameterName: "  " }, "parameterName", "  "],
    ["parameterName with spaces", { parameterName: "/discovery/a b" }, "parameterName", "/discovery/a b"],
    ["refreshIntervalMs below 100", { refreshIntervalMs: 5 }, "refreshIntervalMs", 5],
    ["fractional refreshIntervalMs", { refreshIntervalMs: 1000.5 }, "refreshIntervalMs", 1000.5],
    ["refreshIntervalMs as text", { refreshIntervalMs: "30000" }, "refreshIntervalMs", "30000"],
    ["jitter of 1", { jitter: 1 }, "jitter", 1],
    ["negative jitter", { jitter: -0.1 }, "jitter", -0.1],
    ["NaN jitter", { jitter: Number.NaN }, "jitter", Number.NaN],
    ["negative maxStaleMs", { maxStaleMs: -1 }, "maxStaleMs", -1],
    ["envOverride not a variable name", { envOverride: "MY-VAR" }, "envOverride", "MY-VAR"],
    ["envOverride empty", { envOverride: "" }, "envOverride", ""],
    ["fallbacks not an array", { fallbacks: { name: "x" } }, "fallbacks", { name: "x" }],
    ["fallback without resolve", { fallbacks: [{ name: "x" }] }, "fallbacks[0]", { name: "x" }],
    ["fallback with an empty name", { fallbacks: [{ name: " ", resolve: noEndpoints }] }, "fallbacks[0]", { name: " ", resolve: noEndpoints }],
    ["backoff.initialMs zero", { backoff: { initialMs: 0 } }, "backoff.initialMs", 0],
    ["backoff.maxMs below initialMs", { backoff: { initialMs: 5000, maxMs: 10 } }, "backoff.maxMs", 10],
    ["unknown backoff key", { backoff: { initial: 5 } }, "backoff.initial", 5],
    ["ssmClient not a client", { ssmClient: {} }, "ssmClient", {}],
    ["onError not a function", { onError: "log" }, "onError", "log"],
    ["misspelt option", { refreshInterval: 1000 }, "refreshInterval", 1000],
    ["lambdaExtension port", { lambdaExtension: { port: 0 } }, "lambdaExtension.port", 0],
  ];

  it.each(cases)("rejects %s, naming the option and the value", (_case, overrides, option, value) => {
    // Act
    const error = optionError(() =>
      createEndpointReader({ parameterName, lambdaExtension: false, ...overrides } as unknown as EndpointReaderOptions),
    );

    // Assess
    expect(error.option).toBe(option);
    expect(error.value).toEqual(value);
    expect(error.message).toContain(option);
    expect(error.name).toBe("InvalidOptionError");
  });

  it.each([
    ["below the default refreshIntervalMs", { maxStaleMs: 10_000 }, 10_000, 30_000],
    ["below a given refreshIntervalMs", { refreshIntervalMs: 60_000, maxStaleMs: 59_999 }, 59_999, 60_000],
    ["of 0", { maxStaleMs: 0 }, 0, 30_000],
  ])("rejects maxStaleMs %s: reads past it would wait on GetParameter", (_case, overrides, value, interval) => {
    // Act
    const error = optionError(() => createEndpointReader({ parameterName, lambdaExtension: false, ...overrides }));

    // Assess
    expect(error.option).toBe("maxStaleMs");
    expect(error.value).toBe(value);
    expect(error.message).toContain(`must be at least refreshIntervalMs = ${interval}`);
    expect(error.message).toContain(`(given ${value})`);
  });

  it("accepts maxStaleMs equal to refreshIntervalMs, and a refreshIntervalMs above 5 minutes without maxStaleMs", () => {
    // Act + Assess: neither throws (the default maxStaleMs follows a refreshIntervalMs longer than 5 minutes)
    createEndpointReader({ parameterName, lambdaExtension: false, refreshIntervalMs: 60_000, maxStaleMs: 60_000 }).close();
    createEndpointReader({ parameterName, lambdaExtension: false, refreshIntervalMs: 3_600_000 }).close();
  });

  it("rejects a malformed override value when the reader is created, naming the variable", () => {
    const error = optionError(() =>
      createEndpointReader({ parameterName, envOverride: "WORKFLOW_SERVICE_ENDPOINTS", env: { WORKFLOW_SERVICE_ENDPOINTS: "localhost" } }),
    );
    expect(error.option).toContain("WORKFLOW_SERVICE_ENDPOINTS");
    expect(error.value).toBe("localhost");
  });

  it("accepts valid options, Infinity for maxStaleMs, and ARNs and label selectors as parameter names", () => {
    const ssmClient = new SSMClient({ region: "us-east-1" });
    for (const name of [
      parameterName,
      "workflow-agent-endpoints",
      "arn:aws:ssm:us-east-1:123456789012:parameter/discovery/workflow-agent/endpoints",
      `${parameterName}:live`,
    ]) {
      const reader = createEndpointReader({
        parameterName: name,
        ssmClient,
        refreshIntervalMs: 1_000,
        jitter: 0,
        maxStaleMs: Number.POSITIVE_INFINITY,
        envOverride: false,
        lambdaExtension: false,
        backoff: { initialMs: 100, maxMs: 1_000 },
      });
      expect(reader.parameterName).toBe(name);
      reader.close();
    }
  });

  it("refuses withDecryption, removed: documents are String parameters, never SecureString", () => {
    for (const value of [true, false]) {
      const error = optionError(() =>
        createEndpointReader({ parameterName, lambdaExtension: false, withDecryption: value } as unknown as EndpointReaderOptions),
      );
      expect(error.option).toBe("withDecryption");
      expect(error.value).toBe(value);
      expect(error.message).toMatch(/^invalid option withDecryption: removed: endpoint documents are String parameters/);
    }
  });

  it("makes the document error part of the package's error family", () => {
    const error = new EndpointDocumentError("revision", "bad");
    expect(error).toBeInstanceOf(DiscoveryClientError);
    expect(error.name).toBe("EndpointDocumentError");
  });
});

describe("parseEndpointOverride", () => {
  it("parses host:port lists with host names, IPv4 and bracketed IPv6, sorted and without duplicates", () => {
    expect(parseEndpointOverride(" workflow-agent:50051,10.0.0.5:1,[::1]:443,10.0.0.5:1 ")).toEqual([
      { address: "10.0.0.5", port: 1 },
      { address: "::1", port: 443 },
      { address: "workflow-agent", port: 50051 },
    ]);
  });

  it.each([
    ["", "expected host:port"],
    ["localhost", "has no port"],
    ["localhost:", "invalid port"],
    ["localhost:0", "outside 1-65535"],
    ["localhost:65536", "outside 1-65535"],
    ["localhost:50051,", "is empty"],
    ["::1:50051", "without brackets"],
    ["[10.0.0.1]:80", "not an IPv6"],
    ["bad_host:80", "invalid host"],
    ["-bad:80", "invalid host"],
  ])("rejects %j", (text, why) => {
    const error = optionError(() => parseEndpointOverride(text, "env X"));
    expect(error.option).toBe("env X");
    expect(error.message).toContain(why);
  });
});

describe("other option checks", () => {
  it("validates DNS fallback options", () => {
    expect(optionError(() => dnsFallback({ service: "a", namespace: "b.local", recordType: "A" })).option).toBe("port");
    expect(optionError(() => dnsFallback({ service: "a", namespace: "b.local", recordType: "SRV", port: 1 })).option).toBe("port");
    expect(optionError(() => dnsFallback({ service: "a", namespace: "b..local", port: 1 })).option).toBe("namespace");
    expect(
      optionError(() => dnsFallback({ service: "a", namespace: "b.local", recordType: "MX" as "A", port: 1 })).option,
    ).toBe("recordType");
  });

  it("validates picker options", () => {
    expect(optionError(() => zoneAwarePicker({ zone: "" })).option).toBe("zone");
    expect(optionError(() => roundRobinPicker({ start: -1 })).option).toBe("start");
  });
});
