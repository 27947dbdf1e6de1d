import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC_DIMENSIONS, METRICS, RECONCILE_RECORD, WRITE_TARGETS } from "./constants.js";

/** Properties of {@link Observability}. @internal */
export interface ObservabilityProps {
  readonly services: readonly string[];
  readonly metricsNamespace: string;
  readonly serviceName: string;
  readonly documentAgeThreshold: Duration;
  readonly sweepRate: Duration;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly eventDeadLetterQueue: sqs.IQueue;
  readonly routerFunction: lambda.IFunction;
  readonly reconcileFunction: lambda.Function;
  readonly sweepFunction: lambda.IFunction;
  readonly alarmActions: readonly cloudwatch.IAlarmAction[];
  readonly dashboardName?: string | undefined;
}

/**
 * Alarms, the dashboard and the saved Logs Insights queries of a control plane.
 *
 * @example
 * ```ts
 * const { alarms, dashboard } = controlPlane.observability;
 * ```
 */
export class Observability extends Construct {
  /** Every alarm, by construct id. */
  public readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** Saved Logs Insights queries over the reconcile log group. */
  public readonly queries: readonly logs.QueryDefinition[];

  readonly #props: ObservabilityProps;

  public constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.#props = props;
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const addAlarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps): void => {
      const alarm = new cloudwatch.Alarm(this, alarmId, alarmProps);
      for (const action of props.alarmActions) alarm.addAlarmAction(action);
      alarms[alarmId] = alarm;
    };

    // Dead-letter queues: any message there is an event or a reconcile that was given up on.
    for (const [alarmId, queue, what] of [
      ["QueueDeadLettersNotEmpty", props.deadLetterQueue, "reconcile messages that failed every receive"],
      ["EventDeadLettersNotEmpty", props.eventDeadLetterQueue, "ECS events or sweeps EventBridge/Lambda could not deliver"],
    ] as const) {
      addAlarm(alarmId, {
        alarmDescription: `discovery-sync: the dead-letter queue holds ${what}; inspect and redrive it`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // Reconcile errors: a failed reconcile (reported per message, not a Lambda error) or a crashed invocation.
    addAlarm("ReconcileErrors", {
      alarmDescription: "discovery-sync: reconciles fail; see the 'failures by reason' saved query",
      metric: new cloudwatch.MathExpression({
        label: "Failed reconciles + function errors",
        expression: "FILL(failed, 0) + FILL(errors, 0)",
        usingMetrics: {
          failed: this.#metric(METRICS.failed, { statistic: "Sum", period: Duration.minutes(5) }),
          errors: props.reconcileFunction.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        },
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Stale documents, per service: the document is older than the threshold while the service has endpoints.
    // Evaluated per sweep period; missing data is breaching, since every sweep produces a data point per service:
    // silence means the pipeline stopped.
    const period = Duration.seconds(Math.max(60, props.sweepRate.toSeconds()));
    props.services.forEach((service) => {
      addAlarm(`DocumentStale${alarmIdPart(service)}`, {
        alarmDescription: `discovery-sync: the endpoint document of ${service} is older than ${props.documentAgeThreshold.toSeconds()} s while the service has tasks`,
        metric: new cloudwatch.MathExpression({
          label: `${service} document stale`,
          expression: `IF(ready > 0 AND age > ${props.documentAgeThreshold.toSeconds()}, 1, 0)`,
          usingMetrics: {
            ready: this.#metric(METRICS.readyEndpoints, { service, statistic: "Maximum", period }),
            age: this.#metric(METRICS.documentAgeSeconds, { service, statistic: "Maximum", period }),
          },
          period,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    });
    this.alarms = alarms;

    // Saved queries over the one-record-per-reconcile log lines.
    const f = RECONCILE_RECORD;
    const isRecord = `message = "${f.message}"`;
    const logGroups = [props.reconcileFunction.logGroup];
    this.queries = [
      new logs.QueryDefinition(this, "SlowestReconciles", {
        queryDefinitionName: "discovery-sync/slowest-reconciles",
        logGroups,
        queryString: new logs.QueryString({
          fields: ["@timestamp", f.service, f.durationMs, f.writesTotal, f.triggers, f.outcome, f.errorMessage],
          filterStatements: [isRecord],
          sort: `${f.durationMs} desc`,
          limit: 50,
        }),
      }),
      new logs.QueryDefinition(this, "FailuresByReason", {
        queryDefinitionName: "discovery-sync/failures-by-reason",
        logGroups,
        queryString: new logs.QueryString({
          filterStatements: [isRecord, `${f.outcome} = "failed"`],
          statsStatements: [`count(*) as failures by ${f.service}, ${f.errorName}, ${f.errorReasons}.0`],
          sort: "failures desc",
        }),
      }),
      new logs.QueryDefinition(this, "ChurnByService", {
        queryDefinitionName: "discovery-sync/churn-by-service",
        logGroups,
        queryString: new logs.QueryString({
          filterStatements: [isRecord, `${f.writesTotal} > 0`],
          statsStatements: [
            `sum(${f.writesTotal}) as writes, sum(${f.documentsPublished}) as documentChanges, count(*) as changedReconciles by ${f.service}`,
          ],
          sort: "writes desc",
        }),
      }),
    ];

    this.dashboard = this.#buildDashboard();
  }

  #buildDashboard(): cloudwatch.Dashboard {
    const props = this.#props;
    const minute = Duration.minutes(1);
    const dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      ...(props.dashboardName === undefined ? {} : { dashboardName: props.dashboardName }),
      defaultInterval: Duration.hours(3),
    });
    const perService = (name: string, statistic: string, label: string): cloudwatch.IMetric[] =>
      props.services.map((service) => this.#metric(name, { service, statistic, period: minute, label: `${service} ${label}` }));
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Reconciles per minute",
        left: [
          this.#metric(METRICS.succeeded, { statistic: "Sum", period: minute, label: "succeeded" }),
          this.#metric(METRICS.failed, { statistic: "Sum", period: minute, label: "failed" }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: "Reconcile duration (ms), p50 / p99",
        left: [
          this.#metric(METRICS.durationMs, { statistic: "p50", period: minute, label: "p50" }),
          this.#metric(METRICS.durationMs, { statistic: "p99", period: minute, label: "p99" }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Writes by target",
        left: WRITE_TARGETS.map((target) =>
          this.#metric(METRICS.writes, { target, statistic: "Sum", period: minute, label: target }),
        ),
        stacked: true,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: "Ready endpoints per service",
        left: perService(METRICS.readyEndpoints, "Maximum", "endpoints"),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Errors",
        left: [
          this.#metric(METRICS.failed, { statistic: "Sum", period: minute, label: "reconciles failed" }),
          props.routerFunction.metricErrors({ period: minute, label: "router errors" }),
          props.reconcileFunction.metricErrors({ period: minute, label: "reconcile errors" }),
          props.sweepFunction.metricErrors({ period: minute, label: "sweep errors" }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Work queue: age of oldest message (s)",
        left: [props.queue.metricApproximateAgeOfOldestMessage({ period: minute, statistic: "Maximum" })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Queue depth",
        left: [
          props.queue.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: "Maximum", label: "work visible" }),
          props.queue.metricApproximateNumberOfMessagesNotVisible({ period: minute, statistic: "Maximum", label: "work in flight" }),
          props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: "Maximum", label: "work DLQ" }),
          props.eventDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: "Maximum", label: "event DLQ" }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: "Slowest reconciles",
        logGroupNames: [props.reconcileFunction.logGroup.logGroupName],
        queryLines: [
          `fields @timestamp, ${RECONCILE_RECORD.service}, ${RECONCILE_RECORD.durationMs}, ${RECONCILE_RECORD.writesTotal}, ${RECONCILE_RECORD.outcome}`,
          `filter message = "${RECONCILE_RECORD.message}"`,
          `sort ${RECONCILE_RECORD.durationMs} desc`,
          "limit 20",
        ],
        width: 24,
      }),
    );
    return dashboard;
  }

  /** One metric of the reconcile handler, with the exact dimension set the handler emits. */
  #metric(
    name: string,
    options: { service?: string; target?: string; statistic: string; period: Duration; label?: string },
  ): cloudwatch.Metric {
    const dimensionsMap: Record<string, string> = { [METRIC_DIMENSIONS.powertoolsService]: this.#props.serviceName };
    if (options.service !== undefined) dimensionsMap[METRIC_DIMENSIONS.service] = options.service;
    if (options.target !== undefined) dimensionsMap[METRIC_DIMENSIONS.target] = options.target;
    return new cloudwatch.Metric({
      namespace: this.#props.metricsNamespace,
      metricName: name,
      dimensionsMap,
      statistic: options.statistic,
      period: options.period,
      ...(options.label === undefined ? {} : { label: options.label }),
    });
  }

}

/** A construct-id-safe, stable form of a service name (ids are a contract: derived from the name, never an index). */
function alarmIdPart(service: string): string {
  return service
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("");
}
