export { reportCommand } from "./command.js";
export { runReport, writeReport, type ReportCommandOptions, type ReportIo } from "./run.js";
export { buildReport, type BuildReportInput, type BuiltReport } from "./build.js";
export { parseLogLine, parseLogLines, type ParsedLog, type ReportRecord } from "./records.js";
export { percentile, summarizeServices, isSweepRepair, type ServiceSummary } from "./aggregate.js";
export { parseSince, readLogFile, readLogGroup, reconcileFilterPattern } from "./sources.js";
export * from "./errors.js";
