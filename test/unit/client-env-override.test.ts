import { describe, expect, it } from "vitest";
import { createEndpointReader, InvalidOptionError } from "@discovery-sync/client";

// Both forms of the reader's envOverride option: the list variable and the reference design's HOST/PORT pair. No
// network: a reader with an active override never calls SSM, and every refusal happens when the reader is created.

const parameterName = "/discovery/workflow-agent/endpoints";
const pair = { host: "WORKFLOW_SERVICE_HOST", port: "WORKFLOW_SERVICE_PORT" } as const;

function optionError(make: () => unknown): InvalidOptionError {
  try {
    make();
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error("expected an InvalidOptionError, but nothing was thrown");
}

function readerWith(envOverride: unknown, env: Record<string, string | undefined>) {
  return createEndpointReader({
    parameterName,
    lambdaExtension: false,
    envOverride: envOverride as never,
    env,
  });
}

describe("envOverride, the design's { host, port } pair", () => {
  it.each([
    ["a host name", "workflow-agent", "50051", { address: "workflow-agent", port: 50051 }],
    ["localhost with spaces around", " localhost ", " 7000 ", { address: "localhost", port: 7000 }],
    ["an IPv4 address", "10.0.0.5", "50051", { address: "10.0.0.5", port: 50051 }],
    ["a bare IPv6 address", "::1", "50052", { address: "::1", port: 50052 }],
    ["a bracketed IPv6 address", "[::1]", "1", { address: "::1", port: 1 }],
  ])("serves %s as the only endpoint, never reading SSM", async (_, host, port, expected) => {
    // Prepare
    const reader = readerWith(pair, { WORKFLOW_SERVICE_HOST: host, WORKFLOW_SERVICE_PORT: port });

    // Act
    const endpoints = await reader.endpoints();

    // Assess
    expect(endpoints).toEqual([expected]);
    expect(reader.status()).toMatchObject({ source: "env", endpointCount: 1 });
    expect(reader.current()).toMatchObject({ service: "workflow-agent", revision: 0 });
    reader.close();
  });

  it("is off when the host variable is unset or blank, so the reader reads SSM", () => {
    for (const env of [{}, { WORKFLOW_SERVICE_HOST: "" }, { WORKFLOW_SERVICE_HOST: "  " }]) {
      const reader = readerWith(pair, env);
      expect(reader.current()).toBeUndefined();
      expect(reader.status().source).not.toBe("env");
      reader.close();
    }
  });

  it.each([
    ["port missing", { WORKFLOW_SERVICE_HOST: "localhost" }, "env WORKFLOW_SERVICE_PORT (envOverride.port)", "", /port from 1 to 65535, because WORKFLOW_SERVICE_HOST is set/],
    ["port not a number", { WORKFLOW_SERVICE_HOST: "localhost", WORKFLOW_SERVICE_PORT: "grpc" }, "env WORKFLOW_SERVICE_PORT (envOverride.port)", "grpc", /port from 1 to 65535/],
    ["port 0", { WORKFLOW_SERVICE_HOST: "localhost", WORKFLOW_SERVICE_PORT: "0" }, "env WORKFLOW_SERVICE_PORT (envOverride.port)", "0", /port from 1 to 65535/],
    ["port above 65535", { WORKFLOW_SERVICE_HOST: "localhost", WORKFLOW_SERVICE_PORT: "65536" }, "env WORKFLOW_SERVICE_PORT (envOverride.port)", "65536", /port from 1 to 65535/],
    ["host with a port", { WORKFLOW_SERVICE_HOST: "localhost:50051", WORKFLOW_SERVICE_PORT: "50051" }, "env WORKFLOW_SERVICE_HOST (envOverride.host)", "localhost:50051", /without a port/],
    ["host not a host", { WORKFLOW_SERVICE_HOST: "http://agent", WORKFLOW_SERVICE_PORT: "50051" }, "env WORKFLOW_SERVICE_HOST (envOverride.host)", "http://agent", /host name or IP address/],
    ["bracketed non-IPv6 host", { WORKFLOW_SERVICE_HOST: "[localhost]", WORKFLOW_SERVICE_PORT: "50051" }, "env WORKFLOW_SERVICE_HOST (envOverride.host)", "[localhost]", /host name or IP address/],
    ["port without host", { WORKFLOW_SERVICE_PORT: "50051" }, "env WORKFLOW_SERVICE_HOST (envOverride.host)", undefined, /because WORKFLOW_SERVICE_PORT is set \("50051"\); set both or neither/],
  ])("refuses a bad value (%s), naming the variable, the value and what is accepted", (_, env, option, value, expectation) => {
    // Act
    const error = optionError(() => readerWith(pair, env));

    // Assess
    expect(error.option).toBe(option);
    expect(error.value).toBe(value);
    expect(error.expectation).toMatch(expectation);
    expect(error.message).toContain(option);
  });

  it.each([
    ["an array", ["WORKFLOW_SERVICE_HOST"], "envOverride"],
    ["a number", 50051, "envOverride"],
    ["a host name that is no variable name", { host: "WORKFLOW-HOST", port: "WORKFLOW_SERVICE_PORT" }, "envOverride.host"],
    ["a missing port name", { host: "WORKFLOW_SERVICE_HOST" }, "envOverride.port"],
    ["the same variable twice", { host: "WORKFLOW_SERVICE_HOST", port: "WORKFLOW_SERVICE_HOST" }, "envOverride.port"],
    ["an unknown key", { host: "WORKFLOW_SERVICE_HOST", port: "WORKFLOW_SERVICE_PORT", hosts: "X" }, "envOverride.hosts"],
  ])("refuses a malformed option (%s) even when no variable is set", (_, envOverride, option) => {
    const error = optionError(() => readerWith(envOverride, {}));
    expect(error.option).toBe(option);
  });
});

describe("envOverride, the list form", () => {
  it("serves every listed endpoint, sorted and without duplicates", async () => {
    const reader = readerWith("WORKFLOW_SERVICE_ENDPOINTS", {
      WORKFLOW_SERVICE_ENDPOINTS: "localhost:50052,10.0.0.6:50051, 10.0.0.5:50051,localhost:50052",
    });
    expect(await reader.endpoints()).toEqual([
      { address: "10.0.0.5", port: 50051 },
      { address: "10.0.0.6", port: 50051 },
      { address: "localhost", port: 50052 },
    ]);
    expect(reader.status().source).toBe("env");
    reader.close();
  });

  it("ignores the pair's variables: only the variable named is read", () => {
    const reader = readerWith("WORKFLOW_SERVICE_ENDPOINTS", { WORKFLOW_SERVICE_HOST: "localhost", WORKFLOW_SERVICE_PORT: "1" });
    expect(reader.current()).toBeUndefined();
    reader.close();
  });

  it("refuses a bad value naming the variable, the value and the accepted form", () => {
    const error = optionError(() => readerWith("WORKFLOW_SERVICE_ENDPOINTS", { WORKFLOW_SERVICE_ENDPOINTS: "localhost:50051,localhost" }));
    expect(error.option).toBe("env WORKFLOW_SERVICE_ENDPOINTS (envOverride)");
    expect(error.value).toBe("localhost:50051,localhost");
    expect(error.expectation).toBe('entry "localhost" has no port; expected host:port[,host:port...]');
  });
});
