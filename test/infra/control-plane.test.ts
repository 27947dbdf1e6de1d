/**
 * The control plane's resources and properties, on templates synthesised in-process (functions with inline code).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Duration } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import * as logs from "aws-cdk-lib/aws-logs";
import type { FunctionRole } from "@discovery-sync/cdk";
import { referencedId, resolveIntrinsics, resolveIntrinsicString, resourcesOfType, type CfnTemplate } from "@discovery-sync/emulator";
import { exampleConfig, logicalIdOf, synthControlPlane } from "./support/stacks.js";

const ROLES: readonly FunctionRole[] = ["router", "reconcile", "sweep"];
const ARN = "arn:aws:ecs:us-east-1:123456789012";

/** Three services in two clusters, one of them given by ARN. */
const TWO_CLUSTERS = {
  services: [
    { name: "workflow-agent", cluster: "workflow", ecsService: "workflow-agent", port: 50051, parameterName: "/d/workflow-agent" },
    { name: "billing", cluster: "workflow", ecsService: "billing-api", port: 8443, parameterName: "/d/billing" },
    { name: "reports", cluster: `${ARN}:cluster/batch`, ecsService: "reports", port: 9000, parameterName: "/d/reports" },
  ],
};

let plane: ReturnType<typeof synthControlPlane>;
let json: CfnTemplate;
let ids: {
  queue: string;
  deadLetterQueue: string;
  eventDeadLetterQueue: string;
  rule: string;
  schedule: string;
} & Record<FunctionRole, string>;

beforeAll(() => {
  plane = synthControlPlane({ config: exampleConfig() });
  json = plane.json;
  const { stack, controlPlane } = plane;
  ids = {
    ...plane.functionIds,
    queue: logicalIdOf(stack, controlPlane.queue),
    deadLetterQueue: logicalIdOf(stack, controlPlane.deadLetterQueue),
    eventDeadLetterQueue: logicalIdOf(stack, controlPlane.eventDeadLetterQueue),
    rule: logicalIdOf(stack, controlPlane.taskStateRule),
    schedule: logicalIdOf(stack, controlPlane.sweepSchedule),
  };
});

const props = (id: string): Record<string, any> => json.Resources[id]!.Properties!;
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });

describe("EventBridge rule for ECS task state changes", () => {
  it("matches source aws.ecs and detail-type ECS Task State Change of the configured cluster and service only, at the steps that can change what is published", () => {
    expect(resolveIntrinsics(props(ids.rule)["EventPattern"])).toEqual({
      source: ["aws.ecs"],
      "detail-type": ["ECS Task State Change"],
      detail: {
        clusterArn: [`${ARN}:cluster/workflow`],
        group: ["service:workflow-agent"],
        lastStatus: ["RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"],
      },
    });
  });

  it("narrows each configured cluster to its own services (a cluster given by ARN as is)", () => {
    const { json: multi, stack, controlPlane } = synthControlPlane({ config: TWO_CLUSTERS });
    const rule = multi.Resources[logicalIdOf(stack, controlPlane.taskStateRule)]!;
    expect(resolveIntrinsics(rule.Properties!["EventPattern"])).toEqual({
      source: ["aws.ecs"],
      "detail-type": ["ECS Task State Change"],
      detail: {
        $or: [
          { clusterArn: [`${ARN}:cluster/workflow`], group: ["service:billing-api", "service:workflow-agent"] },
          { clusterArn: [`${ARN}:cluster/batch`], group: ["service:reports"] },
        ],
        lastStatus: ["RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"],
      },
    });
  });

  it("targets the router with a retry policy and a dead-letter queue EventBridge may write to", () => {
    expect(props(ids.rule)["Targets"]).toEqual([
      {
        Id: "Target0",
        Arn: arnOf(ids.router),
        RetryPolicy: { MaximumRetryAttempts: 24, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: arnOf(ids.eventDeadLetterQueue) },
      },
    ]);
    plane.template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      FunctionName: arnOf(ids.router),
      Principal: "events.amazonaws.com",
      SourceArn: arnOf(ids.rule),
    });
    plane.template.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [{ Ref: ids.eventDeadLetterQueue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Allow",
            Action: "sqs:SendMessage",
            Principal: { Service: "events.amazonaws.com" },
            Condition: { ArnEquals: { "aws:SourceArn": arnOf(ids.rule) } },
          }),
        ]),
      },
    });
  });

  it("sends the router's failed asynchronous invocations to the event dead-letter queue after two retries", () => {
    expect(props(ids.router)["DeadLetterConfig"]).toEqual({ TargetArn: arnOf(ids.eventDeadLetterQueue) });
    plane.template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", { FunctionName: { Ref: ids.router }, MaximumRetryAttempts: 2 });
  });
});

describe("SQS queues", () => {
  it("work queue: FIFO, content-based deduplication off (the router sets deduplication ids), redrive to a FIFO DLQ", () => {
    expect(props(ids.queue)).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      RedrivePolicy: { deadLetterTargetArn: arnOf(ids.deadLetterQueue), maxReceiveCount: 5 },
    });
    expect(props(ids.deadLetterQueue)["FifoQueue"]).toBe(true);
    // EventBridge target and Lambda asynchronous-invocation DLQs cannot be FIFO.
    expect(props(ids.eventDeadLetterQueue)["FifoQueue"]).toBeUndefined();
  });

  it.each([
    [undefined, 60],
    [Duration.seconds(120), 120],
    [Duration.minutes(15), 900],
  ])("visibility timeout is at least six times the reconcile timeout (reconcileTimeout %s)", (reconcileTimeout, seconds) => {
    const { json: t, functionIds, stack, controlPlane } = synthControlPlane({ config: exampleConfig(), ...(reconcileTimeout ? { reconcileTimeout } : {}) });
    const timeout = t.Resources[functionIds.reconcile]!.Properties!["Timeout"] as number;
    expect(timeout).toBe(seconds);
    const visibility = t.Resources[logicalIdOf(stack, controlPlane.queue)]!.Properties!["VisibilityTimeout"] as number;
    expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
    expect(visibility).toBeLessThanOrEqual(43_200);
  });
});

describe("functions", () => {
  it.each(ROLES)("%s runs on nodejs24.x with the Powertools environment and its own log group with retention", (role) => {
    const fn = props(ids[role]);
    expect(fn["Runtime"]).toBe("nodejs24.x");
    // No source maps in the bundles, so nothing for --enable-source-maps to load (handlerBundling says why).
    expect(fn["Environment"]["Variables"]["NODE_OPTIONS"]).toBeUndefined();
    expect(fn["Environment"]["Variables"]).toMatchObject({
      POWERTOOLS_SERVICE_NAME: "discovery-sync",
      POWERTOOLS_METRICS_NAMESPACE: "DiscoverySync",
      POWERTOOLS_LOG_LEVEL: "INFO",
    });
    expect(fn["LoggingConfig"]).toMatchObject({ LogFormat: "JSON", ApplicationLogLevel: "INFO" });
    const logGroup = json.Resources[referencedId(fn["LoggingConfig"]["LogGroup"])!]!;
    expect(logGroup.Type).toBe("AWS::Logs::LogGroup");
    expect(logGroup.Properties!["RetentionInDays"]).toBe(30);
  });

  it("takes the service name, metrics namespace, log level and log retention from the props", () => {
    const { json: t, functionIds } = synthControlPlane({
      config: exampleConfig(),
      serviceName: "discovery-prod",
      metricsNamespace: "Platform/Discovery",
      logLevel: "DEBUG",
      logRetention: logs.RetentionDays.THREE_MONTHS,
    });
    for (const role of ROLES) {
      const fn = t.Resources[functionIds[role]]!.Properties!;
      expect(fn["Environment"]["Variables"]).toMatchObject({
        POWERTOOLS_SERVICE_NAME: "discovery-prod",
        POWERTOOLS_METRICS_NAMESPACE: "Platform/Discovery",
        POWERTOOLS_LOG_LEVEL: "DEBUG",
      });
      // Lambda filters JSON logs by level before Powertools sees them: the two must agree.
      expect(fn["LoggingConfig"]["ApplicationLogLevel"]).toBe("DEBUG");
      expect(t.Resources[referencedId(fn["LoggingConfig"]["LogGroup"])!]!.Properties!["RetentionInDays"]).toBe(90);
    }
  });

  it("gives every function the work queue's URL, and every function a role of its own", () => {
    expect(props(ids.router)["Environment"]["Variables"]["DISCOVERY_SYNC_QUEUE_URL"]).toEqual({ Ref: ids.queue });
    expect(props(ids.sweep)["Environment"]["Variables"]["DISCOVERY_SYNC_QUEUE_URL"]).toEqual({ Ref: ids.queue });
    // The reconciler changes the visibility of its own failed messages on it (it sends nothing there).
    expect(props(ids.reconcile)["Environment"]["Variables"]["DISCOVERY_SYNC_QUEUE_URL"]).toEqual({ Ref: ids.queue });
    const roles = ROLES.map((role) => referencedId(props(ids[role])["Role"]));
    expect(new Set(roles).size).toBe(3);
  });

  it("reconcile consumes the work queue in batches of at most 10 with ReportBatchItemFailures", () => {
    plane.template.resourceCountIs("AWS::Lambda::EventSourceMapping", 1);
    const [[, mapping] = ["", { Type: "" }]] = resourcesOfType(json, "AWS::Lambda::EventSourceMapping");
    expect(mapping.Properties).toMatchObject({
      EventSourceArn: arnOf(ids.queue),
      FunctionName: { Ref: ids.reconcile },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    expect(mapping.Properties!["BatchSize"]).toBeLessThanOrEqual(10);
    // No batching window: SQS FIFO event sources do not support one.
    expect(mapping.Properties!["MaximumBatchingWindowInSeconds"]).toBeUndefined();
  });

  it("passes a smaller batch size and a maximum concurrency through, and refuses a batch over 10", () => {
    const { template } = synthControlPlane({ config: exampleConfig(), reconcileBatchSize: 4, reconcileMaxConcurrency: 20 });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", { BatchSize: 4, ScalingConfig: { MaximumConcurrency: 20 } });
    expect(() => synthControlPlane({ config: exampleConfig(), reconcileBatchSize: 11 })).toThrow(/between 1 and 10 inclusive \(given 11\)/);
  });
});

describe("sweep schedule", () => {
  it("runs the sweep every 5 minutes by default", () => {
    expect(props(ids.schedule)["ScheduleExpression"]).toBe("rate(5 minutes)");
    expect(props(ids.schedule)["Targets"]).toEqual([
      expect.objectContaining({ Arn: arnOf(ids.sweep), DeadLetterConfig: { Arn: arnOf(ids.eventDeadLetterQueue) } }),
    ]);
  });

  it("takes its rate from the props, in whole minutes", () => {
    const { json: t, stack, controlPlane } = synthControlPlane({ config: exampleConfig(), sweepRate: Duration.minutes(15) });
    expect(t.Resources[logicalIdOf(stack, controlPlane.sweepSchedule)]!.Properties!["ScheduleExpression"]).toBe("rate(15 minutes)");
    expect(() => synthControlPlane({ config: exampleConfig(), sweepRate: Duration.seconds(90) })).toThrow(
      /sweepRate must be a whole number of minutes \(given 90 seconds\)/,
    );
  });
});

describe("alarms", () => {
  const alarms = (t: CfnTemplate) => resourcesOfType(t, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties!);

  it("fires when either dead-letter queue holds a message", () => {
    for (const queue of [ids.deadLetterQueue, ids.eventDeadLetterQueue]) {
      expect(alarms(json)).toContainEqual(
        expect.objectContaining({
          Namespace: "AWS/SQS",
          MetricName: "ApproximateNumberOfMessagesVisible",
          Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [queue, "QueueName"] } }],
          Threshold: 1,
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
        }),
      );
    }
  });

  it("fires on reconcile errors: per service (the handler's metric) and on failed invocations", () => {
    const { json: t } = synthControlPlane({ config: TWO_CLUSTERS });
    for (const service of ["workflow-agent", "billing", "reports"]) {
      expect(alarms(t)).toContainEqual(
        expect.objectContaining({
          Namespace: "DiscoverySync",
          MetricName: "ReconcileFailed",
          Dimensions: expect.arrayContaining([{ Name: "Service", Value: service }, { Name: "service", Value: "discovery-sync" }]),
          Statistic: "Sum",
        }),
      );
    }
    expect(alarms(json)).toContainEqual(
      expect.objectContaining({ Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: [{ Name: "FunctionName", Value: { Ref: ids.reconcile } }] }),
    );
  });

  it("fires per service when the document is older than the threshold while the service has tasks", () => {
    const { json: t } = synthControlPlane({ config: TWO_CLUSTERS, documentAgeThreshold: Duration.minutes(20) });
    for (const service of ["workflow-agent", "billing", "reports"]) {
      const stale = alarms(t).find((a) => String(a["AlarmDescription"]).includes(`document of ${service} `));
      expect(stale, service).toBeDefined();
      const metrics = stale!["Metrics"] as Record<string, any>[];
      const expression = metrics.find((m) => m["Expression"] !== undefined);
      expect(expression?.["Expression"]).toBe("IF(tasks > 0 AND age > 1200, 1, 0)");
      const byId = Object.fromEntries(metrics.filter((m) => m["MetricStat"]).map((m) => [m["Id"], m["MetricStat"]["Metric"]]));
      expect(byId["tasks"]).toMatchObject({ Namespace: "DiscoverySync", MetricName: "TasksSeen" });
      expect(byId["age"]).toMatchObject({ Namespace: "DiscoverySync", MetricName: "DocumentAgeSeconds" });
      expect(byId["age"]["Dimensions"]).toEqual(expect.arrayContaining([{ Name: "Service", Value: service }]));
    }
  });

  it("refuses a stale-document threshold shorter than two sweeps", () => {
    expect(() => synthControlPlane({ config: exampleConfig(), documentAgeThreshold: Duration.minutes(9) })).toThrow(
      /documentAgeThreshold \(seconds\) must be an integer between 600 and 86400 inclusive \(given 540\)/,
    );
  });
});

describe("dashboard and saved queries", () => {
  it("has a dashboard with the reconcile, write, endpoint, error and queue widgets", () => {
    const [[, dashboard] = ["", { Type: "" }]] = resourcesOfType(json, "AWS::CloudWatch::Dashboard");
    const body = JSON.parse(resolveIntrinsicString(dashboard.Properties!["DashboardBody"])) as { widgets: { properties: Record<string, any> }[] };
    const widgets = new Map(body.widgets.map((w) => [String(w.properties["title"]), JSON.stringify(w.properties)]));
    const widget = (title: string): string => {
      const found = widgets.get(title);
      expect(found, `widget "${title}" among ${[...widgets.keys()].join(", ")}`).toBeDefined();
      return found ?? "";
    };
    expect(widget("Reconciles per minute")).toMatch(/ReconcileSucceeded.*ReconcileFailed/);
    expect(widget("Reconcile duration (ms), p50 / p99")).toMatch(/ReconcileDurationMs.*"stat":"p50".*"stat":"p99"/);
    const writes = widget("Writes by target");
    for (const target of ["CloudMap", "TargetGroup", "Ssm"]) expect(writes).toContain(`"Target","${target}"`);
    expect(widget("Endpoints per service")).toMatch(/ReadyEndpoints.*DrainingEndpoints/);
    expect(widget("Errors")).toMatch(/ReconcileFailed.*AWS\/Lambda","Errors/);
    expect(widget("Queue age of oldest message (s)")).toContain("ApproximateAgeOfOldestMessage");
    expect(widget("Queue depth")).toMatch(/ApproximateNumberOfMessagesVisible.*ApproximateNumberOfMessagesNotVisible/);
  });

  it("saves the slowest-reconciles, failures-by-reason and churn-by-service queries over the reconcile log group", () => {
    const reconcileLogGroup = props(ids.reconcile)["LoggingConfig"]["LogGroup"];
    const queries: Record<string, Record<string, any>> = Object.fromEntries(
      resourcesOfType(json, "AWS::Logs::QueryDefinition").map(([, q]) => [String(q.Properties!["Name"]), q.Properties!]),
    );
    expect(Object.keys(queries).sort()).toEqual([
      "discovery-sync/churn-by-service",
      "discovery-sync/failures-by-reason",
      "discovery-sync/slowest-reconciles",
    ]);
    for (const query of Object.values(queries)) expect(query["LogGroupNames"]).toEqual([reconcileLogGroup]);
    expect(queries["discovery-sync/slowest-reconciles"]!["QueryString"]).toMatch(/sort reconcile\.durationMs desc/);
    expect(queries["discovery-sync/failures-by-reason"]!["QueryString"]).toMatch(
      /filter reconcile\.outcome = "failed"[\s\S]*stats count\(\*\) as failures by reconcile\.service, reconcile\.error\.name/,
    );
    expect(queries["discovery-sync/churn-by-service"]!["QueryString"]).toMatch(/stats sum\(reconcile\.writesTotal\) as writes[\s\S]* by reconcile\.service/);
  });
});
