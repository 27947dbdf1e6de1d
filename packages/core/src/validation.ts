/**
 * Validation helpers shared by the configuration, the queue's messages and the router's events: English messages
 * worded as before (zod's), object schemas that name every unknown field and refuse arrays, finite numbers, issue paths.
 *
 * valibot on the cold path: each handler builds its schemas at module load and parses its configuration once per cold
 * start. With zod/mini that cost about 6.4 ms; with valibot 1.5.0, same checks, about 1.8 ms (schemas and one parse of
 * configuration, messages and routing, bundled with esbuild, imported in fresh node processes).
 */
import * as v from "valibot";

/**
 * English messages for the issues a schema has no message of its own for, worded as zod worded them (which the
 * configuration's errors and the router's reject reasons have always used): "Invalid input: expected number, received
 * string". Passed to each parse (`v.safeParse(schema, input, { message: englishMessages })`) rather than set globally,
 * so that no other valibot user in the process is affected.
 *
 * @example
 * ```ts
 * v.safeParse(v.string(), 1, { message: englishMessages }).issues?.[0].message; // "Invalid input: expected string, received number"
 * ```
 * @internal
 */
export function englishMessages(issue: v.BaseIssue<unknown>): string {
  switch (issue.type) {
    case "string":
    case "boolean":
    case "array":
      return invalidTypeMessage(issue.type, issue.input);
    case "object":
    case "loose_object":
    case "strict_object":
      return invalidTypeMessage("object", issue.input);
    case "literal":
      return `Invalid input: expected ${issue.expected ?? "a literal"}`;
    case "picklist": {
      // valibot's `expected` lists the options as `("a" | "b")`; these messages have always listed them as "a"|"b".
      const options = (issue.expected ?? "").replace(/^\((.*)\)$/, "$1").split(" | ");
      return options.length === 1 ? `Invalid input: expected ${options[0]}` : `Invalid option: expected one of ${options.join("|")}`;
    }
    case "min_length":
      return `Too small: expected ${sizedTypeOf(issue.input)} to have >=${String(issue.requirement)} ${unitOf(issue.input)}`;
    case "max_length":
      return `Too big: expected ${sizedTypeOf(issue.input)} to have <=${String(issue.requirement)} ${unitOf(issue.input)}`;
    case "min_value":
      return `Too small: expected ${typeNameOf(issue.input)} to be >=${String(issue.requirement)}`;
    case "max_value":
      return `Too big: expected ${typeNameOf(issue.input)} to be <=${String(issue.requirement)}`;
    default:
      return "Invalid input";
  }
}

function invalidTypeMessage(expected: string, input: unknown): string {
  return `Invalid input: expected ${expected}, received ${typeNameOf(input)}`;
}

/** The type of a value as the messages name it: `string`, `number`, `NaN`, `Infinity`, `null`, `array`, `Date`... */
function typeNameOf(input: unknown): string {
  if (typeof input === "number") return Number.isNaN(input) ? "NaN" : Number.isFinite(input) ? "number" : String(input);
  if (typeof input !== "object") return typeof input;
  if (input === null) return "null";
  if (Array.isArray(input)) return "array";
  const prototype: unknown = Object.getPrototypeOf(input);
  const constructorName = prototype !== Object.prototype && "constructor" in input ? (input.constructor as { name?: unknown }).name : undefined;
  return typeof constructorName === "string" && constructorName !== "" ? constructorName : "object";
}

function sizedTypeOf(input: unknown): string {
  return Array.isArray(input) ? "array" : "string";
}

function unitOf(input: unknown): string {
  return Array.isArray(input) ? "items" : "characters";
}

/**
 * A finite number. valibot's `number()` takes Infinity (which `JSON.parse("1e999")` gives): refused here, as
 * always, the same way as a value of another type.
 *
 * @example
 * ```ts
 * const port = v.pipe(finiteNumber, v.integer("must be an integer"));
 * ```
 * @internal
 */
export const finiteNumber = v.custom<number>(
  (input) => typeof input === "number" && Number.isFinite(input),
  (issue) => invalidTypeMessage("number", issue.input),
);

// valibot's object schemas take any non-null object, arrays included; an array is refused as not an object.
const objectInput = v.custom<unknown>(
  (input) => typeof input === "object" && input !== null && !Array.isArray(input),
  (issue) => invalidTypeMessage("object", issue.input),
);

/**
 * The message of an issue an object schema raises itself. A missing field is reported as its own schema reports
 * nothing given ("Invalid input: expected string, received undefined"), where valibot's message names only the key;
 * unknown fields are listed all at once (valibot's issue names the first).
 */
function objectIssueMessage(entries: v.ObjectEntries): (issue: v.BaseIssue<unknown>) => string {
  return (issue) => {
    const item = issue.path?.at(-1);
    if (item?.type !== "object" || item.origin !== "key") return englishMessages(issue);
    if (issue.expected === "never") {
      const unknown = Object.keys(item.input).filter((key) => !Object.hasOwn(entries, key));
      return `unknown field(s) ${unknown.map((key) => `'${key}'`).join(", ")}`;
    }
    const field = entries[item.key];
    const missing = field === undefined ? undefined : v.safeParse(field, undefined, { message: englishMessages }).issues?.[0];
    return missing?.message ?? englishMessages(issue);
  };
}

/**
 * An object whose unknown fields are dropped: refuses arrays, and says of a missing field what its schema says of
 * nothing.
 *
 * @example
 * ```ts
 * const trigger = objectOf({ at: v.string() });
 * ```
 * @internal
 */
export function objectOf<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.pipe(objectInput, v.object(entries, objectIssueMessage(entries)));
}

/**
 * An object whose unknown fields pass through unchecked; see {@link objectOf}.
 *
 * @example
 * ```ts
 * const event = looseObjectOf({ id: v.string() });
 * ```
 * @internal
 */
export function looseObjectOf<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.pipe(objectInput, v.looseObject(entries, objectIssueMessage(entries)));
}

/**
 * An object that refuses unknown fields, naming them all in one issue; see {@link objectOf}.
 *
 * @example
 * ```ts
 * const config = strictObjectOf({ services: v.array(v.string()) });
 * ```
 * @internal
 */
export function strictObjectOf<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.pipe(objectInput, v.strictObject(entries, objectIssueMessage(entries)));
}

/** Whether an issue is a strict object's unknown fields (which valibot reports at the first such key). */
export function isUnknownFieldsIssue(issue: v.BaseIssue<unknown>): boolean {
  return issue.type === "strict_object" && issue.expected === "never";
}

/**
 * The keys of an issue's path, for example `["services", 0, "port"]`.
 *
 * @example
 * ```ts
 * issuePathOf(issue).join("."); // "detail.clusterArn"
 * ```
 * @internal
 */
export function issuePathOf(issue: v.BaseIssue<unknown>): Array<string | number> {
  return (issue.path ?? []).map((item) => (typeof item.key === "number" ? item.key : String(item.key)));
}
