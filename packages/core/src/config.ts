// zod/mini on the cold path: the classic `zod` entry brought 450 KB (44% of every handler bundle, with 64 locales)
// into each Lambda's cold start; the mini build with the English messages alone is about 20 KB, same checks.
import * as z from "zod/mini";
import englishLocale from "zod/v4/locales/en.js";
import { shardPath } from "@discovery-sync/client/shards";
import { ConfigError, type ConfigIssue } from "./errors.js";

/** Name of the environment variable the handlers read their configuration from (a JSON string). */
export const configEnvVar = "DISCOVERY_SYNC_CONFIG";

/**
 * zod's English messages ("Invalid input: expected number, received string"), passed to each parse rather than set
 * globally, so that no other zod user in the process is affected.
 */
export const englishMessages = englishLocale().localeError;

const clusterName = /^[A-Za-z0-9_-]{1,255}$/;
const clusterArn = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/([A-Za-z0-9_-]{1,255})$/;
const targetGroupArn = /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/;
// SSM: letters, digits, and _ . - /; a hierarchy (leading "/") of at most 15 levels; at most 1011 characters.
const parameterName = /^\/?[A-Za-z0-9_.\-/]{1,1011}$/;

// DNS names as Route 53 compares them in IAM conditions: labels of letters, digits, '-' and '_' (no other character
// needs escaping then), no trailing dot.
const dnsName = /^(?=.{1,253}$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*$/;

/**
 * The DNS side of a service's Cloud Map service, for the IAM policy only (the handlers ignore it): on a DNS namespace,
 * RegisterInstance and DeregisterInstance write the Route 53 records with the caller's credentials, and these say
 * which hosted zone, which record names and which record types they may write.
 */
const cloudMapDnsSchema = z.strictObject({
  hostedZoneId: z.string().check(z.regex(/^Z[A-Z0-9]{1,31}$/, "must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ (the namespace's, without /hostedzone/)")),
  namespaceName: z.string().check(z.regex(dnsName, "must be the namespace's DNS name, like workflow.local (labels of letters, digits, '-' or '_', no trailing dot)")),
  serviceName: z.string().check(z.regex(dnsName, "must be the Cloud Map service's name, like workflow-agent (letters, digits, '-', '_' or '.')")),
  recordTypes: z.optional(
    z
      .array(z.enum(["A", "SRV"], "must be A or SRV: the reconciler registers an IPv4 address and a port, so Cloud Map writes A records, and SRV records when the service has them"))
      .check(
        z.minLength(1, "must list the record types of the service's DnsConfig"),
        z.refine((types) => types.includes("A"), "must include A: Cloud Map writes an A record per instance for A and for SRV services alike"),
        z.refine((types) => new Set(types).size === types.length, "must not list a type twice"),
      ),
  ),
  route53HealthCheck: z.optional(z.boolean("must be true or false")),
});

const portMessage = "must be from 1 to 65535";

/** One service as written in the configuration. */
const serviceInputSchema = z.strictObject({
  name: z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit")),
  cluster: z.string().check(z.refine((v) => clusterName.test(v) || clusterArn.test(v), "must be an ECS cluster name or cluster ARN")),
  ecsService: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,255}$/, "must be an ECS service name (1-255 letters, digits, '_' or '-')")),
  port: z.number().check(z.refine(Number.isInteger, "must be an integer"), z.gte(1, portMessage), z.lte(65_535, portMessage)),
  cloudMapServiceId: z.optional(z.string().check(z.regex(/^srv-[A-Za-z0-9]{1,64}$/, "must be a Cloud Map service id like srv-0123456789abcdef"))),
  cloudMapDns: z.optional(
    z.union([z.literal("none"), cloudMapDnsSchema], {
      // An object is reported field by field instead (parseConfig takes the object branch's issues).
      error: 'must be "none" (an HTTP namespace) or { hostedZoneId, namespaceName, serviceName, recordTypes?, route53HealthCheck? }',
    }),
  ),
  targetGroupArns: z.optional(
    z
      .array(z.string().check(z.regex(targetGroupArn, "must be an ELBv2 target group ARN")))
      .check(
        z.maxLength(5, "at most 5 target groups per service"),
        z.refine((arns) => new Set(arns).size === arns.length, "must not list a target group twice"),
      ),
  ),
  parameterName: z.string().check(
    z.regex(parameterName, "must be an SSM parameter name (letters, digits, '_', '.', '-', '/')"),
    z.refine((v) => !/^\/?aws|^\/?ssm/i.test(v), "must not start with 'aws' or 'ssm' (reserved by SSM)"),
    z.refine((v) => v.split("/").filter(Boolean).length <= 15, "must have at most 15 hierarchy levels"),
  ),
});

/**
 * One service, with its cluster normalised once here, so that nothing downstream converts "name or ARN" again:
 * `clusterName` always, `clusterArn` when the cluster was given as an ARN (a name alone does not say the account and
 * Region).
 */
const serviceSchema = z.pipe(
  serviceInputSchema,
  z.transform((service): z.output<typeof serviceInputSchema> & { clusterName: string; clusterArn?: string } => {
    const arn = clusterArn.exec(service.cluster);
    return arn === null ? { ...service, clusterName: service.cluster } : { ...service, clusterName: arn[1]!, clusterArn: service.cluster };
  }),
);

/** Why one account and one Region: said whenever an ARN is refused for being in another. */
export const oneAccountAndRegionReason =
  "IAM grants and the EventBridge rule are per account and Region; services of another account or Region need their own deployment";

type UniqueField = "name" | "parameterName" | "ecsService" | "cloudMapServiceId";

/** Why each unique field must be unique: what two services sharing it would do to each other. */
const uniqueReason: Record<UniqueField, string> = {
  name: "each service needs its own name (it is the message group, the metrics dimension and the document's service)",
  parameterName: "each service owns its endpoint document and rewrites all of it, so two services would overwrite each other's",
  ecsService: "each ECS service (cluster and service name) is synced by one entry only, or two reconciles would race on its targets",
  cloudMapServiceId:
    "each service owns its Cloud Map instances and deregisters every instance its tasks don't back, so two services would remove each other's",
};
const targetGroupReason =
  "each service owns its target groups' targets and deregisters every target its tasks don't back, so two services would remove each other's";

const servicesSchema = z.strictObject({
  services: z.array(serviceSchema).check(z.minLength(1, "must list at least one service")),
});

/** The rules that span services: what no two may share, paths that collide, one account and Region. */
function checkAcrossServices(
  config: z.output<typeof servicesSchema>,
  ctx: z.core.$RefinementCtx<z.output<typeof servicesSchema>>,
): void {
  // --- Cloud Map DNS scope only with a Cloud Map service --------------------------------------------------------------
  config.services.forEach((service, index) => {
    if (service.cloudMapDns !== undefined && service.cloudMapServiceId === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["services", index, "cloudMapDns"],
        message: "describes the DNS records of the service's Cloud Map service, but the service has no cloudMapServiceId",
        input: service.cloudMapDns,
      });
    }
  });

  // --- Fields no two services may share -------------------------------------------------------------------------
  const seen = new Map<string, number>();
  config.services.forEach((service, index) => {
    const uniqueKeys: Array<[field: UniqueField, key: string]> = [
      ["name", `name:${service.name}`],
      ["parameterName", `parameter:${service.parameterName}`],
      ["ecsService", `ecs:${service.clusterName}/${service.ecsService}`],
    ];
    if (service.cloudMapServiceId !== undefined) {
      uniqueKeys.push(["cloudMapServiceId", `cloudmap:${service.cloudMapServiceId}`]);
    }
    for (const [field, key] of uniqueKeys) {
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["services", index, field],
          message: `is already used by services[${first}]; ${uniqueReason[field]}`,
          input: service[field],
        });
      } else {
        seen.set(key, index);
      }
    }
    (service.targetGroupArns ?? []).forEach((arn, j) => {
      const key = `targetgroup:${arn}`;
      const first = seen.get(key);
      // Twice within one service is refused by the field's own check.
      if (first !== undefined && first !== index) {
        ctx.addIssue({
          code: "custom",
          path: ["services", index, "targetGroupArns", j],
          message: `is already used by services[${first}]; ${targetGroupReason}`,
          input: arn,
        });
      } else if (first === undefined) {
        seen.set(key, index);
      }
    });
  });

  // --- Document paths that collide through sharding ----------------------------------------------------------------
  // A large document is stored as <parameterName>/shards/<i> ("/" added to a flat name), so no document path may be
  // a prefix of another's, and a flat name "x" is the same path as "/x" (their shards coincide).
  const paths = config.services.map((service) => documentPathOf(service.parameterName));
  config.services.forEach((service, index) => {
    for (let other = 0; other < index; other++) {
      const mine = paths[index]!;
      const theirs = paths[other]!;
      const otherName = config.services[other]!.parameterName;
      // The same name is already refused as "already used".
      if (otherName === service.parameterName) continue;
      let relation: string | undefined;
      if (sameSegments(mine, theirs)) {
        relation = `is the same document path as services[${other}].parameterName ${JSON.stringify(otherName)} (a flat name and its "/" form share the shards ${JSON.stringify(`${shardPath(service.parameterName)}/<i>`)})`;
      } else if (isPrefix(theirs, mine)) {
        relation = `lies under services[${other}].parameterName ${JSON.stringify(otherName)}, whose shards are ${JSON.stringify(`${shardPath(otherName)}/<i>`)}`;
      } else if (isPrefix(mine, theirs)) {
        relation = `is a path prefix of services[${other}].parameterName ${JSON.stringify(otherName)}, and its own shards are ${JSON.stringify(`${shardPath(service.parameterName)}/<i>`)}`;
      }
      if (relation !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["services", index, "parameterName"],
          message:
            `${relation}; no parameter name may be a path prefix of another's, or the shards of a large document ` +
            "would overwrite, or be deleted with, the other service's parameters",
          input: service.parameterName,
        });
      }
    }
  });

  // --- One account and one Region ---------------------------------------------------------------------------------
  const arns: Array<{ path: (string | number)[]; arn: string; scope: ArnScope }> = [];
  config.services.forEach((service, index) => {
    const clusterScope = arnScopeOf(service.cluster);
    if (clusterScope !== undefined) arns.push({ path: ["services", index, "cluster"], arn: service.cluster, scope: clusterScope });
    (service.targetGroupArns ?? []).forEach((arn, j) => {
      const scope = arnScopeOf(arn);
      if (scope !== undefined) arns.push({ path: ["services", index, "targetGroupArns", j], arn, scope });
    });
  });
  // The account and Region most ARNs are in (the first seen on a tie) is the configuration's; the others are refused.
  const counts = new Map<string, { count: number; first: (typeof arns)[number] }>();
  for (const entry of arns) {
    const key = scopeKey(entry.scope);
    const known = counts.get(key);
    if (known === undefined) counts.set(key, { count: 1, first: entry });
    else known.count++;
  }
  let main: { count: number; first: (typeof arns)[number] } | undefined;
  for (const candidate of counts.values()) if (main === undefined || candidate.count > main.count) main = candidate;
  if (main === undefined) return;
  const expected = main.first.scope;
  for (const entry of arns) {
    if (scopeKey(entry.scope) === scopeKey(expected)) continue;
    ctx.addIssue({
      code: "custom",
      path: entry.path,
      message:
        `is in ${describeScope(entry.scope)}, but ${formatPath(main.first.path)}` +
        `${main.count > 1 ? ` and ${main.count - 1} other ARN(s) of the configuration are` : " is"} in ${describeScope(expected)}; ` +
        oneAccountAndRegionReason,
      input: entry.arn,
    });
  }
}

const configSchema = servicesSchema.check(z.superRefine(checkAcrossServices));

/** The account and Region of an ARN. */
export interface ArnScope {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/**
 * The partition, Region and account of an ARN (`arn:<partition>:<service>:<region>:<account>:...`), or undefined
 * for anything that is not an ARN with both (a cluster name, a Cloud Map service id).
 *
 * @example
 * ```ts
 * arnScopeOf("arn:aws:ecs:us-east-1:123456789012:cluster/workflow"); // { partition: "aws", region: "us-east-1", account: "123456789012" }
 * arnScopeOf("workflow");                                            // undefined
 * ```
 */
export function arnScopeOf(value: string): ArnScope | undefined {
  const match = /^arn:([^:]+):[^:]+:([^:]+):(\d{12}):/.exec(value);
  if (match === null) return undefined;
  return { partition: match[1]!, region: match[2]!, account: match[3]! };
}

function scopeKey(scope: ArnScope): string {
  return `${scope.account}/${scope.region}`;
}

function describeScope(scope: ArnScope): string {
  return `account ${scope.account}, Region ${scope.region}`;
}

/** The segments of the path under which a document and its shards live (`x` and `/x` give the same). */
function documentPathOf(parameterName: string): string[] {
  return parameterName.split("/").filter(Boolean);
}

function sameSegments(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((segment, i) => segment === b[i]);
}

/** Whether `prefix` is a proper path prefix of `path`. */
function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  return prefix.length < path.length && prefix.every((segment, i) => segment === path[i]);
}

/**
 * One synced service, as {@link parseConfig} returns it: the fields as written, plus the cluster normalised
 * (`clusterName`, and `clusterArn` when the cluster was given as an ARN).
 */
export type ServiceConfig = z.output<typeof serviceSchema>;
/** One service as written in the configuration (what {@link parseConfig} takes). */
export type ServiceConfigInput = z.output<typeof serviceInputSchema>;
/** The DNS side of a service's Cloud Map service in a DNS namespace (`cloudMapDns` other than `"none"`). */
export type CloudMapDnsConfig = z.output<typeof cloudMapDnsSchema>;
/** The whole configuration of discovery-sync, as {@link parseConfig} returns it. */
export type DiscoverySyncConfig = z.output<typeof configSchema>;

/**
 * The cluster name of a configured cluster given as a name or an ARN. Parsed configurations carry it already
 * (`service.clusterName`); this is for values that never went through {@link parseConfig}.
 *
 * @example
 * ```ts
 * clusterNameOf("arn:aws:ecs:us-east-1:123456789012:cluster/workflow"); // "workflow"
 * ```
 */
export function clusterNameOf(cluster: string): string {
  return clusterArn.exec(cluster)?.[1] ?? cluster;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`), "");
}

function describeGiven(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Validates a configuration object.
 *
 * @example
 * ```ts
 * const config = parseConfig({ services: [{ name: "workflow-agent", cluster: "workflow", ecsService: "workflow-agent",
 *   port: 50051, parameterName: "/discovery/workflow-agent/endpoints" }] });
 * ```
 * @throws {ConfigError} naming every wrong field and the value given.
 */
export function parseConfig(input: unknown, source = "configuration"): DiscoverySyncConfig {
  const result = configSchema.safeParse(input, { reportInput: true, error: englishMessages });
  if (result.success) return result.data;
  const issues: ConfigIssue[] = result.error.issues.flatMap(objectBranchIssues).map((issue) => {
    const given = "input" in issue ? issue.input : undefined;
    const path = formatPath(issue.path) || "$";
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
    return { path, message, given };
  });
  throw configErrorOf(source, issues);
}

/**
 * A union of a literal and an object (`cloudMapDns`) given an object: the object's own issues, field by field, rather
 * than the union's one message, which only says that neither form fits.
 */
function objectBranchIssues(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== "invalid_union") return [issue];
  const input = issue.input;
  if (typeof input !== "object" || input === null || Array.isArray(input)) return [issue];
  const branch = issue.errors.find((errors) => !errors.some((e) => e.path.length === 0 && (e.code === "invalid_type" || e.code === "invalid_value")));
  if (branch === undefined) return [issue];
  return branch.map((e) => ({ ...e, path: [...issue.path, ...e.path] }) as z.core.$ZodIssue);
}

/**
 * The error for wrong fields of a configuration, in the format {@link parseConfig} uses: `invalid <source>:` and one
 * line per field, `  <path>: <message> (given <value>)`. For checks made elsewhere (at synth time, for example).
 *
 * @example
 * ```ts
 * throw configErrorOf("discovery-sync.prod.config.json", [{ path: "services[0].cluster", message: "is in another account", given: arn }]);
 * ```
 */
export function configErrorOf(source: string, issues: readonly ConfigIssue[]): ConfigError {
  const lines = issues.map((i) => `  ${i.path}: ${i.message} (given ${describeGiven(i.given)})`);
  return new ConfigError(`invalid ${source}:\n${lines.join("\n")}`, issues);
}

/**
 * Reads and validates the configuration from `DISCOVERY_SYNC_CONFIG`.
 *
 * @example
 * ```ts
 * const config = loadConfigFromEnv(process.env);
 * ```
 * @throws {ConfigError} when the variable is missing, not JSON, or invalid.
 */
export function loadConfigFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): DiscoverySyncConfig {
  const raw = env[configEnvVar];
  if (raw === undefined || raw.trim() === "") {
    throw new ConfigError(`${configEnvVar} is not set: it must hold the configuration as JSON`, [
      { path: "$", message: "missing" },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(
      `${configEnvVar} is not valid JSON (given ${describeGiven(raw)}): ${(error as Error).message}`,
      [{ path: "$", message: "not JSON", given: raw }],
      { cause: error },
    );
  }
  return parseConfig(parsed, configEnvVar);
}
