import { Token } from "aws-cdk-lib";
import { ConfigError, parseConfig, type DiscoverySyncConfig } from "@discovery-sync/core";

/**
 * Placeholders used to validate values that are CDK tokens at synth time (for example a Cloud Map service id or a
 * target group ARN created in the same app). Their lengths are the longest real values, so that the size estimate of
 * the configuration (which decides env var vs. SSM parameter) errs on the large side.
 */
const PLACEHOLDER = {
  cloudMapServiceId: (n: number) => `srv-${String(n).padStart(16, "0")}`,
  // ELBv2 names are at most 32 characters and the id is 16 hex digits; region and partition are the longest in use.
  targetGroupArn: (n: number) =>
    `arn:aws-iso-b:elasticloadbalancing:ap-southeast-5:123456789012:targetgroup/${"t".repeat(32 - String(n).length)}${n}/0123456789abcdef`,
} as const;

/** A configuration checked at synth time, with the tokens it may contain. */
export interface ValidatedConfig {
  /** The configuration as given (tokens kept), to serialise into the environment or a parameter. */
  readonly config: DiscoverySyncConfig;
  /** Size in bytes of the JSON once CloudFormation has resolved the tokens (an upper bound when there are tokens). */
  readonly estimatedBytes: number;
  /** The JSON with the longest possible values in place of the tokens: what {@link estimatedBytes} measures. */
  readonly estimatedJson: string;
  /** Whether any value is a token. */
  readonly hasTokens: boolean;
}

/**
 * Validates a discovery-sync configuration at synth time with the same schema the handlers use at start
 * (`parseConfig` of `@discovery-sync/core`), so a bad configuration fails synthesis, before anything is created,
 * with a message naming the field and the value given.
 *
 * Tokens (unresolved CDK values) are accepted in `services[].cloudMapServiceId` and `services[].targetGroupArns[]`
 * only: those are the values an app typically creates next to the control plane. Every other field must be a literal
 * because the event pattern and the IAM policies are derived from it.
 *
 * @example
 * ```ts
 * const { config } = validateConfig(JSON.parse(readFileSync("discovery-sync.config.json", "utf8")), "discovery-sync.config.json");
 * ```
 * @throws {ConfigError} naming every wrong field.
 */
export function validateConfig(input: unknown, source = "configuration"): ValidatedConfig {
  let hasTokens = false;
  let counter = 0;
  const tokenIssues: string[] = [];
  const substitute = (value: unknown, path: string, placeholder?: (n: number) => string): unknown => {
    if (typeof value === "string" || typeof value === "number") {
      if (!Token.isUnresolved(value)) return value;
      hasTokens = true;
      if (placeholder !== undefined) return placeholder(++counter);
      tokenIssues.push(`  ${path}: must be a literal value, not a CDK token (tokens are accepted in cloudMapServiceId and targetGroupArns only)`);
      return value;
    }
    return value;
  };
  // Substitute placeholders for validation only; the original (with tokens) is what gets deployed.
  let probe: unknown = input;
  if (isRecord(input) && Array.isArray(input["services"])) {
    probe = {
      ...input,
      services: input["services"].map((service: unknown, i: number) => {
        if (!isRecord(service)) return service;
        const out: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(service)) {
          const path = `services[${i}].${key}`;
          if (key === "cloudMapServiceId") out[key] = substitute(value, path, PLACEHOLDER.cloudMapServiceId);
          else if (key === "targetGroupArns" && Array.isArray(value))
            out[key] = value.map((v, j) => substitute(v, `${path}[${j}]`, PLACEHOLDER.targetGroupArn));
          else out[key] = substitute(value, path);
        }
        return out;
      }),
    };
  }
  if (tokenIssues.length > 0) {
    throw new ConfigError(
      `invalid ${source}:\n${tokenIssues.join("\n")}`,
      tokenIssues.map((line) => ({ path: line.trim().split(":")[0] ?? "$", message: "must be a literal value, not a CDK token" })),
    );
  }
  const parsed = parseConfig(probe, source);
  const estimatedJson = JSON.stringify(parsed);
  return {
    // parseConfig returns the placeholders; deploy the caller's values (parsed shape, original token strings).
    config: hasTokens ? (input as DiscoverySyncConfig) : parsed,
    estimatedBytes: Buffer.byteLength(estimatedJson, "utf8"),
    estimatedJson,
    hasTokens,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
