/**
 * A fault-injecting HTTP proxy in front of the local AWS emulator (moto has no throttling, no 5xx, no latency and a
 * DescribeTasks that is never stale): the SDK clients under test point at the proxy, which forwards every request
 * to the emulator unless a seeded, switchable policy injects, per request:
 *
 * - **throttling**, in each protocol's own shape, so the SDK classifies it as AWS's: JSON protocols (ECS, SSM,
 *   Cloud Map: JSON 1.1; SQS: JSON 1.0) HTTP 400 `{"__type":"ThrottlingException","message":"Rate exceeded"}`; the
 *   query protocol (ELBv2, and SQS clients that still speak it) HTTP 400
 *   `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>...`;
 * - **server errors**: HTTP 500 `InternalFailure` or 503 `ServiceUnavailable`, in the same shapes;
 * - **connection resets** (the socket destroyed without an answer);
 * - **delays** before the request is forwarded;
 * - **lagging DescribeTasks answers**: ECS's reads are eventually consistent, so the proxy keeps, per task ARN, the
 *   states the emulator returned, and answers an older one with the configured probability.
 *
 * Server errors and resets can strike `before` the emulator sees the request (nothing done) or `after` it answered
 * (done, the answer lost), which is when retries meet their idempotency.
 *
 * The SQS client sends to the host of the queue URL, not to its endpoint: give the code under test queue URLs
 * rewritten with {@link FaultProxy.proxied}. Requests keep their `Host` header, so URLs the emulator builds from it
 * (CreateQueue, GetQueueUrl) name the proxy too. Loopback only.
 *
 * @packageDocumentation
 */
import { randomUUID } from "node:crypto";
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { EmulatorError } from "./errors.js";
import type { TaskOverlay } from "./world.js";

// ---------------------------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------------------------

/** What a rule injects. */
export type FaultKind =
  /** HTTP 400 ThrottlingException (JSON) / Throttling (query). */
  | "throttling"
  /** HTTP 500 InternalFailure. */
  | "internal-error"
  /** HTTP 503 ServiceUnavailable. */
  | "service-unavailable"
  /** The client's socket destroyed without an answer (the SDK sees ECONNRESET / "socket hang up"). */
  | "connection-reset"
  /** The request held back for a while, then forwarded. */
  | "delay"
  /** ECS DescribeTasks: some tasks answered with a state the emulator returned earlier. */
  | "lagging-read";

/** The wire protocol of a request, as the proxy recognised it. */
export type AwsProtocol = "json" | "query" | "rest" | "moto-api";

/**
 * One fault policy. A request matches when its service and operation are listed (or the lists are left out); a
 * matching request gets the fault with probability `rate`. Rules are tried in order: every matching `delay` rule
 * that fires adds its delay, the first other rule that fires decides the fault.
 */
export interface FaultRule {
  /** Name in counts and logs. @default the kind */
  readonly name?: string;
  readonly kind: FaultKind;
  /** Probability, 0 to 1, that a matching request gets the fault. */
  readonly rate: number;
  /**
   * SigV4 signing names of the services targeted: `ecs`, `ssm`, `servicediscovery`, `elasticloadbalancing`, `sqs`,
   * `events`, ... A `lagging-read` rule only ever applies to `ecs` DescribeTasks. @default every service
   */
  readonly services?: readonly string[];
  /** API operation names targeted (`DescribeTasks`, `PutParameter`, `RegisterTargets`). @default every operation */
  readonly operations?: readonly string[];
  /** Emulator accounts targeted (their `x-moto-account-id`), so worlds side by side can have faults of their own. @default every account */
  readonly accounts?: readonly string[];
  /** Operations never targeted (for example one the emulator cannot retry safely). @default none */
  readonly exceptOperations?: readonly string[];
  /**
   * Server errors and connection resets: `before` the emulator sees the request (nothing was done), `after` it
   * answered (done, but the client never learns it), or `either` (half and half, by the seeded draw).
   * Throttling is always `before`. @default "before"
   */
  readonly phase?: "before" | "after" | "either";
  /** `delay`: the delay in ms, drawn uniformly from [min, max]. @default [50, 250] */
  readonly delayMs?: readonly [number, number];
  /**
   * `lagging-read`: how far back an answer may go: at most `maxSteps` distinct recorded states back, and only states
   * still current `maxAgeMs` ago or later. @default { maxSteps: 3, maxAgeMs: 30 000 }
   */
  readonly lag?: { readonly maxSteps?: number; readonly maxAgeMs?: number };
  /** Injects at most this many times. @default no limit */
  readonly limit?: number;
}

/** A rule added to the proxy: switch it off (the faults end) and on again. */
export interface FaultRuleHandle {
  readonly rule: FaultRule;
  readonly name: string;
  /** Faults injected by this rule so far. */
  readonly injected: number;
  readonly enabled: boolean;
  enable(): void;
  disable(): void;
}

/** One fault the proxy injected. */
export interface InjectedFault {
  /** Request sequence number (1 for the proxy's first request). */
  readonly seq: number;
  /** `performance.now()` when the request arrived. */
  readonly at: number;
  readonly rule: string;
  readonly kind: FaultKind;
  readonly service: string;
  readonly operation: string;
  /** Server errors and resets: whether the emulator had done the request. */
  readonly phase?: "before" | "after";
  /** HTTP status sent (errors). */
  readonly status?: number;
  /** `delay`: ms waited. */
  readonly delayMs?: number;
  /** `lagging-read`: the task answered with an older state, and how many states back. */
  readonly taskArn?: string;
  readonly stepsBack?: number;
}

/** One request through the proxy, reported to {@link FaultProxy.onExchange} listeners when it ends. */
export interface ProxyExchange {
  readonly seq: number;
  readonly service: string;
  readonly operation: string;
  readonly protocol: AwsProtocol;
  /** The emulator account (`x-moto-account-id`), when the request named one. */
  readonly account: string | undefined;
  /** `performance.now()` when the request arrived at the proxy and when its answer was sent (or the socket destroyed). */
  readonly receivedAt: number;
  readonly finishedAt: number;
  /** The request body as text. */
  readonly requestBody: string;
  /** The emulator's HTTP status when the request reached it; undefined when a fault struck before. */
  readonly upstreamStatus: number | undefined;
  /** What the client got: an HTTP status, or "reset". */
  readonly clientStatus: number | "reset";
  /** The faults injected into this request (delays, lagging reads, and at most one error or reset). */
  readonly faults: readonly InjectedFault[];
}

/** Counts of what the proxy saw and injected. */
export interface FaultStats {
  /** Requests received (moto-api ones included). */
  readonly requests: number;
  /** Requests received per `service.Operation`. */
  readonly byOperation: Readonly<Record<string, number>>;
  /** Faults injected per kind. */
  readonly injected: Readonly<Record<FaultKind, number>>;
  /** Faults injected per `service.Operation`, then per kind. */
  readonly injectedByOperation: Readonly<Record<string, Readonly<Partial<Record<FaultKind, number>>>>>;
  /** Faults injected per rule name. */
  readonly injectedByRule: Readonly<Record<string, number>>;
  readonly injectedTotal: number;
}

/** What {@link FaultProxyOptions.transform} is given: a successful JSON answer of a JSON-protocol request. */
export interface JsonExchange {
  readonly service: string;
  readonly operation: string;
  readonly account: string | undefined;
  /** The parsed request body. */
  readonly request: Record<string, unknown>;
  /** The parsed answer (change it in place, or return a replacement). */
  readonly response: Record<string, unknown>;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** The emulator's base URL, for example `http://127.0.0.1:41234`. */
  readonly upstream: string;
  /**
   * Seed of every fault decision. A rule's decision for a request is drawn from the seed, the rule, the operation and
   * how many requests of that operation the rule saw before (a lagging read's, from the task's order of first
   * appearance and its count of reads): the same seed replays the same faults as far as the requests come in the same
   * order (concurrent requests of one operation may not). @default a random one (read it back from `seed`)
   */
  readonly seed?: number;
  /** Rules in force from the start. @default none: a transparent proxy */
  readonly rules?: readonly FaultRule[];
  /** Loopback port to listen on. @default a free port chosen by the OS */
  readonly port?: number;
  /**
   * Rewrites successful JSON answers before anything else sees them (before the DescribeTasks history records them):
   * the place to add what the emulator lacks, server-side, so that a lagging answer carries the older state whole.
   * @default none
   */
  readonly transform?: (exchange: JsonExchange) => Record<string, unknown> | void;
  /** States kept per task ARN for lagging reads. @default 20 */
  readonly historyLimit?: number;
}

/** A running fault proxy; see {@link startFaultProxy}. */
export interface FaultProxy {
  /** The proxy's base URL (`http://127.0.0.1:<port>`): the SDK clients' `endpoint`. */
  readonly endpoint: string;
  readonly upstream: string;
  /** The seed of the decisions in force. */
  readonly seed: number;
  /** Adds a rule after those already there. */
  addRule(rule: FaultRule): FaultRuleHandle;
  /** Replaces every rule. */
  setRules(rules: readonly FaultRule[]): FaultRuleHandle[];
  /** The rules in force, in order. */
  rules(): readonly FaultRuleHandle[];
  /** Removes every rule: the faults end (counts, log and DescribeTasks history stay). */
  stopFaults(): void;
  /** Sets the seed and restarts the per-operation request counters the decisions are drawn from. */
  reseed(seed: number): void;
  /** Clears counts, the injection log and the DescribeTasks history (rules and seed stay). */
  reset(): void;
  stats(): FaultStats;
  /** Every fault injected since the last reset, in order. */
  injections(): readonly InjectedFault[];
  /** Calls `listener` with every request once it ended; returns the function that removes it. */
  onExchange(listener: (exchange: ProxyExchange) => void): () => void;
  /** `url` with the emulator's origin replaced by the proxy's (for SQS queue URLs); other URLs unchanged. */
  proxied(url: string): string;
  /** Stops listening and closes every connection. Safe to call twice. */
  close(): Promise<void>;
}

/** Header that exempts one request from every fault (it is still forwarded, recorded and counted). */
export const faultProxyBypassHeader = "x-fault-proxy-bypass";

/** A fault proxy could not be started, or was misconfigured. */
export class FaultProxyError extends EmulatorError {
  public override readonly name = "FaultProxyError";
}

// ---------------------------------------------------------------------------------------------------------------
// Request classification and error shapes
// ---------------------------------------------------------------------------------------------------------------

/** Service, operation and protocol of one request. */
interface Classified {
  readonly service: string;
  readonly operation: string;
  readonly protocol: AwsProtocol;
  readonly jsonVersion: string | undefined;
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The SigV4 signing name from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/SERVICE/aws4_request`. */
function signingName(headers: IncomingHttpHeaders): string | undefined {
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(header(headers, "authorization") ?? "")?.[1];
}

// JSON services by their x-amz-target prefix, for requests without a signature.
const targetPrefixes: Readonly<Record<string, string>> = {
  AmazonEC2ContainerServiceV20141113: "ecs",
  AmazonSSM: "ssm",
  Route53AutoNaming_v20170314: "servicediscovery",
  AmazonSQS: "sqs",
  AWSEvents: "events",
};

function classify(path: string, headers: IncomingHttpHeaders, body: string): Classified {
  if (path.startsWith("/moto-api")) return { service: "moto-api", operation: path, protocol: "moto-api", jsonVersion: undefined };
  const target = header(headers, "x-amz-target");
  const contentType = header(headers, "content-type") ?? "";
  if (target !== undefined) {
    const dot = target.lastIndexOf(".");
    const prefix = target.slice(0, dot);
    return {
      service: signingName(headers) ?? targetPrefixes[prefix] ?? prefix,
      operation: target.slice(dot + 1),
      protocol: "json",
      jsonVersion: /application\/x-amz-json-(1\.[01])/.exec(contentType)?.[1] ?? "1.1",
    };
  }
  if (contentType.startsWith("application/x-www-form-urlencoded")) {
    const action = new URLSearchParams(body).get("Action");
    if (action !== null) return { service: signingName(headers) ?? "unknown", operation: action, protocol: "query", jsonVersion: undefined };
  }
  return { service: signingName(headers) ?? "unknown", operation: `${path.split("?")[0]}`, protocol: "rest", jsonVersion: undefined };
}

interface ErrorShape {
  readonly status: number;
  readonly code: { readonly json: string; readonly query: string };
  readonly type: "Sender" | "Receiver";
  readonly message: string;
}

const errorShapes: Readonly<Record<"throttling" | "internal-error" | "service-unavailable", ErrorShape>> = {
  throttling: { status: 400, code: { json: "ThrottlingException", query: "Throttling" }, type: "Sender", message: "Rate exceeded" },
  "internal-error": {
    status: 500,
    code: { json: "InternalFailure", query: "InternalFailure" },
    type: "Receiver",
    message: "We encountered an internal error. Please try again.",
  },
  "service-unavailable": {
    status: 503,
    code: { json: "ServiceUnavailable", query: "ServiceUnavailable" },
    type: "Receiver",
    message: "Service is unavailable. Please try again later.",
  },
};

const xmlEscape = (text: string): string => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The error answer AWS gives in the request's protocol. */
function errorAnswer(shape: ErrorShape, request: Classified): { status: number; headers: Record<string, string>; body: string } {
  const requestId = randomUUID();
  if (request.protocol === "query") {
    const body =
      `<ErrorResponse><Error><Type>${shape.type}</Type><Code>${shape.code.query}</Code>` +
      `<Message>${xmlEscape(shape.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
    return { status: shape.status, headers: { "content-type": "text/xml", "x-amzn-requestid": requestId }, body };
  }
  const headers: Record<string, string> = { "x-amzn-requestid": requestId };
  if (request.protocol === "json") {
    headers["content-type"] = `application/x-amz-json-${request.jsonVersion ?? "1.1"}`;
    // SQS's JSON protocol is query-compatible: the SDK takes the code from this header when it is there.
    if (request.service === "sqs") headers["x-amzn-query-error"] = `${shape.code.json};${shape.type}`;
  } else {
    headers["content-type"] = "application/json";
    headers["x-amzn-errortype"] = shape.code.json;
  }
  return { status: shape.status, headers, body: JSON.stringify({ __type: shape.code.json, message: shape.message }) };
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded decisions
// ---------------------------------------------------------------------------------------------------------------

/** A 32-bit hash of the seed, a key and a counter, as a number in [0, 1). */
function draw(seed: number, key: string, n: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  const mix = (value: number) => {
    h = Math.imul(h ^ value, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  };
  for (let i = 0; i < key.length; i++) mix(key.charCodeAt(i));
  mix(n >>> 0);
  mix(Math.floor(n / 2 ** 32));
  return h / 2 ** 32;
}

function checkRule(rule: FaultRule): void {
  const name = rule.name ?? rule.kind;
  if (!(rule.rate >= 0 && rule.rate <= 1)) throw new FaultProxyError(`rule ${name}: rate must be from 0 to 1 (given ${String(rule.rate)})`);
  const [min, max] = rule.delayMs ?? [50, 250];
  if (!(min >= 0 && max >= min)) {
    throw new FaultProxyError(`rule ${name}: delayMs must be [min, max] with 0 <= min <= max (given [${min}, ${max}])`);
  }
  if (rule.kind === "throttling" && rule.phase !== undefined && rule.phase !== "before") {
    throw new FaultProxyError(`rule ${name}: throttling is always answered before the request is done (phase "before")`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------------------------------------------

interface RuleState {
  readonly rule: FaultRule;
  readonly name: string;
  readonly index: number;
  enabled: boolean;
  injected: number;
  /** Requests seen per `service.Operation` (the counter of the seeded draws). */
  readonly counters: Map<string, number>;
}

/** One recorded DescribeTasks state of a task: its JSON and when it was first answered. */
interface TaskState {
  readonly json: string;
  readonly at: number;
}

const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade", "te", "trailer"]);

/**
 * Starts a fault proxy on a free loopback port in front of `upstream`.
 *
 * @example
 * ```ts
 * const proxy = await startFaultProxy({ upstream: emulator.endpoint, seed: 42 });
 * proxy.addRule({ kind: "throttling", rate: 0.2, services: ["ssm"], operations: ["PutParameter"] });
 * proxy.addRule({ kind: "lagging-read", rate: 0.3, lag: { maxSteps: 2 } });
 * const clients = createAwsClients({ clientConfig: { endpoint: proxy.endpoint, region, credentials } });
 * const queueUrl = proxy.proxied(world.reconcileQueueUrl!);
 * // ... run ...
 * proxy.stopFaults();
 * console.log(proxy.stats().injected); // { throttling: 7, "lagging-read": 3, ... }
 * await proxy.close();
 * ```
 * @throws {FaultProxyError} when a rule is invalid or the port cannot be bound.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== "http:") throw new FaultProxyError(`upstream must be an http:// URL (given ${options.upstream})`);
  const historyLimit = options.historyLimit ?? 20;
  let seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  let rules: RuleState[] = [];
  let seq = 0;
  let requests = 0;
  let byOperation: Record<string, number> = {};
  let injectionLog: InjectedFault[] = [];
  let history = new Map<string, TaskState[]>();
  /** Lagging-read draws per task (their own counters: which tasks an answer holds varies). */
  let lagCounters = new Map<string, number>();
  /**
   * Tasks by the order the proxy first saw them: the draws are keyed by that, not by the ARN, which the emulator
   * makes up anew on every run, so that one seed replays the same lags.
   */
  let taskOrdinals = new Map<string, number>();
  const listeners = new Set<(exchange: ProxyExchange) => void>();
  const sockets = new Set<Socket>();
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const handleOf = (state: RuleState): FaultRuleHandle => ({
    rule: state.rule,
    name: state.name,
    get injected() {
      return state.injected;
    },
    get enabled() {
      return state.enabled;
    },
    enable: () => {
      state.enabled = true;
    },
    disable: () => {
      state.enabled = false;
    },
  });
  const addRule = (rule: FaultRule): FaultRuleHandle => {
    checkRule(rule);
    const state: RuleState = { rule, name: rule.name ?? rule.kind, index: rules.length, enabled: true, injected: 0, counters: new Map() };
    rules = [...rules, state];
    return handleOf(state);
  };
  for (const rule of options.rules ?? []) addRule(rule);

  const matches = (rule: FaultRule, request: Classified, account: string | undefined): boolean =>
    request.protocol !== "moto-api" &&
    (rule.accounts === undefined || (account !== undefined && rule.accounts.includes(account))) &&
    (rule.services === undefined || rule.services.includes(request.service)) &&
    (rule.operations === undefined || rule.operations.includes(request.operation)) &&
    !(rule.exceptOperations ?? []).includes(request.operation) &&
    (rule.kind !== "lagging-read" || (request.service === "ecs" && request.operation === "DescribeTasks"));

  /** Whether the rule fires for this request: the seeded draw of its n-th matching request of this operation. */
  const fires = (state: RuleState, request: Classified): { fired: boolean; n: number } => {
    const key = `${request.service}.${request.operation}`;
    const n = (state.counters.get(key) ?? 0) + 1;
    state.counters.set(key, n);
    if (state.rule.limit !== undefined && state.injected >= state.rule.limit) return { fired: false, n };
    return { fired: draw(seed, `${state.index}:${state.name}:${key}`, n) < state.rule.rate, n };
  };

  const record = (fault: InjectedFault, state: RuleState | undefined, list: InjectedFault[]): void => {
    if (state !== undefined) state.injected += 1;
    injectionLog.push(fault);
    list.push(fault);
  };

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined || hopByHop.has(name) || name === faultProxyBypassHeader) continue;
        headers[name] = value;
      }
      headers["content-length"] = String(body.length);
      const outgoing = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }));
          response.on("error", reject);
        },
      );
      outgoing.on("error", reject);
      outgoing.end(body);
    });

  /** Records the tasks of a DescribeTasks answer and, per task, answers an older state when the rule fires. */
  const lagDescribeTasks = (
    answer: Record<string, unknown>,
    lagRules: readonly RuleState[],
    received: number,
    faults: InjectedFault[],
    seqNo: number,
    request: Classified,
  ) => {
    const tasks = Array.isArray(answer.tasks) ? (answer.tasks as Record<string, unknown>[]) : [];
    const now = performance.now();
    const out = tasks.map((task) => {
      const arn = typeof task.taskArn === "string" ? task.taskArn : undefined;
      if (arn === undefined) return task;
      const json = JSON.stringify(task);
      const states = history.get(arn) ?? [];
      if (states.at(-1)?.json !== json) {
        states.push({ json, at: now });
        if (states.length > historyLimit) states.splice(0, states.length - historyLimit);
        history.set(arn, states);
      }
      if (!taskOrdinals.has(arn)) taskOrdinals.set(arn, taskOrdinals.size + 1);
      const ordinal = taskOrdinals.get(arn)!;
      for (const state of lagRules) {
        const n = (lagCounters.get(`${state.index}:${ordinal}`) ?? 0) + 1;
        lagCounters.set(`${state.index}:${ordinal}`, n);
        if (state.rule.limit !== undefined && state.injected >= state.rule.limit) continue;
        if (draw(seed, `${state.index}:${state.name}:lag:${ordinal}`, n) >= state.rule.rate) continue;
        const maxSteps = state.rule.lag?.maxSteps ?? 3;
        const maxAgeMs = state.rule.lag?.maxAgeMs ?? 30_000;
        // Older states still current maxAgeMs ago: state i was current until state i + 1 was first seen.
        const eligible: number[] = [];
        for (let back = 1; back <= maxSteps && states.length - 1 - back >= 0; back++) {
          const until = states[states.length - back]!.at;
          if (now - until <= maxAgeMs) eligible.push(back);
        }
        if (eligible.length === 0) continue;
        const back = eligible[Math.floor(draw(seed, `${state.index}:${state.name}:pick:${ordinal}`, n) * eligible.length)]!;
        const { service, operation } = request;
        record({ seq: seqNo, at: received, rule: state.name, kind: "lagging-read", service, operation, taskArn: arn, stepsBack: back }, state, faults);
        return JSON.parse(states[states.length - 1 - back]!.json) as Record<string, unknown>;
      }
      return task;
    });
    return { ...answer, tasks: out };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const receivedAt = performance.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const text = body.toString("utf8");
    const request = classify(req.url ?? "/", req.headers, text);
    const account = header(req.headers, "x-moto-account-id");
    const seqNo = ++seq;
    requests += 1;
    const opKey = `${request.service}.${request.operation}`;
    if (request.protocol !== "moto-api") byOperation[opKey] = (byOperation[opKey] ?? 0) + 1;
    const faults: InjectedFault[] = [];
    let upstreamStatus: number | undefined;
    const finish = (clientStatus: number | "reset") => {
      const exchange: ProxyExchange = {
        seq: seqNo,
        service: request.service,
        operation: request.operation,
        protocol: request.protocol,
        account,
        receivedAt,
        finishedAt: performance.now(),
        requestBody: text,
        upstreamStatus,
        clientStatus,
        faults,
      };
      for (const listener of listeners) listener(exchange);
    };
    const reset = () => {
      req.socket.destroy();
      finish("reset");
    };
    const sendError = (shape: ErrorShape) => {
      const answer = errorAnswer(shape, request);
      res.writeHead(answer.status, { ...answer.headers, "content-length": String(Buffer.byteLength(answer.body)) });
      res.end(answer.body);
      finish(answer.status);
    };

    // Decide. Every matching rule draws (so one rule's decisions do not depend on another's), in order.
    const bypass = header(req.headers, faultProxyBypassHeader) !== undefined;
    let decided: { state: RuleState; phase: "before" | "after"; n: number } | undefined;
    let delayMs = 0;
    const lagRules: RuleState[] = [];
    if (!bypass) {
      for (const state of rules) {
        if (!state.enabled || !matches(state.rule, request, account)) continue;
        if (state.rule.kind === "lagging-read") {
          lagRules.push(state);
          continue;
        }
        const { fired, n } = fires(state, request);
        if (!fired) continue;
        if (state.rule.kind === "delay") {
          const [min, max] = state.rule.delayMs ?? [50, 250];
          const ms = Math.round(min + draw(seed, `${state.index}:${state.name}:delay:${opKey}`, n) * (max - min));
          delayMs += ms;
          const { service, operation } = request;
          record({ seq: seqNo, at: receivedAt, rule: state.name, kind: "delay", service, operation, delayMs: ms }, state, faults);
        } else if (decided === undefined) {
          const phase = state.rule.phase ?? "before";
          decided = {
            state,
            n,
            phase: phase === "either" ? (draw(seed, `${state.index}:${state.name}:phase:${opKey}`, n) < 0.5 ? "before" : "after") : phase,
          };
        }
      }
    }
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));

    const inject = (state: RuleState, phase: "before" | "after") => {
      const kind = state.rule.kind;
      const status = kind === "connection-reset" ? undefined : errorShapes[kind as keyof typeof errorShapes].status;
      const { service, operation } = request;
      const statusField = status === undefined ? {} : { status };
      record({ seq: seqNo, at: receivedAt, rule: state.name, kind, service, operation, phase, ...statusField }, state, faults);
      if (kind === "connection-reset") reset();
      else sendError(errorShapes[kind as keyof typeof errorShapes]);
    };
    if (decided !== undefined && decided.phase === "before") {
      inject(decided.state, "before");
      return;
    }

    let answer: { status: number; headers: IncomingHttpHeaders; body: Buffer };
    try {
      answer = await forward(req, body);
    } catch (error) {
      // The emulator is unreachable: say so the way a gateway would.
      const message = error instanceof Error ? error.message : String(error);
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`fault proxy: the emulator did not answer: ${message}`);
      finish(502);
      return;
    }
    upstreamStatus = answer.status;
    if (decided !== undefined) {
      inject(decided.state, "after");
      return;
    }

    let outBody = answer.body;
    if (request.protocol === "json" && answer.status === 200 && (options.transform !== undefined || lagRules.length > 0)) {
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = JSON.parse(answer.body.toString("utf8")) as Record<string, unknown>;
      } catch {
        parsed = undefined;
      }
      if (parsed !== undefined) {
        let requestJson: Record<string, unknown> = {};
        try {
          requestJson = JSON.parse(text === "" ? "{}" : text) as Record<string, unknown>;
        } catch {
          // an unparseable request: the transform gets {}
        }
        if (options.transform !== undefined) {
          const { service, operation } = request;
          parsed = options.transform({ service, operation, account, request: requestJson, response: parsed }) ?? parsed;
        }
        if (request.service === "ecs" && request.operation === "DescribeTasks") {
          // The history records every answer, lagging rules or not: a rule switched on later has states to go back to.
          parsed = lagDescribeTasks(parsed, bypass ? [] : lagRules, receivedAt, faults, seqNo, request);
        }
        outBody = Buffer.from(JSON.stringify(parsed), "utf8");
      }
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
    }
    headers["content-length"] = String(outBody.length);
    res.writeHead(answer.status, headers);
    res.end(outBody);
    finish(answer.status);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`fault proxy failed: ${error instanceof Error ? error.message : String(error)}`);
      } else {
        res.destroy();
      }
    });
  });
  // Idle keep-alive sockets must not be closed under the SDK (a reused socket closed by the server would look like
  // an injected reset): keep them far longer than any test runs between two requests.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new FaultProxyError(`the fault proxy could not listen: ${error.message}`, { cause: error })));
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;

  return {
    endpoint,
    upstream: upstream.origin,
    get seed() {
      return seed;
    },
    addRule,
    setRules(next) {
      next.forEach(checkRule);
      rules = [];
      return next.map(addRule);
    },
    rules: () => rules.map(handleOf),
    stopFaults() {
      rules = [];
    },
    reseed(next) {
      seed = next;
      for (const state of rules) state.counters.clear();
      lagCounters = new Map();
    },
    reset() {
      requests = 0;
      byOperation = {};
      injectionLog = [];
      history = new Map();
      lagCounters = new Map();
      taskOrdinals = new Map();
      for (const state of rules) {
        state.injected = 0;
        state.counters.clear();
      }
    },
    stats() {
      const injected: Record<FaultKind, number> = {
        throttling: 0,
        "internal-error": 0,
        "service-unavailable": 0,
        "connection-reset": 0,
        delay: 0,
        "lagging-read": 0,
      };
      const injectedByOperation: Record<string, Partial<Record<FaultKind, number>>> = {};
      const injectedByRule: Record<string, number> = {};
      for (const fault of injectionLog) {
        injected[fault.kind] += 1;
        const key = `${fault.service}.${fault.operation}`;
        const perKind = (injectedByOperation[key] ??= {});
        perKind[fault.kind] = (perKind[fault.kind] ?? 0) + 1;
        injectedByRule[fault.rule] = (injectedByRule[fault.rule] ?? 0) + 1;
      }
      return { requests, byOperation: { ...byOperation }, injected, injectedByOperation, injectedByRule, injectedTotal: injectionLog.length };
    },
    injections: () => [...injectionLog],
    onExchange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    proxied(url) {
      const parsed = new URL(url);
      if (parsed.origin !== upstream.origin) return url;
      return `${endpoint}${parsed.pathname}${parsed.search}`;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The task overlay, applied by the proxy
// ---------------------------------------------------------------------------------------------------------------

/**
 * A {@link FaultProxyOptions.transform} that applies a {@link TaskOverlay} to the emulator's ECS answers inside the
 * proxy, instead of in the ECS client (do not also add `overlay.plugin` to the client that goes through the proxy).
 * The DescribeTasks history of lagging reads then records overlaid states, so an older answer carries the older
 * version, desiredStatus and health whole; the client-side plugin would patch the current ones over it.
 *
 * DescribeTasks answers get `overlay.apply`. ListTasks answers are filtered as the overlay plugin filters them: tasks of
 * other clusters dropped (moto matches cluster names as substrings), a task patched to desiredStatus STOPPED removed
 * from RUNNING lists and added to STOPPED lists of its cluster.
 *
 * @param overlayOf the overlay of the account a request acts in (`x-moto-account-id`) and the ARNs of the tasks it may
 *   have patched (the overlay keeps no list of them), or undefined to leave the answer as it is.
 * @example
 * ```ts
 * const worlds = new Map<string, { overlay: TaskOverlay; taskArns: () => Iterable<string> }>();
 * const proxy = await startFaultProxy({ upstream, transform: taskOverlayTransform((account) => worlds.get(account ?? "")) });
 * worlds.set(accountId, { overlay, taskArns: () => started.map((t) => t.taskArn!) });
 * ```
 */
export function taskOverlayTransform(
  overlayOf: (account: string | undefined) => { readonly overlay: TaskOverlay; readonly taskArns: () => Iterable<string> } | undefined,
): NonNullable<FaultProxyOptions["transform"]> {
  return (exchange) => {
    if (exchange.service !== "ecs") return undefined;
    const found = overlayOf(exchange.account);
    if (found === undefined) return undefined;
    const { overlay } = found;
    const { response, request } = exchange;
    if (exchange.operation === "DescribeTasks" && Array.isArray(response.tasks)) {
      return { ...response, tasks: overlay.apply(response.tasks as never[]) };
    }
    if (exchange.operation === "ListTasks" && Array.isArray(response.taskArns)) {
      const wanted = typeof request.desiredStatus === "string" ? request.desiredStatus : "RUNNING";
      const clusterInput = typeof request.cluster === "string" ? request.cluster : "default";
      const cluster = clusterInput.slice(clusterInput.lastIndexOf("/") + 1);
      const inCluster = (arn: string): boolean => arn.includes(`:task/${cluster}/`);
      const kept = (response.taskArns as string[]).filter(
        (arn) => inCluster(arn) && !(wanted === "RUNNING" && overlay.get(arn)?.desiredStatus === "STOPPED"),
      );
      if (wanted === "STOPPED") {
        for (const arn of found.taskArns()) {
          if (overlay.get(arn)?.desiredStatus === "STOPPED" && !kept.includes(arn) && inCluster(arn)) kept.push(arn);
        }
      }
      return { ...response, taskArns: kept };
    }
    return undefined;
  };
}
