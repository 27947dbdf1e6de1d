import { isIPv4, isIPv6 } from "node:net";
import { InvalidOptionError } from "./errors.js";
import { assertKnownKeys, integerInRange, isRecord, nonEmptyString } from "./validate.js";

/** Default port of the AWS Parameters and Secrets Lambda extension. */
export const lambdaExtensionDefaultPort = 2773;

/**
 * How to read through the AWS Parameters and Secrets Lambda extension.
 *
 * @example
 * ```ts
 * createEndpointReader({ parameterName, lambdaExtension: { port: 2773, timeoutMs: 500 } });
 * ```
 */
export interface LambdaExtensionOptions {
  /**
   * Host the extension listens on: a loopback host only (`localhost`, an address of 127.0.0.0/8, or `::1`), since each
   * request carries the function's `AWS_SESSION_TOKEN` over plain HTTP. @default "localhost"
   */
  readonly host?: string;
  /** Port the extension listens on. @default env PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, else 2773 */
  readonly port?: number;
  /** How long one request to the extension may take before the reader calls SSM instead. @default 1 000 ms */
  readonly timeoutMs?: number;
}

/** Resolved extension settings. @internal */
export interface LambdaExtensionSettings {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
}

/**
 * Decides whether to read through the extension. `"auto"` (the default) uses it only inside Lambda
 * (`AWS_LAMBDA_FUNCTION_NAME` is set) with a session token to authenticate to it (`AWS_SESSION_TOKEN`);
 * whether it is actually installed is found out by the first request (a refused connection means it is not).
 *
 * @internal
 */
export function resolveLambdaExtension(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
): LambdaExtensionSettings | undefined {
  if (value === false) return undefined;
  const inLambda = env.AWS_LAMBDA_FUNCTION_NAME !== undefined && env.AWS_SESSION_TOKEN !== undefined;
  if (value === undefined || value === "auto") {
    return inLambda ? settingsFrom({}, env) : undefined;
  }
  if (value === true) return settingsFrom({}, env);
  if (!isRecord(value)) {
    throw new InvalidOptionError("lambdaExtension", value, 'expected "auto", true, false or { host, port, timeoutMs }');
  }
  assertKnownKeys("lambdaExtension", value, ["host", "port", "timeoutMs"]);
  return settingsFrom(value, env);
}

function settingsFrom(value: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>) {
  let port = value.port;
  if (port === undefined && env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT !== undefined) {
    port = Number(env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT);
    if (!Number.isInteger(port)) {
      throw new InvalidOptionError(
        "env PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
        env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
        "expected a port number",
      );
    }
  }
  return {
    host: value.host === undefined ? "localhost" : loopbackHost("lambdaExtension.host", value.host),
    port: integerInRange("lambdaExtension.port", port, lambdaExtensionDefaultPort, 1, 65_535),
    timeoutMs: integerInRange("lambdaExtension.timeoutMs", value.timeoutMs, 1_000, 1, 60_000),
  };
}

/**
 * A host that is this machine's loopback: `localhost` (any case), an IPv4 address of 127.0.0.0/8, or `::1` (in any
 * IPv6 spelling). Anything else would send the session token, in clear text, off the machine.
 */
function loopbackHost(option: string, value: unknown): string {
  const host = nonEmptyString(option, value);
  const loopback =
    host.toLowerCase() === "localhost" ||
    (isIPv4(host) && host.split(".")[0] === "127") ||
    (isIPv6(host) && new URL(`http://[${host}]/`).hostname === "[::1]");
  if (!loopback) {
    throw new InvalidOptionError(
      option,
      value,
      "expected a loopback host (localhost, an address of 127.0.0.0/8, or ::1): the reader sends AWS_SESSION_TOKEN to the extension over plain HTTP",
    );
  }
  return host;
}

/** The outcome of one read through the extension. @internal */
export type ExtensionRead =
  | { readonly kind: "value"; readonly value: string }
  /** Nothing listens: the extension is not installed. Stop trying. */
  | { readonly kind: "absent"; readonly error: unknown }
  /** It answered with an error (for example during INIT, when it does not serve yet) or timed out. */
  | { readonly kind: "failed"; readonly error: unknown };

/**
 * One GET through the extension. It answers GetParameter's JSON shape (`{ "Parameter": { "Value": ... } }`) from
 * its own cache (TTL `SSM_PARAMETER_STORE_TTL`, at most 300 s), which is what keeps a fleet of functions from
 * spending the account's shared GetParameter budget.
 *
 * @internal
 */
export async function readThroughExtension(
  settings: LambdaExtensionSettings,
  parameterName: string,
  token: string | undefined,
): Promise<ExtensionRead> {
  const host = settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  const url = `http://${host}:${settings.port}/systemsmanager/parameters/get?name=${encodeURIComponent(parameterName)}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: token === undefined ? {} : { "X-Aws-Parameters-Secrets-Token": token },
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
  } catch (error) {
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    return code === "ECONNREFUSED" ? { kind: "absent", error } : { kind: "failed", error };
  }
  let body: string;
  try {
    body = await response.text();
  } catch (error) {
    return { kind: "failed", error };
  }
  if (!response.ok) {
    return { kind: "failed", error: new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`) };
  }
  try {
    const parsed = JSON.parse(body) as { Parameter?: { Value?: unknown } };
    const value = parsed.Parameter?.Value;
    if (typeof value !== "string") return { kind: "failed", error: new Error("answer has no Parameter.Value") };
    return { kind: "value", value };
  } catch (error) {
    return { kind: "failed", error };
  }
}
