import * as grpc from "@grpc/grpc-js";

/**
 * A gRPC service of one unary method whose messages are JSON (no .proto to compile), for tests that stand real
 * grpc-js servers in for tasks. The method is `/discoverysync.test.<service>/<Method>`.
 *
 * @example
 * ```ts
 * const whoAmIService = jsonUnaryService<{ server?: string }>("WhoAmI", "whoAmI");
 * const WhoAmIClient = grpc.makeGenericClientConstructor(whoAmIService, "WhoAmI");
 * ```
 */
export function jsonUnaryService<Message extends object>(service: string, method: string): grpc.ServiceDefinition {
  const serialize = (value: Message): Buffer => Buffer.from(JSON.stringify(value));
  const deserialize = (bytes: Buffer): Message => JSON.parse(bytes.toString("utf8")) as Message;
  return {
    [method]: {
      path: `/discoverysync.test.${service}/${method.charAt(0).toUpperCase()}${method.slice(1)}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: serialize,
      requestDeserialize: deserialize,
      responseSerialize: serialize,
      responseDeserialize: deserialize,
      originalName: method,
    },
  };
}

/** Binds `server` to a free port on 127.0.0.1 (tests never listen beyond loopback); returns the port. */
export function listenOnLoopback(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
}

/** Calls the `whoAmI` method of a {@link jsonUnaryService} client with a 5 s deadline; resolves to its reply. */
export function callWhoAmI(client: grpc.Client): Promise<Record<string, string | undefined>> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Function>).whoAmI!(
      {},
      { deadline: Date.now() + 5_000 },
      (error: grpc.ServiceError | null, reply: Record<string, string | undefined>) => (error === null ? resolve(reply) : reject(error)),
    );
  });
}

/** The `server` a `whoAmI` call was answered by. */
export async function whoAmI(client: grpc.Client): Promise<string> {
  return (await callWhoAmI(client)).server!;
}

/** Calls made by {@link callContinuously}. */
export interface CallLoad {
  succeeded: number;
  readonly failures: grpc.ServiceError[];
  /** Resolves when every worker has stopped, after `stop()`. */
  readonly done: Promise<void>;
  stop(): void;
}

/** `workers` loops calling `whoAmI` back to back until stopped, counting successes and keeping every failure. */
export function callContinuously(client: grpc.Client, workers: number): CallLoad {
  let stopped = false;
  const load = {
    succeeded: 0,
    failures: [] as grpc.ServiceError[],
    stop: () => {
      stopped = true;
    },
  };
  const worker = async () => {
    while (!stopped) {
      try {
        await callWhoAmI(client);
        load.succeeded += 1;
      } catch (error) {
        load.failures.push(error as grpc.ServiceError);
      }
    }
  };
  return Object.assign(load, { done: Promise.all(Array.from({ length: workers }, worker)).then(() => undefined) });
}

/** Polls `condition` every `intervalMs` until it holds; fails after `timeoutMs` saying what it waited for. */
export async function until(condition: () => boolean, what: string, timeoutMs = 20_000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
