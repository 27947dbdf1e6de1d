import type { ServiceSummary } from "./aggregate.js";
import { outcomeColors, renderServiceCharts } from "./charts.js";

/** What the page says about where its records came from. */
export interface ReportSource {
  /** `file reconcile.jsonl` or `log group /aws/lambda/... since 1h`. */
  readonly description: string;
  readonly linesRead: number;
  readonly linesSkipped: number;
}

/**
 * Builds the whole report page: one self-contained HTML file (inline CSS and SVG charts, no script, no external
 * resource), so it opens from disk, offline, in any browser.
 *
 * @example
 * ```ts
 * const html = renderReportHtml(summarizeServices(records), { description: "file run.jsonl", linesRead: 12, linesSkipped: 2 }, new Date());
 * ```
 */
export function renderReportHtml(services: readonly ServiceSummary[], source: ReportSource, generatedAt: Date): string {
  const records = services.reduce((total, service) => total + service.reconciles, 0);
  const first = services.map((s) => s.firstAt).sort()[0] ?? "";
  const last = services.map((s) => s.lastAt).sort().at(-1) ?? "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>discovery-sync report</title>
<style>${styles}</style>
</head>
<body>
<header>
<h1>discovery-sync: reconciles</h1>
<p class="meta">From ${escapeHtml(source.description)}, generated ${escapeHtml(generatedAt.toISOString())}.</p>
<dl class="stats">
${stat("services", "services", services.length)}
${stat("records", "reconcile records", records)}
${stat("skipped", "other lines skipped", source.linesSkipped)}
${stat("from", "first", first)}
${stat("to", "last", last)}
</dl>
<p class="legend">${Object.entries(outcomeColors)
    .map(([outcome, color]) => `<span><i style="background:${color}"></i>${outcome}</span>`)
    .join(" ")}</p>
</header>
<main>
${services.map(serviceSection).join("\n")}
</main>
</body>
</html>
`;
}

function serviceSection(summary: ServiceSummary): string {
  const charts = renderServiceCharts(summary)
    .map(
      (chart) =>
        `<figure class="chart" data-chart="${chart.kind}"><figcaption>${escapeHtml(chart.title)}</figcaption>${chart.svg}</figure>`,
    )
    .join("\n");
  return `<section class="service" data-service="${escapeHtml(summary.service)}">
<h2>${escapeHtml(summary.service)}</h2>
<dl class="stats">
${stat("reconciles", "reconciles", summary.reconciles)}
${stat("converged", "converged", summary.outcomeCounts.converged)}
${stat("changed", "changed", summary.outcomeCounts.changed)}
${stat("failed", "failed", summary.outcomeCounts.failed)}
${stat("p50", "duration p50 (ms)", summary.durationP50Ms)}
${stat("p99", "duration p99 (ms)", summary.durationP99Ms)}
${stat("published", "revisions published", summary.documentsPublished)}
${stat("revision", "document revision", summary.lastDocumentRevision ?? "none")}
${stat("sweep-repairs", "drift repaired by the sweep", summary.sweepRepairs.length)}
</dl>
${charts}
<h3>Failures</h3>
${summary.failureReasons.length === 0 ? "" : `<ul class="reasons">${summary.failureReasons
    .map((r) => `<li data-reason="${escapeHtml(r.reason)}"><code>${escapeHtml(r.reason)}</code> <b>${r.count}</b></li>`)
    .join("")}</ul>`}
<table class="failures">
<thead><tr><th>started</th><th>error</th><th>reasons</th><th>message</th></tr></thead>
<tbody>
${summary.failures.length === 0
    ? `<tr class="empty"><td colspan="4">No failed reconcile.</td></tr>`
    : summary.failures
        .map(
          (f) =>
            `<tr class="failure"><td>${escapeHtml(f.startedAt)}</td><td><code>${escapeHtml(f.name)}</code></td>` +
            `<td>${f.reasons.map((r) => `<code>${escapeHtml(r)}</code>`).join(" ")}</td><td>${escapeHtml(f.message)}</td></tr>`,
        )
        .join("\n")}
</tbody>
</table>
<h3>Drift repaired by the sweep</h3>
<table class="sweep-repairs">
<thead><tr><th>started</th><th>writes</th><th>Cloud Map</th><th>targets</th><th>parameters</th></tr></thead>
<tbody>
${summary.sweepRepairs.length === 0
    ? `<tr class="empty"><td colspan="5">The sweep found no drift.</td></tr>`
    : summary.sweepRepairs
        .map(
          (r) =>
            `<tr class="repair"><td>${escapeHtml(r.startedAt)}</td><td>${r.writesTotal}</td><td>${r.cloudMap}</td>` +
            `<td>${r.targets}</td><td>${r.parameters}</td></tr>`,
        )
        .join("\n")}
</tbody>
</table>
</section>`;
}

function stat(key: string, label: string, value: number | string): string {
  return `<div data-stat="${key}"><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(String(value))}</dd></div>`;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const styles = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#212121;background:#fafafa}
header,main{max-width:960px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:0 0 8px}h3{font-size:15px;margin:20px 0 6px}
.meta{color:#616161;margin:0 0 8px}
.stats{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.stats div{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:6px 10px;min-width:96px}
.stats dt{font-size:12px;color:#616161}.stats dd{margin:0;font-size:17px;font-weight:600}
.legend span{margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px}
section.service{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:16px;margin:16px 0}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
tr.empty td{color:#757575}.reasons{padding-left:18px;margin:4px 0}
`;
