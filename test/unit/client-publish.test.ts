import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { NamespaceNotFound, ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { describe, expect, it } from "vitest";
import { createEndpointReader, EndpointsUnavailableError, InvalidOptionError, type EndpointRefreshError } from "@discovery-sync/client";
import { cloudMapFallback } from "@discovery-sync/client/cloudmap";
import { fakeSsm } from "./client-fake-ssm.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const tsx = join(repoRoot, "node_modules/.bin/tsx");

/** Runs `source` as an ES module in a child `node` (through tsx, with the workspace's source condition). */
async function runModule(source: string): Promise<{ code: number | null; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), "client-publish-"));
  try {
    const file = join(dir, "main.mts");
    writeFileSync(file, source);
    return await new Promise((resolve, reject) => {
      const child = spawn(tsx, ["--conditions=source", file], {
        cwd: repoRoot,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", NODE_OPTIONS: "" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("an uncaught EndpointsUnavailableError", () => {
  it("prints a few lines: its message naming the AWS error, its stack and fields, no cause chain", async () => {
    // Prepare: an SSMClient whose GetParameter fails the way SSM does, with a real ParameterNotFound and its $metadata
    const client = pathToFileURL(join(repoRoot, "packages/client/src/index.ts")).href;
    const ssm = pathToFileURL(createRequire(import.meta.url).resolve("@aws-sdk/client-ssm")).href;
    const source = `
      import { ParameterNotFound, SSMClient } from ${JSON.stringify(ssm)};
      import { createEndpointReader } from ${JSON.stringify(client)};
      const ssmClient = new SSMClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
      ssmClient.middlewareStack.add(() => async () => {
        throw new ParameterNotFound({
          message: "Parameter /discovery/workflow-agent/endpoints not found.",
          $metadata: { httpStatusCode: 400, requestId: "0b9f5d3c-1111-2222-3333-444455556666", attempts: 1, totalRetryDelay: 0 },
        });
      }, { step: "initialize", name: "answerParameterNotFound" });
      const reader = createEndpointReader({ parameterName: "/discovery/workflow-agent/endpoints", ssmClient, lambdaExtension: false });
      await reader.endpoints();
    `;

    // Act
    const { code, stderr } = await runModule(source);

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain("EndpointsUnavailableError: no usable endpoints");
    expect(stderr).toContain("ParameterNotFound: Parameter /discovery/workflow-agent/endpoints not found.");
    expect(stderr).toContain("reason: 'not-found'");
    expect(stderr).not.toContain("[cause]");
    expect(stderr).not.toContain("lastError");
    expect(stderr).not.toContain("$metadata");
    // 50 lines when the refresh error and the SDK error under it were printed as its cause chain, each with a stack;
    // now Node's source line, the message, 4 frames and 4 fields.
    const lines = stderr.trimEnd().split("\n").length;
    expect(lines, stderr).toBeLessThanOrEqual(20);
  });

  it("still gives the last failure and the AWS error under it to code that asks for them", async () => {
    // Prepare
    const ssm = fakeSsm();
    const reader = createEndpointReader({ parameterName: "/discovery/a/endpoints", ssmClient: ssm.client, lambdaExtension: false });

    // Act
    const error = await reader.endpoints().catch((e: unknown) => e);
    reader.close();

    // Assess
    expect(error).toBeInstanceOf(EndpointsUnavailableError);
    const unavailable = error as EndpointsUnavailableError;
    expect(unavailable.lastError.reason).toBe("not-found");
    expect(unavailable.lastError.cause).toMatchObject({ name: "ParameterNotFound" });
    expect(unavailable.cause).toBeUndefined();
    expect(Object.keys(unavailable)).not.toContain("lastError");
    expect(unavailable.message).toContain("ParameterNotFound");
  });
});

describe("a failed fallback", () => {
  it("names the AWS error (NamespaceNotFound), as the SSM path does", async () => {
    // Prepare: SSM has no document; Cloud Map answers NamespaceNotFound
    const ssm = fakeSsm();
    const serviceDiscovery = new ServiceDiscoveryClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
    serviceDiscovery.middlewareStack.add(
      () => async () => {
        throw new NamespaceNotFound({ message: "Namespace not found", $metadata: { httpStatusCode: 400 } });
      },
      { step: "initialize", name: "answerNamespaceNotFound" },
    );
    const errors: EndpointRefreshError[] = [];
    const reader = createEndpointReader({
      parameterName: "/discovery/a/endpoints",
      ssmClient: ssm.client,
      lambdaExtension: false,
      fallbacks: [cloudMapFallback({ namespaceName: "workflow.local", serviceName: "a", client: serviceDiscovery })],
      onError: (e) => errors.push(e),
    });

    // Act
    const error = await reader.endpoints().catch((e: unknown) => e);
    reader.close();

    // Assess
    expect(error).toBeInstanceOf(EndpointsUnavailableError);
    const fallbackFailure = errors.find((e) => e.reason === "fallback-failed");
    expect(fallbackFailure?.message).toContain("NamespaceNotFound: Namespace not found");
    expect((error as Error).message).toContain("NamespaceNotFound");
  });
});

describe("an invalid lambdaExtension option", () => {
  it.each([["yes"], [1], [null], ["AUTO"]])("names the accepted values (given %j)", (value) => {
    const create = () =>
      createEndpointReader({ parameterName: "/discovery/a/endpoints", ssmClient: fakeSsm().client, lambdaExtension: value as never });
    expect(create).toThrow(InvalidOptionError);
    expect(create).toThrow(/lambdaExtension: expected "auto", true, false or \{ host, port, timeoutMs \}/);
  });
});
