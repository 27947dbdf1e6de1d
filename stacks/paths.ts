import { existsSync } from "node:fs";
import * as path from "node:path";

/**
 * The repository root: the nearest directory holding `sst.config.ts` at or above `from` (else the working
 * directory). Searched rather than fixed relative to a module, because `sst deploy` runs the stacks from bundles
 * written elsewhere in the repository. This module imports no workspace package, so SST's own bundling of
 * `sst.config.ts` can include it.
 *
 * @example
 * ```ts
 * const root = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
 * ```
 */
export function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "sst.config.ts"))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}
