import { Stack, Token } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import {
  arnScopeOf,
  ConfigError,
  configErrorOf,
  oneAccountAndRegionReason,
  parseConfig,
  type ArnScope,
  type ConfigIssue,
  type DiscoverySyncConfig,
} from "@discovery-sync/core";

/**
 * Placeholders used to validate values that are CDK tokens at synth time (for example a Cloud Map service id or a
 * target group ARN created in the same app). One token gets one placeholder wherever it appears, so that a target
 * group or Cloud Map service given to two services is refused like a literal one.
 */
const PLACEHOLDER = {
  cloudMapServiceId: (n: number) => `srv-${String(n).padStart(16, "0")}`,
  // ELBv2 names are at most 32 characters and the id is 16 hex digits.
  targetGroupArn: (n: number, scope: ArnScope) =>
    `arn:${scope.partition}:elasticloadbalancing:${scope.region}:${scope.account}:targetgroup/${"t".repeat(32 - String(n).length)}${n}/0123456789abcdef`,
  // Route 53 hosted zone ids are "Z" and up to 31 upper-case letters and digits.
  hostedZoneId: (n: number) => `Z${String(n).padStart(31, "0")}`,
} as const;

/**
 * The longest partition and Region in use, for the size estimate of the configuration (which decides env var vs. SSM
 * parameter): it must err on the large side.
 */
const LONGEST_SCOPE: ArnScope = { partition: "aws-iso-b", region: "ap-southeast-5", account: "123456789012" };

/** A configuration checked at synth time, with the tokens it may contain. */
export interface ValidatedConfig {
  /**
   * The configuration as parsed (tokens kept), with the fields `parseConfig` derives (`clusterName`, `clusterArn`):
   * what the construct derives the event pattern and the IAM policies from.
   */
  readonly config: DiscoverySyncConfig;
  /**
   * The configuration as given (tokens kept), to serialise into the environment or a parameter: the handlers parse
   * it again, and their schema refuses the derived fields.
   */
  readonly document: unknown;
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
 * Tokens (unresolved CDK values) are accepted in `services[].cloudMapServiceId`, `services[].cloudMapDns.hostedZoneId`
 * and `services[].targetGroupArns[]` only: those are the values an app typically creates next to the control plane. Every other field must be a literal
 * because the event pattern and the IAM policies are derived from it.
 *
 * Given the construct (`scope`), it also refuses literal ARNs (cluster and target group ARNs) of another account or
 * Region than its stack's, when the stack's account and Region are concrete; an environment-agnostic stack (account
 * and Region are tokens) skips that check, and the configuration only has to be in one account and Region.
 *
 * @example
 * ```ts
 * const { config } = validateConfig(JSON.parse(readFileSync("discovery-sync.config.json", "utf8")), "discovery-sync.config.json", this);
 * ```
 * @throws {ConfigError} naming every wrong field.
 */
export function validateConfig(input: unknown, source = "configuration", scope?: IConstruct): ValidatedConfig {
  let hasTokens = false;
  const tokenIssues: string[] = [];
  // One number per distinct token: the same token in two places gets the same placeholder.
  const tokenNumbers = new Map<string, number>();
  const placeholders = new Map<string, string>();
  const stack = scope === undefined ? undefined : Stack.of(scope);
  const placeholderScope = tokenScope(input, stack);
  const substitute = (
    value: unknown,
    path: string,
    placeholder?: (n: number, scope: ArnScope) => string,
  ): { probe: unknown; size: unknown } => {
    if (typeof value === "string" || typeof value === "number") {
      if (!Token.isUnresolved(value)) return { probe: value, size: value };
      hasTokens = true;
      if (placeholder !== undefined) {
        const token = String(value);
        const n = tokenNumbers.get(token) ?? tokenNumbers.size + 1;
        tokenNumbers.set(token, n);
        const probe = placeholder(n, placeholderScope);
        placeholders.set(probe, token);
        return { probe, size: placeholder(n, LONGEST_SCOPE) };
      }
      tokenIssues.push(`  ${path}: must be a literal value, not a CDK token (tokens are accepted in cloudMapServiceId, cloudMapDns.hostedZoneId and targetGroupArns only)`);
    }
    return { probe: value, size: value };
  };
  // Substitute placeholders for validation only; the original (with tokens) is what gets deployed. `probe` is what
  // is validated, `size` (the longest values in place of the tokens) what the size estimate measures.
  let probe: unknown = input;
  let size: unknown = input;
  if (isRecord(input) && Array.isArray(input["services"])) {
    const services = input["services"].map((service: unknown, i: number) => {
      if (!isRecord(service)) return { probe: service, size: service };
      const out: Record<string, unknown> = {};
      const outSize: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(service)) {
        const path = `services[${i}].${key}`;
        if (key === "cloudMapServiceId") {
          ({ probe: out[key], size: outSize[key] } = substitute(value, path, PLACEHOLDER.cloudMapServiceId));
        } else if (key === "cloudMapDns" && isRecord(value)) {
          const dns: Record<string, unknown> = {};
          const dnsSize: Record<string, unknown> = {};
          for (const [field, fieldValue] of Object.entries(value)) {
            ({ probe: dns[field], size: dnsSize[field] } =
              field === "hostedZoneId"
                ? substitute(fieldValue, `${path}.${field}`, PLACEHOLDER.hostedZoneId)
                : substitute(fieldValue, `${path}.${field}`));
          }
          out[key] = dns;
          outSize[key] = dnsSize;
        } else if (key === "targetGroupArns" && Array.isArray(value)) {
          const arns = value.map((v, j) => substitute(v, `${path}[${j}]`, PLACEHOLDER.targetGroupArn));
          out[key] = arns.map((a) => a.probe);
          outSize[key] = arns.map((a) => a.size);
        } else {
          ({ probe: out[key], size: outSize[key] } = substitute(value, path));
        }
      }
      return { probe: out, size: outSize };
    });
    probe = { ...input, services: services.map((s) => s.probe) };
    size = { ...input, services: services.map((s) => s.size) };
  }
  if (tokenIssues.length > 0) {
    throw new ConfigError(
      `invalid ${source}:\n${tokenIssues.join("\n")}`,
      tokenIssues.map((line) => ({ path: line.trim().split(":")[0] ?? "$", message: "must be a literal value, not a CDK token" })),
    );
  }
  let parsed: DiscoverySyncConfig;
  try {
    parsed = parseConfig(probe, source);
  } catch (error) {
    throw error instanceof ConfigError && placeholders.size > 0 ? withTokens(error, placeholders, source) : error;
  }
  if (stack !== undefined) checkStackEnvironment(parsed, stack, source);
  // parseConfig validated the probe; the estimate measures the same configuration with the longest values.
  const estimatedJson = JSON.stringify(size);
  return {
    // parseConfig returns the placeholders; deploy the caller's values (original token strings) with the fields
    // parseConfig derives from literal ones (the cluster, never a token).
    config: hasTokens ? withCallerValues(parsed, input) : parsed,
    document: input,
    estimatedBytes: Buffer.byteLength(estimatedJson, "utf8"),
    estimatedJson,
    hasTokens,
  };
}

/** The parsed configuration with the caller's own values (tokens) in place of the placeholders validated. */
function withCallerValues(parsed: DiscoverySyncConfig, input: unknown): DiscoverySyncConfig {
  const given = isRecord(input) && Array.isArray(input["services"]) ? input["services"] : [];
  return {
    ...parsed,
    services: parsed.services.map((service, i) => {
      const { clusterName, clusterArn } = service;
      return { ...(given[i] as typeof service), clusterName, ...(clusterArn === undefined ? {} : { clusterArn }) };
    }),
  };
}

/**
 * The account and Region given to placeholder ARNs: those of most literal ARNs of the configuration, else the
 * stack's when concrete, so that a token never counts as an ARN of another account or Region.
 */
function tokenScope(input: unknown, stack: Stack | undefined): ArnScope {
  const counts = new Map<string, { count: number; scope: ArnScope }>();
  const services = isRecord(input) && Array.isArray(input["services"]) ? input["services"] : [];
  for (const service of services) {
    if (!isRecord(service)) continue;
    const values = [service["cluster"], ...(Array.isArray(service["targetGroupArns"]) ? service["targetGroupArns"] : [])];
    for (const value of values) {
      if (typeof value !== "string" || Token.isUnresolved(value)) continue;
      const scope = arnScopeOf(value);
      if (scope === undefined) continue;
      const key = `${scope.account}/${scope.region}`;
      const known = counts.get(key);
      if (known === undefined) counts.set(key, { count: 1, scope });
      else known.count++;
    }
  }
  let main: { count: number; scope: ArnScope } | undefined;
  for (const candidate of counts.values()) if (main === undefined || candidate.count > main.count) main = candidate;
  if (main !== undefined) return main.scope;
  return {
    partition: stack !== undefined && !Token.isUnresolved(stack.partition) ? stack.partition : LONGEST_SCOPE.partition,
    region: stack !== undefined && !Token.isUnresolved(stack.region) ? stack.region : LONGEST_SCOPE.region,
    account: stack !== undefined && !Token.isUnresolved(stack.account) ? stack.account : LONGEST_SCOPE.account,
  };
}

/**
 * Refuses literal ARNs of another account or Region than the stack's, for each of the two that is concrete. Tokens
 * (an environment-agnostic stack, or a target group ARN of the same app) are not checked.
 */
function checkStackEnvironment(config: DiscoverySyncConfig, stack: Stack, source: string): void {
  const account = Token.isUnresolved(stack.account) ? undefined : stack.account;
  const region = Token.isUnresolved(stack.region) ? undefined : stack.region;
  if (account === undefined && region === undefined) return;
  const deploysTo = [account === undefined ? undefined : `account ${account}`, region === undefined ? undefined : `Region ${region}`]
    .filter((part) => part !== undefined)
    .join(", ");
  const issues: ConfigIssue[] = [];
  const check = (path: string, value: string) => {
    if (Token.isUnresolved(value)) return;
    const scope = arnScopeOf(value);
    if (scope === undefined) return;
    if ((account !== undefined && scope.account !== account) || (region !== undefined && scope.region !== region)) {
      issues.push({
        path,
        message:
          `is in account ${scope.account}, Region ${scope.region}, but stack ${stack.stackName} deploys to ${deploysTo}; ` +
          oneAccountAndRegionReason,
        given: value,
      });
    }
  };
  config.services.forEach((service, i) => {
    check(`services[${i}].cluster`, service.cluster);
    (service.targetGroupArns ?? []).forEach((arn, j) => check(`services[${i}].targetGroupArns[${j}]`, arn));
  });
  if (issues.length > 0) throw configErrorOf(source, issues);
}

/**
 * The error with the tokens the caller gave in place of the placeholders that stood for them (rebuilt from the issues:
 * the message may have cut a long placeholder short).
 */
function withTokens(error: ConfigError, placeholders: ReadonlyMap<string, string>, source: string): ConfigError {
  const restore = (text: string) => {
    let out = text;
    for (const [placeholder, token] of placeholders) out = out.split(placeholder).join(token);
    return out;
  };
  return configErrorOf(
    source,
    error.issues.map((issue) => ({
      ...issue,
      message: restore(issue.message),
      ...(typeof issue.given === "string" ? { given: restore(issue.given) } : {}),
    })),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
