/** The exit codes of `report`, a subset of the CLI's (`exitCodes` in ../errors.ts). */
export type ReportExitCode = 0 | 1 | 2 | 3;

/** Base of the errors the `report` command reports: each says what was given, and carries what failed as `cause`. */
export class ReportError extends Error {
  /** Process exit code the command ends with for this error. */
  readonly exitCode: ReportExitCode;

  constructor(message: string, exitCode: ReportExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Exit code of bad input: options, an unreadable file, input without reconcile records. */
export const badInputExitCode = 2 satisfies ReportExitCode;
/** Exit code of a failure to read the logs from AWS (credentials, endpoint, log group). */
export const awsFailureExitCode = 3 satisfies ReportExitCode;

/** An option is missing, conflicting or malformed (`option` names it, `value` is what was given). */
export class ReportOptionError extends ReportError {
  readonly option: string;
  readonly value: unknown;

  constructor(option: string, value: unknown, reason: string) {
    super(`${option}: ${reason} (given ${JSON.stringify(value) ?? String(value)})`, badInputExitCode);
    this.option = option;
    this.value = value;
  }
}

/** The input holds no reconcile record: it is not a log of the reconcile function, or the wrong period or group. */
export class NoReconcileRecordsError extends ReportError {
  readonly source: string;
  readonly linesRead: number;

  constructor(source: string, linesRead: number, firstProblem: string | undefined) {
    super(
      linesRead === 0
        ? `${source} holds no log lines, so no reconcile records`
        : `${source} holds no reconcile records (log lines with "message": "reconcile" and the record under "reconcile"): ` +
            `${linesRead} line(s) read, none is one` +
            (firstProblem === undefined ? "" : `; the first: ${firstProblem}`),
      badInputExitCode,
    );
    this.source = source;
    this.linesRead = linesRead;
  }
}

/** The input file cannot be read, or the report cannot be written. */
export class ReportFileError extends ReportError {
  readonly path: string;

  constructor(message: string, path: string, cause: unknown) {
    super(`${message} ${path}: ${(cause as Error).message ?? String(cause)}`, badInputExitCode, { cause });
    this.path = path;
  }
}

/** CloudWatch Logs could not be read (credentials, endpoint, missing log group, throttling). */
export class LogGroupReadError extends ReportError {
  readonly logGroupName: string;

  constructor(logGroupName: string, cause: unknown) {
    const error = cause as { name?: string; message?: string };
    super(`cannot read log group ${logGroupName}: ${error.name ?? "Error"}: ${error.message ?? String(cause)}`, awsFailureExitCode, { cause });
    this.logGroupName = logGroupName;
  }
}
