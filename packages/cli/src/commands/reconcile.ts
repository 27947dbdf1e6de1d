import { randomUUID } from "node:crypto";
import { sendReconcileMessage, sweepMessages } from "@discovery-sync/core";
import { Command, Option } from "commander";
import { CliInputError, exitCodes, type ExitCode } from "../errors.js";
import { formatAge, parseDuration } from "../format.js";
import { createOutput, type CliIo } from "../io.js";
import { createObserveCaches, observeService, type ServiceObservation } from "../observe.js";
import { requireConfig, requireQueueUrl, selectServices, stackEnvVar } from "../settings.js";
import { commonExitCodes, lazyAws, withAwsOptions, withConfigOption, withHelpFooter, type ConfigCommandOptions } from "./shared.js";

/** Options of `reconcile`. */
export interface ReconcileOptions extends ConfigCommandOptions {
  readonly service?: string;
  readonly all?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
  readonly queueUrl?: string;
  readonly stack?: string;
  readonly stage?: string;
}

/** How often `--wait` reads the state again. */
const waitPollMs = 1_000;

/** The `reconcile` command. */
export function reconcileCommand(io: CliIo, done: (code: ExitCode) => void): Command {
  const command = new Command("reconcile")
    .summary("ask for a reconcile now, through the FIFO queue")
    .description(
      "Sends a `manual` reconcile trigger for one service (or all) through the reconcile FIFO queue, with the service as " +
        "its message group, exactly as the router and the sweep do: it never runs a reconcile itself, so it can never race " +
        "the reconcile Lambda. With --wait, reads the state every second until the service(s) converged or the timeout.",
    )
    .option("--service <name>", "the service to reconcile")
    .option("--all", "reconcile every configured service")
    .option("--wait", "wait until `status` shows the service(s) converged")
    .option("--timeout <duration>", "with --wait: how long to wait (30s, 2m, 500ms)", "60s")
    .addOption(new Option("--queue-url <url>", "the reconcile FIFO queue: the deployed stack's QueueUrl output (or DISCOVERY_SYNC_QUEUE_URL)"))
    .addOption(new Option("--stack <name>", `the deployed stack whose QueueUrl output is the queue (or ${stackEnvVar})`))
    .addOption(new Option("--stage <name>", "the deployed stage: the stack <stage>-discovery-sync-DiscoverySync"));
  withConfigOption(withAwsOptions(command));
  withHelpFooter(
    command,
    [
      "discovery-sync reconcile --service workflow-agent --wait --timeout 2m",
      "discovery-sync reconcile --all --stage prod --profile prod",
      "DISCOVERY_SYNC_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/prod-discovery-sync.fifo discovery-sync reconcile --all",
    ],
    ["0  sent (with --wait: and converged)", "1  --wait: not converged before the timeout (what still differs is named)", ...commonExitCodes],
  );
  return command.action(async (options: ReconcileOptions) => done(await runReconcile(options, io)));
}

/**
 * Runs `reconcile`.
 *
 * @example
 * ```ts
 * await runReconcile({ service: "workflow-agent", wait: true, timeout: "60s", queueUrl }, io);
 * ```
 */
export async function runReconcile(options: ReconcileOptions, io: CliIo): Promise<ExitCode> {
  if ((options.service === undefined) === (options.all !== true)) {
    throw new CliInputError("reconcile needs exactly one of --service NAME or --all");
  }
  const timeoutMs = parseDuration(options.timeout ?? "60s", "--timeout");
  const out = createOutput(io, { json: options.json === true });
  const aws = lazyAws(options, io);
  const queueUrl = await requireQueueUrl(options, io, aws);
  const { config } = await requireConfig(options.config, io, aws);
  const services = selectServices(config, options.service);
  const now = io.now ?? (() => new Date());
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  // The same messages the sweep sends, of kind "manual": one per service, grouped by service, deduplicated per run.
  const messages = sweepMessages({ services }, randomUUID(), now(), "manual");
  const sent: { service: string; messageId: string | undefined; deduplicationId: string }[] = [];
  for (const message of messages) {
    try {
      const messageId = await sendReconcileMessage(aws().clients.sqs, queueUrl, message);
      sent.push({ service: message.service, messageId, deduplicationId: message.deduplicationId });
    } catch (error) {
      throw aws().failure(error, `sending a manual reconcile of ${message.service} to ${queueUrl}`);
    }
    if (!out.json) out.line(`sent a manual reconcile of ${out.colors.bold(message.service)} (message ${sent.at(-1)?.messageId ?? "?"})`);
  }
  if (options.wait !== true) {
    if (out.json) out.printJson({ sent });
    return exitCodes.ok;
  }

  const started = Date.now();
  const caches = createObserveCaches();
  let observations: ServiceObservation[] = [];
  const converged = await out.withSpinner(`waiting for ${services.map((s) => s.name).join(", ")} to converge`, async (update) => {
    for (;;) {
      const at = now();
      observations = await Promise.all(services.map((service) => observeService(aws(), service, caches, at)));
      const pending = observations.filter((o) => !o.converged);
      if (pending.length === 0) return true;
      if (Date.now() - started >= timeoutMs) return false;
      update(`waiting for ${pending.map((o) => `${o.service.name} (${o.writes.length} writes to make)`).join(", ")}`);
      await sleep(Math.min(waitPollMs, Math.max(0, timeoutMs - (Date.now() - started))));
    }
  });
  const elapsed = formatAge(Date.now() - started);
  if (out.json) {
    out.printJson({
      sent,
      converged,
      services: observations.map((o) => ({ service: o.service.name, converged: o.converged, drifted: o.drifted, writes: o.writes, failures: o.failures })),
    });
  } else if (converged) {
    out.line(out.colors.green(`converged: ${services.map((s) => s.name).join(", ")} (after ${elapsed})`));
  } else {
    for (const observation of observations.filter((o) => !o.converged)) {
      const what = [
        ...observation.writes.map((w) => `${w.target}.${w.action} ${w.item}`),
        ...observation.failures.map((f) => `cannot read ${f.target}`),
        ...observation.inFlight.map((u) => `Cloud Map operation ${u.operationId} on ${u.instanceId} in flight`),
        ...(observation.stale ? [`stale ECS read: ${observation.stale.message}`] : []),
      ];
      out.line(out.colors.red(`${observation.service.name} has not converged after ${elapsed}: ${what.join(", ") || "the document cannot be published"}`));
    }
  }
  return converged ? exitCodes.ok : exitCodes.notConverged;
}
