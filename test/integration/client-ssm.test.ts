import { afterEach, describe, expect, it } from "vitest";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import {
  createEndpointReader,
  EndpointsUnavailableError,
  serializeEndpointDocument,
  type Endpoint,
  type EndpointDocument,
  type EndpointReader,
} from "@discovery-sync/client";
import { isolatedAccount } from "../support/aws.js";
import { requestCounter } from "@discovery-sync/emulator";

const a = { address: "10.0.0.1", port: 50051, zone: "us-east-1a", taskId: "a" };
const b = { address: "10.0.0.2", port: 50051, zone: "us-east-1b", taskId: "b" };

function doc(revision: number, endpoints: Endpoint[]): EndpointDocument {
  return { schemaVersion: 1, service: "workflow-agent", revision, generatedAt: new Date().toISOString(), endpoints, draining: [] };
}

async function publish(ssm: SSMClient, name: string, value: string): Promise<void> {
  await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "String", Overwrite: true }));
}

let readers: EndpointReader[] = [];
afterEach(() => {
  for (const reader of readers) reader.close();
  readers = [];
});

function setUp() {
  const account = isolatedAccount();
  const writer = account.client(SSMClient);
  const readerClient = account.client(SSMClient);
  const counter = requestCounter();
  readerClient.middlewareStack.use(counter.plugin);
  const parameterName = `/discovery/workflow-agent-${account.accountId}/endpoints`;
  const make = (options: Partial<Parameters<typeof createEndpointReader>[0]> = {}) => {
    const reader = createEndpointReader({ parameterName, ssmClient: readerClient, lambdaExtension: false, ...options });
    readers.push(reader);
    return reader;
  };
  return { writer, counter, parameterName, make };
}

describe("endpoint reader against the emulator's SSM", () => {
  it("sends one GetParameter for 1,000 concurrent endpoints() on a cold reader", async () => {
    // Prepare
    const { writer, counter, parameterName, make } = setUp();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [a, b])));
    const reader = make();

    // Act
    const results = await Promise.all(Array.from({ length: 1_000 }, () => reader.endpoints()));

    // Assess
    expect(counter.byCommand).toEqual({ GetParameterCommand: 1 });
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toEqual([a, b]);
  });

  it("makes no request on the hot path", async () => {
    // Prepare
    const { writer, counter, parameterName, make } = setUp();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [a])));
    const reader = make();
    await reader.endpoints();

    // Act
    for (let i = 0; i < 10_000; i++) await reader.endpoints();

    // Assess
    expect(counter.total()).toBe(1);
  });

  it("follows newer revisions, ignores a lower one, and keeps the last good list over an invalid value", async () => {
    // Prepare
    const { writer, parameterName, make } = setUp();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [a])));
    const reader = make();
    const seen: number[] = [];
    const reasons: string[] = [];
    reader.subscribe((d) => seen.push(d.revision));
    reader.on("error", (e) => reasons.push(e.reason));
    await reader.endpoints();

    // Act
    await publish(writer, parameterName, serializeEndpointDocument(doc(2, [a, b])));
    await reader.refresh();
    await publish(writer, parameterName, serializeEndpointDocument(doc(1, [b])));
    await reader.refresh();
    await publish(writer, parameterName, '{"schemaVersion":1,"service":"workflow-agent"');
    await reader.refresh();

    // Assess
    expect(seen).toEqual([1, 2]);
    expect(reader.current()?.revision).toBe(2);
    expect(await reader.endpoints()).toEqual([a, b]);
    expect(reasons).toEqual(["invalid-document"]);
  });

  it("rejects with a typed not-found error when the parameter does not exist", async () => {
    // Prepare
    const { make, parameterName } = setUp();
    const reader = make();

    // Act
    const error = await reader.endpoints().catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointsUnavailableError);
    expect(error).toMatchObject({ parameterName, reason: "not-found", lastGoodAt: undefined });
  });
});
