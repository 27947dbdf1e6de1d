/**
 * The AWS SDK v3 commands a Lambda entry point can send, derived from its code: the entry is bundled with esbuild the
 * way the construct bundles it (the `source` condition, ESM, tree shaking), with `@aws-sdk/*` left external, so the
 * bundle keeps one `import { XxxCommand } from "@aws-sdk/client-..."` per module that really uses an SDK export, and
 * esbuild's `// <module path>` comment above each module's code tells which source module imported it.
 *
 * Anything this cannot see through (a namespace or default import of a client package, an aggregated client such as
 * `SSM`, a waiter, `require()` or a dynamic `import()` of an SDK package) is reported as unanalysable, so the IAM check
 * fails rather than miss a call.
 */
import * as path from "node:path";
import * as esbuild from "esbuild";
import { repoRoot } from "./stacks.js";

/** One SDK command imported by a module of the bundle. */
export interface SdkCall {
  /** The client package, e.g. `@aws-sdk/client-ssm`. */
  readonly clientPackage: string;
  /** The operation: the command class name without its `Command` suffix, e.g. `GetParameter`. */
  readonly operation: string;
  /** The source module (relative to the repository root) whose code imports the command. */
  readonly module: string;
}

/** What {@link sdkCallsOf} found in one entry point. */
export interface EntryAnalysis {
  /** The entry, relative to the repository root. */
  readonly entry: string;
  readonly calls: readonly SdkCall[];
  /** SDK uses the analysis cannot turn into commands; must be empty for the IAM check to mean anything. */
  readonly unanalysable: readonly string[];
  /** Source modules of the repository included in the bundle. */
  readonly modules: readonly string[];
}

const SDK_PREFIX = "@aws-sdk/";
const MODULE_COMMENT = /^\/\/ (\S+)$/;
const SDK_IMPORT = /^import\s+([^;]*?)\s+from\s+"(@aws-sdk\/[^"]+)";?$/gms;

/**
 * Bundles one entry point and lists the SDK commands its reachable code imports.
 *
 * @example
 * ```ts
 * const { calls } = await sdkCallsOf("functions/route.ts"); // SendMessage, GetParameter
 * ```
 */
export async function sdkCallsOf(entry: string): Promise<EntryAnalysis> {
  const result = await esbuild.build({
    entryPoints: [path.resolve(repoRoot, entry)],
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    metafile: true,
    outfile: "infra-test-bundle.mjs",
    platform: "node",
    format: "esm",
    target: "node22",
    conditions: ["source"],
    mainFields: ["module", "main"],
    external: [`${SDK_PREFIX}*`],
    minify: false,
    logLevel: "silent",
  });
  const output = result.outputFiles.find((f) => f.path.endsWith(".mjs"));
  if (output === undefined) throw new Error(`esbuild produced no bundle for ${entry}`);
  const text = output.text;
  const meta = Object.values(result.metafile.outputs)[0];
  if (meta === undefined) throw new Error(`esbuild produced no metafile output for ${entry}`);
  const inputs = new Set(Object.keys(meta.inputs));
  const unanalysable: string[] = [];

  const sdkImports = meta.imports.filter((i) => i.path.startsWith(SDK_PREFIX));
  for (const i of sdkImports) {
    if (i.kind !== "import-statement") unanalysable.push(`${i.kind} of ${i.path}`);
    else if (!i.path.startsWith(`${SDK_PREFIX}client-`)) unanalysable.push(`import of ${i.path}, which is not a service client package`);
  }

  // Module comments, in order, to attribute each import statement to the module whose code follows it.
  const moduleStarts: { index: number; module: string }[] = [];
  let offset = 0;
  for (const line of text.split("\n")) {
    const m = MODULE_COMMENT.exec(line);
    if (m?.[1] !== undefined && inputs.has(m[1])) moduleStarts.push({ index: offset, module: m[1] });
    offset += line.length + 1;
  }
  const moduleAt = (index: number): string => moduleStarts.filter((s) => s.index <= index).at(-1)?.module ?? "(unknown module)";

  const calls: SdkCall[] = [];
  let statements = 0;
  for (const match of text.matchAll(SDK_IMPORT)) {
    statements += 1;
    const clause = match[1] ?? "";
    const clientPackage = match[2] ?? "";
    const module = moduleAt(match.index ?? 0);
    const named = /^\{([^}]*)\}$/s.exec(clause.trim());
    if (named === null) {
      unanalysable.push(`${module}: import ${clause.trim()} from "${clientPackage}" (only named imports can be analysed)`);
      continue;
    }
    const names = (named[1] ?? "")
      .split(",")
      .map((s) => s.trim().split(/\s+as\s+/)[0]?.trim() ?? "")
      .filter((s) => s !== "");
    for (const name of names) {
      const kind = await classify(clientPackage, name);
      if (kind.type === "command") calls.push({ clientPackage, operation: kind.operation, module });
      else if (kind.type === "unanalysable") unanalysable.push(`${module}: ${name} from ${clientPackage}: ${kind.why}`);
    }
  }
  const expectedStatements = sdkImports.filter((i) => i.kind === "import-statement").length;
  if (statements !== expectedStatements) {
    unanalysable.push(`found ${statements} SDK import statements in the bundle text but the metafile lists ${expectedStatements}`);
  }
  return {
    entry,
    calls: dedupe(calls),
    unanalysable,
    modules: [...inputs].filter((p) => !p.includes("node_modules/")).sort(),
  };
}

type ExportKind =
  | { type: "command"; operation: string }
  | { type: "harmless" }
  | { type: "unanalysable"; why: string };

const packageCache = new Map<string, Promise<Record<string, unknown>>>();

/** What an export of a client package is: a command (sends a request), harmless, or something that hides requests. */
async function classify(clientPackage: string, name: string): Promise<ExportKind> {
  let loading = packageCache.get(clientPackage);
  if (loading === undefined) {
    loading = import(clientPackage) as Promise<Record<string, unknown>>;
    packageCache.set(clientPackage, loading);
  }
  const mod = await loading;
  const value = mod[name];
  if (value === undefined) return { type: "unanalysable", why: "not exported by the package" };
  if (typeof value !== "function") return { type: "harmless" }; // enums, constants, schemas
  const proto = (value as { prototype?: Record<string, unknown> }).prototype ?? {};
  if (name.endsWith("Command") && typeof proto["resolveMiddleware"] === "function") {
    return { type: "command", operation: name.slice(0, -"Command".length) };
  }
  if (name.startsWith("paginate")) {
    const operation = name.slice("paginate".length);
    return typeof mod[`${operation}Command`] === "function"
      ? { type: "command", operation }
      : { type: "unanalysable", why: "a paginator whose command is not found" };
  }
  if (name.startsWith("waitUntil") || name.startsWith("waitFor")) {
    return { type: "unanalysable", why: "a waiter sends commands this analysis cannot see; list them by hand" };
  }
  const isClient = typeof proto["send"] === "function" && typeof proto["destroy"] === "function";
  if (isClient && name.endsWith("Client")) return { type: "harmless" }; // a client sends only the commands given to it
  if (isClient) return { type: "unanalysable", why: "an aggregated client: its methods send commands this analysis cannot see" };
  const base = Object.entries(mod).find(([key]) => key.endsWith("ServiceException"))?.[1];
  if (typeof base === "function" && (proto instanceof base || value === base)) return { type: "harmless" }; // an error class
  return { type: "unanalysable", why: "an export this analysis does not know" };
}

function dedupe(calls: SdkCall[]): SdkCall[] {
  const seen = new Map<string, SdkCall>();
  for (const call of calls) seen.set(`${call.clientPackage}|${call.operation}|${call.module}`, call);
  return [...seen.values()].sort((a, b) => `${a.clientPackage}${a.operation}${a.module}`.localeCompare(`${b.clientPackage}${b.operation}${b.module}`));
}
