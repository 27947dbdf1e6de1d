/**
 * Up-front option checks shared by every module of the package. Each throws {@link InvalidOptionError} naming the
 * option and the value given, so a typo fails at start-up instead of as a mysterious outage later.
 *
 * @internal
 * @module
 */
import { InvalidOptionError } from "./errors.js";

/** A plain object (not null, not an array). @internal */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** @internal */
export function assertRecord(option: string, value: unknown): asserts value is Record<string, unknown> {
  if (!isRecord(value)) {
    throw new InvalidOptionError(option, value, "expected an object");
  }
}

/**
 * Refuses keys the caller did not mean: a misspelt option (`refreshInterval`) would otherwise be ignored silently.
 *
 * @internal
 */
export function assertKnownKeys(option: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(
        option === "" ? key : `${option}.${key}`,
        value[key],
        `unknown option; known options are ${known.join(", ")}`,
      );
    }
  }
}

/** @internal */
export function integerInRange(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, value, `expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** Like {@link integerInRange} but also accepts `Infinity` (for "no limit"). @internal */
export function durationOrInfinity(option: string, value: unknown, fallback: number, min: number): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return integerInRange(option, value, fallback, min, Number.MAX_SAFE_INTEGER);
}

/** @internal */
export function fractionInRange(option: string, value: unknown, fallback: number, maxExclusive: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value >= maxExclusive) {
    throw new InvalidOptionError(option, value, `expected a number from 0 up to (not including) ${maxExclusive}`);
  }
  return value;
}

/** @internal */
export function nonEmptyString(option: string, value: unknown): string {
  if (typeof value !== "string" || value.trim().length === 0) {
    throw new InvalidOptionError(option, value, "expected a non-empty string");
  }
  return value;
}

/** @internal */
export function optionalFunction<F extends (...args: never[]) => unknown>(option: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new InvalidOptionError(option, value, "expected a function");
  return value as F;
}

/** @internal */
export function optionalBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new InvalidOptionError(option, value, "expected true or false");
  return value;
}

/** SSM parameter names: letters, digits and `_.-/`, optionally as a full ARN, optionally with a `:version`/`:label`. */
const parameterNamePattern = /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?\/?[A-Za-z0-9_.\-/]{1,1011}(:[A-Za-z0-9_.-]{1,100})?$/;

/** @internal */
export function ssmParameterName(option: string, value: unknown): string {
  const name = nonEmptyString(option, value);
  if (!parameterNamePattern.test(name)) {
    throw new InvalidOptionError(option, name, "expected an SSM parameter name (letters, digits and _.-/) or ARN");
  }
  return name;
}

const hostnameLabel = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * True for a DNS host name (RFC 1123 labels), such as `localhost` or `workflow-agent.workflow.local`.
 *
 * @internal
 */
export function isHostname(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  const trimmed = value.endsWith(".") ? value.slice(0, -1) : value;
  return trimmed.split(".").every((label) => hostnameLabel.test(label));
}
