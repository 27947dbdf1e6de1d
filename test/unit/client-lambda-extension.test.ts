import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findFreePort } from "@discovery-sync/emulator";
import { createEndpointReader, InvalidOptionError, type EndpointReader } from "@discovery-sync/client";
import { documentText, fakeSsm, type FakeSsm } from "./client-fake-ssm.js";

const parameterName = "/discovery/workflow-agent/endpoints";
const lambdaEnv = { AWS_LAMBDA_FUNCTION_NAME: "api", AWS_SESSION_TOKEN: "session-token-1" };

/** A stand-in for the AWS Parameters and Secrets Lambda extension on 127.0.0.1. */
interface FakeExtension {
  readonly port: number;
  readonly requests: Array<{ url: string; token: string | undefined }>;
  status: number;
  value: string;
  close(): Promise<void>;
}

async function startFakeExtension(host: string): Promise<FakeExtension> {
  const requests: FakeExtension["requests"] = [];
  const state = { status: 200, value: documentText(7, [{ address: "10.0.0.7", port: 50051 }]) };
  const server: Server = createServer((request: IncomingMessage, response) => {
    const token = request.headers["x-aws-parameters-secrets-token"];
    requests.push({ url: request.url ?? "", token: Array.isArray(token) ? token[0] : token });
    const url = new URL(request.url ?? "/", "http://extension");
    if (token !== lambdaEnv.AWS_SESSION_TOKEN) {
      response.statusCode = 401;
      response.end("missing token");
      return;
    }
    response.statusCode = state.status;
    response.setHeader("content-type", "application/json");
    response.end(
      state.status === 200
        ? JSON.stringify({ Parameter: { Name: url.searchParams.get("name"), Type: "String", Value: state.value, Version: 7 } })
        : "not ready: the extension serves only during INVOKE",
    );
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(state, {
    port,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as FakeExtension;
}

let ssm: FakeSsm;
let extension: FakeExtension;
let reader: EndpointReader | undefined;

beforeEach(async () => {
  ssm = fakeSsm();
  ssm.answer = () => documentText(3, [{ address: "10.0.0.3", port: 50051 }]);
  extension = await startFakeExtension("127.0.0.1");
});

afterEach(async () => {
  reader?.close();
  reader = undefined;
  await extension.close();
});

describe("Lambda Parameters and Secrets extension", () => {
  it("reads through the extension with the session token when it is present, and not from SSM", async () => {
    // Prepare
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: lambdaEnv,
      lambdaExtension: { host: "127.0.0.1", port: extension.port },
    });

    // Act
    const endpoints = await reader.endpoints();

    // Assess
    expect(endpoints).toEqual([{ address: "10.0.0.7", port: 50051 }]);
    expect(ssm.calls).toBe(0);
    expect(extension.requests).toEqual([
      { url: `/systemsmanager/parameters/get?name=${encodeURIComponent(parameterName)}`, token: "session-token-1" },
    ]);
    expect(reader.status().source).toBe("lambda-extension");
  });

  it("finds the extension on its own inside Lambda, on the port from PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", async () => {
    // Prepare: "auto" (the default) with the Lambda environment; the default host is localhost
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: { ...lambdaEnv, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extension.port) },
    });

    // Act + Assess
    expect(await reader.endpoints()).toEqual([{ address: "10.0.0.7", port: 50051 }]);
    expect(ssm.calls).toBe(0);
  });

  it("falls back to SSM when the extension is not installed, and stops trying it", async () => {
    // Prepare: a port nothing listens on
    const closedPort = await findFreePort();
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: lambdaEnv,
      lambdaExtension: { host: "127.0.0.1", port: closedPort },
    });
    const sources: string[] = [];
    reader.on("refresh", (event) => sources.push(event.source));

    // Act
    const first = await reader.endpoints();
    await reader.refresh();

    // Assess
    expect(first).toEqual([{ address: "10.0.0.3", port: 50051 }]);
    expect(ssm.calls).toBe(2);
    expect(sources).toEqual(["ssm", "ssm"]);
  });

  it("reads SSM for one refresh when the extension answers an error (INIT phase), then tries it again", async () => {
    // Prepare
    extension.status = 400;
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: lambdaEnv,
      lambdaExtension: { host: "127.0.0.1", port: extension.port },
    });

    // Act
    const duringInit = await reader.endpoints();
    extension.status = 200;
    await reader.refresh();

    // Assess
    expect(duringInit).toEqual([{ address: "10.0.0.3", port: 50051 }]);
    expect(extension.requests).toHaveLength(2);
    expect(ssm.calls).toBe(1);
    expect(reader.current()?.revision).toBe(7);
  });

  it("does not use the extension outside Lambda unless told to", async () => {
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: { PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extension.port) },
    });
    expect(await reader.endpoints()).toEqual([{ address: "10.0.0.3", port: 50051 }]);
    expect(extension.requests).toHaveLength(0);
  });

  it("reports an invalid document served by the extension as invalid, like one from SSM", async () => {
    extension.value = "{}";
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: lambdaEnv,
      lambdaExtension: { host: "127.0.0.1", port: extension.port },
    });
    await expect(reader.endpoints()).rejects.toMatchObject({ reason: "invalid-document" });
    expect(ssm.calls).toBe(0);
  });
});

describe("the extension's host: loopback only, since each request carries AWS_SESSION_TOKEN over plain HTTP", () => {
  const create = (host: unknown) =>
    createEndpointReader({ parameterName, ssmClient: ssm.client, env: lambdaEnv, lambdaExtension: { host, port: extension.port } as never });

  it.each(["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1"])("accepts %s", (host) => {
    reader = create(host);
    reader.close();
  });

  it.each([
    ["a private address", "10.0.0.5"],
    ["a public host name", "extension.example.com"],
    ["a name that starts like localhost", "localhost.example.com"],
    ["the unspecified address", "0.0.0.0"],
    ["an IPv6 address that is not ::1", "fe80::1"],
    ["an IPv4-mapped IPv6 address", "::ffff:127.0.0.1"],
    ["an address outside 127.0.0.0/8", "128.0.0.1"],
    ["a bracketed ::1 (give it bare)", "[::1]"],
    ["a host with a port", "localhost:2773"],
  ])("refuses %s, naming the option and the value", (_case, host) => {
    let error: unknown;
    try {
      create(host);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option: "lambdaExtension.host", value: host });
    expect((error as Error).message).toContain("lambdaExtension.host");
    expect((error as Error).message).toContain(JSON.stringify(host));
    expect((error as Error).message).toMatch(/loopback host .*AWS_SESSION_TOKEN .*plain HTTP/);
  });

  it("refuses a blank host, and takes localhost when none is given", async () => {
    expect(() => create(" ")).toThrow(InvalidOptionError);
    reader = createEndpointReader({
      parameterName,
      ssmClient: ssm.client,
      env: { ...lambdaEnv, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extension.port) },
      lambdaExtension: { timeoutMs: 500 },
    });
    expect(await reader.endpoints()).toEqual([{ address: "10.0.0.7", port: 50051 }]);
  });
});
