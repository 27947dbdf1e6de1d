import { ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { serializeEndpointDocument, type Endpoint, type EndpointDocument } from "@discovery-sync/client";

/**
 * A real SSMClient whose requests never leave the process: a middleware at the `initialize` step answers
 * GetParameter from `answer` (no network, no timers, so it works under `vi.useFakeTimers()`), and counts calls.
 * The reader under test therefore goes through the SDK's real `send()` path.
 */
export interface FakeSsm {
  readonly client: SSMClient;
  /** GetParameter calls received. */
  calls: number;
  /** Names asked for, in order. */
  readonly names: string[];
  /** What the next GetParameter answers: a value, a thrown error, or a promise the test settles. */
  answer: () => string | Promise<string>;
}

export function fakeSsm(): FakeSsm {
  const client = new SSMClient({
    region: "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  const fake: FakeSsm = {
    client,
    calls: 0,
    names: [],
    answer: () => {
      throw new ParameterNotFound({ message: "not configured", $metadata: {} });
    },
  };
  client.middlewareStack.add(
    () => async (args) => {
      fake.calls += 1;
      const input = args.input as { Name: string };
      fake.names.push(input.Name);
      const value = await fake.answer();
      return {
        output: { Parameter: { Name: input.Name, Value: value, Version: fake.calls }, $metadata: {} },
        response: {},
      };
    },
    { step: "initialize", name: "fakeSsmAnswer" },
  );
  return fake;
}

export function documentText(revision: number, endpoints: readonly Endpoint[], service = "workflow-agent"): string {
  return serializeEndpointDocument(documentOf(revision, endpoints, service));
}

export function documentOf(revision: number, endpoints: readonly Endpoint[], service = "workflow-agent"): EndpointDocument {
  return {
    schemaVersion: 1,
    service,
    revision,
    generatedAt: "2026-11-23T12:00:00.000Z",
    endpoints,
    draining: [],
  };
}

export function throttling(): Error {
  return Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
}

export function notFound(name: string): Error {
  return new ParameterNotFound({ message: `Parameter ${name} not found.`, $metadata: {} });
}

/** A promise and the functions that settle it. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
