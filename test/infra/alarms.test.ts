/**
 * Every failure alarmed: the function-error, queue-age and no-reconcile alarms, their metrics, thresholds, periods,
 * missing-data treatment and actions, and the sweep's dead-letter queue (templates synthesised in-process).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Duration } from "aws-cdk-lib";
import type * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { policiesOfFunction } from "./support/iamCheck.js";
import { resolveIntrinsicString, resourcesOfType, type CfnTemplate } from "@discovery-sync/emulator";
import { exampleConfig, logicalIdOf, synthControlPlane } from "./support/stacks.js";

const TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:discovery-sync-oncall";
/** An alarm action without a construct of its own: an SNS topic ARN. */
const ONCALL: cloudwatch.IAlarmAction = { bind: () => ({ alarmActionArn: TOPIC_ARN }) };

const TWO_SERVICES = {
  services: [
    { name: "workflow-agent", cluster: "workflow", ecsService: "workflow-agent", port: 50051, parameterName: "/d/workflow-agent" },
    { name: "billing", cluster: "workflow", ecsService: "billing-api", port: 8443, parameterName: "/d/billing" },
  ],
};

type Plane = ReturnType<typeof synthControlPlane>;
type AlarmProperties = Record<string, any>;

/** The properties of the alarm with construct id `alarmId` under the control plane's Observability. */
function alarmOf(plane: Plane, alarmId: string): AlarmProperties {
  const alarm = plane.controlPlane.observability.alarms[alarmId];
  expect(alarm, `alarm ${alarmId} among ${Object.keys(plane.controlPlane.observability.alarms).join(", ")}`).toBeDefined();
  const resource = plane.json.Resources[logicalIdOf(plane.stack, alarm!)];
  expect(resource?.Type).toBe("AWS::CloudWatch::Alarm");
  return resource!.Properties!;
}

const alarmsOf = (json: CfnTemplate): AlarmProperties[] => resourcesOfType(json, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties!);
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });
const reconcileDimensions = (service: string) => [
  { Name: "Service", Value: service },
  { Name: "service", Value: "discovery-sync" },
];

let plane: Plane;
let queueId: string;
let eventDeadLetterQueueId: string;

beforeAll(() => {
  plane = synthControlPlane({ config: TWO_SERVICES, alarmActions: [ONCALL] });
  queueId = logicalIdOf(plane.stack, plane.controlPlane.queue);
  eventDeadLetterQueueId = logicalIdOf(plane.stack, plane.controlPlane.eventDeadLetterQueue);
});

describe("the alarm list", () => {
  it("has the queue, function, backlog and per-service alarms, and no others", () => {
    const perService = (part: string) => [`ReconcileErrors${part}`, `DocumentStale${part}`, `NoReconciles${part}`];
    const expected = [
      "QueueDeadLettersNotEmpty",
      "EventDeadLettersNotEmpty",
      "RouterFunctionErrors",
      "ReconcileFunctionErrors",
      "SweepFunctionErrors",
      "QueueOldestMessageAge",
      ...perService("WorkflowAgent"),
      ...perService("Billing"),
    ];
    expect(Object.keys(plane.controlPlane.observability.alarms).sort()).toEqual([...expected].sort());
    plane.template.resourceCountIs("AWS::CloudWatch::Alarm", expected.length);
  });

  it("gives every alarm the construct's alarm actions, and a description that says what to do", () => {
    for (const alarm of alarmsOf(plane.json)) {
      expect(alarm["AlarmActions"], String(alarm["AlarmDescription"])).toEqual([TOPIC_ARN]);
      expect(alarm["AlarmDescription"]).toMatch(/^discovery-sync: .*(see|check|fix|redrive)/);
    }
  });

  it("puts every alarm on the dashboard's alarm status widget", () => {
    const [[, dashboard] = ["", { Type: "" }]] = resourcesOfType(plane.json, "AWS::CloudWatch::Dashboard");
    const body = JSON.parse(resolveIntrinsicString(dashboard.Properties!["DashboardBody"])) as { widgets: { properties: Record<string, any> }[] };
    const status = body.widgets.find((w) => w.properties["title"] === "Alarms");
    expect((status?.properties["alarms"] as unknown[]).length).toBe(Object.keys(plane.controlPlane.observability.alarms).length);
  });
});

describe("function errors", () => {
  it.each([
    ["RouterFunctionErrors", "router"],
    ["ReconcileFunctionErrors", "reconcile"],
    ["SweepFunctionErrors", "sweep"],
  ] as const)("%s: Lambda Errors of the %s function, at least 1 in 5 minutes, missing data not breaching", (alarmId, role) => {
    expect(alarmOf(plane, alarmId)).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: ref(plane.functionIds[role]) }],
      Statistic: "Sum",
      Period: 300,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
      AlarmActions: [TOPIC_ARN],
    });
  });

  it("tells what to do: the router's log group and the event dead-letter queue, the sweep's log group", () => {
    expect(alarmOf(plane, "RouterFunctionErrors")["AlarmDescription"]).toMatch(/router's log group.*redrive/);
    expect(alarmOf(plane, "SweepFunctionErrors")["AlarmDescription"]).toMatch(/sweep's log group.*event dead-letter queue/);
  });
});

describe("age of the oldest work-queue message", () => {
  it("watches ApproximateAgeOfOldestMessage of the FIFO work queue: over 15 minutes for 3 minutes in a row by default", () => {
    expect(plane.json.Resources[queueId]!.Properties!["FifoQueue"]).toBe(true);
    expect(alarmOf(plane, "QueueOldestMessageAge")).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateAgeOfOldestMessage",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [queueId, "QueueName"] } }],
      Statistic: "Maximum",
      Period: 60,
      Threshold: 900,
      ComparisonOperator: "GreaterThanThreshold",
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: "notBreaching",
      AlarmActions: [TOPIC_ARN],
    });
  });

  it.each([
    // Twice the visibility timeout (6 x the reconcile timeout) once that exceeds 15 minutes: two failed receives pass.
    ["reconcileTimeout 60 s", { reconcileTimeout: Duration.seconds(60) }, 900],
    ["reconcileTimeout 120 s", { reconcileTimeout: Duration.seconds(120) }, 1440],
    ["reconcileTimeout 15 min", { reconcileTimeout: Duration.minutes(15) }, 10_800],
    ["queueAgeThreshold 30 min", { queueAgeThreshold: Duration.minutes(30) }, 1800],
    ["queueAgeThreshold 5 min, reconcileTimeout 15 min", { reconcileTimeout: Duration.minutes(15), queueAgeThreshold: Duration.minutes(5) }, 300],
  ] as [string, { reconcileTimeout?: Duration; queueAgeThreshold?: Duration }, number][])("threshold with %s: %i s", (_, props, seconds) => {
    const t = synthControlPlane({ config: exampleConfig(), ...props });
    const alarm = alarmOf(t, "QueueOldestMessageAge");
    expect(alarm["Threshold"]).toBe(seconds);
    if (props.queueAgeThreshold === undefined) {
      // Never below twice the visibility timeout: a message retried once or twice is normal, not a backlog.
      const visibility = t.json.Resources[logicalIdOf(t.stack, t.controlPlane.queue)]!.Properties!["VisibilityTimeout"] as number;
      expect(seconds).toBeGreaterThanOrEqual(2 * visibility);
    }
  });

  it("refuses a threshold under one minute or over the queue's retention of 4 days", () => {
    expect(() => synthControlPlane({ config: exampleConfig(), queueAgeThreshold: Duration.seconds(30) })).toThrow(
      /queueAgeThreshold \(seconds\) must be an integer between 60 and 345600 inclusive \(given 30\)/,
    );
    expect(() => synthControlPlane({ config: exampleConfig(), queueAgeThreshold: Duration.days(5) })).toThrow(
      /queueAgeThreshold \(seconds\) must be an integer between 60 and 345600 inclusive \(given 432000\)/,
    );
  });

  it("marks the threshold on the queue-age graph", () => {
    const [[, dashboard] = ["", { Type: "" }]] = resourcesOfType(plane.json, "AWS::CloudWatch::Dashboard");
    const body = JSON.parse(resolveIntrinsicString(dashboard.Properties!["DashboardBody"])) as { widgets: { properties: Record<string, any> }[] };
    const graph = body.widgets.find((w) => w.properties["title"] === "Queue age of oldest message (s)");
    expect(graph?.properties["annotations"]).toEqual({ horizontal: [{ value: 900, label: "work queue alarm", yAxis: "left" }] });
  });
});

describe("no reconciles of a service", () => {
  it.each(["workflow-agent", "billing"])("%s: fewer than 1 reconcile in each of 3 sweep periods, missing data breaching", (service) => {
    const part = service === "billing" ? "Billing" : "WorkflowAgent";
    expect(alarmOf(plane, `NoReconciles${part}`)).toMatchObject({
      Namespace: "DiscoverySync",
      MetricName: "ReconcileDurationMs",
      Dimensions: reconcileDimensions(service),
      Statistic: "SampleCount",
      Period: 300,
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: "breaching",
      AlarmActions: [TOPIC_ARN],
    });
  });

  it.each([
    // A period of one sweep (at least 5 minutes): a healthy service never leaves two in a row empty.
    [Duration.minutes(1), 300],
    [Duration.minutes(5), 300],
    [Duration.minutes(15), 900],
    [Duration.hours(2), 7200],
    [Duration.hours(12), 43_200],
  ])("sweepRate %s: period %i s, within CloudWatch's evaluation range", (sweepRate, period) => {
    // documentAgeThreshold: its default (3 sweeps) may not exceed 1 day.
    const documentAgeThreshold = Duration.seconds(Math.min(86_400, 3 * sweepRate.toSeconds()));
    const t = synthControlPlane({ config: exampleConfig(), sweepRate, documentAgeThreshold });
    const alarm = alarmOf(t, "NoReconcilesWorkflowAgent");
    expect(alarm["Period"]).toBe(period);
    const range = (alarm["Period"] as number) * (alarm["EvaluationPeriods"] as number);
    // PutMetricAlarm: at most 1 day for periods under an hour, else at most 7 days.
    expect(range).toBeLessThanOrEqual(period < 3600 ? 86_400 : 604_800);
    // At least two sweeps must be lost before it fires.
    expect(range).toBeGreaterThanOrEqual(3 * sweepRate.toSeconds());
  });

  it("counts the metric the reconcile handler emits once per reconcile, whatever the outcome", async () => {
    const { reconcileMetricNames } = await import("@discovery-sync/core");
    expect(reconcileMetricNames.durationMs).toBe("ReconcileDurationMs");
  });

  it("leaves the stale-document alarm ignoring missing data (failed reconciles have no DocumentAgeSeconds)", () => {
    expect(alarmOf(plane, "DocumentStaleBilling")["TreatMissingData"]).toBe("ignore");
  });

  it("names the new alarm id when two services would share ids", () => {
    expect(() =>
      synthControlPlane({
        config: {
          services: [
            { name: "a.b", cluster: "c", ecsService: "x", port: 1, parameterName: "/d/x" },
            { name: "a-b", cluster: "c", ecsService: "y", port: 1, parameterName: "/d/y" },
          ],
        },
      }),
    ).toThrow(/NoReconcilesAB/);
  });
});

describe("the sweep's failures", () => {
  it("go to the event dead-letter queue (a standard queue) after 2 retries of the asynchronous invocation", () => {
    const sweep = plane.json.Resources[plane.functionIds.sweep]!.Properties!;
    expect(sweep["DeadLetterConfig"]).toEqual({ TargetArn: arnOf(eventDeadLetterQueueId) });
    expect(plane.json.Resources[eventDeadLetterQueueId]!.Properties!["FifoQueue"]).toBeUndefined();
    plane.template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(plane.functionIds.sweep),
      Qualifier: "$LATEST",
      MaximumRetryAttempts: 2,
    });
  });

  it("may be sent there by the sweep's role, with sqs:SendMessage only", () => {
    const { statements } = policiesOfFunction(plane.json, plane.functionIds.sweep, plane.pseudo);
    const dlqArn = `\${${eventDeadLetterQueueId}.Arn}`;
    const onDlq = statements.filter((s) => s.resources.includes(dlqArn));
    expect(onDlq.length).toBeGreaterThan(0);
    expect(new Set(onDlq.flatMap((s) => s.actions))).toEqual(new Set(["sqs:SendMessage"]));
  });

  it("are in the dead-letter-queues-not-empty alarm", () => {
    expect(alarmOf(plane, "EventDeadLettersNotEmpty")).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [eventDeadLetterQueueId, "QueueName"] } }],
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
      AlarmActions: [TOPIC_ARN],
    });
    expect(alarmOf(plane, "EventDeadLettersNotEmpty")["AlarmDescription"]).toMatch(/sweeps that failed/);
  });

  it("also when the schedule cannot deliver the sweep: the rule target's dead-letter queue is the same queue", () => {
    const schedule = plane.json.Resources[logicalIdOf(plane.stack, plane.controlPlane.sweepSchedule)]!.Properties!;
    expect(schedule["Targets"]).toEqual([
      expect.objectContaining({ Arn: arnOf(plane.functionIds.sweep), DeadLetterConfig: { Arn: arnOf(eventDeadLetterQueueId) } }),
    ]);
  });
});
