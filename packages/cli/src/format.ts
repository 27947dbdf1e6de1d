import { CliInputError } from "./errors.js";

// ANSI colour sequences take no room on screen.
const ansiPattern = /\x1b\[[0-9;]*m/g;

function visibleWidth(text: string): number {
  return [...text.replace(ansiPattern, "")].length;
}

/**
 * Lays rows out in columns padded to the widest cell, the first row being the header. Cells may carry colour.
 *
 * @example
 * ```ts
 * formatTable([["TASK", "ADDRESS"], ["c13b4cb4", "10.0.1.5"]]); // "TASK      ADDRESS\nc13b4cb4  10.0.1.5"
 * ```
 */
export function formatTable(rows: readonly (readonly string[])[], indent = ""): string {
  const columns = Math.max(0, ...rows.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...rows.map((row) => visibleWidth(row[i] ?? ""))));
  return rows
    .map((row) =>
      indent +
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleWidth(cell))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * A duration in words: `42s`, `3m 5s`, `2h 10m`, `3d 4h`.
 *
 * @example
 * ```ts
 * formatAge(185_000); // "3m 5s"
 * ```
 */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration option: `500ms`, `30s`, `2m`, `1h`, or a plain number of seconds.
 *
 * @example
 * ```ts
 * parseDuration("60s", "--timeout"); // 60000
 * ```
 * @throws {CliInputError} naming the option and the value given.
 */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (match === null) {
    throw new CliInputError(`${option} must be a duration like 30s, 2m or 500ms (given ${JSON.stringify(value)})`);
  }
  const ms = Number(match[1]) * (durationUnits[match[2] ?? "s"] ?? 1_000);
  if (!Number.isFinite(ms) || ms <= 0) throw new CliInputError(`${option} must be more than 0 (given ${JSON.stringify(value)})`);
  return ms;
}

/** The last segment of an ARN's resource (`targetgroup/name/id` gives `name`), short enough for a column header. */
export function shortTargetGroupName(arn: string): string {
  const match = /targetgroup\/([^/]+)\//.exec(arn);
  return match?.[1] ?? arn;
}

/** A task id shortened for tables (the full id is in --json). */
export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 12) : id;
}
