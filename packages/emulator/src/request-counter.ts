import type { Pluggable } from "@smithy/types";

/**
 * Counts the requests an SDK v3 client really sends, by command name. It sits in the `finalizeRequest` step, after
 * serialisation and signing, just before the HTTP handler: a call answered from a cache never reaches it, and each
 * SDK retry attempt passes it once. Used by the integration tests and by `npm run bench`.
 *
 * @example
 * ```ts
 * const counter = requestCounter();
 * const ssm = new SSMClient({});
 * ssm.middlewareStack.use(counter.plugin);
 * // ... calls ...
 * console.log(counter.count("GetParameterCommand"));
 * ```
 */
export interface RequestCounter {
  readonly plugin: Pluggable<any, any>;
  /** Requests sent per command name, for example `{ GetParameterCommand: 1 }`. */
  readonly byCommand: Record<string, number>;
  count(commandName: string): number;
  total(): number;
}

/**
 * A new {@link RequestCounter}; add its `plugin` to a client with `client.middlewareStack.use(counter.plugin)`.
 *
 * @example
 * ```ts
 * const counter = requestCounter();
 * client.middlewareStack.use(counter.plugin);
 * ```
 */
export function requestCounter(): RequestCounter {
  const byCommand: Record<string, number> = {};
  return {
    byCommand,
    plugin: {
      applyToStack(stack) {
        stack.add(
          (next, context) => async (args) => {
            const name = String((context as { commandName?: string }).commandName ?? "unknown");
            byCommand[name] = (byCommand[name] ?? 0) + 1;
            return next(args);
          },
          { step: "finalizeRequest", name: "discoverySyncRequestCounter", priority: "low" },
        );
      },
    },
    count: (commandName) => byCommand[commandName] ?? 0,
    total: () => Object.values(byCommand).reduce((sum, n) => sum + n, 0),
  };
}
