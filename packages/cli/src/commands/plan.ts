import { Command } from "commander";
import { exitCodes, type ExitCode } from "../errors.js";
import { formatTable, shortTargetGroupName } from "../format.js";
import { createOutput, type CliIo } from "../io.js";
import type { ServiceObservation } from "../observe.js";
import { describeDocumentPlan } from "../plan-view.js";
import { commonExitCodes, observeServices, withAwsOptions, withConfigOption, withHelpFooter, type ConfigCommandOptions } from "./shared.js";

/** Options of `plan`. */
export interface PlanOptions extends ConfigCommandOptions {
  readonly service?: string;
}

/** The `plan` command. */
export function planCommand(io: CliIo, done: (code: ExitCode) => void): Command {
  const command = new Command("plan")
    .summary("list the exact writes a reconcile would make now (dry run)")
    .description(
      "Reads ECS, Cloud Map, the target groups and the endpoint document as the reconcile Lambda does, and lists the " +
        "writes its pure planner (the same function) decides: Cloud Map registrations and deregistrations, target " +
        "registrations and deregistrations per target group, and the document's parameters written or deleted. " +
        "It reads with the reconcile's own read step, as a manual reconcile does: no request for an instance with a " +
        "Cloud Map operation in flight, no write to a target group not of type ip, and no write at all when ECS's read " +
        "stays stale (the reconcile would retry). A dry run: it writes nothing.",
    )
    .option("--service <name>", "only this service (default: every configured service)");
  withConfigOption(withAwsOptions(command));
  withHelpFooter(
    command,
    ["discovery-sync plan --service workflow-agent", "discovery-sync plan --json | jq '.services[].writes | length'"],
    ["0  the plan was made (with or without writes)", ...commonExitCodes],
  );
  return command.action(async (options: PlanOptions) => done(await runPlan(options, io)));
}

/** What `plan --json` prints per service. */
export function planJson(observation: ServiceObservation) {
  return {
    service: observation.service.name,
    writes: observation.writes,
    document: observation.plan === undefined ? undefined : describeDocumentPlan(observation.plan.document),
    unsettled: observation.inFlight,
    failures: observation.failures,
    ...(observation.stale === undefined ? {} : { stale: observation.stale }),
  };
}

/**
 * Runs `plan`.
 *
 * @example
 * ```ts
 * await runPlan({ service: "workflow-agent", json: true }, io);
 * ```
 */
export async function runPlan(options: PlanOptions, io: CliIo): Promise<ExitCode> {
  const out = createOutput(io, { json: options.json === true });
  const observations = await observeServices(options, io, out);
  if (out.json) {
    out.printJson({ services: observations.map(planJson) });
    return exitCodes.ok;
  }
  const c = out.colors;
  observations.forEach((observation, index) => {
    if (index > 0) out.line();
    const { service, writes, plan } = observation;
    if (plan === undefined) {
      out.line(`${c.bold(service.name)}: ${c.yellow("no writes: ECS's read is stale, a reconcile now would write nothing and retry")}`);
      if (observation.stale !== undefined) out.line(c.yellow(`  ${observation.stale.message}`));
      return;
    }
    const document = describeDocumentPlan(plan.document);
    const none = observation.converged ? c.green("no writes (converged)") : c.yellow("no writes");
    out.line(`${c.bold(service.name)}: ${writes.length === 0 ? none : c.yellow(`${writes.length} write(s)`)}; document ${document.summary}`);
    if (writes.length > 0) {
      out.line(
        formatTable(
          [
            ["WRITE", "ON", "ITEM", "DETAIL"].map((h) => c.dim(h)),
            ...writes.map((w) => [
              (w.action === "register" || w.action === "put" ? c.green : c.red)(`${w.target}.${w.action}`),
              w.target === "targets" ? shortTargetGroupName(w.resource) : w.resource,
              w.item,
              w.detail ?? "",
            ]),
          ],
          "  ",
        ),
      );
    }
    for (const unsettled of observation.inFlight) {
      out.line(c.yellow(`  not planned, Cloud Map operation ${unsettled.operationId} on ${unsettled.instanceId} in flight; to be ${unsettled.wanted} by a later reconcile`));
    }
    for (const failure of observation.failures) out.line(c.red(`  not planned: ${failure.message}`));
  });
  return exitCodes.ok;
}
