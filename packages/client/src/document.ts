import { isIP } from "node:net";
import { describeValue as describe, DiscoveryClientError } from "./errors.js";
import { isRecord } from "./validate.js";

/**
 * The endpoint document: what discovery-sync publishes to SSM Parameter Store for one service
 * and what every reader (this package, or a client in another language) parses.
 * Its JSON Schema is `schemas/endpoint-document.v1.json` in this package.
 *
 * This module is the one definition shared by the writer (the reconcile pipeline) and the reader.
 * It has no dependencies beyond Node's standard library (and this package's errors and validation helpers) so that the
 * client package stays light.
 */

/** The schema version this code writes and understands. */
export const endpointDocumentSchemaVersion = 1;

/**
 * SSM's Standard tier holds values up to this many bytes. The one statement of the limit: the writer, the tombstones
 * and the CDK construct's configuration checks import it from `@discovery-sync/client/document`.
 */
export const standardTierMaxBytes = 4_096;
/** SSM's Advanced tier holds values up to this many bytes; larger documents cannot be published. */
export const advancedTierMaxBytes = 8_192;

// The package's helpers for untrusted values, shared with the writer side (the core and the CDK construct) so that
// each rule is written once.
/**
 * A short, bounded rendering of a value for an error message's "given ...".
 *
 * @example
 * ```ts
 * throw new Error(`expected a port (given ${describeValue(input)})`);
 * ```
 */
export { describeValue } from "./errors.js";
/**
 * True for a plain object (not null, not an array).
 *
 * @example
 * ```ts
 * if (isRecord(value) && Array.isArray(value.services)) { ... }
 * ```
 */
export { isRecord } from "./validate.js";

/** One reachable task: an address and port, with the zone and task id when known. */
export interface Endpoint {
  /** IPv4 or IPv6 address of the task. */
  readonly address: string;
  /** TCP port, 1-65535. */
  readonly port: number;
  /** Availability zone of the task, for example `us-east-1a`, when known. */
  readonly zone?: string;
  /** ECS task id (the last segment of the task ARN), when the endpoint is an ECS task. */
  readonly taskId?: string;
}

/**
 * A published endpoint document.
 *
 * @example
 * ```json
 * { "schemaVersion": 1, "service": "workflow-agent", "revision": 7,
 *   "generatedAt": "2026-11-23T12:00:00.000Z",
 *   "endpoints": [ { "address": "10.0.1.5", "port": 50051, "zone": "us-east-1a", "taskId": "c13b4cb4..." } ],
 *   "draining": [] }
 * ```
 */
export interface EndpointDocument {
  /** The form it was published in: 1, one parameter; 2, a manifest and shards (`./shards.ts`). */
  readonly schemaVersion: 1 | 2;
  /** The configured service name. */
  readonly service: string;
  /**
   * Grows by 1 per published change within an epoch, and is never below the parameter's SSM version. Readers
   * never go back to a lower one of the same epoch.
   */
  readonly revision: number;
  /**
   * The incarnation of the document (milliseconds since 1970 when the writer started it): a new epoch begins when
   * the writer finds the parameter deleted, recreated, unreadable or overwritten by hand, and is always higher than
   * the one before. Readers accept a higher epoch whatever its revision. Absent in documents written before epochs
   * existed (read as 0); 0 in lists made up from an override or a fallback.
   */
  readonly epoch?: number;
  /** When this revision was generated, ISO 8601 UTC. */
  readonly generatedAt: string;
  /** Ready tasks, sorted by address then port. */
  readonly endpoints: readonly Endpoint[];
  /** Tasks on their way out (desiredStatus STOPPED): send them no new work. Sorted like `endpoints`. */
  readonly draining: readonly Endpoint[];
}

/**
 * The given value is not a valid endpoint document; `path` names the offending field.
 *
 * @example
 * ```ts
 * try { parseEndpointDocument("{}"); } catch (e) { if (e instanceof EndpointDocumentError) console.log(e.path); }
 * ```
 */
export class EndpointDocumentError extends DiscoveryClientError {
  public override readonly name = "EndpointDocumentError";
  public constructor(
    /** JSON path of the field that is wrong, for example `endpoints[2].port`. */
    public readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid endpoint document at ${path}: ${message}`, options);
  }
}

const isoUtc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function parseEndpoint(value: unknown, path: string): Endpoint {
  if (!isRecord(value)) throw new EndpointDocumentError(path, `expected an object (given ${describe(value)})`);
  const { address, port, zone, taskId } = value;
  if (typeof address !== "string" || isIP(address) === 0) {
    throw new EndpointDocumentError(`${path}.address`, `expected an IPv4 or IPv6 address (given ${describe(address)})`);
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new EndpointDocumentError(`${path}.port`, `expected an integer from 1 to 65535 (given ${describe(port)})`);
  }
  if (zone !== undefined && (typeof zone !== "string" || zone.length === 0)) {
    throw new EndpointDocumentError(`${path}.zone`, `expected a non-empty string (given ${describe(zone)})`);
  }
  if (taskId !== undefined && (typeof taskId !== "string" || taskId.length === 0)) {
    throw new EndpointDocumentError(`${path}.taskId`, `expected a non-empty string (given ${describe(taskId)})`);
  }
  return {
    address,
    port,
    ...(zone === undefined ? {} : { zone }),
    ...(taskId === undefined ? {} : { taskId }),
  };
}

function parseEndpointList(value: unknown, path: string): Endpoint[] {
  if (!Array.isArray(value)) throw new EndpointDocumentError(path, `expected an array (given ${describe(value)})`);
  return value.map((item, index) => parseEndpoint(item, `${path}[${index}]`));
}

/**
 * Validates a document given as JSON text or as an already parsed value.
 * Unknown fields are accepted and dropped, so that a newer writer can add fields without breaking older readers;
 * a different `schemaVersion` is refused.
 *
 * @example
 * ```ts
 * const doc = parseEndpointDocument(parameter.Value!);
 * console.log(doc.revision, doc.endpoints.length);
 * ```
 * @throws {EndpointDocumentError} naming the first wrong field and the value given.
 */
export function parseEndpointDocument(input: unknown): EndpointDocument {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new EndpointDocumentError("$", `not JSON (given ${describe(input)})`, { cause: error });
    }
  }
  if (!isRecord(value)) throw new EndpointDocumentError("$", `expected an object (given ${describe(value)})`);
  if (value.schemaVersion !== endpointDocumentSchemaVersion) {
    throw new EndpointDocumentError(
      "schemaVersion",
      `expected ${endpointDocumentSchemaVersion} (given ${describe(value.schemaVersion)})`,
    );
  }
  const { service, revision, generatedAt, epoch } = value;
  if (typeof service !== "string" || service.length === 0) {
    throw new EndpointDocumentError("service", `expected a non-empty string (given ${describe(service)})`);
  }
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 1) {
    throw new EndpointDocumentError("revision", `expected an integer of at least 1 (given ${describe(revision)})`);
  }
  if (typeof generatedAt !== "string" || !isoUtc.test(generatedAt) || Number.isNaN(Date.parse(generatedAt))) {
    throw new EndpointDocumentError("generatedAt", `expected an ISO 8601 UTC timestamp (given ${describe(generatedAt)})`);
  }
  if (epoch !== undefined && (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0)) {
    throw new EndpointDocumentError("epoch", `expected a non-negative integer (given ${describe(epoch)})`);
  }
  return {
    schemaVersion: endpointDocumentSchemaVersion,
    service,
    revision,
    ...(epoch === undefined ? {} : { epoch }),
    generatedAt,
    endpoints: parseEndpointList(value.endpoints, "endpoints"),
    draining: parseEndpointList(value.draining, "draining"),
  };
}

/** A sort key of an IP address: IPv4 before IPv6, each compared by its numeric value. */
function addressKey(address: string): string {
  if (isIP(address) === 4) return `4:${address.split(".").map((octet) => octet.padStart(3, "0")).join(".")}`;
  if (isIP(address) === 6) {
    const [head = "", tail = ""] = address.split("::");
    const headParts = head === "" ? [] : head.split(":");
    const tailParts = tail === "" ? [] : tail.split(":");
    const middle = address.includes("::") ? Array(8 - headParts.length - tailParts.length).fill("0") : [];
    return `6:${[...headParts, ...middle, ...tailParts].map((group) => group.toLowerCase().padStart(4, "0")).join(":")}`;
  }
  return `9:${address}`;
}

/**
 * Orders endpoints by address (numerically: 10.0.0.9 before 10.0.0.10; IPv4 before IPv6) then port.
 *
 * @example
 * ```ts
 * endpoints.sort(compareEndpoints);
 * ```
 */
export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  const keyA = addressKey(a.address);
  const keyB = addressKey(b.address);
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return a.port - b.port;
}

/**
 * The JSON text of the single-parameter form (schema version 1, whatever `document.schemaVersion` says), with a
 * fixed key order so equal documents serialise equally.
 *
 * @example
 * ```ts
 * const text = serializeEndpointDocument(doc);
 * Buffer.byteLength(text, "utf8"); // what SSM's size limits apply to
 * ```
 */
export function serializeEndpointDocument(document: EndpointDocument): string {
  const endpoint = (e: Endpoint): Endpoint => ({
    address: e.address,
    port: e.port,
    ...(e.zone === undefined ? {} : { zone: e.zone }),
    ...(e.taskId === undefined ? {} : { taskId: e.taskId }),
  });
  return JSON.stringify({
    schemaVersion: endpointDocumentSchemaVersion,
    service: document.service,
    revision: document.revision,
    ...(document.epoch === undefined ? {} : { epoch: document.epoch }),
    generatedAt: document.generatedAt,
    endpoints: document.endpoints.map(endpoint),
    draining: document.draining.map(endpoint),
  });
}

/**
 * True when two documents tell a client the same thing: same service, endpoints and draining lists
 * (form, epoch, revision and generatedAt are ignored). The writer publishes only when this is false.
 */
export function sameEndpointContent(a: EndpointDocument, b: EndpointDocument): boolean {
  const content = ({ epoch: _epoch, ...d }: EndpointDocument): string =>
    serializeEndpointDocument({ ...d, revision: 1, generatedAt: "1970-01-01T00:00:00.000Z" });
  return content(a) === content(b);
}
