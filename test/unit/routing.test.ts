import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig, parseReconcileMessage, routeTaskEvent, sweepMessages } from "@discovery-sync/core";

const awsExample = JSON.parse(
  readFileSync(new URL("../fixtures/events/ecs-task-state-change.aws-doc-example.json", import.meta.url), "utf8"),
) as { id: string; detail: Record<string, unknown> } & Record<string, unknown>;

const config = parseConfig({
  services: [
    { name: "sample", cluster: "FargateCluster", ecsService: "sample-fargate", port: 8080, parameterName: "/discovery/sample/endpoints" },
    {
      name: "other",
      cluster: "arn:aws:ecs:us-west-2:111122223333:cluster/Other",
      ecsService: "other",
      port: 50051,
      parameterName: "/discovery/other/endpoints",
    },
  ],
});
const now = new Date("2026-11-25T00:00:00.000Z");
const asServiceTask = (patch: Record<string, unknown> = {}) => ({
  ...awsExample,
  detail: { ...awsExample.detail, group: "service:sample-fargate", ...patch },
});

describe("routeTaskEvent", () => {
  it("routes the AWS documentation example (as a service task) to its service, keyed for FIFO", () => {
    const decision = routeTaskEvent(config, asServiceTask(), now);
    expect(decision.kind).toBe("enqueue");
    if (decision.kind !== "enqueue") return;
    // A first RUNNING event (health UNKNOWN): one deduplication id for every such event of the task.
    expect(decision.message).toMatchObject({ service: "sample", groupId: "sample", deduplicationId: `running:${String(awsExample.detail.taskArn)}` });
    const body = parseReconcileMessage(decision.message.body);
    expect(body).toEqual({
      ok: true,
      value: {
        schemaVersion: 1,
        service: "sample",
        trigger: {
          kind: "event",
          eventId: awsExample.id,
          taskArn: awsExample.detail.taskArn,
          taskVersion: 4,
          lastStatus: "RUNNING",
          desiredStatus: "RUNNING",
          at: "2026-11-25T00:00:00.000Z",
        },
      },
    });
  });

  it("matches a cluster configured by ARN, and only that ARN", () => {
    const otherArn = "arn:aws:ecs:us-west-2:111122223333:cluster/Other";
    expect(routeTaskEvent(config, asServiceTask({ clusterArn: otherArn, group: "service:other" }), now).kind).toBe("enqueue");
    const sameNameOtherAccount = "arn:aws:ecs:us-west-2:999999999999:cluster/Other";
    expect(routeTaskEvent(config, asServiceTask({ clusterArn: sameNameOtherAccount, group: "service:other" }), now).kind).toBe("ignore");
  });

  it("ignores tasks of no configured service: RunTask families, other services, other clusters", () => {
    expect(routeTaskEvent(config, awsExample, now)).toMatchObject({ kind: "ignore", reason: expect.stringContaining("family:sample-fargate") });
    expect(routeTaskEvent(config, asServiceTask({ group: "service:else" }), now).kind).toBe("ignore");
    expect(routeTaskEvent(config, asServiceTask({ clusterArn: "arn:aws:ecs:us-west-2:111122223333:cluster/Else" }), now).kind).toBe("ignore");
  });

  it("accepts unknown fields ECS may add", () => {
    expect(routeTaskEvent(config, { ...asServiceTask({ brandNew: { x: 1 } }), extra: true }, now).kind).toBe("enqueue");
  });

  it.each<[string, unknown, string]>([
    ["not an object", "hello", "event"],
    ["another detail-type", { ...asServiceTask(), "detail-type": "ECS Container Instance State Change" }, "detail-type"],
    ["another source", { ...asServiceTask(), source: "aws.ec2" }, "source"],
    ["no detail", { ...asServiceTask(), detail: undefined }, "detail"],
    ["bad cluster ARN", asServiceTask({ clusterArn: "FargateCluster" }), "detail.clusterArn"],
    ["version as text", asServiceTask({ version: "4" }), "detail.version"],
    ["no id", { ...asServiceTask(), id: undefined }, "id"],
  ])("rejects a malformed event (%s), naming the field", (_, event, path) => {
    const decision = routeTaskEvent(config, event, now);
    expect(decision.kind).toBe("reject");
    expect(decision.kind === "reject" && decision.reason.startsWith(path)).toBe(true);
  });

  it("hashes an event id SQS could not take as deduplication id", () => {
    const decision = routeTaskEvent(config, { ...asServiceTask({ healthStatus: "HEALTHY" }), id: "x".repeat(200) }, now);
    expect(decision.kind === "enqueue" && decision.message.deduplicationId).toMatch(/^[0-9a-f]{64}$/);
  });

  it("hashes a task's phase key SQS could not take as deduplication id", () => {
    const longArn = `arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/${"a".repeat(120)}`;
    const decision = routeTaskEvent(config, asServiceTask({ taskArn: longArn }), now);
    expect(decision.kind === "enqueue" && decision.message.deduplicationId).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ["PROVISIONING", "RUNNING"],
    ["PENDING", "RUNNING"],
    ["ACTIVATING", "RUNNING"],
    ["DEPROVISIONING", "STOPPED"],
    ["PENDING", "STOPPED"],
    ["DEACTIVATING", "RUNNING"],
  ])("ignores lastStatus %s with desiredStatus %s: it cannot change what is published", (lastStatus, desiredStatus) => {
    const decision = routeTaskEvent(config, asServiceTask({ lastStatus, desiredStatus }), now);
    expect(decision).toEqual({
      kind: "ignore",
      reason:
        `task ${String(awsExample.detail.taskArn)} is ${lastStatus} (desiredStatus ${desiredStatus}): that cannot change what is published; ` +
        "the task's next RUNNING, stopping or STOPPED event will",
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["first RUNNING, no health yet", { lastStatus: "RUNNING", desiredStatus: "RUNNING" }, "running"],
    ["first RUNNING, health UNKNOWN", { lastStatus: "RUNNING", desiredStatus: "RUNNING", healthStatus: "UNKNOWN" }, "running"],
    ["told to stop while RUNNING", { lastStatus: "RUNNING", desiredStatus: "STOPPED", healthStatus: "HEALTHY" }, "stopping"],
    ["DEACTIVATING", { lastStatus: "DEACTIVATING", desiredStatus: "STOPPED" }, "stopping"],
    ["STOPPING", { lastStatus: "STOPPING", desiredStatus: "STOPPED", healthStatus: "UNHEALTHY" }, "stopping"],
    ["STOPPED", { lastStatus: "STOPPED", desiredStatus: "STOPPED" }, "stopped"],
  ])("gives every event of one phase of a task one deduplication id: %s", (_, detail, phase) => {
    const decision = routeTaskEvent(config, { ...asServiceTask(detail), id: `another-event-${phase}` }, now);
    expect(decision.kind === "enqueue" && decision.message.deduplicationId).toBe(`${phase}:${String(awsExample.detail.taskArn)}`);
  });

  it.each(["HEALTHY", "UNHEALTHY"])("keeps the event id of a health result (%s), which can recur after a change", (healthStatus) => {
    const decision = routeTaskEvent(config, asServiceTask({ healthStatus }), now);
    expect(decision.kind === "enqueue" && decision.message.deduplicationId).toBe(awsExample.id);
  });
});

describe("sweepMessages", () => {
  it("makes one message per service, grouped by service, deduplicated per invocation", () => {
    const messages = sweepMessages(config, "schedule-1", now);
    expect(messages.map((m) => [m.groupId, m.deduplicationId])).toEqual([
      ["sample", "sweep-sample-schedule-1"],
      ["other", "sweep-other-schedule-1"],
    ]);
    expect(parseReconcileMessage(messages[0]!.body)).toMatchObject({ ok: true, value: { service: "sample", trigger: { kind: "sweep" } } });
  });
});

describe("parseReconcileMessage", () => {
  it("says why a body is refused", () => {
    expect(parseReconcileMessage("nope")).toMatchObject({ ok: false, reason: expect.stringContaining("not JSON") });
    expect(parseReconcileMessage(JSON.stringify({ schemaVersion: 1, service: "", trigger: { kind: "event", at: "x" } }))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("service"),
    });
  });
});

describe("retryVisibilitySeconds", () => {
  it("doubles from the base with each receive, up to the maximum", async () => {
    const { retryVisibilitySeconds } = await import("@discovery-sync/core");
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryVisibilitySeconds(n))).toEqual([5, 10, 20, 40, 80, 160, 300]);
    expect(retryVisibilitySeconds(Number("not a count"))).toBe(5);
    expect(retryVisibilitySeconds(3, { baseSeconds: 1, maxSeconds: 2 })).toBe(2);
  });
});
