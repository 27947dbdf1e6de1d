import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "@discovery-sync/core";
import { findRepoRoot } from "./paths.js";

/** Environment variable naming the configuration file of a deploy. */
export const CONFIG_FILE_ENV_VAR = "DISCOVERY_SYNC_CONFIG_FILE";

/** The repository root (see {@link findRepoRoot}). */
export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The repository's Lambda entry points (`route.ts`, `reconcile.ts`, `sweep.ts`). */
export const functionsDir = path.join(repoRoot, "functions");

/** A configuration read from a file, not yet validated (the construct validates it). */
export interface ConfigFile {
  /** The parsed JSON. */
  readonly config: unknown;
  /** The file it came from, relative to the repository root (for error messages). */
  readonly source: string;
}

/**
 * Finds and reads the configuration of a stage: the file named by `DISCOVERY_SYNC_CONFIG_FILE`, else
 * `discovery-sync.<stage>.config.json`, else `discovery-sync.config.json`, in the repository root.
 * Validation is the construct's job (it runs at synth time, before anything is deployed).
 *
 * @example
 * ```ts
 * const { config, source } = readStageConfig(app.stage);
 * ```
 * @throws {ConfigError} when no file is found or a file is not JSON.
 */
export function readStageConfig(stage: string, env: NodeJS.ProcessEnv = process.env): ConfigFile {
  const named = env[CONFIG_FILE_ENV_VAR];
  const candidates =
    named !== undefined && named !== ""
      ? [path.resolve(named)]
      : [path.join(repoRoot, `discovery-sync.${stage}.config.json`), path.join(repoRoot, "discovery-sync.config.json")];
  const file = candidates.find((candidate) => existsSync(candidate));
  if (file === undefined) {
    throw new ConfigError(
      `no discovery-sync configuration for stage "${stage}": looked for ${candidates.map((c) => path.relative(repoRoot, c) || c).join(", ")}. ` +
        `Create one (see stacks/config/example.json) or set ${CONFIG_FILE_ENV_VAR}`,
      [{ path: "$", message: "missing" }],
    );
  }
  const source = path.relative(repoRoot, file) || file;
  try {
    return { config: JSON.parse(readFileSync(file, "utf8")) as unknown, source };
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${(error as Error).message}`, [{ path: "$", message: "not JSON" }], {
      cause: error,
    });
  }
}
