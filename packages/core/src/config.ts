// valibot, not zod, on the cold path: see ./validation.ts.
import * as v from "valibot";
import { shardPath } from "@discovery-sync/client/shards";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { englishMessages, finiteNumber, isUnknownFieldsIssue, issuePathOf, strictObjectOf } from "./validation.js";

/** Name of the environment variable the handlers read their configuration from (a JSON string). */
export const configEnvVar = "DISCOVERY_SYNC_CONFIG";


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
const cloudMapDnsSchema = strictObjectOf({
  hostedZoneId: v.pipe(v.string(), v.regex(/^Z[A-Z0-9]{1,31}$/, "must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ (the namespace's, without /hostedzone/)")),
  namespaceName: v.pipe(v.string(), v.regex(dnsName, "must be the namespace's DNS name, like workflow.local (labels of letters, digits, '-' or '_', no trailing dot)")),
  serviceName: v.pipe(v.string(), v.regex(dnsName, "must be the Cloud Map service's name, like workflow-agent (letters, digits, '-', '_' or '.')")),
  recordTypes: v.optional(
    v.pipe(
      v.array(v.picklist(["A", "SRV"], "must be A or SRV: the reconciler registers an IPv4 address and a port, so Cloud Map writes A records, and SRV records when the service has them")),
      v.minLength(1, "must list the record types of the service's DnsConfig"),
      v.check((types) => types.includes("A"), "must include A: Cloud Map writes an A record per instance for A and for SRV services alike"),
      v.check((types) => new Set(types).size === types.length, "must not list a type twice"),
    ),
  ),
  route53HealthCheck: v.optional(v.boolean("must be true or false")),
});

const portMessage = "must be from 1 to 65535";

/** One service as written in the configuration. */
const serviceInputSchema = strictObjectOf({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit")),
  cluster: v.pipe(v.string(), v.check((value) => clusterName.test(value) || clusterArn.test(value), "must be an ECS cluster name or cluster ARN")),
  ecsService: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,255}$/, "must be an ECS service name (1-255 letters, digits, '_' or '-')")),
  port: v.pipe(finiteNumber, v.integer("must be an integer"), v.minValue(1, portMessage), v.maxValue(65_535, portMessage)),
  cloudMapServiceId: v.optional(v.pipe(v.string(), v.regex(/^srv-[A-Za-z0-9]{1,64}$/, "must be a Cloud Map service id like srv-0123456789abcdef"))),
  cloudMapDns: v.optional(
    // An object is reported field by field instead (parseConfig takes the object's issues out of the union's).
    v.union(
      [v.literal("none"), cloudMapDnsSchema],
      'must be "none" (an HTTP namespace) or { hostedZoneId, namespaceName, serviceName, recordTypes?, route53HealthCheck? }',
    ),
  ),
  targetGroupArns: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.regex(targetGroupArn, "must be an ELBv2 target group ARN"))),
      v.maxLength(5, "at most 5 target groups per service"),
      v.check((arns) => new Set(arns).size === arns.length, "must not list a target group twice"),
    ),
  ),
  parameterName: v.pipe(
    v.string(),
    v.regex(parameterName, "must be an SSM parameter name (letters, digits, '_', '.', '-', '/')"),
    v.check((value) => !/^\/?aws|^\/?ssm/i.test(value), "must not start with 'aws' or 'ssm' (reserved by SSM)"),
    v.check((value) => value.split("/").filter(Boolean).length <= 15, "must have at most 15 hierarchy levels"),
  ),
});

/**
 * One service, with its cluster normalised once here, so that nothing downstream converts "name or ARN" again:
 * `clusterName` always, `clusterArn` when the cluster was given as an ARN (a name alone does not say the account and
 * Region).
 */
const serviceSchema = v.pipe(
  serviceInputSchema,
  v.transform((service): v.InferOutput<typeof serviceInputSchema> & { clusterName: string; clusterArn?: string } => {
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

const servicesSchema = strictObjectOf({
  services: v.pipe(v.array(serviceSchema), v.minLength(1, "must list at least one service")),
});

/**
 * The rules that span services: what no two may share, paths that collide, one account and Region. Takes the services
 * as written (the cluster name is derived here again): they run whenever each service is well-formed, even if some
 * of its fields fail their own checks (see {@link parseConfig}).
 */
function checkAcrossServices(services: readonly ServiceConfigInput[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const addIssue = (path: ReadonlyArray<string | number>, message: string, given: unknown): void => {
    issues.push({ path: formatPath(path), message, given });
  };

  // --- Cloud Map DNS scope only with a Cloud Map service --------------------------------------------------------------
  services.forEach((service, index) => {
    if (service.cloudMapDns !== undefined && service.cloudMapServiceId === undefined) {
      addIssue(
        ["services", index, "cloudMapDns"],
        "describes the DNS records of the service's Cloud Map service, but the service has no cloudMapServiceId",
        service.cloudMapDns,
      );
    }
  });

  // --- Fields no two services may share -------------------------------------------------------------------------
  const seen = new Map<string, number>();
  services.forEach((service, index) => {
    const uniqueKeys: Array<[field: UniqueField, key: string]> = [
      ["name", `name:${service.name}`],
      ["parameterName", `parameter:${service.parameterName}`],
      ["ecsService", `ecs:${clusterNameOf(service.cluster)}/${service.ecsService}`],
    ];
    if (service.cloudMapServiceId !== undefined) {
      uniqueKeys.push(["cloudMapServiceId", `cloudmap:${service.cloudMapServiceId}`]);
    }
    for (const [field, key] of uniqueKeys) {
      const first = seen.get(key);
      if (first !== undefined) {
        addIssue(["services", index, field], `is already used by services[${first}]; ${uniqueReason[field]}`, service[field]);
      } else {
        seen.set(key, index);
      }
    }
    (service.targetGroupArns ?? []).forEach((arn, j) => {
      const key = `targetgroup:${arn}`;
      const first = seen.get(key);
      // Twice within one service is refused by the field's own check.
      if (first !== undefined && first !== index) {
        addIssue(["services", index, "targetGroupArns", j], `is already used by services[${first}]; ${targetGroupReason}`, arn);
      } else if (first === undefined) {
        seen.set(key, index);
      }
    });
  });

  // --- Document paths that collide through sharding ----------------------------------------------------------------
  // A large document is stored as <parameterName>/shards/<i> ("/" added to a flat name), so no document path may be
  // a prefix of another's, and a flat name "x" is the same path as "/x" (their shards coincide).
  const paths = services.map((service) => documentPathOf(service.parameterName));
  services.forEach((service, index) => {
    for (let other = 0; other < index; other++) {
      const mine = paths[index]!;
      const theirs = paths[other]!;
      const otherName = services[other]!.parameterName;
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
        addIssue(
          ["services", index, "parameterName"],
          `${relation}; no parameter name may be a path prefix of another's, or the shards of a large document ` +
            "would overwrite, or be deleted with, the other service's parameters",
          service.parameterName,
        );
      }
    }
  });

  // --- One account and one Region ---------------------------------------------------------------------------------
  const arns: Array<{ path: (string | number)[]; arn: string; scope: ArnScope }> = [];
  services.forEach((service, index) => {
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
  if (main === undefined) return issues;
  const expected = main.first.scope;
  for (const entry of arns) {
    if (scopeKey(entry.scope) === scopeKey(expected)) continue;
    addIssue(
      entry.path,
      `is in ${describeScope(entry.scope)}, but ${formatPath(main.first.path)}` +
        `${main.count > 1 ? ` and ${main.count - 1} other ARN(s) of the configuration are` : " is"} in ${describeScope(expected)}; ` +
        oneAccountAndRegionReason,
      entry.arn,
    );
  }
  return issues;
}

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
export type ServiceConfig = v.InferOutput<typeof serviceSchema>;
/** One service as written in the configuration (what {@link parseConfig} takes). */
export type ServiceConfigInput = v.InferOutput<typeof serviceInputSchema>;
/** The DNS side of a service's Cloud Map service in a DNS namespace (`cloudMapDns` other than `"none"`). */
export type CloudMapDnsConfig = v.InferOutput<typeof cloudMapDnsSchema>;
/** The whole configuration of discovery-sync, as {@link parseConfig} returns it. */
export type DiscoverySyncConfig = v.InferOutput<typeof servicesSchema>;

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
  const result = v.safeParse(servicesSchema, input, { message: englishMessages });
  const issues = (result.issues ?? []).flatMap((issue) => configIssuesOf(issue));
  // Fields that fail only their own checks, or unknown fields, leave every service well-formed (each field of its
  // type): the rules across services then run too, so that one run reports every problem.
  if ((result.issues ?? []).every(leavesWellFormed)) {
    // valibot types the output of a failed parse as unknown; well-formed, it has the services' fields as written.
    issues.push(...checkAcrossServices((result.output as { services: ServiceConfigInput[] }).services));
  }
  if (result.success && issues.length === 0) return result.output;
  throw configErrorOf(source, issues);
}

/** Whether the value an issue is about still has the shape its schema describes (see {@link parseConfig}). */
function leavesWellFormed(issue: v.BaseIssue<unknown>): boolean {
  if (issue.kind === "validation" || isUnknownFieldsIssue(issue)) return true;
  const fieldIssues = objectFieldIssuesOf(issue);
  return fieldIssues !== undefined && fieldIssues.every(leavesWellFormed);
}

/**
 * The issues of the object form of a union of a literal and an object (`cloudMapDns`) given an object that fits
 * neither, or undefined for any other issue.
 */
function objectFieldIssuesOf(issue: v.BaseIssue<unknown>): Array<v.BaseIssue<unknown>> | undefined {
  if (issue.type !== "union" || typeof issue.input !== "object" || issue.input === null || Array.isArray(issue.input)) return undefined;
  // The literal's issue is at the union's own path (none), the object's at its fields.
  const fieldIssues = (issue.issues ?? []).filter((sub) => sub.path !== undefined);
  return fieldIssues.length > 0 ? fieldIssues : undefined;
}

/**
 * One valibot issue as the wrong fields it stands for. Unknown fields are reported at their object, with the object as
 * the value given. A union of a literal and an object (`cloudMapDns`) given an object that fits neither is reported by
 * the object's own issues, field by field, rather than the union's one message, which only says that neither form fits.
 */
function configIssuesOf(issue: v.BaseIssue<unknown>, prefix: ReadonlyArray<string | number> = []): ConfigIssue[] {
  const path = [...prefix, ...issuePathOf(issue)];
  if (isUnknownFieldsIssue(issue)) return [{ path: formatPath(path.slice(0, -1)) || "$", message: issue.message, given: issue.path?.at(-1)?.input }];
  const fieldIssues = objectFieldIssuesOf(issue);
  if (fieldIssues !== undefined) return fieldIssues.flatMap((sub) => configIssuesOf(sub, path));
  return [{ path: formatPath(path) || "$", message: issue.message, given: issue.input }];
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
