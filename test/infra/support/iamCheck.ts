/**
 * The IAM check on a synthesised template: for each function, what its role allows (inline policies of the role and
 * every AWS::IAM::Policy attached to it) against what it needs ({@link needsOf}), in both directions, with resources.
 */
import { resolveIntrinsics, resolveIntrinsicString, referencedId, resourcesOfType, type CfnTemplate, type PseudoParameters } from "@discovery-sync/emulator";
import type { CloudMapDnsFacts, DeploymentFacts, FunctionFacts, Need } from "./iamModel.js";

/** One Allow statement, resolved. */
export interface AllowStatement {
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  /** operator -> key -> values */
  readonly conditions: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> | undefined;
  /** Where it comes from (policy and sid), for messages. */
  readonly source: string;
}

/** What a role allows, and what about it this check cannot evaluate. */
export interface RolePolicies {
  readonly statements: readonly AllowStatement[];
  readonly problems: readonly string[];
}

/** The logical id of a function's role. */
export function roleIdOf(template: CfnTemplate, functionId: string): string {
  const fn = template.Resources[functionId];
  if (fn?.Type !== "AWS::Lambda::Function") throw new Error(`${functionId} is not a Lambda function`);
  const roleId = referencedId(fn.Properties?.["Role"]);
  if (roleId === undefined) throw new Error(`${functionId}: its role is not a resource of the template`);
  return roleId;
}

/**
 * The Allow statements of a function's role: its inline policies and every AWS::IAM::Policy or
 * AWS::IAM::ManagedPolicy that names the role. Managed policy ARNs, NotAction, NotResource and permission boundaries
 * are reported as problems (they cannot be checked here).
 */
export function policiesOfFunction(template: CfnTemplate, functionId: string, pseudo: PseudoParameters): RolePolicies {
  const roleId = roleIdOf(template, functionId);
  const role = template.Resources[roleId]!;
  const problems: string[] = [];
  const documents: { source: string; document: unknown }[] = [];
  for (const policy of (role.Properties?.["Policies"] ?? []) as { PolicyName: string; PolicyDocument: unknown }[]) {
    documents.push({ source: `${roleId} inline policy ${policy.PolicyName}`, document: policy.PolicyDocument });
  }
  if (((role.Properties?.["ManagedPolicyArns"] ?? []) as unknown[]).length > 0) {
    problems.push(`${roleId} has managed policies attached, which this check cannot read: ${JSON.stringify(resolveIntrinsics(role.Properties?.["ManagedPolicyArns"], pseudo))}`);
  }
  if (role.Properties?.["PermissionsBoundary"] !== undefined) problems.push(`${roleId} has a permissions boundary, which this check ignores`);
  for (const type of ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]) {
    for (const [id, policy] of resourcesOfType(template, type)) {
      const roles = (policy.Properties?.["Roles"] ?? []) as unknown[];
      if (roles.some((r) => referencedId(r) === roleId)) documents.push({ source: `${type} ${id}`, document: policy.Properties?.["PolicyDocument"] });
    }
  }
  const statements: AllowStatement[] = [];
  for (const { source, document } of documents) {
    for (const raw of ((document as { Statement?: unknown[] }).Statement ?? []) as Record<string, unknown>[]) {
      const where = `${source}${raw["Sid"] === undefined ? "" : ` (${String(raw["Sid"])})`}`;
      if (raw["NotAction"] !== undefined || raw["NotResource"] !== undefined || raw["Principal"] !== undefined) {
        problems.push(`${where}: NotAction, NotResource or Principal in an identity policy cannot be checked`);
        continue;
      }
      if (raw["Effect"] !== "Allow") continue; // a Deny only takes away
      const conditions = raw["Condition"] === undefined ? undefined : (resolveIntrinsics(raw["Condition"], pseudo) as Record<string, Record<string, unknown>>);
      statements.push({
        actions: list(raw["Action"]).map((a) => resolveIntrinsicString(a, pseudo)),
        resources: list(raw["Resource"]).map((r) => resolveIntrinsicString(r, pseudo)),
        conditions:
          conditions === undefined
            ? undefined
            : Object.fromEntries(
                Object.entries(conditions).map(([op, keys]) => [op, Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, list(v).map(String)]))]),
              ),
        source: where,
      });
    }
  }
  return { statements, problems };
}

/** The facts of one function from the template (see {@link FunctionFacts}). */
export function functionFactsOf(template: CfnTemplate, functionId: string, pseudo: PseudoParameters, name = functionId): FunctionFacts {
  const fn = template.Resources[functionId]!;
  const props = fn.Properties ?? {};
  const env = (props["Environment"]?.["Variables"] ?? {}) as Record<string, unknown>;
  const logGroupId = referencedId(props["LoggingConfig"]?.["LogGroup"]);
  if (logGroupId === undefined) throw new Error(`${name}: no log group of its own in LoggingConfig; the check needs one`);
  const queueArnOf = (value: unknown, what: string): string => {
    const id = referencedId(value);
    if (id === undefined || template.Resources[id]?.Type !== "AWS::SQS::Queue") throw new Error(`${name}: ${what} is not an SQS queue of the template`);
    return `\${${id}.Arn}`;
  };
  const queueUrl = env["DISCOVERY_SYNC_QUEUE_URL"];
  const configParameter = env["DISCOVERY_SYNC_CONFIG_PARAMETER"];
  const deadLetter = props["DeadLetterConfig"]?.["TargetArn"];
  const mappings = resourcesOfType(template, "AWS::Lambda::EventSourceMapping").filter(
    ([, m]) => referencedId(m.Properties?.["FunctionName"]) === functionId,
  );
  return {
    name,
    logGroupArn: `\${${logGroupId}.Arn}`,
    sendQueueArns: queueUrl === undefined ? [] : [queueArnOf(queueUrl, "DISCOVERY_SYNC_QUEUE_URL")],
    configParameterArn: configParameter === undefined ? undefined : parameterArn(pseudo, resolveIntrinsicString(configParameter, pseudo)),
    eventSourceQueueArns: mappings.map(([id, m]) => queueArnOf(m.Properties?.["EventSourceArn"], `event source mapping ${id}`)),
    deadLetterQueueArn: deadLetter === undefined ? undefined : queueArnOf(deadLetter, "DeadLetterConfig"),
  };
}

/**
 * The configuration a function loads at start, read from the template: `DISCOVERY_SYNC_CONFIG`, or the value of the
 * AWS::SSM::Parameter named by `DISCOVERY_SYNC_CONFIG_PARAMETER`.
 */
export function deployedConfigOf(template: CfnTemplate, functionId: string, pseudo: PseudoParameters): { services: Record<string, unknown>[] } {
  const env = (template.Resources[functionId]?.Properties?.["Environment"]?.["Variables"] ?? {}) as Record<string, unknown>;
  if (env["DISCOVERY_SYNC_CONFIG"] !== undefined) return JSON.parse(resolveIntrinsicString(env["DISCOVERY_SYNC_CONFIG"], pseudo));
  const parameterId = referencedId(env["DISCOVERY_SYNC_CONFIG_PARAMETER"]);
  const parameter = parameterId === undefined ? undefined : template.Resources[parameterId];
  if (parameter?.Type !== "AWS::SSM::Parameter") throw new Error(`${functionId}: no configuration in the environment nor in a parameter of the template`);
  return JSON.parse(resolveIntrinsicString(parameter.Properties?.["Value"], pseudo));
}

/**
 * The resources of a deployment, from the configuration the functions load and the template. What Cloud Map writes in
 * Route 53 comes from the template when the Cloud Map service is one of its resources (its namespace, DNS records and
 * health check), else from what the configuration declares of it (`cloudMapDns`), or, without that, any hosted zone
 * and any name (only a deployment that opted out of the scoping synthesises then).
 */
export function deploymentFactsOf(template: CfnTemplate, config: { services: Record<string, unknown>[] }, pseudo: PseudoParameters): DeploymentFacts {
  const { partition, region, account } = pseudo;
  const arn = (service: string, resource: string): string => `arn:${partition}:${service}:${region}:${account}:${resource}`;
  const services = config.services;
  const clusters = unique(services.map((s) => String(s["cluster"])));
  const clusterArns = clusters.map((c) => (c.startsWith("arn:") ? c : arn("ecs", `cluster/${c}`)));
  const serviceIds = unique(services.flatMap((s) => (s["cloudMapServiceId"] === undefined ? [] : [String(s["cloudMapServiceId"])])));
  const cloudMapDns: CloudMapDnsFacts[] = [];
  const seen = new Set<string>();
  for (const s of services) {
    if (s["cloudMapServiceId"] === undefined || seen.has(String(s["cloudMapServiceId"]))) continue;
    seen.add(String(s["cloudMapServiceId"]));
    const facts = cloudMapDnsFactsOf(template, String(s["cloudMapServiceId"]), s["cloudMapDns"], pseudo);
    if (facts !== undefined) cloudMapDns.push(facts);
  }
  return {
    partition,
    clusterArns,
    taskArnPatterns: clusterArns.map((c) => `${c.replace(/:cluster\/([^/]+)$/, ":task/$1")}/*`),
    cloudMapServiceArns: serviceIds.map((id) => arn("servicediscovery", `service/${id}`)),
    targetGroupArns: unique(services.flatMap((s) => ((s["targetGroupArns"] ?? []) as unknown[]).map(String))),
    documentParameterArns: unique(services.map((s) => parameterArn(pseudo, String(s["parameterName"])))),
    documentShardArns: unique(services.map((s) => `${parameterArn(pseudo, String(s["parameterName"]))}/shards/*`)),
    documentStateArns: unique(services.map((s) => `${parameterArn(pseudo, String(s["parameterName"]))}/state`)),
    documentShardPathArns: unique(services.map((s) => `${parameterArn(pseudo, String(s["parameterName"]))}/shards`)),
    cloudMapDns,
  };
}

/**
 * What Cloud Map writes in Route 53 for one Cloud Map service, or undefined when it writes nothing (HTTP namespace).
 * A service of the template: its namespace's hosted zone, `<service>.<namespace>` and `*.<service>.<namespace>` in
 * lower case (AWS-FACTS: normalised names), the types of its DnsRecords (an SRV record also makes an A record per
 * instance), and whether it has a HealthCheckConfig. Any other: what `cloudMapDns` says, defaults as documented.
 */
function cloudMapDnsFactsOf(template: CfnTemplate, serviceId: string, declared: unknown, pseudo: PseudoParameters): CloudMapDnsFacts | undefined {
  const zoneArn = (id: string) => `arn:${pseudo.partition}:route53:::hostedzone/${id}`;
  const names = (service: string, namespace: string) => {
    const name = `${service}.${namespace}`.toLowerCase();
    return [name, `*.${name}`];
  };
  const resourceId = /^\$\{([^.}]+)\.Id\}$/.exec(serviceId)?.[1];
  const service = resourceId === undefined ? undefined : template.Resources[resourceId];
  if (service?.Type === "AWS::ServiceDiscovery::Service") {
    const props = service.Properties ?? {};
    const namespaceId = referencedId(props["DnsConfig"]?.["NamespaceId"] ?? props["NamespaceId"]);
    const namespace = namespaceId === undefined ? undefined : template.Resources[namespaceId];
    if (namespace === undefined) throw new Error(`Cloud Map service ${resourceId}: its namespace is not a resource of the template`);
    if (namespace.Type === "AWS::ServiceDiscovery::HttpNamespace") return undefined;
    const types = ((props["DnsConfig"]?.["DnsRecords"] ?? []) as { Type: string }[]).map((r) => r.Type);
    return {
      hostedZoneArn: zoneArn(`\${${namespaceId}.HostedZoneId}`),
      recordNames: names(resolveIntrinsicString(props["Name"], pseudo), resolveIntrinsicString(namespace.Properties?.["Name"], pseudo)),
      recordTypes: unique(types.includes("SRV") ? [...types, "A"] : types).sort(),
      route53HealthCheck: props["HealthCheckConfig"] !== undefined,
    };
  }
  if (declared === "none") return undefined;
  if (declared === undefined) return { hostedZoneArn: "*", recordNames: undefined, recordTypes: ["A", "SRV"], route53HealthCheck: true };
  const dns = declared as { hostedZoneId: string; namespaceName: string; serviceName: string; recordTypes?: string[]; route53HealthCheck?: boolean };
  return {
    hostedZoneArn: zoneArn(dns.hostedZoneId),
    recordNames: names(dns.serviceName, dns.namespaceName),
    recordTypes: [...(dns.recordTypes ?? ["A", "SRV"])].sort(),
    route53HealthCheck: dns.route53HealthCheck === true,
  };
}

/**
 * Compares what a function needs with what its role allows. Returns one line per finding, empty when they agree:
 * - `missing`: a needed action on a needed resource that no statement allows;
 * - `unneeded`: an allowed action nothing needs;
 * - `too broad`: an allowed action on a resource beyond the needed ones, or without the scoping condition;
 * - `wildcard`: an allowed action pattern with `*` or `?` (cannot be shown to grant only what is needed).
 *
 * @example
 * ```ts
 * expect(compare("reconcile", needs, policies.statements)).toEqual([]);
 * ```
 */
export function compare(name: string, needs: readonly Need[], statements: readonly AllowStatement[]): string[] {
  const findings: string[] = [];
  for (const need of needs) {
    for (const resource of need.resources) {
      const allowed = statements.some(
        (s) =>
          s.actions.some((a) => globMatch(a.toLowerCase(), need.action.toLowerCase())) &&
          s.resources.some((r) => globMatch(r, resource)) &&
          conditionsAllow(s, need),
      );
      if (!allowed) {
        const scope = (need.conditions ?? []).map((c) => ` with ${c.key} in ${c.values.join(", ")}`).join(" and");
        findings.push(`missing: ${name} needs ${need.action} on ${resource}${scope} (for ${need.because.join("; ")})`);
      }
    }
  }
  for (const s of statements) {
    for (const action of s.actions) {
      if (/[*?]/.test(action)) {
        findings.push(`wildcard: ${name} is allowed ${action} (${s.source}); name the actions it needs`);
        continue;
      }
      const ofAction = needs.filter((n) => n.action.toLowerCase() === action.toLowerCase());
      if (ofAction.length === 0) {
        findings.push(`unneeded: ${name} is allowed ${action} on ${s.resources.join(", ")} (${s.source}), which nothing it sends or Lambda does for it needs`);
        continue;
      }
      for (const resource of s.resources) {
        const covering = ofAction.filter((n) => n.resources.some((r) => globMatch(r, resource)));
        if (covering.length === 0) {
          findings.push(`too broad: ${name} is allowed ${action} on ${resource} (${s.source}); it needs only ${ofAction.flatMap((n) => n.resources).join(", ")}`);
          continue;
        }
        // Every condition the need on this resource carries must be in the statement, with no value beyond the needed.
        const unscoped = covering
          .flatMap((n) => n.conditions ?? [])
          .filter((c) => {
            const given = s.conditions?.[c.operator]?.[c.key];
            return given === undefined || !given.every((v) => c.values.includes(v));
          });
        for (const c of unscoped) {
          findings.push(`too broad: ${name} is allowed ${action} on ${resource} (${s.source}) without ${c.operator} ${c.key} limited to ${c.values.join(", ")}`);
        }
      }
    }
  }
  return findings;
}

/**
 * Whether a statement's conditions (if any) let the need through: each of its condition keys must be one the need
 * carries, with the same operator, allowing every value the need's requests may carry. A condition this model does
 * not know counts as not allowing.
 */
function conditionsAllow(s: AllowStatement, need: Need): boolean {
  if (s.conditions === undefined) return true;
  for (const [operator, keys] of Object.entries(s.conditions)) {
    for (const [key, values] of Object.entries(keys)) {
      const needed = need.conditions?.find((c) => c.operator === operator && c.key === key);
      if (needed === undefined || !needed.values.every((v) => values.includes(v))) return false;
    }
  }
  return true;
}

/** IAM-style match: `*` any run of characters, `?` one character; everything else literal. */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`, "s").test(value);
}

function parameterArn(pseudo: PseudoParameters, name: string): string {
  return `arn:${pseudo.partition}:ssm:${pseudo.region}:${pseudo.account}:parameter/${name.replace(/^\//, "")}`;
}

function list(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
