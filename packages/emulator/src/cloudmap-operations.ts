/**
 * Cloud Map's asynchronous instance operations, which moto lacks. On AWS, RegisterInstance and DeregisterInstance
 * return an OperationId at once and do the work afterwards: GetOperation and ListOperations report SUBMITTED, PENDING,
 * then SUCCESS or FAIL; ListInstances does not show a registration until it succeeded (and still shows an instance
 * being deregistered); a second request for the same instance meanwhile fails with DuplicateRequest. moto finishes
 * both at once, never answers DuplicateRequest, and its ListOperations deletes instance operations.
 *
 * @packageDocumentation
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Pluggable } from "@smithy/types";

/** Status of a Cloud Map operation (GetOperation `Status`). */
export type CloudMapOperationStatus = "SUBMITTED" | "PENDING" | "SUCCESS" | "FAIL";

/** One RegisterInstance or DeregisterInstance held by {@link createCloudMapOperations}. */
export interface CloudMapOperation {
  readonly operationId: string;
  readonly type: "REGISTER_INSTANCE" | "DEREGISTER_INSTANCE";
  readonly serviceId: string;
  readonly instanceId: string;
  readonly status: CloudMapOperationStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** When it failed: moto's error code (the request applied at completion failed) or the one given to `settle`. */
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

/** Options of {@link createCloudMapOperations}. */
export interface CloudMapOperationsOptions {
  /**
   * How long a Register/Deregister stays in flight before it completes by itself (applied to moto, then SUCCESS, or
   * FAIL with moto's error). @default until {@link CloudMapOperations.settle} is called
   */
  readonly holdMs?: number;
  /**
   * The most operations one ListOperations page looks at. AWS takes MaxResults operations, then filters them, so a
   * page can be empty while NextToken is set; a small value here reproduces that. @default 100
   */
  readonly pageSize?: number;
}

/** Which operations {@link CloudMapOperations.settle} completes, and how. Every field narrows; none: all. */
export interface SettleOptions {
  readonly operationId?: string;
  readonly instanceId?: string;
  /** Fail the operations with this error code (e.g. THROTTLED_REQUEST) instead of applying them to moto. */
  readonly failWith?: string;
}

/** The layer: its plugin for the ServiceDiscovery client, and the controls of a test. */
export interface CloudMapOperations {
  /** Add to the ServiceDiscovery client only: `clients.serviceDiscovery.middlewareStack.use(layer.plugin)`. */
  readonly plugin: Pluggable<any, any>;
  /** Every operation submitted so far (copies), oldest first. */
  operations(): CloudMapOperation[];
  /** The operations still in flight (SUBMITTED or PENDING). */
  inFlight(): CloudMapOperation[];
  /** Completes operations in flight now: applies each to moto (SUCCESS, or FAIL with moto's error) or fails it. */
  settle(options?: SettleOptions): Promise<CloudMapOperation[]>;
  /**
   * Makes the next `times` Register/Deregister requests (of `instanceId`, or of any instance) answer DuplicateRequest,
   * as if an operation nobody listed ran on the instance. @default times 1
   */
  injectDuplicateRequest(options?: { readonly instanceId?: string; readonly times?: number }): void;
  /** The DuplicateRequest answers given so far. */
  readonly duplicateRequests: readonly { readonly request: string; readonly instanceId: string; readonly duplicateOperationId: string }[];
}

interface HeldOperation {
  readonly operationId: string;
  readonly type: CloudMapOperation["type"];
  readonly serviceId: string;
  readonly instanceId: string;
  status: CloudMapOperationStatus;
  readonly createdAt: Date;
  updatedAt: Date;
  errorCode?: string;
  errorMessage?: string;
  /** Sends the held request to moto. */
  readonly apply: () => Promise<RawResponse>;
  dueAt: number;
  completion?: Promise<void>;
}

interface RawResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}
type Next = (args: any) => Promise<{ response: unknown }>;

const jsonTarget = "Route53AutoNaming_v20170314";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const inFlightStatuses: ReadonlySet<string> = new Set(["SUBMITTED", "PENDING"]);

/** An operation id shaped like Cloud Map's (`gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd`). */
function operationIdNew(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const part = (n: number) => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");
  return `${part(32)}-${part(8)}`;
}

function jsonResponse(statusCode: number, body: unknown): { response: RawResponse } {
  const bytes = encoder.encode(JSON.stringify(body));
  return {
    response: {
      statusCode,
      headers: { "content-type": "application/x-amz-json-1.1", "content-length": String(bytes.length), "x-amzn-requestid": randomUUID() },
      body: bytes,
    },
  };
}

/** Reads a raw response's body (moto's answers are streams) and gives it back re-readable. */
async function readBody(response: RawResponse): Promise<{ response: RawResponse; text: string }> {
  const body = response.body;
  let bytes: Uint8Array;
  if (body === undefined || body === null) bytes = new Uint8Array();
  else if (body instanceof Uint8Array) bytes = body;
  else if (typeof body === "string") bytes = encoder.encode(body);
  else {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
    bytes = Buffer.concat(chunks);
  }
  return { response: { ...response, body: bytes }, text: decoder.decode(bytes) };
}

function cloneRequest(request: Record<string, any>): Record<string, any> {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(request) as object) as Record<string, any>, request);
  copy.headers = { ...request.headers };
  return copy;
}

/** The same HTTP request, sent as another Cloud Map action with another body. */
function requestFor(request: Record<string, any>, action: string, body: unknown): Record<string, any> {
  const bytes = encoder.encode(JSON.stringify(body));
  const copy = cloneRequest(request);
  copy.headers = { ...request.headers, "x-amz-target": `${jsonTarget}.${action}`, "content-length": String(bytes.length) };
  copy.body = bytes;
  return copy;
}

function copyOf(op: HeldOperation): CloudMapOperation {
  return {
    operationId: op.operationId,
    type: op.type,
    serviceId: op.serviceId,
    instanceId: op.instanceId,
    status: op.status,
    createdAt: op.createdAt,
    updatedAt: op.updatedAt,
    ...(op.errorCode === undefined ? {} : { errorCode: op.errorCode, errorMessage: op.errorMessage }),
  };
}

/**
 * Creates the layer that makes the ServiceDiscovery client see Cloud Map's instance operations as AWS runs them,
 * on top of moto. It sits in the deserialize step beneath the SDK's deserializer, where it answers with raw HTTP
 * responses, so the SDK parses them as it parses AWS's (a DuplicateRequest becomes the SDK's `DuplicateRequest` with
 * `$metadata`), and requests it answers itself still pass a {@link requestCounter} on the client:
 *
 * - RegisterInstance / DeregisterInstance: checked against moto at once (GetService, GetInstance: ServiceNotFound,
 *   InstanceNotFound as AWS answers them), answered with a new OperationId and held **in flight**; the real request
 *   reaches moto only when the operation completes (after `holdMs`, or at {@link CloudMapOperations.settle}). Until
 *   then moto's ListInstances is what AWS shows: a pending registration absent, a pending deregistration present.
 * - A second Register/Deregister of an instance while one is in flight answers `DuplicateRequest` (HTTP 400,
 *   `{"__type":"DuplicateRequest","message":...,"DuplicateOperationId":...}`).
 * - GetOperation of a held operation: its Type, Status (SUBMITTED, then PENDING, then SUCCESS or FAIL), Targets
 *   (INSTANCE, SERVICE), dates. Other ids go to moto.
 * - ListOperations: the held operations, filtered by SERVICE_ID, STATUS, TYPE and UPDATE_DATE, paged like AWS
 *   (a page of `pageSize` operations is taken, then filtered). moto's own operations (namespace operations) are added
 *   when no SERVICE_ID or TYPE filter is given, filtered by STATUS; a NAMESPACE_ID filter lists moto's only.
 *
 * @example
 * ```ts
 * const layer = createCloudMapOperations();
 * pipeline.clients.serviceDiscovery.middlewareStack.use(layer.plugin);
 * // ... a reconcile registers a task: in flight, not listed yet ...
 * await layer.settle(); // now moto has it
 * ```
 */
export function createCloudMapOperations(options: CloudMapOperationsOptions = {}): CloudMapOperations {
  const held: HeldOperation[] = [];
  const injections: { instanceId: string | undefined; times: number }[] = [];
  const duplicateRequests: { request: string; instanceId: string; duplicateOperationId: string }[] = [];
  const pageSize = options.pageSize ?? 100;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new TypeError(`pageSize must be a positive integer (given ${String(pageSize)})`);

  const complete = (op: HeldOperation, failWith?: string): Promise<void> => {
    if (op.completion !== undefined) return op.completion;
    op.completion = (async () => {
      op.status = "PENDING";
      if (failWith !== undefined) {
        Object.assign(op, { status: "FAIL", errorCode: failWith, errorMessage: `the operation failed (${failWith})`, updatedAt: new Date() });
        return;
      }
      try {
        const { response, text } = await readBody(await op.apply());
        if (response.statusCode < 300) Object.assign(op, { status: "SUCCESS", updatedAt: new Date() });
        else {
          const error = JSON.parse(text || "{}") as { __type?: string; message?: string; Message?: string };
          const code = (error.__type ?? "INTERNAL_FAILURE").replace(/^.*#/, "");
          Object.assign(op, { status: "FAIL", errorCode: code, errorMessage: error.message ?? error.Message ?? text, updatedAt: new Date() });
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        Object.assign(op, { status: "FAIL", errorCode: "INTERNAL_FAILURE", errorMessage: message, updatedAt: new Date() });
      }
    })();
    return op.completion;
  };
  const completeDue = () => Promise.all(held.filter((op) => inFlightStatuses.has(op.status) && op.dueAt <= Date.now()).map((op) => complete(op)));

  /** The status a report gives: SUBMITTED the first time, PENDING afterwards, as AWS starts working on it. */
  const report = (op: HeldOperation): CloudMapOperationStatus => {
    const status = op.status;
    if (status === "SUBMITTED") op.status = "PENDING";
    return status;
  };

  const submit = async (next: Next, args: any, request: "RegisterInstance" | "DeregisterInstance") => {
    const input = args.input as { ServiceId?: string; InstanceId?: string };
    const serviceId = input.ServiceId ?? "";
    const instanceId = input.InstanceId ?? "";
    const running = held.find((op) => op.serviceId === serviceId && op.instanceId === instanceId && inFlightStatuses.has(op.status));
    const injection = injections.find((i) => i.times > 0 && (i.instanceId === undefined || i.instanceId === instanceId));
    if (running !== undefined || injection !== undefined) {
      if (injection !== undefined) injection.times--;
      const duplicateOperationId = running?.operationId ?? operationIdNew();
      duplicateRequests.push({ request, instanceId, duplicateOperationId });
      const message = `Another operation of type ${running?.type ?? "REGISTER_INSTANCE"} and id ${duplicateOperationId} is in progress`;
      return jsonResponse(400, { __type: "DuplicateRequest", message, Message: message, DuplicateOperationId: duplicateOperationId });
    }
    const now = new Date();
    const heldArgs = { ...args, request: cloneRequest(args.request) };
    // Taken before the first await: a concurrent request for the instance finds it in flight.
    const op: HeldOperation = {
      operationId: operationIdNew(),
      type: request === "RegisterInstance" ? "REGISTER_INSTANCE" : "DEREGISTER_INSTANCE",
      serviceId,
      instanceId,
      status: "SUBMITTED",
      createdAt: now,
      updatedAt: now,
      apply: () => next(heldArgs).then((out) => out.response as RawResponse),
      dueAt: options.holdMs === undefined ? Number.POSITIVE_INFINITY : now.getTime() + options.holdMs,
    };
    held.push(op);
    // AWS refuses a request for a missing service or instance at once, not in the operation.
    const check =
      request === "RegisterInstance"
        ? requestFor(args.request, "GetService", { Id: serviceId })
        : requestFor(args.request, "GetInstance", { ServiceId: serviceId, InstanceId: instanceId });
    const checked = await readBody((await next({ ...args, request: check })).response as RawResponse);
    if (checked.response.statusCode >= 300) {
      held.splice(held.indexOf(op), 1);
      return { response: checked.response };
    }
    if (options.holdMs !== undefined) setTimeout(() => void complete(op), options.holdMs).unref();
    return jsonResponse(200, { OperationId: op.operationId });
  };

  const operationJson = (op: HeldOperation) => ({
    Id: op.operationId,
    Type: op.type,
    Status: report(op),
    CreateDate: op.createdAt.getTime() / 1000,
    UpdateDate: op.updatedAt.getTime() / 1000,
    Targets: { INSTANCE: op.instanceId, SERVICE: op.serviceId },
    ...(op.errorCode === undefined ? {} : { ErrorCode: op.errorCode, ErrorMessage: op.errorMessage }),
  });

  const listOperations = async (next: Next, args: any) => {
    const input = args.input as { Filters?: { Name?: string; Condition?: string; Values?: string[] }[]; MaxResults?: number; NextToken?: string };
    const filters = input.Filters ?? [];
    const valuesOf = (name: string) => filters.find((f) => f.Name === name)?.Values;
    const [serviceIds, statuses, types, dates, namespaces] = ["SERVICE_ID", "STATUS", "TYPE", "UPDATE_DATE", "NAMESPACE_ID"].map(valuesOf);
    const statusMatches = (status: string | undefined) => statuses === undefined || statuses.includes(status ?? "");
    type Entry = { summary: () => { Id: string; Status: string }; matches: () => boolean };
    const entries: Entry[] = [];
    if (serviceIds === undefined && types === undefined) {
      const { text } = await readBody((await next(args)).response as RawResponse);
      const listed = (JSON.parse(text || "{}") as { Operations?: { Id: string; Status: string }[] }).Operations ?? [];
      for (const summary of listed) entries.push({ summary: () => summary, matches: () => statusMatches(summary.Status) });
    }
    if (namespaces === undefined) {
      for (const op of held) {
        entries.push({
          summary: () => ({ Id: op.operationId, Status: report(op) }),
          matches: () => {
            const updated = op.updatedAt.getTime() / 1000;
            return (
              (serviceIds === undefined || serviceIds.includes(op.serviceId)) &&
              statusMatches(op.status) &&
              (types === undefined || types.includes(op.type)) &&
              (dates === undefined || (updated >= Number(dates[0]) && updated <= Number(dates[1] ?? Number.POSITIVE_INFINITY)))
            );
          },
        });
      }
    }
    const start = Number(/^layer:(\d+)$/.exec(input.NextToken ?? "")?.[1] ?? 0);
    const size = Math.min(input.MaxResults ?? 100, pageSize);
    const page = entries.slice(start, start + size).filter((entry) => entry.matches());
    const more = start + size < entries.length;
    return jsonResponse(200, { Operations: page.map((entry) => entry.summary()), ...(more ? { NextToken: `layer:${start + size}` } : {}) });
  };

  const plugin: Pluggable<any, any> = {
    applyToStack(stack) {
      stack.add(
        (next, context) => async (args: any) => {
          const commandName = (context as { commandName?: string }).commandName;
          await completeDue();
          switch (commandName) {
            case "RegisterInstanceCommand":
              return (await submit(next as Next, args, "RegisterInstance")) as any;
            case "DeregisterInstanceCommand":
              return (await submit(next as Next, args, "DeregisterInstance")) as any;
            case "ListOperationsCommand":
              return (await listOperations(next as Next, args)) as any;
            case "GetOperationCommand": {
              const op = held.find((candidate) => candidate.operationId === (args.input as { OperationId?: string }).OperationId);
              if (op !== undefined) return jsonResponse(200, { Operation: operationJson(op) }) as any;
              return next(args);
            }
            default:
              return next(args);
          }
        },
        // Beneath the SDK's deserializer (priority low in the deserialize step): what it returns is the raw response.
        { step: "deserialize", priority: "low", name: "discoverySyncCloudMapOperations", override: true },
      );
    },
  };

  return {
    plugin,
    operations: () => held.map(copyOf),
    inFlight: () => held.filter((op) => inFlightStatuses.has(op.status)).map(copyOf),
    async settle(settleOptions = {}) {
      const chosen = held.filter(
        (op) =>
          inFlightStatuses.has(op.status) &&
          (settleOptions.operationId === undefined || op.operationId === settleOptions.operationId) &&
          (settleOptions.instanceId === undefined || op.instanceId === settleOptions.instanceId),
      );
      await Promise.all(chosen.map((op) => complete(op, settleOptions.failWith)));
      return chosen.map(copyOf);
    },
    injectDuplicateRequest(injection = {}) {
      const times = injection.times ?? 1;
      if (!Number.isInteger(times) || times < 1) throw new TypeError(`times must be a positive integer (given ${String(times)})`);
      injections.push({ instanceId: injection.instanceId, times });
    },
    duplicateRequests,
  };
}
