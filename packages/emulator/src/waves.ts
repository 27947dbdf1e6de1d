import type { Pluggable } from "@smithy/types";

/** One request seen by a {@link WaveCounter}: its operation and when it was in flight. */
export interface TimedRequest {
  /** The operation, the command name without its `Command` suffix: `GetParameter`, `DescribeTasks`. */
  readonly operation: string;
  /** Clock reading when the request was handed to the HTTP handler (milliseconds, from the counter's clock). */
  readonly startedAt: number;
  /** Clock reading when its response or error came back; `undefined` while it is still in flight. */
  readonly endedAt: number | undefined;
  /** The serial wave the request belongs to, from 1 within its measurement window. */
  readonly wave: number;
  /** The command's input as sent (for example `{ Name, Value }` of a PutParameter), when known. */
  readonly input: Readonly<Record<string, unknown>> | undefined;
}

/** What a {@link WaveCounter} saw between `start()` and `stop()`. */
export interface WaveMeasurement {
  /** Every request started in the window, in the order they started. */
  readonly requests: readonly TimedRequest[];
  /** Requests per operation, for example `{ ListTasks: 2, DescribeTasks: 1 }`. */
  readonly callsByOperation: Readonly<Record<string, number>>;
  /** Number of requests started in the window. */
  readonly calls: number;
  /** Number of serial waves: maximal runs of requests with no moment in between when nothing was in flight. */
  readonly waves: number;
  /** Milliseconds from the first request's start to the last one's end (0 when there was none). */
  readonly spanMs: number;
}

/**
 * Counts the **serial waves** of requests that AWS SDK v3 clients send: a wave is a maximal run of requests with no
 * gap in which nothing is in flight. Three requests sent together make one wave; three sent one after the other
 * (each awaiting the previous) make three. The number of waves, times the emulator's or AWS's round trip, is the
 * floor of how long the work can take however fast the code between the calls is.
 *
 * The middleware sits in the `finalizeRequest` step with low priority, after the retry middleware and signing, just
 * before the HTTP handler: each retry attempt is one request, and a call answered without reaching the network
 * (a cache) is none. Membership in a wave is decided from the order of start and end events, not from timestamps,
 * so a coarse or equal clock reading cannot merge two sequential requests into one wave.
 *
 * One counter may be attached to several clients (ECS, Cloud Map, ELB, SSM, SQS): their requests share the waves.
 *
 * @example
 * ```ts
 * const counter = waveCounter();
 * ssm.middlewareStack.use(counter.plugin);
 * ecs.middlewareStack.use(counter.plugin);
 * counter.start();
 * await reconcileHandler(event);
 * const measurement = counter.stop();
 * console.log(measurement.waves, measurement.callsByOperation); // 3 { ListTasks: 2, ... }
 * ```
 */
export interface WaveCounter {
  /** Add to a client with `client.middlewareStack.use(counter.plugin)`. */
  readonly plugin: Pluggable<any, any>;
  /** Opens a measurement window: forgets what an earlier window saw; requests started from now on are recorded. */
  start(): void;
  /** Closes the window and returns what it saw. Requests still in flight count as calls, with no `endedAt`. */
  stop(): WaveMeasurement;
  /** What the open (or last closed) window has seen so far. */
  measurement(): WaveMeasurement;
  /** Requests per operation in the current or last window. */
  callsByOperation(): Readonly<Record<string, number>>;
  /** Serial waves in the current or last window. */
  waves(): number;
  /**
   * Records `send` as one request of `operation`, as the middleware does for an SDK call. For work that does not
   * go through an SDK client (an HTTP read of the Lambda extension) and for tests with fake requests.
   */
  track<T>(operation: string, send: () => Promise<T>, input?: Readonly<Record<string, unknown>>): Promise<T>;
}

/** Options of {@link waveCounter}. */
export interface WaveCounterOptions {
  /** Clock for `startedAt`/`endedAt`, in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
}

interface MutableRequest {
  operation: string;
  startedAt: number;
  endedAt: number | undefined;
  wave: number;
  input: Readonly<Record<string, unknown>> | undefined;
}

/**
 * A new {@link WaveCounter}.
 *
 * @example
 * ```ts
 * const counter = waveCounter();
 * client.middlewareStack.use(counter.plugin);
 * counter.start();
 * await Promise.all([client.send(a), client.send(b)]);
 * await client.send(c);
 * counter.stop().waves; // 2
 * ```
 */
export function waveCounter(options: WaveCounterOptions = {}): WaveCounter {
  const now = options.now ?? (() => performance.now());
  let recording = false;
  let requests: MutableRequest[] = [];
  // In flight among the requests of the current window only: a request left over from before `start()` must not
  // glue the window's first request to a wave that belongs to the previous measurement.
  let inFlight = 0;
  let wave = 0;

  async function track<T>(operation: string, send: () => Promise<T>, input?: Readonly<Record<string, unknown>>): Promise<T> {
    if (!recording) return send();
    if (inFlight === 0) wave += 1;
    inFlight += 1;
    const request: MutableRequest = { operation, startedAt: now(), endedAt: undefined, wave, input };
    const window = requests;
    window.push(request);
    try {
      return await send();
    } finally {
      request.endedAt = now();
      // A request that outlives its window (stop, then start again) must not change the new window's count.
      if (window === requests) inFlight -= 1;
    }
  }

  function measurement(): WaveMeasurement {
    const snapshot = requests.map((request) => ({ ...request }));
    const callsByOperation: Record<string, number> = {};
    for (const request of snapshot) callsByOperation[request.operation] = (callsByOperation[request.operation] ?? 0) + 1;
    const first = snapshot[0]?.startedAt;
    const lastEnd = snapshot.reduce((latest, request) => Math.max(latest, request.endedAt ?? request.startedAt), -Infinity);
    return {
      requests: snapshot,
      callsByOperation,
      calls: snapshot.length,
      waves: wave,
      spanMs: first === undefined ? 0 : lastEnd - first,
    };
  }

  return {
    plugin: {
      applyToStack(stack) {
        stack.add(
          (next, context) => (args) =>
            track(
              operationName((context as { commandName?: unknown }).commandName),
              () => next(args),
              args.input as Readonly<Record<string, unknown>> | undefined,
            ),
          // Low priority in finalizeRequest: after retries and signing, so every attempt is one request.
          { step: "finalizeRequest", name: "discoverySyncWaveCounter", priority: "low" },
        );
      },
    },
    start() {
      requests = [];
      inFlight = 0;
      wave = 0;
      recording = true;
    },
    stop() {
      recording = false;
      return measurement();
    },
    measurement,
    callsByOperation: () => measurement().callsByOperation,
    waves: () => wave,
    track,
  };
}

/**
 * Serial waves of requests given as time intervals: sorted by start, a request that starts at or after the end of
 * every earlier one (nothing in flight) opens a new wave. `end` may be `Infinity` for a request still in flight.
 *
 * @example
 * ```ts
 * countWaves([{ start: 0, end: 5 }, { start: 1, end: 4 }, { start: 5, end: 9 }]); // 2
 * ```
 */
export function countWaves(intervals: readonly { readonly start: number; readonly end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let waves = 0;
  let busyUntil = -Infinity;
  for (const { start, end } of sorted) {
    if (start >= busyUntil) waves += 1;
    busyUntil = Math.max(busyUntil, end);
  }
  return waves;
}

function operationName(commandName: unknown): string {
  const name = typeof commandName === "string" && commandName !== "" ? commandName : "unknown";
  return name.endsWith("Command") ? name.slice(0, -"Command".length) : name;
}
