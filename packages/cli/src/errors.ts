/**
 * Exit codes every command of the CLI ends with (the `report` command uses the same).
 *
 * - `ok` (0): done; for `status`, everything converged.
 * - `notConverged` (1): the answer is "no": something drifted (`status`), the configuration is invalid (`validate`),
 *   a `reconcile --wait` timed out, or `dlq redrive` left messages behind.
 * - `badInput` (2): bad arguments, an unknown service, an unreadable configuration, no queue URL, a stack that does not exist or has no queue output.
 * - `awsFailure` (3): AWS (or the emulator) could not be reached or refused: no credentials, endpoint down, access denied.
 */
export const exitCodes = { ok: 0, notConverged: 1, badInput: 2, awsFailure: 3 } as const;

/** One of {@link exitCodes}. */
export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/**
 * An error the CLI reports as one clear line (never a stack trace) and ends with `exitCode`. Its message says what was
 * given; what failed underneath is its `cause`.
 *
 * @example
 * ```ts
 * throw new CliError(`unknown service "billing" (configured: workflow-agent)`, exitCodes.badInput);
 * ```
 */
export class CliError extends Error {
  public override readonly name: string = "CliError";
  public constructor(
    message: string,
    public readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A bad argument, an unknown service or an unusable configuration: exit code 2. */
export class CliInputError extends CliError {
  public override readonly name = "CliInputError";
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, exitCodes.badInput, options);
  }
}

/** AWS could not be reached or refused the request: exit code 3. */
export class AwsAccessError extends CliError {
  public override readonly name = "AwsAccessError";
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, exitCodes.awsFailure, options);
  }
}

const networkCodes: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

const refusedCredentialErrors = new Set([
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredToken",
  "ExpiredTokenException",
  "SignatureDoesNotMatch",
  "InvalidSignatureException",
  "AccessDenied",
  "AccessDeniedException",
]);

/** The network error code (ECONNREFUSED, ...) somewhere in an error's cause chain (the SDK nests them). */
function networkCodeOf(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 6; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code in networkCodes) return code;
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      const inner = errors.map(networkCodeOf).find((c) => c !== undefined);
      if (inner !== undefined) return inner;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns whatever an AWS call threw into a {@link CliError} with one clear line: what was being done (`doing`), where
 * (`endpoint`, when one was configured) and why. CliErrors pass through unchanged.
 *
 * @example
 * ```ts
 * try { await readAll(); } catch (error) { throw describeAwsFailure(error, "reading service workflow-agent", "http://127.0.0.1:5000"); }
 * ```
 */
export function describeAwsFailure(error: unknown, doing: string, endpoint: string | undefined): CliError {
  if (error instanceof CliError) return error;
  const err = error instanceof Error ? error : new Error(String(error));
  const where = endpoint === undefined ? "AWS" : endpoint;
  const network = networkCodeOf(error);
  if (network !== undefined) {
    const hint = endpoint === undefined ? "check the network and the Region" : "is the emulator or endpoint running, and is --endpoint-url right?";
    return new AwsAccessError(`${doing}: cannot reach ${where}: ${networkCodes[network]} (${network}); ${hint}`, { cause: error });
  }
  if (err.name === "CredentialsProviderError" || /could not load credentials|could not resolve credentials/i.test(err.message)) {
    return new AwsAccessError(
      `${doing}: no AWS credentials: ${firstLine(err.message)}; set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      { cause: error },
    );
  }
  if (/region is missing/i.test(err.message)) {
    return new CliInputError(`${doing}: no AWS Region: pass --region or set AWS_REGION (or a region in your profile)`, { cause: error });
  }
  if (refusedCredentialErrors.has(err.name)) {
    return new AwsAccessError(`${doing}: ${where} refused the request (${err.name}): ${firstLine(err.message)}`, { cause: error });
  }
  if (err instanceof SyntaxError || /Deserialization error|Unexpected token/i.test(err.message)) {
    return new AwsAccessError(`${doing}: ${where} did not answer like AWS (${firstLine(err.message)}); is --endpoint-url an AWS endpoint?`, {
      cause: error,
    });
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (err.name === "Unknown" || err.message === "UnknownError") {
    // The SDK's name for an answer that carries no AWS error: something else listens there (a proxy, a web server).
    return new AwsAccessError(
      `${doing}: ${where} answered${status === undefined ? "" : ` HTTP ${status}`} without an AWS error; is ${endpoint === undefined ? "the Region" : "--endpoint-url"} right?`,
      { cause: error },
    );
  }
  return new AwsAccessError(`${doing}: ${err.name}: ${firstLine(err.message)}`, { cause: error });
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
