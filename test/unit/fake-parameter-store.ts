/**
 * Parameter Store in memory, for unit tests: versioned values per name, and the answers SSM gives to the requests
 * the reader and the writer send (GetParameter, GetParameters, PutParameter, GetParametersByPath, DeleteParameters),
 * with AWS's rules where the code depends on them: tiers and their size limits, `name:version` selectors, at most 10
 * names per request, pages with a NextToken, results in no particular order. No network, no timers.
 *
 * Each fake SSM client of the unit tests (`client-fake-ssm.ts`, `reconcile-actions.test.ts`,
 * `parameter-tier.test.ts`) intercepts requests its own way and answers them from one of these.
 */
import { ParameterAlreadyExists, ParameterNotFound, ParameterVersionNotFound } from "@aws-sdk/client-ssm";

/** The tier a parameter is stored in. */
export type StoredTier = "Standard" | "Advanced";

/** One version of a parameter. */
export interface StoredVersion {
  readonly name: string;
  readonly version: number;
  readonly value: string;
  readonly tier: StoredTier;
}

/** An in-memory Parameter Store: versioned values per name, as SSM keeps them. */
export interface FakeParameterStore {
  /** Writes a value (PutParameter with Overwrite, no checks) and returns its version: 1 for a new (or recreated) name. */
  put(name: string, value: string, tier?: StoredTier): number;
  /** Deletes the parameter and its whole history; a later `put` starts again at version 1. */
  delete(name: string): void;
  /** The versions kept, oldest first (SSM keeps the last 100). */
  history(name: string): readonly StoredVersion[];
  /** The latest version, or the one a `name:version` selector asks for; undefined when there is none. */
  get(selector: string): StoredVersion | undefined;
  /**
   * Answers one request as SSM would: `command` with or without the SDK's `Command` suffix, the request's input, and
   * the response's fields. Errors are thrown as the SDK would throw them (`ParameterNotFound`, `ValidationException`, ...).
   */
  answer(command: string, input: Record<string, unknown>): Record<string, unknown>;
  /** Largest page GetParametersByPath answers (AWS: 10). */
  pageSize: number;
  /** Empty pages (with a NextToken) GetParametersByPath answers before the first item, as SSM may. */
  emptyPagesFirst: number;
}

/** SSM keeps this many versions of a parameter. */
const versionsKept = 100;
/** Value limits by tier, in bytes (AWS-FACTS: Standard 4 KB, Advanced 8 KB). */
const maxValueBytes: Record<StoredTier, number> = { Standard: 4_096, Advanced: 8_192 };
/** Names per GetParameters and DeleteParameters request. */
const maxNamesPerRequest = 10;

/**
 * An empty store.
 *
 * @example
 * ```ts
 * const store = fakeParameterStore();
 * store.put("/discovery/a/endpoints", "{}");
 * store.answer("GetParameters", { Names: ["/discovery/a/endpoints:1"] }); // { Parameters: [...], InvalidParameters: [] }
 * ```
 */
export function fakeParameterStore(): FakeParameterStore {
  const parameters = new Map<string, { next: number; versions: StoredVersion[] }>();
  const store: FakeParameterStore = {
    pageSize: 10,
    emptyPagesFirst: 0,
    put(name, value, tier = "Standard") {
      const entry = parameters.get(name) ?? { next: 1, versions: [] };
      parameters.set(name, entry);
      const version = entry.next++;
      entry.versions.push({ name, version, value, tier });
      if (entry.versions.length > versionsKept) entry.versions.shift();
      return version;
    },
    delete(name) {
      parameters.delete(name);
    },
    history(name) {
      return [...(parameters.get(name)?.versions ?? [])];
    },
    get(selector) {
      const { name, version } = parseSelector(selector);
      const versions = parameters.get(name)?.versions ?? [];
      return version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
    },
    answer(command, input) {
      switch (command.replace(/Command$/, "")) {
        case "GetParameter":
          return getParameter(store, String(input.Name));
        case "GetParameters":
          return getParameters(store, input.Names as string[]);
        case "PutParameter":
          return putParameter(store, input);
        case "GetParametersByPath": {
          const path = String(input.Path);
          const children = [...parameters.keys()].filter((n) => n.startsWith(`${path}/`) && !n.slice(path.length + 1).includes("/"));
          return page(store, children.map((n) => stored(store.get(n)!)), input.NextToken);
        }
        case "DeleteParameters": {
          const names = checkNameCount(input.Names as string[]);
          const existing = names.filter((name) => parameters.has(name));
          for (const name of existing) parameters.delete(name);
          return { DeletedParameters: existing, InvalidParameters: names.filter((name) => !existing.includes(name)) };
        }
        default:
          throw new Error(`the fake Parameter Store does not answer ${command}`);
      }
    },
  };
  return store;
}

/** `/a/b:7` -> name `/a/b`, version 7; `/a/b` -> no version. */
export function parseSelector(selector: string): { name: string; version: number | undefined } {
  const match = /^(.*[^:]):(\d+)$/.exec(selector);
  return match === null ? { name: selector, version: undefined } : { name: match[1]!, version: Number(match[2]) };
}

/** An error shaped like the SDK's for a request SSM rejects as invalid. */
export function validationException(message: string): Error {
  return Object.assign(new Error(message), { name: "ValidationException" });
}

function stored(version: StoredVersion) {
  return { Name: version.name, Type: "String", Value: version.value, Version: version.version };
}

function getParameter(store: FakeParameterStore, selector: string) {
  const found = store.get(selector);
  if (found !== undefined) return { Parameter: stored(found) };
  const { name, version } = parseSelector(selector);
  if (version !== undefined && store.history(name).length > 0) {
    throw new ParameterVersionNotFound({ message: `Systems Manager could not find version ${version} of ${name}.`, $metadata: {} });
  }
  throw new ParameterNotFound({ message: `Parameter ${name} not found.`, $metadata: {} });
}

function getParameters(store: FakeParameterStore, selectors: readonly string[]) {
  const found = checkNameCount(selectors).map((selector) => store.get(selector));
  return {
    // In no particular order, and named without the selector, as SSM and the emulator answer.
    Parameters: found
      .filter((version) => version !== undefined)
      .map(stored)
      .reverse(),
    InvalidParameters: selectors.filter((_, i) => found[i] === undefined),
  };
}

function putParameter(store: FakeParameterStore, input: Record<string, unknown>) {
  const name = String(input.Name);
  const value = String(input.Value);
  const previous = store.get(name);
  if (previous !== undefined && input.Overwrite !== true) throw new ParameterAlreadyExists({ message: `The parameter ${name} already exists.`, $metadata: {} });
  const bytes = Buffer.byteLength(value, "utf8");
  // Intelligent-Tiering picks Standard unless the value needs Advanced or the parameter already is Advanced; an
  // explicit (or default) Standard on an Advanced parameter is refused: SSM never downgrades a tier.
  const tier: StoredTier =
    input.Tier === "Intelligent-Tiering"
      ? previous?.tier === "Advanced" || bytes > maxValueBytes.Standard
        ? "Advanced"
        : "Standard"
      : input.Tier === "Advanced"
        ? "Advanced"
        : "Standard";
  if (previous?.tier === "Advanced" && tier === "Standard") {
    throw validationException(`This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier (${name}).`);
  }
  if (bytes > maxValueBytes[tier]) {
    throw validationException(`${tier} tier parameters support a maximum parameter value of ${maxValueBytes[tier]} characters (${name}: ${bytes} bytes given).`);
  }
  return { Version: store.put(name, value, tier), Tier: tier };
}

function page(store: FakeParameterStore, items: readonly unknown[], nextToken: unknown) {
  // The token counts the empty pages served first, then the offset.
  const [empties, offset] = String(nextToken ?? "0:0").split(":").map(Number) as [number, number];
  if (empties < store.emptyPagesFirst) return { Parameters: [], NextToken: `${empties + 1}:0` };
  const next = offset + store.pageSize < items.length ? `${empties}:${offset + store.pageSize}` : undefined;
  return { Parameters: items.slice(offset, offset + store.pageSize), ...(next === undefined ? {} : { NextToken: next }) };
}

function checkNameCount<T extends readonly string[]>(names: T): T {
  if (names.length > maxNamesPerRequest) {
    throw validationException(`1 validation error detected: 'names' must have length less than or equal to ${maxNamesPerRequest} (given ${names.length})`);
  }
  return names;
}
