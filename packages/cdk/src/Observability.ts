import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC_DIMENSIONS, METRICS, RECONCILE_RECORD, WRITE_TARGETS } from "./constants.js";

/** Properties of {@link Observability}. @internal */
export interface ObservabilityProps {
  /** Configured service names (`services[].name`): the `Service` dimension of every reconcile metric. */
  readonly services: readonly string[];
  readonly metricsNamespace: string;
  /** Powertools service name: the `service` dimension of every reconcile metric. */
  readonly serviceName: string;
  readonly documentAgeThreshold: Duration;
  readonly sweepRate: Duration;
  /** Age of the oldest message of the work queue that raises `QueueOldestMessageAge`. */
  readonly queueAgeThreshold: Duration;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly eventDeadLetterQueue: sqs.IQueue;
  readonly routerFunction: lambda.IFunction;
  readonly reconcileFunction: lambda.Function;
  readonly sweepFunction: lambda.IFunction;
  readonly alarmActions: readonly cloudwatch.IAlarmAction[];
  readonly dashboardName?: string | undefined;
}

/** Period of the reconcile-failure alarms, and how many of how many periods must fail. */
const FAILURE_PERIOD = Duration.minutes(5);
const FAILURE_EVALUATION_PERIODS = 3;
const FAILURE_DATAPOINTS_TO_ALARM = 2;
/**
 * Periods of the no-reconcile alarm that must all be without a reconcile. The sweep reconciles every service once per
 * sweep period, so a healthy service never leaves two periods in a row empty (one, when two sweeps straddle a period
 * boundary); three empty in a row are at least two lost sweeps, not jitter, the late delivery of the newest period's
 * metrics or one failed sweep.
 */
const NO_RECONCILE_PERIODS = 3;
/** Shortest period of the no-reconcile alarm: a 1-minute sweep still gets a window of 15 minutes. */
const NO_RECONCILE_MIN_PERIOD = Duration.minutes(5);
/** Minutes the oldest work message must stay over the threshold (it only grows while it waits; one sample is noise). */
const QUEUE_AGE_EVALUATION_PERIODS = 3;

/**
 * Alarms, the dashboard and the saved Logs Insights queries of a control plane.
 *
 * Every reconcile metric is emitted with the dimensions `service` (Powertools) and `Service` (the configured
 * service), `Writes` also with `Target`; CloudWatch matches dimension sets exactly, so every graph and alarm here
 * names all of them, per configured service, and sums over services with metric math where a total is shown.
 *
 * Alarms (every one with the construct's alarm actions; missing data is "not breaching" unless said otherwise):
 * - `QueueDeadLettersNotEmpty`, `EventDeadLettersNotEmpty`: a dead-letter queue holds a message. The event
 *   dead-letter queue takes the ECS events EventBridge could not deliver to the router, the router's and the sweep's
 *   failed asynchronous invocations (after 2 retries each) and the sweeps EventBridge could not deliver.
 * - `ReconcileErrors<Service>`: reconciles of the service failed in 2 of the last 3 five-minute periods (a single
 *   failure that the next receive repairs, such as a stale ECS read, does not page).
 * - `RouterFunctionErrors`, `ReconcileFunctionErrors`, `SweepFunctionErrors`: invocations of that function failed
 *   (Lambda `Errors` at least 1 in a five-minute period: crash, timeout, bad configuration, a send that failed).
 * - `QueueOldestMessageAge`: the oldest message of the work queue (`ApproximateAgeOfOldestMessage`, the FIFO queue)
 *   has waited longer than `queueAgeThreshold` for 3 minutes in a row: reconciles fall behind or stopped (event
 *   source mapping disabled, function throttled, a message group held by a reconcile that keeps failing).
 * - `DocumentStale<Service>`: the service's endpoint document has gone unconfirmed for longer than the threshold
 *   (`DocumentAgeSeconds`) while the service has tasks (`TasksSeen`). Missing data is ignored (the alarm keeps its
 *   state): the expression has no value when no reconcile ran, and also when a reconcile failed before it could
 *   compare, which `ReconcileErrors<Service>` reports; treating that as breaching would page on every failed period.
 * - `NoReconciles<Service>`: no reconcile of the service was recorded (sample count of `ReconcileDurationMs`, which
 *   every reconcile emits once, succeeded or failed) in 3 consecutive periods of the sweep rate (at least 5 minutes
 *   each); missing data is breaching, since missing data is exactly what it looks for. This is what makes "no
 *   reconciles at all" alarm, which `DocumentStale` cannot: the sweep enqueues a reconcile of every service each
 *   sweep period, so a healthy service, even one whose tasks never change, never has two periods in a row without
 *   one (it has one such period when two sweeps straddle a period boundary). It is one metric rather than the sum of
 *   `ReconcileSucceeded` and `ReconcileFailed` because a healthy service never emits `ReconcileFailed`, and a sum
 *   over a series without any data point must not decide this alarm. Right after the first deploy, or after a
 *   service is added, it may be in ALARM until the first sweep has reconciled the service (at most one sweep period;
 *   run the sweep by hand to clear it sooner).
 *
 * @example
 * ```ts
 * const { alarms, dashboard, queries } = controlPlane.observability;
 * alarms["QueueDeadLettersNotEmpty"]?.addAlarmAction(new actions.SnsAction(topic));
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
      [
        "EventDeadLettersNotEmpty",
        props.eventDeadLetterQueue,
        "ECS events the router could not take, or sweeps that failed (detail-type 'Scheduled Event': nothing to redrive, " +
          "the next sweep redoes their work)",
      ],
    ] as const) {
      addAlarm(alarmId, {
        alarmDescription: `discovery-sync: the dead-letter queue holds ${what}; read the error attributes of the messages, fix the cause, then redrive or delete them`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // Function errors. A failed reconcile is reported per message (partial batch response), not as a Lambda error,
    // so it is counted from the handler's own metric, per service; crashed invocations of every function from Lambda's.
    for (const [alarmId, fn, what] of [
      [
        "RouterFunctionErrors",
        props.routerFunction,
        "the router function fail (crash, timeout, configuration or a send to the work queue), so ECS events are not " +
          "routed: EventBridge and Lambda retry them, then put them in the event dead-letter queue. See the router's log " +
          "group, fix the cause, then redrive that queue",
      ],
      [
        "ReconcileFunctionErrors",
        props.reconcileFunction,
        "the reconcile function fail (crash, timeout or configuration); see its log group",
      ],
      [
        "SweepFunctionErrors",
        props.sweepFunction,
        "the sweep function fail, so drift and lost events are not repaired; see the sweep's log group and fix the cause. " +
          "A sweep that fails 3 times goes to the event dead-letter queue; the next sweep redoes its work",
      ],
    ] as const) {
      addAlarm(alarmId, {
        alarmDescription: `discovery-sync: invocations of ${what}`,
        metric: fn.metricErrors({ period: FAILURE_PERIOD, statistic: "Sum" }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    // Backlog: a message waits far longer than a reconcile takes. SQS publishes no data for an idle queue: not breaching.
    const queueAge = props.queueAgeThreshold.toSeconds();
    addAlarm("QueueOldestMessageAge", {
      alarmDescription:
        `discovery-sync: a message of the work queue has waited more than ${queueAge} s; reconciles fall behind or stopped. ` +
        "If a ReconcileErrors alarm is in ALARM too, a failing service holds its message group (fix it, or let the message " +
        "reach the dead-letter queue); otherwise check that the reconcile function's SQS event source mapping is enabled, " +
        "its concurrency and throttles",
      metric: props.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: "Maximum" }),
      threshold: queueAge,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: QUEUE_AGE_EVALUATION_PERIODS,
      datapointsToAlarm: QUEUE_AGE_EVALUATION_PERIODS,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const threshold = props.documentAgeThreshold.toSeconds();
    // One sweep per period: every service then has at least one reconcile (and data point) per period.
    const stalePeriod = Duration.seconds(Math.max(60, props.sweepRate.toSeconds()));
    const noReconcilePeriod = Duration.seconds(Math.max(NO_RECONCILE_MIN_PERIOD.toSeconds(), props.sweepRate.toSeconds()));
    const noReconcileMinutes = (noReconcilePeriod.toSeconds() / 60) * NO_RECONCILE_PERIODS;
    for (const [service, idPart] of alarmIdParts(props.services)) {
      addAlarm(`ReconcileErrors${idPart}`, {
        alarmDescription:
          `discovery-sync: reconciles of ${service} fail in ${FAILURE_DATAPOINTS_TO_ALARM} of the last ${FAILURE_EVALUATION_PERIODS} ` +
          `${FAILURE_PERIOD.toMinutes()}-minute periods; see the 'failures by reason' saved query`,
        metric: this.#metric(METRICS.failed, { service, statistic: "Sum", period: FAILURE_PERIOD }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: FAILURE_EVALUATION_PERIODS,
        datapointsToAlarm: FAILURE_DATAPOINTS_TO_ALARM,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      // Stale document: unconfirmed for longer than the threshold while the service has tasks. DocumentAgeSeconds is
      // absent when a reconcile could not compare (it failed first): the expression then has no value and the alarm
      // keeps its state (IGNORE), so a run of failures neither raises nor clears it; ReconcileErrors reports those.
      addAlarm(`DocumentStale${idPart}`, {
        alarmDescription:
          `discovery-sync: the endpoint document of ${service} has gone unconfirmed for more than ${threshold} s while the service has tasks; ` +
          "see the service's reconcile records (the 'failures by reason' and 'slowest reconciles' saved queries) and its ReconcileErrors alarm",
        metric: new cloudwatch.MathExpression({
          label: `${service} document stale`,
          expression: `IF(tasks > 0 AND age > ${threshold}, 1, 0)`,
          usingMetrics: {
            tasks: this.#metric(METRICS.tasksSeen, { service, statistic: "Maximum", period: stalePeriod }),
            age: this.#metric(METRICS.documentAgeSeconds, { service, statistic: "Maximum", period: stalePeriod }),
          },
          period: stalePeriod,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
      // No reconciles: the sweep enqueues one per service every sweep period, so periods without any are breaching.
      addAlarm(`NoReconciles${idPart}`, {
        alarmDescription:
          `discovery-sync: no reconcile of ${service} recorded in ${noReconcileMinutes} minutes, although the sweep enqueues one every ` +
          `${props.sweepRate.toMinutes()} minutes; check the SweepFunctionErrors and QueueOldestMessageAge alarms, that the sweep ` +
          "schedule is enabled and that the reconcile function's SQS event source mapping is enabled",
        metric: this.#metric(METRICS.durationMs, { service, statistic: "SampleCount", period: noReconcilePeriod }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: NO_RECONCILE_PERIODS,
        datapointsToAlarm: NO_RECONCILE_PERIODS,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }
    this.alarms = alarms;

    // Saved queries over the one-record-per-reconcile log lines (docs/reconcile-record.md).
    const logGroups = [props.reconcileFunction.logGroup];
    const definitions = reconcileQueries();
    this.queries = (Object.keys(definitions) as (keyof typeof definitions)[]).map(
      (queryId) =>
        new logs.QueryDefinition(this, queryId, {
          queryDefinitionName: definitions[queryId].name,
          logGroups,
          queryString: definitions[queryId].query,
        }),
    );

    this.dashboard = this.#buildDashboard(definitions);
  }

  #buildDashboard(queries: ReturnType<typeof reconcileQueries>): cloudwatch.Dashboard {
    const props = this.#props;
    const minute = Duration.minutes(1);
    const dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      ...(props.dashboardName === undefined ? {} : { dashboardName: props.dashboardName }),
      defaultInterval: Duration.hours(3),
    });
    const perService = (name: string, statistic: string, label: string): cloudwatch.IMetric[] =>
      props.services.map((service) => this.#metric(name, { service, statistic, period: minute, label: `${service} ${label}` }));
    const reconcileLogs = [props.reconcileFunction.logGroup.logGroupName];

    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Reconciles per minute",
        left: [
          this.#sumOverServices("ok", METRICS.succeeded, { label: "succeeded", period: minute }),
          this.#sumOverServices("failed", METRICS.failed, { label: "failed", period: minute }),
        ],
        stacked: true,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: "Reconcile duration (ms), p50 / p99",
        left: [...perService(METRICS.durationMs, "p50", "p50"), ...perService(METRICS.durationMs, "p99", "p99")],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Writes by target",
        left: WRITE_TARGETS.map((target) =>
          this.#sumOverServices(`writes${target}`, METRICS.writes, { target, label: target, period: minute }),
        ),
        stacked: true,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: "Endpoints per service",
        left: [
          ...perService(METRICS.readyEndpoints, "Maximum", "ready"),
          ...perService(METRICS.drainingEndpoints, "Maximum", "draining"),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Errors",
        left: [
          this.#sumOverServices("errFailed", METRICS.failed, { label: "reconciles failed", period: minute }),
          props.routerFunction.metricErrors({ period: minute, label: "router errors" }),
          props.reconcileFunction.metricErrors({ period: minute, label: "reconcile errors" }),
          props.sweepFunction.metricErrors({ period: minute, label: "sweep errors" }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Queue age of oldest message (s)",
        left: [
          props.queue.metricApproximateAgeOfOldestMessage({ period: minute, statistic: "Maximum", label: "work queue" }),
          props.deadLetterQueue.metricApproximateAgeOfOldestMessage({ period: minute, statistic: "Maximum", label: "work DLQ" }),
          props.eventDeadLetterQueue.metricApproximateAgeOfOldestMessage({ period: minute, statistic: "Maximum", label: "event DLQ" }),
        ],
        leftAnnotations: [{ value: props.queueAgeThreshold.toSeconds(), label: "work queue alarm" }],
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
      new cloudwatch.GraphWidget({
        title: "Endpoint document age (s)",
        left: perService(METRICS.documentAgeSeconds, "Maximum", "age"),
        leftAnnotations: [{ value: props.documentAgeThreshold.toSeconds(), label: "stale threshold" }],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({
        title: "Alarms",
        alarms: Object.values(this.alarms),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: "Slowest reconciles",
        logGroupNames: reconcileLogs,
        queryString: queries.SlowestReconciles.query.toString(),
        width: 12,
      }),
      new cloudwatch.LogQueryWidget({
        title: "Failures by reason",
        logGroupNames: reconcileLogs,
        queryString: queries.FailuresByReason.query.toString(),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: "Churn by service",
        logGroupNames: reconcileLogs,
        queryString: queries.ChurnByService.query.toString(),
        width: 24,
      }),
    );
    return dashboard;
  }

  /**
   * The sum of one reconcile metric over every configured service (each series names its full dimension set;
   * missing points count as 0). `idPrefix` keeps metric ids unique within a graph.
   */
  #sumOverServices(
    idPrefix: string,
    name: string,
    options: { target?: string; label: string; period: Duration },
  ): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    this.#props.services.forEach((service, i) => {
      usingMetrics[`${idPrefix}${i}`] = this.#metric(name, {
        service,
        statistic: "Sum",
        period: options.period,
        ...(options.target === undefined ? {} : { target: options.target }),
      });
    });
    return new cloudwatch.MathExpression({
      expression: Object.keys(usingMetrics).map((id) => `FILL(${id}, 0)`).join(" + "),
      usingMetrics,
      label: options.label,
      period: options.period,
    });
  }

  /** One metric of the reconcile handler, with the exact dimension set the handler emits. */
  #metric(
    name: string,
    options: { service: string; target?: string; statistic: string; period: Duration; label?: string },
  ): cloudwatch.Metric {
    const dimensionsMap: Record<string, string> = {
      [METRIC_DIMENSIONS.powertoolsService]: this.#props.serviceName,
      [METRIC_DIMENSIONS.service]: options.service,
    };
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

/** The saved Logs Insights queries, by construct id: read the reconcile record's real field paths. */
function reconcileQueries() {
  const f = RECONCILE_RECORD;
  const isRecord = `message = "${f.message}"`;
  return {
    SlowestReconciles: {
      name: "discovery-sync/slowest-reconciles",
      query: new logs.QueryString({
        fields: ["@timestamp", f.service, f.durationMs, f.writesTotal, f.triggers, f.outcome, f.errorMessage],
        filterStatements: [isRecord],
        sort: `${f.durationMs} desc`,
        limit: 50,
      }),
    },
    FailuresByReason: {
      name: "discovery-sync/failures-by-reason",
      query: new logs.QueryString({
        filterStatements: [isRecord, `${f.outcome} = "failed"`],
        statsStatements: [`count(*) as failures by ${f.service}, ${f.errorName}, ${f.errorReasons}.0`],
        sort: "failures desc",
      }),
    },
    ChurnByService: {
      name: "discovery-sync/churn-by-service",
      query: new logs.QueryString({
        filterStatements: [isRecord, `${f.writesTotal} > 0`],
        statsStatements: [
          `sum(${f.writesTotal}) as writes, sum(${f.cloudMapRegistered} + ${f.cloudMapDeregistered}) as cloudMapWrites, ` +
            `sum(${f.targetsRegistered} + ${f.targetsDeregistered}) as targetWrites, sum(${f.documentsPublished}) as documentChanges, ` +
            `count(*) as changedReconciles by ${f.service}`,
        ],
        sort: "writes desc",
      }),
    },
  } as const;
}

/**
 * A construct-id-safe, stable form of each service name (ids are a contract: derived from the name, never from an
 * index): `workflow-agent` gives `WorkflowAgent`.
 *
 * @throws Error when two names give the same id (for example `a.b` and `a-b`), naming both.
 */
function alarmIdParts(services: readonly string[]): Map<string, string> {
  const parts = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const service of services) {
    const part = service
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      .map((word) => word[0]!.toUpperCase() + word.slice(1))
      .join("");
    const owner = owners.get(part);
    if (owner !== undefined) {
      throw new Error(
        `services "${owner}" and "${service}" would share the alarm ids "DocumentStale${part}", "NoReconciles${part}" and "ReconcileErrors${part}": ` +
          "rename one so that the two differ in more than punctuation and the case of a first letter",
      );
    }
    owners.set(part, service);
    parts.set(service, part);
  }
  return parts;
}
