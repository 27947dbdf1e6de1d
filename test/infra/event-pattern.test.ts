/**
 * The synthesised task-state rule's event pattern against the real AWS sample event (`test/fixtures/events/`, copied from `../shared/events/`) and
 * variants of it, on the emulator's EventBridge: the pattern is put as a rule on the default bus of a fresh account
 * with an SQS target, every event is sent with PutEvents, and what reaches the queue is what the pattern matches.
 * (moto's TestEventPattern is a stub; its rule matching is real code, shared/EMULATOR-NOTES.md.)
 */
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { isolatedAccount } from "../support/aws.js";
import { putEventsInTens } from "./support/putEvents.js";
import { resolveIntrinsics, type PseudoParameters } from "@discovery-sync/emulator";
import { logicalIdOf, repoRoot, synthControlPlane } from "./support/stacks.js";

// A copy of the shared sample events (../shared/events), kept in the repository so that a fresh clone can run it.
const EVENTS_DIR = path.resolve(repoRoot, "test/fixtures/events");

/** The samples' account and region, so that configured cluster names give the samples' cluster ARNs. */
const SAMPLE_ENV: PseudoParameters = { partition: "aws", region: "us-west-2", account: "111122223333" };
const CLUSTER = (name: string, account = SAMPLE_ENV.account, region = SAMPLE_ENV.region) => `arn:aws:ecs:${region}:${account}:cluster/${name}`;

/** Two services in the samples' cluster (by name), one in a second cluster given by ARN. */
const CONFIG = {
  services: [
    { name: "sample", cluster: "FargateCluster", ecsService: "sample-fargate", port: 80, parameterName: "/discovery/sample" },
    { name: "api", cluster: "FargateCluster", ecsService: "api", port: 8080, parameterName: "/discovery/api" },
    { name: "worker", cluster: CLUSTER("BatchCluster"), ecsService: "worker", port: 9000, parameterName: "/discovery/worker" },
  ],
};

interface SampleEvent {
  source: string;
  "detail-type": string;
  resources: string[];
  time: string;
  detail: Record<string, any>;
}

const samples: SampleEvent[] = readdirSync(EVENTS_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(EVENTS_DIR, f), "utf8")) as SampleEvent);
const taskSample = samples.find((e) => e["detail-type"] === "ECS Task State Change");

/** A task event derived from the AWS sample: another task id, cluster, group or fields. */
function taskEvent(id: string, change: { cluster?: string; group?: string; detail?: Record<string, unknown>; event?: Partial<SampleEvent> }): SampleEvent {
  const event = structuredClone(taskSample!);
  const clusterArn = change.cluster ?? event.detail["clusterArn"];
  const taskArn = `${String(clusterArn).replace(":cluster/", ":task/")}/${id}`;
  event.detail = { ...event.detail, clusterArn, taskArn, ...(change.group ? { group: change.group } : {}), ...change.detail };
  for (const container of event.detail["containers"] as Record<string, unknown>[]) container["taskArn"] = taskArn;
  event.resources = [taskArn];
  return { ...event, ...change.event };
}

/** Each case: an event, and whether the rule must deliver it. */
function cases(): [string, SampleEvent, boolean][] {
  const sample = taskSample!;
  return [
    ["the AWS sample as is: a RunTask task (group family:sample-fargate) of the configured cluster", sample, false],
    ["a task of a configured service in the configured cluster", taskEvent("a1", { group: "service:sample-fargate" }), true],
    ["a task of the other service configured in that cluster", taskEvent("a2", { group: "service:api" }), true],
    ["a task of the service configured in the second cluster (given by ARN)", taskEvent("a3", { cluster: CLUSTER("BatchCluster"), group: "service:worker" }), true],
    [
      "a stopped task of a configured service",
      taskEvent("a4", { group: "service:api", detail: { lastStatus: "STOPPED", desiredStatus: "STOPPED", stopCode: "EssentialContainerExited" } }),
      true,
    ],
    ["a task event with fields ECS added later", taskEvent("a5", { group: "service:api", detail: { capacityProviderName: "FARGATE_SPOT", newField: { x: 1 } } }), true],
    ["a task of an unconfigured service in the configured cluster", taskEvent("b1", { group: "service:other" }), false],
    ["a task of the second cluster's service in the first cluster", taskEvent("b2", { group: "service:worker" }), false],
    ["a task of the first cluster's service in the second cluster", taskEvent("b3", { cluster: CLUSTER("BatchCluster"), group: "service:api" }), false],
    ["a task of a configured service name in an unconfigured cluster", taskEvent("b4", { cluster: CLUSTER("OtherCluster"), group: "service:sample-fargate" }), false],
    ["a cluster whose name starts with a configured one", taskEvent("b5", { cluster: CLUSTER("FargateCluster2"), group: "service:sample-fargate" }), false],
    ["the configured cluster name in another account", taskEvent("b6", { cluster: CLUSTER("FargateCluster", "444455556666"), group: "service:api" }), false],
    ["the configured cluster name in another region", taskEvent("b7", { cluster: CLUSTER("FargateCluster", undefined, "eu-west-1"), group: "service:api" }), false],
    [
      "a container instance state change of the configured cluster",
      taskEvent("c1", { group: "service:api", event: { "detail-type": "ECS Container Instance State Change" } }),
      false,
    ],
    ["an ECS service action of the configured cluster", taskEvent("c2", { group: "service:api", event: { "detail-type": "ECS Service Action" } }), false],
    ["a deployment state change of the configured cluster", taskEvent("c3", { group: "service:api", event: { "detail-type": "ECS Deployment State Change" } }), false],
    ["the same task event from another source", taskEvent("c4", { group: "service:api", event: { source: "custom.ecs" } }), false],
  ];
}

describe("the task-state rule's event pattern, on the emulator's EventBridge", () => {
  let delivered: Set<string>;
  let pattern: unknown;

  beforeAll(async () => {
    // Prepare: the synthesised pattern as a rule with an SQS target, in a fresh account.
    const { json, stack, controlPlane } = synthControlPlane({ config: CONFIG }, SAMPLE_ENV);
    pattern = resolveIntrinsics(json.Resources[logicalIdOf(stack, controlPlane.taskStateRule)]!.Properties!["EventPattern"], SAMPLE_ENV);
    const account = isolatedAccount();
    const events = account.client(EventBridgeClient);
    const sqs = account.client(SQSClient);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "pattern-test" }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
    await events.send(new PutRuleCommand({ Name: "task-state", EventPattern: JSON.stringify(pattern), State: "ENABLED" }));
    await events.send(new PutTargetsCommand({ Rule: "task-state", Targets: [{ Id: "queue", Arn: Attributes!["QueueArn"]! }] }));

    // Act: every case, ten per PutEvents.
    const all = cases().map(([, event]) => event);
    expect(await putEventsInTens(events, all)).toBe(0);
    delivered = new Set<string>();
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (Messages.length === 0) break;
      for (const m of Messages) delivered.add(String((JSON.parse(m.Body ?? "{}") as SampleEvent).detail["taskArn"]));
    }
  });

  it("reads the AWS sample event and the synthesised pattern", () => {
    expect(taskSample, `an ECS Task State Change sample in ${EVENTS_DIR}`).toBeDefined();
    expect(pattern).toMatchObject({ source: ["aws.ecs"], "detail-type": ["ECS Task State Change"] });
  });

  it.each(cases())("%s: delivered %s", (_, event, expected) => {
    expect(delivered.has(String(event.detail["taskArn"]))).toBe(expected);
  });

  it("delivers nothing else", () => {
    const expected = cases().filter(([, , match]) => match).map(([, e]) => String(e.detail["taskArn"]));
    expect([...delivered].sort()).toEqual(expected.sort());
  });
});
