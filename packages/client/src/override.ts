import { isIP } from "node:net";
import { compareEndpoints, type Endpoint } from "./document.js";
import { InvalidOptionError } from "./errors.js";
import { isHostname } from "./validate.js";

/**
 * Parses an endpoint override such as `localhost:50051` or `10.0.0.5:50051,10.0.0.6:50051,[::1]:50051`: the value
 * of the environment variable named by the reader's `envOverride` option (the local-development escape hatch,
 * like `WORKFLOW_SERVICE_HOST` / `WORKFLOW_SERVICE_PORT` of the reference design, but one variable for many
 * endpoints).
 *
 * Unlike the published document, an override may name hosts (`localhost`, a docker-compose service name), because
 * local set-ups rarely have fixed addresses. IPv6 addresses must be in brackets. Duplicates are dropped and the
 * result is sorted like a document's `endpoints`.
 *
 * @param text - The variable's value.
 * @param option - What to call the value in an error, for example `env WORKFLOW_SERVICE_ENDPOINTS`.
 * @throws {InvalidOptionError} naming `option` and the first malformed entry.
 *
 * @example
 * ```ts
 * parseEndpointOverride("localhost:50051,[::1]:50052");
 * // [{ address: "::1", port: 50052 }, { address: "localhost", port: 50051 }]
 * ```
 */
export function parseEndpointOverride(text: string, option = "envOverride"): Endpoint[] {
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.every((entry) => entry.length === 0)) {
    throw new InvalidOptionError(option, text, "expected host:port[,host:port...]");
  }
  const seen = new Map<string, Endpoint>();
  for (const entry of entries) {
    const endpoint = parseHostPort(entry, option, text);
    seen.set(`${endpoint.address}|${endpoint.port}`, endpoint);
  }
  return [...seen.values()].sort(compareEndpoints);
}

function parseHostPort(entry: string, option: string, whole: string): Endpoint {
  const fail = (why: string): never => {
    throw new InvalidOptionError(option, whole, `entry ${JSON.stringify(entry)} ${why}; expected host:port[,host:port...]`);
  };
  let host: string;
  let portText: string;
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    if (close < 0 || entry[close + 1] !== ":") return fail("has an unterminated IPv6 address or no port");
    host = entry.slice(1, close);
    portText = entry.slice(close + 2);
    if (isIP(host) !== 6) return fail("has a bracketed host that is not an IPv6 address");
  } else {
    const colon = entry.lastIndexOf(":");
    if (colon <= 0) return fail(entry.length === 0 ? "is empty" : "has no port");
    host = entry.slice(0, colon);
    portText = entry.slice(colon + 1);
    if (host.includes(":")) return fail("has an IPv6 address without brackets");
    if (isIP(host) === 0 && !isHostname(host)) return fail("has an invalid host");
  }
  if (!/^\d{1,5}$/.test(portText)) return fail("has an invalid port");
  const port = Number(portText);
  if (port < 1 || port > 65_535) return fail("has a port outside 1-65535");
  return { address: host, port };
}
