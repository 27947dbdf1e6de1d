import * as echarts from "echarts";
import { outcomes, type Outcome, type ServiceSummary } from "./aggregate.js";

/** Colour of each outcome, shared by the charts and the page's legend. */
export const outcomeColors: Readonly<Record<Outcome, string>> = { converged: "#2e7d32", changed: "#1565c0", failed: "#c62828" };

/** One chart of a service, rendered to an SVG string. */
export interface RenderedChart {
  /** Stable id of the chart kind (`timeline`, `endpoints`, `writes`), for the page and its tests. */
  readonly kind: "timeline" | "endpoints" | "writes";
  readonly title: string;
  readonly svg: string;
}

const width = 880;
const height = 260;

/**
 * Renders a service's charts with ECharts' server-side SVG renderer: no DOM, no canvas, and the SVG is inlined into
 * the page, so the report needs no script and no network to be read.
 *
 * @example
 * ```ts
 * const charts = renderServiceCharts(summarizeServices(records)[0]);
 * ```
 */
export function renderServiceCharts(summary: ServiceSummary): RenderedChart[] {
  return [
    { kind: "timeline", title: "Reconciles by outcome (duration, ms)", svg: renderSvg(timelineOption(summary)) },
    { kind: "endpoints", title: "Endpoints ready and draining", svg: renderSvg(endpointsOption(summary)) },
    { kind: "writes", title: "Writes by target", svg: renderSvg(writesOption(summary)) },
  ];
}

function renderSvg(option: echarts.EChartsOption): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  try {
    // Times in UTC, as the records are: the report reads the same wherever it is opened.
    chart.setOption({ animation: false, useUTC: true, textStyle: { fontFamily: "system-ui, sans-serif" }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const grid = { left: 64, right: 24, top: 48, bottom: 40 };

function timelineOption(summary: ServiceSummary): echarts.EChartsOption {
  return {
    grid,
    legend: { top: 8, itemGap: 28 },
    xAxis: { type: "time" },
    yAxis: { type: "value", name: "ms", minInterval: 1 },
    series: outcomes.map((outcome, index) => ({
      type: "scatter",
      name: `${outcome} ${summary.outcomeCounts[outcome]}`,
      color: outcomeColors[outcome],
      symbolSize: 9,
      data: summary.timeline.filter((point) => point.outcome === outcome).map((point) => [point.at, point.durationMs]),
      // The percentile lines belong to no outcome; drawn once, with the first series.
      ...(index === 0
        ? {
            markLine: {
              symbol: "none",
              lineStyle: { color: "#757575", type: "dashed" },
              label: { formatter: "{b} {c} ms", position: "insideEndTop" },
              data: [
                { name: "p50", yAxis: summary.durationP50Ms },
                { name: "p99", yAxis: summary.durationP99Ms },
              ],
            },
          }
        : {}),
    })),
  };
}

function endpointsOption(summary: ServiceSummary): echarts.EChartsOption {
  const last = summary.endpoints[summary.endpoints.length - 1];
  return {
    grid,
    legend: { top: 8, itemGap: 28 },
    xAxis: { type: "time" },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      {
        type: "line",
        step: "end",
        name: `ready (last ${last?.ready ?? 0})`,
        color: "#2e7d32",
        data: summary.endpoints.map((point) => [point.at, point.ready]),
      },
      {
        type: "line",
        step: "end",
        name: `draining (last ${last?.draining ?? 0})`,
        color: "#ef6c00",
        data: summary.endpoints.map((point) => [point.at, point.draining]),
      },
    ],
  };
}

function writesOption(summary: ServiceSummary): echarts.EChartsOption {
  const categories = summary.writesByTarget.map((writes) => writes.target);
  const bar = (name: string, color: string, values: number[]): echarts.BarSeriesOption => ({
    type: "bar",
    name,
    color,
    label: { show: true, position: "top" },
    data: values,
  });
  return {
    grid,
    legend: { top: 8, itemGap: 28 },
    xAxis: { type: "category", data: categories },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      bar("registered / written", "#1565c0", summary.writesByTarget.map((writes) => writes.added)),
      bar("deregistered / deleted", "#8e24aa", summary.writesByTarget.map((writes) => writes.removed)),
    ],
  };
}
