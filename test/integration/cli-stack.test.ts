import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CloudFormationClient, CreateStackCommand, DescribeStackResourcesCommand } from "@aws-sdk/client-cloudformation";
import { ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import { findFreePort } from "@discovery-sync/emulator";
import { run, type CliIo } from "@discovery-sync/cli";
import { isolatedAccount, testRegion, type IsolatedAccount } from "../support/aws.js";
import { exampleConfig, inlineCode, synthDiscoverySyncStack } from "../infra/support/stacks.js";

// The CLI's SDK clients take credentials from the standard chain; moto accepts any. No instance metadata lookups.
process.env.AWS_ACCESS_KEY_ID = "testing";
process.env.AWS_SECRET_ACCESS_KEY = "testing";
process.env.AWS_EC2_METADATA_DISABLED = "true";

// `reconcile` and `dlq` read the configuration only to name services: nothing here reads ECS, Cloud Map or SSM.
const config = {
  services: [
    { name: "workflow-agent", cluster: "workflow", ecsService: "workflow-agent", port: 50051, parameterName: "/discovery/workflow-agent/endpoints" },
  ],
};

/**
 * The real `DiscoverySync` stack's template (synthesised from `stacks/DiscoverySync.ts`), cut down to what moto can
 * create: its SQS queues and the outputs that name them. `deadLetterQueueUrl: false` is a stack deployed before that
 * output existed.
 */
async function controlPlaneQueuesTemplate(options: { deadLetterQueueUrl: boolean }) {
  const dir = await mkdtemp(join(tmpdir(), "discovery-sync-cli-stack-"));
  const configFile = join(dir, "discovery-sync.test.config.json");
  await writeFile(configFile, JSON.stringify(exampleConfig()));
  const { json } = synthDiscoverySyncStack({ configFile, code: inlineCode() });
  // The template leaves queue names to CloudFormation, which names a FIFO queue `<stack>-<logical id>-<random>.fifo`;
  // moto 5.2.1 names it after the logical id alone and then refuses it for lacking `.fifo`: name them the same way.
  const queues = Object.fromEntries(
    Object.entries(json.Resources)
      .filter(([, resource]) => resource.Type === "AWS::SQS::Queue")
      .map(([id, resource]) => {
        const properties = (resource.Properties ?? {}) as Record<string, unknown>;
        return [id, { ...resource, Properties: properties.FifoQueue === true ? { QueueName: `${id}.fifo`, ...properties } : properties }];
      }),
  );
  const outputs = Object.entries(json.Outputs ?? {}).filter(([name, output]) => {
    const ref = (output as { Value?: { Ref?: string } }).Value?.Ref;
    return ref !== undefined && ref in queues && (options.deadLetterQueueUrl || name !== "DeadLetterQueueUrl");
  });
  return { Resources: queues, Outputs: Object.fromEntries(outputs) };
}

interface StackWorld {
  readonly account: IsolatedAccount;
  readonly sqs: SQSClient;
  readonly stackName: string;
  /** The stack's work queue and its dead-letter queue (found by their RedrivePolicy, not by the outputs), by URL. */
  readonly workQueueUrl: string | undefined;
  readonly deadLetterQueueUrl: string | undefined;
}

async function deployStack(
  stackName: string,
  template: { Resources: Record<string, unknown>; Outputs?: Record<string, unknown> },
  account: IsolatedAccount = isolatedAccount()): Promise<StackWorld> {
  const cloudFormation = new CloudFormationClient(account.clientConfig);
  // From test/, this package resolves to the copy SST pins (3.699.0), whose @smithy/types is older than the one the
  // account plugin is typed with; the middleware itself is the same. The CLI resolves its own 3.1169.0.
  cloudFormation.middlewareStack.use(account.plugin as Parameters<CloudFormationClient["middlewareStack"]["use"]>[0]);
  await cloudFormation.send(new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(template) }));
  const { StackResources: resources = [] } = await cloudFormation.send(new DescribeStackResourcesCommand({ StackName: stackName }));
  const urlOf = (logicalId: string | undefined) => resources.find((r) => r.LogicalResourceId === logicalId)?.PhysicalResourceId;
  const workQueueId = Object.entries(template.Resources).find(([, r]) => (r as { Properties?: { RedrivePolicy?: unknown } }).Properties?.RedrivePolicy)?.[0];
  const redrive = workQueueId === undefined ? undefined : (template.Resources[workQueueId] as { Properties: { RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": [string, string] } } } });
  return {
    account,
    sqs: account.client(SQSClient),
    stackName,
    workQueueUrl: urlOf(workQueueId),
    deadLetterQueueUrl: urlOf(redrive?.Properties.RedrivePolicy.deadLetterTargetArn["Fn::GetAtt"][0]),
  };
}

/** Runs the CLI in-process in the account, with no queue URL in its environment: only the stack can give it. */
async function cli(account: IsolatedAccount, argv: readonly string[], env: Record<string, string> = {}, endpoint = account.endpoint) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { DISCOVERY_SYNC_CONFIG: JSON.stringify(config), ...env },
    decorateClients(clients) {
      for (const client of Object.values(clients)) client.middlewareStack.use(account.plugin);
    },
  };
  const code = await run([...argv, "--endpoint-url", endpoint, "--region", testRegion], io);
  return { code, stdout, stderr };
}

async function receiveAll(sqs: SQSClient, queueName: string): Promise<Message[]> {
  const { Messages: messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueName,
      MaxNumberOfMessages: 10,
      // The newer name and the deprecated one: moto 5.2.1 reads AttributeNames.
      MessageSystemAttributeNames: ["All"],
      AttributeNames: ["All"],
    }),
  );
  return messages;
}


describe("discovery-sync finds the queues from the deployed stack", () => {
  it("reconcile --stack, --stage and DISCOVERY_SYNC_STACK send to the stack's QueueUrl, in the service's message group", async () => {
    // Prepare
    const world = await deployStack("test-discovery-sync-DiscoverySync", await controlPlaneQueuesTemplate({ deadLetterQueueUrl: true }));

    // Act
    const runs = [
      await cli(world.account, ["reconcile", "--service", "workflow-agent", "--stack", world.stackName, "--json"]),
      await cli(world.account, ["reconcile", "--service", "workflow-agent", "--stage", "test", "--json"]),
      await cli(world.account, ["reconcile", "--service", "workflow-agent", "--json"], { DISCOVERY_SYNC_STACK: world.stackName }),
    ];

    // Assess
    for (const result of runs) {
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    }
    const sentIds = runs.map((result) => JSON.parse(result.stdout).sent[0].messageId as string);
    const received = await receiveAll(world.sqs, world.workQueueUrl!);
    expect(received.map((m) => m.MessageId)).toEqual(sentIds);
    for (const message of received) {
      expect(message.Attributes?.MessageGroupId).toBe("workflow-agent");
      expect(JSON.parse(message.Body!)).toMatchObject({ schemaVersion: 1, service: "workflow-agent", trigger: { kind: "manual" } });
    }
    expect(await receiveAll(world.sqs, world.deadLetterQueueUrl!)).toEqual([]);
  });

  it("dlq --stack reads the DeadLetterQueueUrl output, and redrive moves the message back to the QueueUrl output's queue", async () => {
    // Prepare
    const world = await deployStack("prod-discovery-sync-DiscoverySync", await controlPlaneQueuesTemplate({ deadLetterQueueUrl: true }));
    const body = JSON.stringify({ schemaVersion: 1, service: "workflow-agent", trigger: { kind: "sweep", at: "2026-11-28T10:00:00.000Z" } });
    await world.sqs.send(
      new SendMessageCommand({ QueueUrl: world.deadLetterQueueUrl!, MessageBody: body, MessageGroupId: "workflow-agent", MessageDeduplicationId: "dead-1" }),
    );

    // Act
    const listed = await cli(world.account, ["dlq", "list", "--stage", "prod", "--json"]);
    const redriven = await cli(world.account, ["dlq", "redrive", "--stack", world.stackName, "--json"]);

    // Assess
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    const list = JSON.parse(listed.stdout);
    // The output's value itself: the redrive-policy fallback would give the emulator's own address (GetQueueUrl).
    expect(list.deadLetterQueueUrl).toBe(world.deadLetterQueueUrl);
    expect(list.messages.map((m: { service: string }) => m.service)).toEqual(["workflow-agent"]);
    expect(redriven.code).toBe(0);
    expect(JSON.parse(redriven.stdout)).toMatchObject({ moved: 1, workQueueUrl: world.workQueueUrl });
    const back = await receiveAll(world.sqs, world.workQueueUrl!);
    expect(back.map((m) => [m.Attributes?.MessageGroupId, m.Body])).toEqual([["workflow-agent", body]]);
    expect(await receiveAll(world.sqs, world.deadLetterQueueUrl!)).toEqual([]);
  });

  it("a stack deployed before the DeadLetterQueueUrl output: dlq finds the dead-letter queue through the work queue's redrive policy", async () => {
    const world = await deployStack("old-discovery-sync-DiscoverySync", await controlPlaneQueuesTemplate({ deadLetterQueueUrl: false }));
    await world.sqs.send(
      new SendMessageCommand({ QueueUrl: world.deadLetterQueueUrl!, MessageBody: "not a reconcile message", MessageGroupId: "x", MessageDeduplicationId: "dead-2" }),
    );

    const listed = await cli(world.account, ["dlq", "--stack", world.stackName, "--json"]);

    expect(listed.code).toBe(0);
    const list = JSON.parse(listed.stdout);
    // Found through GetQueueUrl of the redrive policy's ARN: the emulator answers with its own address.
    expect(list.deadLetterQueueUrl.split("/").slice(-2)).toEqual(world.deadLetterQueueUrl!.split("/").slice(-2));
    expect(list.messages.map((m: { body: string }) => m.body)).toEqual(["not a reconcile message"]);
  });
});

describe("discovery-sync with a stack that cannot give the queue", () => {
  it("a stack that does not exist: exit 2, the stack named", async () => {
    const account = isolatedAccount();

    const byName = await cli(account, ["reconcile", "--service", "workflow-agent", "--stack", "nowhere-discovery-sync-DiscoverySync"]);
    const byStage = await cli(account, ["dlq", "--stage", "staging"]);

    expect(byName.code).toBe(2);
    expect(byName.stderr).toBe(
      `discovery-sync: error: the stack "nowhere-discovery-sync-DiscoverySync" does not exist in this account in Region ${testRegion}: check --stack or --stage, --region and --profile\n`,
    );
    expect(byStage.code).toBe(2);
    expect(byStage.stderr).toContain('the stack "staging-discovery-sync-DiscoverySync" does not exist');
  });

  it("a stack without the QueueUrl output: exit 2, naming the outputs it has", async () => {
    const world = await deployStack("other-stack", {
      Resources: { Queue: { Type: "AWS::SQS::Queue", Properties: { QueueName: "unrelated" } } },
      Outputs: { QueueArn: { Value: { "Fn::GetAtt": ["Queue", "Arn"] } }, QueueName: { Value: { "Fn::GetAtt": ["Queue", "QueueName"] } } },
    });

    const reconcile = await cli(world.account, ["reconcile", "--all", "--stack", world.stackName]);
    const dlq = await cli(world.account, ["dlq", "redrive"], { DISCOVERY_SYNC_STACK: world.stackName });

    expect(reconcile.code).toBe(2);
    expect(reconcile.stderr).toBe(
      "discovery-sync: error: the stack other-stack (CREATE_COMPLETE) has no QueueUrl output: its outputs are QueueArn, QueueName; is it a discovery-sync stack?\n",
    );
    expect(dlq.code).toBe(2);
    expect(dlq.stderr).toContain("has no QueueUrl or DeadLetterQueueUrl output: its outputs are QueueArn, QueueName");
    expect(await receiveAll(world.sqs, `${world.account.endpoint}/${world.account.accountId}/unrelated`)).toEqual([]);
  });

  it("CloudFormation out of reach: exit 3, what was being done named", async () => {
    const account = isolatedAccount();
    const deadEndpoint = `http://127.0.0.1:${await findFreePort()}`;

    const result = await cli(account, ["reconcile", "--all", "--stage", "prod"], {}, deadEndpoint);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain("reading the outputs of the stack prod-discovery-sync-DiscoverySync: cannot reach");
    expect(result.stderr).toContain("ECONNREFUSED");
  });
});
