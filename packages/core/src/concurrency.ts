import pLimit from "p-limit";

/**
 * Runs one AWS request when a slot is free. Only single requests go through it, never a step that itself waits for
 * limited requests: a step holding a slot while waiting for another could starve the pool.
 */
export type RequestLimit = <T>(request: () => Promise<T>) => Promise<T>;

/** A {@link RequestLimit} that runs every request at once (for one-off calls outside a reconcile). */
export const unlimited: RequestLimit = (request) => request();

/**
 * The default bound on a reconcile's requests in flight: the SDK's socket pool per client (`maxSockets` 50 of the Node
 * HTTP handler). More would only queue inside the SDK, which then warns that its sockets are full.
 */
export const defaultMaxConcurrentRequests = 50;

/**
 * A {@link RequestLimit} with at most `maxConcurrent` requests in flight (p-limit), the rest queued in order.
 *
 * @example
 * ```ts
 * const limit = requestLimit(50);
 * await Promise.all(instanceIds.map((id) => limit(() => deregister(id))));
 * ```
 * @throws {RangeError} when `maxConcurrent` is not a positive integer.
 */
export function requestLimit(maxConcurrent: number = defaultMaxConcurrentRequests): RequestLimit {
  if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new RangeError(`maxConcurrentRequests must be a positive integer (given ${String(maxConcurrent)})`);
  }
  const limit = pLimit(maxConcurrent);
  return (request) => limit(request);
}
