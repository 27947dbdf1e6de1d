import { createEndpointReader, EndpointsUnavailableError, type Endpoint } from "@discovery-sync/client";
import { configEnvVar, configParameterEnvVar } from "@discovery-sync/core";
import { Command } from "commander";
import { CliError, CliInputError, exitCodes, type ExitCode } from "../errors.js";
import { formatAge, formatTable } from "../format.js";
import { createOutput, type CliIo, type Output } from "../io.js";
import { requireConfig, selectServices } from "../settings.js";
import { commonExitCodes, lazyAws, withAwsOptions, withConfigOption, withHelpFooter, type ConfigCommandOptions } from "./shared.js";

/** Parameter of a service when no configuration is at hand: the gRPC resolver's default template. */
const defaultParameterTemplate = "/discovery/{service}/endpoints";

/** The `endpoints` command. */
export function endpointsCommand(io: CliIo, done: (code: ExitCode) => void): Command {
  const command = new Command("endpoints")
    .summary("show what a client reads now (through @discovery-sync/client)")
    .description(
      "Reads the endpoint document exactly as an application does, through @discovery-sync/client's reader (single or " +
        "sharded, checked against its digest), and shows its source, revision, age, endpoints and draining tasks. " +
        "NAME is a configured service (its parameterName), or, without any configuration, /discovery/NAME/endpoints; " +
        "an argument starting with / or arn: is the parameter itself.",
    )
    .argument("<name-or-parameter>", "service name, or SSM parameter name/ARN of the document");
  withConfigOption(withAwsOptions(command));
  withHelpFooter(
    command,
    ["discovery-sync endpoints workflow-agent", "discovery-sync endpoints /discovery/workflow-agent/endpoints --json | jq -r '.endpoints[].address'"],
    ["0  a document was read", "1  the parameter holds no usable document (invalid, or a newer schema)", ...commonExitCodes, "   (2 also: the parameter does not exist)"],
  );
  return command.action(async (target: string, options: ConfigCommandOptions) => done(await runEndpoints(target, options, io)));
}

/**
 * Runs `endpoints`.
 *
 * @example
 * ```ts
 * await runEndpoints("workflow-agent", { json: true }, io);
 * ```
 */
export async function runEndpoints(target: string, options: ConfigCommandOptions, io: CliIo): Promise<ExitCode> {
  const out = createOutput(io, { json: options.json === true });
  const aws = lazyAws(options, io);
  const parameterName = await parameterOf(target, options, io, aws, out);
  const reader = createEndpointReader({
    parameterName,
    ssmClient: aws().clients.ssm,
    // One read now: no background refresh worth keeping, no Lambda extension outside Lambda.
    refreshIntervalMs: 86_400_000,
    lambdaExtension: false,
    env: {},
  });
  try {
    const document = await out.withSpinner(`reading ${parameterName}`, () => reader.document());
    const status = reader.status();
    const now = io.now?.() ?? new Date();
    const generatedMs = Date.parse(document.generatedAt);
    const ageSeconds = Number.isNaN(generatedMs) ? undefined : Math.max(0, Math.round((now.getTime() - generatedMs) / 1000));
    if (out.json) {
      out.printJson({
        parameterName,
        source: status.source,
        service: document.service,
        schemaVersion: document.schemaVersion,
        revision: document.revision,
        epoch: document.epoch,
        generatedAt: document.generatedAt,
        ageSeconds,
        endpoints: document.endpoints,
        draining: document.draining,
      });
      return exitCodes.ok;
    }
    const c = out.colors;
    out.line(`${c.bold(parameterName)} (service ${document.service}, source ${status.source ?? "?"})`);
    out.line(
      `revision ${document.revision}, epoch ${document.epoch ?? 0}, generated ${document.generatedAt}` +
        `${ageSeconds === undefined ? "" : ` (${formatAge(ageSeconds * 1000)} ago)`}, ` +
        `${document.endpoints.length} endpoint(s), ${document.draining.length} draining`,
    );
    printEndpoints(out, "endpoints", document.endpoints);
    printEndpoints(out, "draining (send no new work)", document.draining);
    return exitCodes.ok;
  } catch (error) {
    throw readFailure(error, parameterName, aws);
  } finally {
    reader.close();
  }
}

function printEndpoints(out: Output, title: string, endpoints: readonly Endpoint[]): void {
  if (endpoints.length === 0) return;
  out.line();
  out.line(out.colors.bold(title));
  out.line(
    formatTable(
      [["ADDRESS", "PORT", "ZONE", "TASK"].map((h) => out.colors.dim(h)), ...endpoints.map((e) => [e.address, String(e.port), e.zone ?? "-", e.taskId ?? "-"])],
      "  ",
    ),
  );
}

async function parameterOf(
  target: string,
  options: ConfigCommandOptions,
  io: CliIo,
  aws: ReturnType<typeof lazyAws>,
  out: Output,
): Promise<string> {
  if (target.startsWith("/") || target.startsWith("arn:")) return target;
  const configured =
    options.config !== undefined ||
    (io.env[configEnvVar] ?? "") !== "" ||
    (io.env[configParameterEnvVar] ?? "") !== "";
  if (configured) {
    const { config } = await requireConfig(options.config, io, aws);
    return selectServices(config, target)[0]!.parameterName;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(target)) {
    throw new CliInputError(`${JSON.stringify(target)} is neither a service name nor a parameter name (which starts with / or arn:)`);
  }
  const parameterName = defaultParameterTemplate.replace("{service}", target);
  if (!out.json) out.note(out.colors.dim(`no configuration given: reading ${parameterName}`));
  return parameterName;
}

function readFailure(error: unknown, parameterName: string, aws: ReturnType<typeof lazyAws>): CliError {
  if (!(error instanceof EndpointsUnavailableError)) return aws().failure(error, `reading ${parameterName}`);
  switch (error.reason) {
    case "not-found":
      return new CliInputError(`SSM parameter ${parameterName} does not exist (no document published yet, or a wrong name)`, { cause: error });
    case "invalid-document":
      return new CliError(`${parameterName} holds no usable endpoint document: ${error.lastError.message}`, exitCodes.notConverged, { cause: error });
    default:
      return aws().failure(error.lastError.cause ?? error, `reading ${parameterName}`);
  }
}
