import { randomUUID } from "node:crypto";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from "@aws-sdk/client-sqs";
import { configEnvVar, configParameterEnvVar, parseReconcileMessage, queueUrlEnvVar, type DiscoverySyncConfig } from "@discovery-sync/core";
import { Command, Option } from "commander";
import type { AwsContext } from "../aws.js";
import { CliInputError, exitCodes, type ExitCode } from "../errors.js";
import { formatTable } from "../format.js";
import { createOutput, type CliIo } from "../io.js";
import { checkedQueueUrl, dlqUrlEnvVar, locateQueues, requireConfig, stackEnvVar } from "../settings.js";
import { commonExitCodes, lazyAws, withAwsOptions, withConfigOption, withHelpFooter, type ConfigCommandOptions } from "./shared.js";

/** Options of `dlq list` and `dlq redrive`. */
export interface DlqOptions extends ConfigCommandOptions {
  readonly dlqUrl?: string;
  readonly queueUrl?: string;
  readonly stack?: string;
  readonly stage?: string;
  readonly service?: string;
  readonly max?: string;
  readonly logGroup?: string;
}

/** One dead-lettered message and why it is there. */
export interface DeadLetter {
  readonly messageId: string;
  /** The service it asks to reconcile (its message group when the body is unreadable). */
  readonly service: string | undefined;
  readonly groupId: string | undefined;
  readonly trigger: string | undefined;
  readonly triggeredAt: string | undefined;
  /** Times the message was received before this look (the work queue's receives carry over to the dead-letter queue). */
  readonly receiveCount: number | undefined;
  /** When it was first sent to the work queue. */
  readonly firstSentAt: string | undefined;
  readonly reason: string;
  /** Whether it is a reconcile message that `redrive` moves back. */
  readonly redrivable: boolean;
  readonly body: string;
}

// Long enough for one run of the command to see each message once; the messages are made visible again at the end.
const holdSeconds = 60;

/** The `dlq` command with its `list` (default) and `redrive` subcommands. */
export function dlqCommand(io: CliIo, done: (code: ExitCode) => void): Command {
  const dlq = new Command("dlq")
    .summary("list the dead-lettered reconcile messages, or move them back")
    .description(
      "The reconcile queue's dead-letter queue holds messages whose reconcile failed on every receive (maxReceiveCount). " +
        "`list` shows each with its service, trigger, receive count, first-sent time and the reason; `redrive` moves the " +
        "reconcile messages back to the work queue (same message group, a fresh deduplication id), then deletes them. " +
        "The dead-letter queue is --dlq-url, DISCOVERY_SYNC_DLQ_URL, the deployed stack's DeadLetterQueueUrl output " +
        "(--stack, --stage or DISCOVERY_SYNC_STACK), or the one the work queue's redrive policy names.",
    );
  const addOptions = (command: Command) => {
    command
      .addOption(new Option("--dlq-url <url>", `the dead-letter queue (or ${dlqUrlEnvVar}; default: from the work queue's redrive policy)`))
      .addOption(new Option("--queue-url <url>", `the reconcile work queue: the deployed stack's QueueUrl output (or ${queueUrlEnvVar})`))
      .addOption(new Option("--stack <name>", `the deployed stack whose QueueUrl and DeadLetterQueueUrl outputs are the queues (or ${stackEnvVar})`))
      .addOption(new Option("--stage <name>", "the deployed stage: the stack <stage>-discovery-sync-DiscoverySync"))
      .option("--service <name>", "only this service's messages")
      .option("--max <count>", "look at most at this many messages", "100")
      .option("--log-group <name>", "the reconcile function's CloudWatch Logs group: each reason becomes the error of the service's last failed reconcile");
    withConfigOption(withAwsOptions(command));
    return command;
  };
  const list = addOptions(new Command("list").summary("list the dead-lettered messages (default)"));
  withHelpFooter(
    list,
    ["discovery-sync dlq --log-group /aws/lambda/prod-discovery-sync-reconcile", "discovery-sync dlq list --dlq-url https://sqs.us-east-1.amazonaws.com/123456789012/prod-discovery-sync-dlq.fifo --json"],
    ["0  listed (empty or not)", ...commonExitCodes],
  );
  list.action(async (options: DlqOptions) => done(await runDlq("list", options, io)));
  const redrive = addOptions(new Command("redrive").summary("move the dead-lettered reconcile messages back to the work queue"));
  withHelpFooter(
    redrive,
    ["discovery-sync dlq redrive --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/prod-discovery-sync.fifo", "discovery-sync dlq redrive --service workflow-agent"],
    ["0  every selected message was moved back", "1  some were left: not reconcile messages (listed)", ...commonExitCodes],
  );
  redrive.action(async (options: DlqOptions) => done(await runDlq("redrive", options, io)));
  withHelpFooter(
    dlq,
    ["discovery-sync dlq --stage prod", "discovery-sync dlq redrive --service workflow-agent", "discovery-sync dlq list --help"],
    ["0  listed, or every selected message moved back", "1  redrive left messages that are not reconcile messages", ...commonExitCodes],
  );
  return dlq.addCommand(list, { isDefault: true }).addCommand(redrive);
}

/**
 * Runs `dlq list` or `dlq redrive`.
 *
 * @example
 * ```ts
 * await runDlq("redrive", { queueUrl, service: "workflow-agent" }, io);
 * ```
 */
export async function runDlq(action: "list" | "redrive", options: DlqOptions, io: CliIo): Promise<ExitCode> {
  const out = createOutput(io, { json: options.json === true });
  const max = Number(options.max ?? "100");
  if (!Number.isInteger(max) || max < 1 || max > 10_000) throw new CliInputError(`--max must be a whole number from 1 to 10000 (given ${JSON.stringify(options.max)})`);
  const aws = lazyAws(options, io);
  const config = await optionalConfig(options, io, aws);
  const dlqGiven = options.dlqUrl ?? emptyToUndefined(io.env[dlqUrlEnvVar]);
  // Listing a dead-letter queue given as such needs no work queue: no stack to read then.
  const queues = action === "list" && dlqGiven !== undefined ? undefined : await locateQueues(options, io, aws);
  const workQueueGiven = queues?.workQueueUrl;
  const dlqUrl = await resolveDlqUrl(dlqGiven ?? queues?.deadLetterQueueUrl, workQueueGiven, aws());
  const workQueueUrl = action === "redrive" ? (workQueueGiven ?? (await sourceQueueOf(dlqUrl, aws()))) : undefined;

  const seen: DeadLetter[] = [];
  const held: Message[] = [];
  let moved = 0;
  let total: number | undefined;
  try {
    total = await approximateCount(dlqUrl, aws());
    await out.withSpinner(`reading ${dlqUrl}`, async () => {
      while (seen.length < max) {
        const batch = await receive(dlqUrl, Math.min(10, max - seen.length), aws());
        if (batch.length === 0) break;
        for (const message of batch) {
          const letter = describeDeadLetter(message, config);
          seen.push(letter);
          const selected = options.service === undefined || letter.service === options.service;
          if (action === "redrive" && selected && letter.redrivable && workQueueUrl !== undefined) {
            // Sent first, deleted second: a crash in between leaves a duplicate trigger, which the reconcile absorbs.
            await aws().clients.sqs.send(
              new SendMessageCommand({
                QueueUrl: workQueueUrl,
                MessageBody: message.Body ?? "",
                MessageGroupId: letter.groupId ?? letter.service,
                // A fresh id: the original may still be inside the queue's 5-minute deduplication window.
                MessageDeduplicationId: `redrive-${randomUUID()}`,
              }),
            );
            await aws().clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle }));
            moved++;
          } else {
            held.push(message);
          }
        }
      }
    });
  } catch (error) {
    throw aws().failure(error, `${action === "list" ? "reading" : "redriving"} the dead-letter queue ${dlqUrl}`);
  } finally {
    // What was only looked at goes back at once, not after the hold.
    await Promise.allSettled(
      held.map((message) => aws().clients.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }))),
    );
  }

  const selected = seen.filter((letter) => options.service === undefined || letter.service === options.service);
  const shown = options.logGroup === undefined ? selected : await withLoggedReasons(selected, options.logGroup, aws());
  const leftBehind = action === "redrive" ? shown.filter((letter) => !letter.redrivable) : [];
  if (out.json) {
    out.printJson({ deadLetterQueueUrl: dlqUrl, approximateCount: total, messages: shown, ...(action === "redrive" ? { workQueueUrl, moved, leftBehind: leftBehind.length } : {}) });
  } else {
    const c = out.colors;
    out.line(`${c.bold(dlqUrl)}: ${shown.length} message(s)${options.service === undefined ? "" : ` of ${options.service}`}${total !== undefined && total > seen.length ? ` shown of about ${total}` : ""}`);
    if (shown.length > 0) {
      out.line(
        formatTable(
          [
            ["MESSAGE", "SERVICE", "TRIGGER", "RECEIVES", "FIRST SENT", "REASON"].map((h) => c.dim(h)),
            ...shown.map((l) => [l.messageId, l.service ?? "?", l.trigger ?? "?", l.receiveCount === undefined ? "?" : String(l.receiveCount), l.firstSentAt ?? "?", l.reason]),
          ],
          "  ",
        ),
      );
    }
    if (action === "redrive") {
      out.line(c.green(`moved ${moved} message(s) back to ${workQueueUrl}`));
      for (const letter of leftBehind) out.line(c.red(`left ${letter.messageId}: ${letter.reason}`));
    }
  }
  return leftBehind.length > 0 ? exitCodes.notConverged : exitCodes.ok;
}

/**
 * The reasons as the reconcile logged them: for each reconcile message, the error of its service's last failed
 * reconcile record since the message was first sent (the reader and parser of the `report` command, loaded only here).
 */
async function withLoggedReasons(letters: readonly DeadLetter[], logGroupName: string, aws: AwsContext): Promise<DeadLetter[]> {
  if (letters.length === 0) return [];
  const [{ readLogGroup }, { parseLogLines }] = await Promise.all([import("../report/sources.js"), import("../report/records.js")]);
  const sentTimes = letters.flatMap((l) => (l.firstSentAt === undefined ? [] : [Date.parse(l.firstSentAt)]));
  // A message is dead-lettered after its failures, so its first send bounds the records to read (a minute of clock skew).
  const startTime = (sentTimes.length === 0 ? Date.now() - 14 * 86_400_000 : Math.min(...sentTimes)) - 60_000;
  let lines: string[];
  try {
    lines = await readLogGroup(aws.logsClient(), { logGroupName, startTime });
  } catch (error) {
    throw aws.failure((error as { cause?: unknown }).cause ?? error, `reading the log group ${logGroupName}`);
  }
  const failed = parseLogLines(lines).records.filter((record) => record.outcome === "failed" && record.error !== undefined);
  return letters.map((letter) => {
    if (!letter.redrivable) return letter;
    const since = letter.firstSentAt === undefined ? 0 : Date.parse(letter.firstSentAt) - 60_000;
    const last = failed.filter((r) => r.service === letter.service && Date.parse(r.startedAt) >= since).sort((a, b) => a.startedAt.localeCompare(b.startedAt)).at(-1);
    if (last?.error === undefined) return { ...letter, reason: `${letter.reason}; no failed reconcile of ${letter.service} found in ${logGroupName} since it was sent` };
    return { ...letter, reason: `last failed reconcile at ${last.startedAt}: ${last.error.message}` };
  });
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** The configuration when one is given (it names the reason for a message of an unknown service); none is fine. */
async function optionalConfig(options: DlqOptions, io: CliIo, aws: () => AwsContext): Promise<DiscoverySyncConfig | undefined> {
  const given = options.config !== undefined || (io.env[configEnvVar] ?? "") !== "" || (io.env[configParameterEnvVar] ?? "") !== "";
  return given ? (await requireConfig(options.config, io, aws)).config : undefined;
}

/**
 * Why a message is in the dead-letter queue, from what it carries. The reconcile drops unreadable messages and
 * messages of unconfigured services, so those came from elsewhere; a good one failed its reconcile on every receive,
 * and that reconcile's failed records (in the reconcile function's logs) name the failing target.
 */
export function describeDeadLetter(message: Message, config: DiscoverySyncConfig | undefined): DeadLetter {
  const attributes = message.Attributes ?? {};
  const body = message.Body ?? "";
  const parsed = parseReconcileMessage(body);
  const receives = attributes.ApproximateReceiveCount === undefined ? undefined : Math.max(0, Number(attributes.ApproximateReceiveCount) - 1);
  const sent = attributes.SentTimestamp === undefined ? undefined : new Date(Number(attributes.SentTimestamp)).toISOString();
  const common = {
    messageId: message.MessageId ?? "?",
    groupId: attributes.MessageGroupId,
    receiveCount: receives,
    firstSentAt: sent,
    body,
  };
  if (!parsed.ok) {
    return { ...common, service: attributes.MessageGroupId, trigger: undefined, triggeredAt: undefined, reason: `not a reconcile message (${parsed.reason})`, redrivable: false };
  }
  const { service, trigger } = parsed.value;
  const base = { ...common, service, trigger: trigger.kind, triggeredAt: trigger.at, redrivable: true };
  if (config !== undefined && !config.services.some((s) => s.name === service)) {
    return { ...base, reason: `service ${service} is not in the configuration: the reconcile drops such a message` };
  }
  return {
    ...base,
    reason:
      `its reconcile of ${service} failed on each of its ${receives ?? "?"} receives; the failed reconcile records say why ` +
      `(discovery-sync report --service ${service} --log-group <reconcile function's log group>)`,
  };
}

async function resolveDlqUrl(given: string | undefined, workQueueUrl: string | undefined, aws: AwsContext): Promise<string> {
  if (given !== undefined) return checkedQueueUrl(given, "dead-letter queue URL");
  if (workQueueUrl === undefined) {
    throw new CliInputError(
      `no dead-letter queue: pass --dlq-url or set ${dlqUrlEnvVar}, or give the work queue (--queue-url or ${queueUrlEnvVar}) whose redrive policy names it, ` +
        `or the deployed stack (--stack NAME, --stage NAME or ${stackEnvVar})`,
    );
  }
  const url = checkedQueueUrl(workQueueUrl, "queue URL");
  let policy: string | undefined;
  try {
    policy = (await aws.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["RedrivePolicy"] }))).Attributes?.RedrivePolicy;
  } catch (error) {
    throw aws.failure(error, `reading the redrive policy of ${url}`);
  }
  const arn = policy === undefined ? undefined : (JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn;
  const match = arn === undefined ? null : /^arn:[^:]+:sqs:[^:]+:(\d{12}):(.+)$/.exec(arn);
  if (match === null) throw new CliInputError(`the queue ${url} has no dead-letter queue (no RedrivePolicy); pass --dlq-url`);
  try {
    const found = await aws.clients.sqs.send(new GetQueueUrlCommand({ QueueName: match[2], QueueOwnerAWSAccountId: match[1] }));
    return found.QueueUrl ?? "";
  } catch (error) {
    throw aws.failure(error, `finding the dead-letter queue ${arn}`);
  }
}

async function sourceQueueOf(dlqUrl: string, aws: AwsContext): Promise<string> {
  let urls: string[];
  try {
    urls = (await aws.clients.sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlqUrl }))).queueUrls ?? [];
  } catch (error) {
    throw aws.failure(error, `finding the queue that dead-letters into ${dlqUrl}`);
  }
  if (urls.length !== 1) {
    throw new CliInputError(`${urls.length === 0 ? "no queue" : `${urls.length} queues`} dead-letter into ${dlqUrl}: pass --queue-url (or ${queueUrlEnvVar}) or --stack to say where to move the messages`);
  }
  return urls[0]!;
}

async function approximateCount(dlqUrl: string, aws: AwsContext): Promise<number | undefined> {
  const attributes = await aws.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["ApproximateNumberOfMessages"] }));
  const count = attributes.Attributes?.ApproximateNumberOfMessages;
  return count === undefined ? undefined : Number(count);
}

async function receive(dlqUrl: string, max: number, aws: AwsContext): Promise<Message[]> {
  const output = await aws.clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: dlqUrl,
      MaxNumberOfMessages: max,
      WaitTimeSeconds: 0,
      VisibilityTimeout: holdSeconds,
      // The newer name and the deprecated one: moto 5.2.1 reads AttributeNames, AWS prefers the new one.
      MessageSystemAttributeNames: ["All"],
      AttributeNames: ["All"],
    }),
  );
  return output.Messages ?? [];
}
