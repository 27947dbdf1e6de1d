import { AsyncLocalStorage } from "node:async_hooks";
import type { FinalizeRequestMiddleware, InitializeMiddleware, Pluggable } from "@smithy/types";
import { DiscoverySyncError } from "../errors.js";

/**
 * An AWS call given up because the invocation's deadline came: the SDK's retries (adaptive, 6 attempts, backoff up
 * to 20 s each) can outlast a Lambda timeout under heavy throttling. A timed-out invocation fails its whole batch
 * and the messages come back only after the queue's visibility timeout (6 x the function timeout); giving up just
 * before the deadline lets the handler answer, so the failed messages come back within seconds. Retryable: the
 * next receive starts with a fresh budget.
 */
export class InvocationDeadlineError extends DiscoverySyncError {
  public override readonly name = "InvocationDeadlineError";
  public readonly retryable = true;
  public constructor(
    public readonly operation: string,
    public readonly attempts: number,
    deadline: Date,
  ) {
    super(
      `${operation} given up after ${attempts} attempt${attempts === 1 ? "" : "s"}: the invocation's deadline ` +
        `(${deadline.toISOString()}, kept clear of the Lambda timeout so the handler can still answer) came first`,
      { operation, attempts, deadline: deadline.toISOString() },
    );
  }
}

interface DeadlineScope {
  readonly deadlineMs: number;
}

const deadlineScope = new AsyncLocalStorage<DeadlineScope>();

/**
 * Runs `work` with every AWS call made through {@link createAwsClients}' clients bounded by `deadlineMs` (epoch ms):
 * no attempt starts after it, and a call still retrying then rejects with {@link InvocationDeadlineError}. Calls
 * outside any scope are unbounded. Scopes follow the async call chain, so concurrent reconciles sharing the clients
 * each keep their own.
 *
 * @example
 * ```ts
 * const deadlineMs = Date.now() + context.getRemainingTimeInMillis() - 3_000;
 * const result = await withInvocationDeadline(deadlineMs, () => reconcileService(service, triggers, deps));
 * ```
 */
export function withInvocationDeadline<T>(deadlineMs: number, work: () => Promise<T>): Promise<T> {
  return deadlineScope.run({ deadlineMs }, work);
}

/**
 * The deadline for an invocation with `remainingMs` left: `reserveMs` before its end (at most a quarter of what is
 * left, so a nearly spent invocation still tries), the time the handler needs to answer and delay its retries.
 */
export function invocationDeadlineMs(nowMs: number, remainingMs: number, reserveMs = 3_000): number {
  return nowMs + remainingMs - Math.min(reserveMs, Math.max(0, remainingMs) / 4);
}

function operationOf(context: unknown): string {
  const { clientName, commandName } = (context ?? {}) as { clientName?: unknown; commandName?: unknown };
  const client = typeof clientName === "string" ? clientName.replace(/Client$/, "") : "AWS";
  return `${client}.${typeof commandName === "string" ? commandName.replace(/Command$/, "") : "call"}`;
}

/**
 * SDK plugin enforcing the scope's deadline: one middleware around the whole call (retries included) rejects it when
 * the deadline comes, and one around each attempt (below the retry middleware) refuses to start an attempt after it,
 * so a call already given up does not keep retrying in the background.
 */
export const invocationDeadlinePlugin: Pluggable<any, any> = {
  applyToStack(stack) {
    const attemptsByCall = new WeakMap<object, number>();
    const wholeCall: InitializeMiddleware<any, any> = (next, context) => async (args) => {
      const scope = deadlineScope.getStore();
      if (scope === undefined) return next(args);
      const deadline = new Date(scope.deadlineMs);
      attemptsByCall.set(context, 0);
      if (Date.now() >= scope.deadlineMs) throw new InvocationDeadlineError(operationOf(context), 0, deadline);
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new InvocationDeadlineError(operationOf(context), attemptsByCall.get(context) ?? 0, deadline)),
          scope.deadlineMs - Date.now(),
        );
      });
      try {
        return await Promise.race([next(args), expired]);
      } finally {
        clearTimeout(timer);
      }
    };
    const eachAttempt: FinalizeRequestMiddleware<any, any> = (next, context) => async (args) => {
      const scope = deadlineScope.getStore();
      if (scope !== undefined) {
        const attempts = attemptsByCall.get(context) ?? 0;
        if (Date.now() >= scope.deadlineMs) throw new InvocationDeadlineError(operationOf(context), attempts, new Date(scope.deadlineMs));
        attemptsByCall.set(context, attempts + 1);
      }
      return next(args);
    };
    stack.add(wholeCall, { step: "initialize", priority: "high", name: "discoverySyncDeadline", override: true });
    stack.add(eachAttempt, { step: "finalizeRequest", priority: "low", name: "discoverySyncDeadlineAttempt", override: true });
  },
};
