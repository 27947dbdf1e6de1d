/**
 * Reading synthesised CloudFormation templates offline, in the infrastructure tests and the pipeline benchmark:
 * intrinsic functions resolved to comparable strings.
 *
 * A reference to a resource cannot be resolved offline, so it becomes a placeholder in `Fn::Sub` syntax:
 * `{ "Ref": "Queue1234" }` is `${Queue1234}` and `{ "Fn::GetAtt": ["Queue1234", "Arn"] }` is `${Queue1234.Arn}`.
 * Pseudo parameters take the values given (the tests' environment unless told). Two values that CloudFormation would resolve to the
 * same string therefore compare equal here, and a JSON document built with `Stack.toJsonString` still parses.
 */

/** The parts of a synthesised template the tests read. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, unknown>;
}

/** One resource of a template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
  readonly DependsOn?: string | string[];
}

/** Values of the pseudo parameters. */
export interface PseudoParameters {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** The test environment's pseudo parameters: the commercial partition, us-east-1 and a fixed account. */
export const TEST_PSEUDO: PseudoParameters = { partition: "aws", region: "us-east-1", account: "123456789012" };

/**
 * Resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub` (without a variable map), `Fn::Select` and `Fn::Split`.
 *
 * @example
 * ```ts
 * resolveIntrinsics({ "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":sqs:..."]] }, TEST_PSEUDO); // "arn:aws:sqs:..."
 * ```
 * @throws Error on any other intrinsic function, naming it.
 */
export function resolveIntrinsics(value: unknown, pseudo: PseudoParameters = TEST_PSEUDO): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, pseudo));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  if (entries.length === 1 && key !== undefined && (key === "Ref" || key.startsWith("Fn::"))) {
    switch (key) {
      case "Ref":
        return refOf(String(arg), pseudo);
      case "Fn::GetAtt": {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split(".");
        return `\${${String(id)}.${String(attribute)}}`;
      }
      case "Fn::Join": {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolveIntrinsics(parts, pseudo) as unknown[]).map((p) => asString(p, key)).join(separator);
      }
      case "Fn::Sub": {
        if (typeof arg !== "string") throw new Error("Fn::Sub with a variable map is not supported");
        return arg.replace(/\$\{([^}!]+)\}/g, (_, name: string) => (name.includes(".") ? `\${${name}}` : refOf(name, pseudo)));
      }
      case "Fn::Select": {
        const [index, list] = arg as [number, unknown];
        const items = resolveIntrinsics(list, pseudo);
        if (!Array.isArray(items)) throw new Error("Fn::Select of something that is not a list");
        return items[Number(index)];
      }
      case "Fn::Split": {
        const [separator, source] = arg as [string, unknown];
        return asString(resolveIntrinsics(source, pseudo), key).split(separator);
      }
      default:
        throw new Error(`cannot resolve ${key} offline`);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, pseudo)]));
}

/** {@link resolveIntrinsics}, expecting a string. */
export function resolveIntrinsicString(value: unknown, pseudo: PseudoParameters = TEST_PSEUDO): string {
  return asString(resolveIntrinsics(value, pseudo), "value");
}

/** The logical ids of the resources of a type. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The logical id a `Ref` or `Fn::GetAtt` points at, or undefined. */
export function referencedId(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v["Ref"] === "string") return v["Ref"];
  const getAtt = v["Fn::GetAtt"];
  if (Array.isArray(getAtt) && typeof getAtt[0] === "string") return getAtt[0];
  return undefined;
}

function refOf(name: string, pseudo: PseudoParameters): string {
  switch (name) {
    case "AWS::Partition":
      return pseudo.partition;
    case "AWS::Region":
      return pseudo.region;
    case "AWS::AccountId":
      return pseudo.account;
    case "AWS::URLSuffix":
      return "amazonaws.com";
    default:
      return `\${${name}}`;
  }
}

function asString(value: unknown, where: string): string {
  if (typeof value === "string" || typeof value === "number") return String(value);
  throw new Error(`${where}: expected a string, got ${JSON.stringify(value)}`);
}
