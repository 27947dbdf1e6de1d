import { isIP } from "node:net";
import { compareEndpoints, type Endpoint } from "./document.js";
import { InvalidOptionError } from "./errors.js";
import { assertKnownKeys, isHostname, isRecord } from "./validate.js";

/**
 * Which environment variables replace SSM with a fixed address (the reader's `envOverride` option). Both forms are
 * opt-in by name: the reader reads no variable it was not told about.
 *
 * - A variable name, for example `"WORKFLOW_SERVICE_ENDPOINTS"`: its value is a list `host:port[,host:port...]`.
 * - A pair `{ host, port }` of variable names, the form of the reference design
 *   (`WORKFLOW_SERVICE_HOST=workflow-agent`, `WORKFLOW_SERVICE_PORT=50051`): one endpoint, active when the host
 *   variable is set and not empty; the port variable is then required.
 *
 * @example
 * ```ts
 * const list: EnvOverride = "WORKFLOW_SERVICE_ENDPOINTS";
 * const pair: EnvOverride = { host: "WORKFLOW_SERVICE_HOST", port: "WORKFLOW_SERVICE_PORT" };
 * ```
 */
export type EnvOverride = string | { readonly host: string; readonly port: string };

const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const listExpectation = "expected host:port[,host:port...]";

/**
 * Validates the `envOverride` option and reads the variables it names from `env`. Returns the override's endpoints,
 * or `undefined` when the override is off (`undefined`, `false`) or its variables are unset or empty, so the reader
 * reads SSM as usual.
 *
 * @param option - The option's value, as given to the reader.
 * @param env - The environment to read (the reader's `env` option).
 * @throws {InvalidOptionError} for a malformed option (`envOverride`, `envOverride.host`, ...) or a bad value of a
 *   variable (option `env WORKFLOW_SERVICE_PORT (envOverride.port)`, value the variable's text).
 *
 * @example
 * ```ts
 * readEnvOverride({ host: "WORKFLOW_SERVICE_HOST", port: "WORKFLOW_SERVICE_PORT" },
 *   { WORKFLOW_SERVICE_HOST: "localhost", WORKFLOW_SERVICE_PORT: "50051" });
 * // [{ address: "localhost", port: 50051 }]
 * ```
 * @internal
 */
export function readEnvOverride(
  option: unknown,
  env: Readonly<Record<string, string | undefined>>,
): Endpoint[] | undefined {
  if (option === undefined || option === false) return undefined;
  if (typeof option === "string") {
    const name = checkedVariableName("envOverride", option);
    const value = env[name];
    if (value === undefined || value.trim() === "") return undefined;
    return parseEndpointOverride(value, `env ${name} (envOverride)`);
  }
  if (!isRecord(option)) {
    throw new InvalidOptionError(
      "envOverride",
      option,
      "expected an environment variable name, { host: NAME, port: NAME }, or false",
    );
  }
  assertKnownKeys("envOverride", option, ["host", "port"]);
  const hostName = checkedVariableName("envOverride.host", option.host);
  const portName = checkedVariableName("envOverride.port", option.port);
  if (hostName === portName) {
    throw new InvalidOptionError("envOverride.port", portName, "expected a variable other than envOverride.host");
  }
  const host = env[hostName]?.trim() ?? "";
  const portText = env[portName]?.trim() ?? "";
  if (host === "") {
    // A port without a host is a half-done set-up: reading SSM instead would hide it until the first call fails.
    if (portText !== "") {
      throw new InvalidOptionError(
        `env ${hostName} (envOverride.host)`,
        env[hostName],
        `expected a host name or IP address, because ${portName} is set (${JSON.stringify(env[portName])}); set both or neither`,
      );
    }
    return undefined;
  }
  return [{ address: parseOverrideHost(host, hostName), port: parseOverridePort(portText, portName, hostName) }];
}

function checkedVariableName(option: string, value: unknown): string {
  if (typeof value !== "string" || !variableName.test(value)) {
    throw new InvalidOptionError(option, value, "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
  }
  return value;
}

function parseOverrideHost(text: string, variable: string): string {
  // `[::1]` is accepted as well as `::1`: people copy addresses from URLs.
  const bracketed = text.startsWith("[") && text.endsWith("]");
  const host = bracketed ? text.slice(1, -1) : text;
  if (bracketed ? isIP(host) === 6 : isIP(host) !== 0 || isHostname(host)) return host;
  const why = /:\d+$/.test(host)
    ? "expected a host name or IP address without a port (the port goes in envOverride.port)"
    : "expected a host name or IP address (localhost, workflow-agent, 10.0.0.5, ::1)";
  throw new InvalidOptionError(`env ${variable} (envOverride.host)`, text, why);
}

function parseOverridePort(text: string, variable: string, hostVariable: string): number {
  const option = `env ${variable} (envOverride.port)`;
  if (text === "") {
    throw new InvalidOptionError(option, text, `expected a port from 1 to 65535, because ${hostVariable} is set`);
  }
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65_535)) {
    throw new InvalidOptionError(option, text, "expected a port from 1 to 65535");
  }
  return port;
}

/**
 * Parses an endpoint override such as `localhost:50051` or `10.0.0.5:50051,10.0.0.6:50051,[::1]:50051`: the value
 * of the environment variable named by the reader's `envOverride` option in its list form (the local-development
 * escape hatch; the `{ host, port }` form of {@link EnvOverride} takes the reference design's pair of variables).
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
    throw new InvalidOptionError(option, text, listExpectation);
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
    throw new InvalidOptionError(option, whole, `entry ${JSON.stringify(entry)} ${why}; ${listExpectation}`);
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
