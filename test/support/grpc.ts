import type * as grpc from "@grpc/grpc-js";

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
