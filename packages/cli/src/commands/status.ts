import type { ReconcilePlan } from "@discovery-sync/core";
import { Command } from "commander";
import { exitCodes, type ExitCode } from "../errors.js";
import { formatAge, formatTable, shortId, shortTargetGroupName } from "../format.js";
import { createOutput, type CliIo, type Colors, type Output } from "../io.js";
import type { ServiceObservation } from "../observe.js";
import { describeDocumentPlan } from "../plan-view.js";
import { commonExitCodes, observeServices, withAwsOptions, withConfigOption, withHelpFooter, type ConfigCommandOptions } from "./shared.js";

/** Options of `status`. */
export interface StatusOptions extends ConfigCommandOptions {
  readonly service?: string;
}

/** The `status` command. */
export function statusCommand(io: CliIo, done: (code: ExitCode) => void): Command {
  const command = new Command("status")
    .summary("compare ECS, Cloud Map, target groups and the endpoint document; exit 1 on drift")
    .description(
      "For each service, side by side: its ready and draining ECS tasks, its Cloud Map instances, each target group's " +
        "targets with their health, and the endpoint document's revision, age and endpoints. Every difference from what " +
        "the ready tasks want is marked (MISSING: a reconcile would add it; EXTRA: a reconcile would remove it). Drift is " +
        "exactly what the reconcile's pure planner would write now, read by the reconcile's own read step: a Cloud Map " +
        "operation in flight that does what the tasks want is not drift (shown as registering/deregistering), one that " +
        "does the opposite is shown IN FLIGHT; a target group not of type ip is named; an ECS read that stays older " +
        "than what the reconcile already knows is reported STALE, not compared. Writes nothing.",
    )
    .option("--service <name>", "only this service (default: every configured service)");
  withConfigOption(withAwsOptions(command));
  withHelpFooter(
    command,
    [
      "discovery-sync status",
      "discovery-sync status --service workflow-agent --config discovery-sync.prod.config.json --profile prod",
      "discovery-sync status --json | jq '.services[] | select(.drifted) | .service'",
    ],
    [
      "0  every service converged",
      "1  not converged: something drifted, a target could not be read or used, a Cloud Map operation in flight does " +
        "the opposite of what the tasks want, or ECS's read was stale (each named)",
      ...commonExitCodes,
    ],
  );
  return command.action(async (options: StatusOptions) => done(await runStatus(options, io)));
}

/**
 * Runs `status`: exit 0 when every service converged, 1 when any has not (drifted, in flight or stale).
 *
 * @example
 * ```ts
 * const code = await runStatus({ service: "workflow-agent", json: true }, io);
 * ```
 */
export async function runStatus(options: StatusOptions, io: CliIo): Promise<ExitCode> {
  const out = createOutput(io, { json: options.json === true });
  const observations = await observeServices(options, io, out);
  const converged = observations.every((o) => o.converged);
  if (out.json) {
    out.printJson({ converged, services: observations.map(statusJson) });
  } else {
    observations.forEach((observation, index) => {
      if (index > 0) out.line();
      renderStatus(out, observation);
    });
  }
  return converged ? exitCodes.ok : exitCodes.notConverged;
}

/** The document a parameter holds, with its age, for display. */
export function documentView(observation: ServiceObservation) {
  const parameter = observation.parameter;
  if (parameter === undefined) return { state: "unreadable" as const };
  if (parameter.kind === "missing") return { state: "missing" as const };
  if (parameter.kind === "newer") return { state: "newer" as const, version: parameter.version, schemaVersion: parameter.schemaVersion };
  if (parameter.kind === "invalid") return { state: "invalid" as const, version: parameter.version, reason: parameter.reason };
  const { document } = parameter;
  const generatedMs = Date.parse(document.generatedAt);
  return {
    state: "valid" as const,
    version: parameter.version,
    form: parameter.sharded === undefined ? ("single" as const) : ("sharded" as const),
    revision: document.revision,
    epoch: document.epoch,
    generatedAt: document.generatedAt,
    ageSeconds: Number.isNaN(generatedMs) ? undefined : Math.max(0, Math.round((observation.observedAt.getTime() - generatedMs) / 1000)),
    endpoints: document.endpoints,
    draining: document.draining,
  };
}

/** What `status --json` prints per service. */
export function statusJson(observation: ServiceObservation) {
  return {
    service: observation.service.name,
    converged: observation.converged,
    drifted: observation.drifted,
    ...(observation.stale === undefined ? {} : { stale: observation.stale }),
    tasks: observation.tasks,
    cloudMap: observation.cloudMap === undefined
      ? undefined
      : {
          serviceId: observation.cloudMap.serviceId,
          instances: observation.cloudMap.instances.map((i) => ({ id: i.id, address: i.attributes.AWS_INSTANCE_IPV4, port: i.attributes.AWS_INSTANCE_PORT })),
          operations: observation.cloudMap.operations,
        },
    targetGroups: observation.targetGroups,
    document: { parameterName: observation.service.parameterName, ...documentView(observation) },
    plan: observation.plan === undefined ? undefined : { document: describeDocumentPlan(observation.plan.document), unsettled: observation.inFlight },
    writes: observation.writes,
    failures: observation.failures,
    warnings: observation.warnings,
  };
}

interface Row {
  taskId?: string;
  address?: string;
  ecs?: string;
  cloudMap?: string;
  targets: Map<string, string>;
  document?: string;
}

function headlineOf(observation: ServiceObservation, c: Colors): string {
  if (observation.stale !== undefined) return c.yellow(c.bold("STALE READ")) + " (ECS has not caught up; nothing compared)";
  const parts: string[] = [];
  if (observation.drifted) {
    const failures = observation.failures.length;
    parts.push(c.red(c.bold("DRIFTED")) + ` (${observation.writes.length} write(s) to make${failures > 0 ? `, ${failures} target(s) unreadable or unusable` : ""})`);
  }
  if (observation.inFlight.length > 0) {
    parts.push(c.yellow(c.bold("IN FLIGHT")) + ` (${observation.inFlight.length} Cloud Map operation(s) doing the opposite of what the tasks want)`);
  }
  return parts.length === 0 ? c.green(c.bold("converged")) : parts.join(", ");
}

function renderStatus(out: Output, observation: ServiceObservation): void {
  const c = out.colors;
  const { service, plan } = observation;
  out.line(`${c.bold(service.name)}  ${headlineOf(observation, c)}`);
  for (const warning of observation.warnings) out.line(c.yellow(`  warning: ${warning}`));
  if (observation.stale !== undefined || plan === undefined) {
    // A reconcile now would fail on this read without writing, and be retried: comparing it would show false drift.
    out.line(c.yellow(`  ${observation.stale?.message ?? "ECS could not be read fresh"}`));
    return;
  }

  const ready = observation.tasks.filter((t) => t.verdict === "ready").length;
  const draining = observation.tasks.filter((t) => t.verdict === "draining").length;
  const others = observation.tasks.length - ready - draining;
  out.line(`  ECS ${service.cluster}/${service.ecsService}: ${ready} ready, ${draining} draining${others > 0 ? `, ${others} not ready` : ""}`);
  if (observation.cloudMap !== undefined) {
    const operations = observation.cloudMap.operations.length;
    out.line(
      `  Cloud Map ${observation.cloudMap.serviceId}: ${observation.cloudMap.instances.length} instance(s)` +
        (operations > 0 ? `, ${operations} operation(s) in flight` : ""),
    );
  }
  for (const group of observation.targetGroups) out.line(`  target group ${shortTargetGroupName(group.arn)}: ${group.targets.length} target(s)`);
  const doc = documentView(observation);
  const decision = describeDocumentPlan(plan.document);
  const docText =
    doc.state === "valid"
      ? `revision ${doc.revision}, ${doc.form}, age ${doc.ageSeconds === undefined ? "unknown" : formatAge(doc.ageSeconds * 1000)}, ` +
        `${doc.endpoints.length} endpoint(s), ${doc.draining.length} draining`
      : doc.state === "invalid"
        ? c.red(`invalid (${doc.reason})`)
        : doc.state === "newer"
          ? c.red(`schemaVersion ${doc.schemaVersion}, newer than this tool`)
          : c.red(doc.state);
  const decisionText = plan.document.kind === "unchanged" ? c.green("up to date") : c.red(decision.summary);
  out.line(`  document ${service.parameterName}: ${docText}; ${decisionText}`);

  const rows = statusRows(observation, plan, c);
  const groups = observation.targetGroups.map((g) => g.arn);
  const header = ["TASK", "ADDRESS", "ECS", ...(observation.cloudMap === undefined ? [] : ["CLOUD MAP"]), ...groups.map((arn) => `TG ${shortTargetGroupName(arn)}`), "DOCUMENT"];
  if (rows.length > 0) {
    out.line();
    out.line(
      formatTable(
        [
          header.map((h) => c.dim(h)),
          ...rows.map((row) => [
            row.taskId === undefined ? c.dim("(none)") : shortId(row.taskId),
            row.address ?? "-",
            row.ecs ?? c.dim("-"),
            ...(observation.cloudMap === undefined ? [] : [row.cloudMap ?? c.dim("-")]),
            ...groups.map((arn) => row.targets.get(arn) ?? c.dim("-")),
            row.document ?? c.dim("-"),
          ]),
        ],
        "  ",
      ),
    );
  }
  for (const unsettled of observation.inFlight) {
    const doing = unsettled.operation === "REGISTER_INSTANCE" ? "registration" : "deregistration";
    out.line(
      c.yellow(
        `  Cloud Map ${doing} of ${unsettled.instanceId} is in flight (operation ${unsettled.operationId}), but the instance is to be ` +
          `${unsettled.wanted}: the next reconcile finishes the job once it completed`,
      ),
    );
  }
  // Each message names its target already (`reading targets arn:...: ...`, `target group arn:... has TargetType ...`).
  for (const failure of observation.failures) out.line(c.red(`  ${failure.message}`));
}

/**
 * One row per task, instance, target or document entry, keyed by task id (or by address for a target no task has),
 * each cell marked where the planner would write.
 */
function statusRows(observation: ServiceObservation, plan: ReconcilePlan, c: Colors): Row[] {
  const { service } = observation;
  const rows = new Map<string, Row>();
  const byAddress = new Map<string, string>();
  const rowOf = (taskId: string | undefined, address: string | undefined): Row => {
    const key = taskId ?? (address !== undefined ? byAddress.get(address) : undefined) ?? `address:${address ?? "?"}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = { targets: new Map(), ...(taskId === undefined ? {} : { taskId }), ...(address === undefined ? {} : { address }) };
      rows.set(key, row);
    }
    if (row.address === undefined && address !== undefined) row.address = address;
    if (address !== undefined && !byAddress.has(address)) byAddress.set(address, key);
    return row;
  };
  const missing = (what: string) => c.red(`MISSING (${what})`);
  const extra = (what: string) => c.red(`EXTRA (${what})`);

  for (const task of observation.tasks) {
    const row = rowOf(task.taskId, task.address);
    row.ecs =
      task.verdict === "ready" ? c.green("ready") : task.verdict === "draining" ? c.yellow("draining") : c.dim(`${task.verdict}: ${task.reason ?? ""}`);
  }

  if (observation.cloudMap !== undefined) {
    const registering = new Set(plan.cloudMap?.register.map((r) => r.instanceId) ?? []);
    const deregistering = new Set(plan.cloudMap?.deregister ?? []);
    for (const instance of observation.cloudMap.instances) {
      const row = rowOf(instance.id, instance.attributes.AWS_INSTANCE_IPV4);
      row.cloudMap = deregistering.has(instance.id) ? extra("deregister") : registering.has(instance.id) ? c.red("STALE (re-register)") : c.green("registered");
    }
    for (const registration of plan.cloudMap?.register ?? []) {
      const row = rowOf(registration.instanceId, registration.attributes.AWS_INSTANCE_IPV4);
      if (row.cloudMap === undefined) row.cloudMap = missing("register");
    }
    // Operations in flight replace what ListInstances says: it shows a registration only once it finished, and an
    // instance being deregistered until then.
    for (const operation of observation.cloudMap.operations) {
      const row = rowOf(operation.instanceId, observation.tasks.find((t) => t.taskId === operation.instanceId)?.address);
      const doing = operation.type === "REGISTER_INSTANCE" ? "registering" : "deregistering";
      row.cloudMap = operation.direction === "as-desired" ? c.green(`${doing} (in flight)`) : c.yellow(`IN FLIGHT (${doing}, want ${doing === "registering" ? "deregistered" : "registered"})`);
    }
  }

  for (const group of observation.targetGroups) {
    const groupPlan = plan.targetGroups.find((g) => g.arn === group.arn);
    const key = (id: string, port: number | undefined) => `${id}:${port ?? service.port}`;
    const deregistering = new Set(groupPlan?.deregister.map((t) => key(t.id, t.port)) ?? []);
    for (const target of group.targets) {
      const row = rowOf(undefined, target.id);
      const state = target.state ?? "unknown";
      const shown = target.port !== undefined && target.port !== service.port ? `${state} :${target.port}` : state;
      row.targets.set(group.arn, deregistering.has(key(target.id, target.port)) ? extra(`${shown}, deregister`) : state === "healthy" ? c.green(shown) : c.yellow(shown));
    }
    for (const target of groupPlan?.register ?? []) rowOf(undefined, target.id).targets.set(group.arn, missing("register"));
  }

  const parameter = observation.parameter;
  const wanted = new Map<string, "endpoint" | "draining">();
  for (const task of observation.desired.ready) wanted.set(task.taskId, "endpoint");
  for (const task of observation.desired.draining) wanted.set(task.taskId, "draining");
  const published = new Map<string, { list: "endpoint" | "draining"; address: string }>();
  if (parameter?.kind === "valid") {
    for (const endpoint of parameter.document.endpoints) published.set(endpoint.taskId ?? `address:${endpoint.address}`, { list: "endpoint", address: endpoint.address });
    for (const endpoint of parameter.document.draining) published.set(endpoint.taskId ?? `address:${endpoint.address}`, { list: "draining", address: endpoint.address });
  }
  if (parameter !== undefined) {
    for (const [id, entry] of published) {
      const row = rowOf(id.startsWith("address:") ? undefined : id, entry.address);
      const want = wanted.get(id);
      row.document = want === entry.list ? c.green(entry.list) : want === undefined ? extra(`${entry.list}, remove`) : c.red(`WRONG (${entry.list}, want ${want})`);
    }
    for (const [id, want] of wanted) {
      if (published.has(id)) continue;
      const task = observation.tasks.find((t) => t.taskId === id);
      rowOf(id, task?.address).document = missing(`add as ${want}`);
    }
  }
  return [...rows.values()].sort((a, b) => (a.taskId ?? `~${a.address}`).localeCompare(b.taskId ?? `~${b.address}`));
}
