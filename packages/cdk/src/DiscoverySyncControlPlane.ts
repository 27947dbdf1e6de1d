import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { Duration, Stack, Token } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sqs from "aws-cdk-lib/aws-sqs";
import * as ssm from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import type { DiscoverySyncConfig } from "@discovery-sync/core";
import { handlerBundling } from "./bundling.js";
import { validateConfig } from "./config.js";
import {
  CONFIG_ENV_VAR,
  CONFIG_PARAMETER_ENV_VAR,
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_SERVICE_NAME,
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
  QUEUE_URL_ENV_VAR,
  SSM_ADVANCED_LIMIT_BYTES,
  TASK_EVENT_LAST_STATUSES,
  SSM_STANDARD_LIMIT_BYTES,
} from "./constants.js";
import { clusterArn, reconcileStatements } from "./permissions.js";
import { Observability } from "./Observability.js";

/** Powertools log levels. */
export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";

/** How the configuration reaches the functions. */
export type ConfigDelivery = "auto" | "environment" | "parameter";

/** The three functions of the control plane. */
export type FunctionRole = "router" | "reconcile" | "sweep";

/** Properties of {@link DiscoverySyncControlPlane}. */
export interface DiscoverySyncControlPlaneProps {
  /**
   * The configuration of the synced services: the same JSON document the handlers read (see `parseConfig` in
   * `@discovery-sync/core`). It is validated at synth time; an invalid one throws a `ConfigError` naming the field.
   * `cloudMapServiceId`, `cloudMapDns.hostedZoneId` and `targetGroupArns` may be CDK tokens (resources of the same
   * app); every other field must be a literal. A service with a `cloudMapServiceId` needs its `cloudMapDns` (see
   * {@link allowUnscopedCloudMapDns}).
   */
  readonly config: unknown;
  /**
   * Where the configuration came from, used in error messages (for example a file name).
   * @default "configuration"
   */
  readonly configSource?: string;
  /**
   * How the configuration reaches the functions: `environment` puts it in `DISCOVERY_SYNC_CONFIG`; `parameter` stores
   * it in an SSM parameter (Standard up to 4 KB, Advanced up to 8 KB) whose name is passed in
   * `DISCOVERY_SYNC_CONFIG_PARAMETER`, read by the functions at cold start; `auto` picks `environment` while the
   * whole Lambda environment stays under the 4 KB limit, else `parameter`.
   * @default "auto"
   */
  readonly configDelivery?: ConfigDelivery;
  /**
   * Directory holding the handler sources `route.ts`, `reconcile.ts` and `sweep.ts`, bundled with esbuild.
   * @default the repository's `functions/` directory
   */
  readonly functionsDir?: string;
  /**
   * Prebuilt code per function (handler `index.handler`), instead of bundling `functionsDir` with esbuild. For
   * pipelines that build once and deploy many times.
   * @default bundle from `functionsDir`
   */
  readonly code?: Partial<Record<FunctionRole, lambda.Code>>;
  /**
   * Timeout of the reconcile function, 1 second to 15 minutes. The queue's visibility timeout is six times this.
   * @default Duration.seconds(60)
   */
  readonly reconcileTimeout?: Duration;
  /**
   * Memory of the reconcile function in MB, 128 to 10240.
   * @default 512
   */
  readonly reconcileMemorySize?: number;
  /**
   * Messages per reconcile invocation, 1 to 10 (the FIFO maximum). Messages of one service in a batch are coalesced
   * into one reconcile.
   * @default 10
   */
  readonly reconcileBatchSize?: number;
  /**
   * Upper bound of concurrent reconcile invocations, 2 to 1000. Concurrency never exceeds the number of services with
   * pending messages (one message group per service).
   * @default no limit beyond the number of message groups
   */
  readonly reconcileMaxConcurrency?: number;
  /**
   * How often the sweep enqueues a reconcile of every service, in whole minutes from 1 minute to 1 day. The sweep
   * repairs drift and lost events; it also bounds how stale a document can get.
   * @default Duration.minutes(5)
   */
  readonly sweepRate?: Duration;
  /**
   * Receives of a work message before it moves to the dead-letter queue, 1 to 1000.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Retries of the EventBridge rule target (the router) before an event goes to the event dead-letter queue, 0 to 185.
   * @default 24
   */
  readonly eventRetryAttempts?: number;
  /**
   * Oldest event EventBridge still retries, 1 minute to 24 hours. An event older than a couple of sweep periods is
   * useless: the sweep has reconciled the service since.
   * @default Duration.hours(1)
   */
  readonly eventMaxAge?: Duration;
  /**
   * Retention of the functions' log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Powertools log level (`POWERTOOLS_LOG_LEVEL`).
   * @default "INFO"
   */
  readonly logLevel?: LogLevel;
  /**
   * Powertools service name (`POWERTOOLS_SERVICE_NAME`), also the `service` dimension of every metric.
   * @default "discovery-sync"
   */
  readonly serviceName?: string;
  /**
   * CloudWatch namespace of the metrics (`POWERTOOLS_METRICS_NAMESPACE`).
   * @default "DiscoverySync"
   */
  readonly metricsNamespace?: string;
  /**
   * An endpoint document that has gone unconfirmed longer than this (metric `DocumentAgeSeconds`) while its service
   * has tasks (metric `TasksSeen`) raises that service's stale-document alarm. At least twice the sweep rate, at most
   * 1 day.
   * @default three times the sweep rate
   */
  readonly documentAgeThreshold?: Duration;
  /**
   * A work-queue message older than this (`ApproximateAgeOfOldestMessage` of the FIFO queue, 3 minutes in a row) raises
   * the `QueueOldestMessageAge` alarm: reconciles fall behind or stopped. A message normally waits seconds: at most for
   * the batch its service's message group has in flight (the reconcile timeout). Each failed receive holds the message,
   * and every later one of its group, for the visibility timeout (six times the reconcile timeout) before the retry;
   * those failures already raise `ReconcileErrors`. The default lets two failed receives in a row pass (12 minutes with
   * the default timeout of 60 s) and pages on a third, a group held until the message reaches the dead-letter queue, or
   * a consumer that stopped. 1 minute to 4 days (the queue's retention: no message gets older).
   * @default the larger of 15 minutes and twice the visibility timeout (12 times the reconcile timeout)
   */
  readonly queueAgeThreshold?: Duration;
  /**
   * Lets services with a `cloudMapServiceId` but no `cloudMapDns` through synthesis: the reconcile role may then change
   * A and SRV records of any name in any Route 53 hosted zone (Cloud Map writes a DNS namespace's records with the
   * caller's credentials) and manage Route 53 health checks. Without it such a configuration fails synthesis; give each
   * service's `cloudMapDns` instead (`{ hostedZoneId, namespaceName, serviceName }`, or `"none"` for an HTTP
   * namespace), which scopes the role to the namespace's hosted zone and the service's record names.
   * @default false
   */
  readonly allowUnscopedCloudMapDns?: boolean;
  /**
   * Actions of every alarm (for example an SNS topic action).
   * @default no actions; the alarms are visible in the console and on the dashboard
   */
  readonly alarmActions?: readonly cloudwatch.IAlarmAction[];
  /**
   * Name of the CloudWatch dashboard.
   * @default generated by CloudFormation
   */
  readonly dashboardName?: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The work queue's visibility timeout, in reconcile timeouts (Lambda's rule for SQS event sources: at least 6). */
const VISIBILITY_TIMEOUT_FACTOR = 6;
const ENTRY_FILES: Record<FunctionRole, string> = { router: "route.ts", reconcile: "reconcile.ts", sweep: "sweep.ts" };

/**
 * The discovery-sync control plane: an EventBridge rule for the configured clusters' "ECS Task State Change" events,
 * a router function that turns each into a message on an SQS FIFO queue (one message group per service), a reconcile
 * function that makes Cloud Map, the target groups and the SSM endpoint document equal to the ready tasks, a scheduled
 * sweep, dead-letter queues, log groups, alarms, a dashboard and saved Logs Insights queries.
 *
 * Construct ids below are a contract: renaming one replaces the resource (and, for the queues, loses its messages).
 *
 * @example
 * ```ts
 * import { App, Stack } from "aws-cdk-lib";
 * import { DiscoverySyncControlPlane } from "@discovery-sync/cdk";
 *
 * const app = new App();
 * const stack = new Stack(app, "DiscoverySync");
 * new DiscoverySyncControlPlane(stack, "ControlPlane", {
 *   config: { services: [{ name: "workflow-agent", cluster: "workflow", ecsService: "workflow-agent", port: 50051,
 *     cloudMapServiceId: "srv-0123456789abcdef",
 *     cloudMapDns: { hostedZoneId: "Z0123456789ABCDEFGHIJ", namespaceName: "workflow.local", serviceName: "workflow-agent" },
 *     parameterName: "/discovery/workflow-agent/endpoints" }] },
 * });
 * ```
 */
export class DiscoverySyncControlPlane extends Construct {
  /** The validated configuration (tokens kept). */
  public readonly config: DiscoverySyncConfig;
  /** The SQS FIFO work queue (MessageGroupId = service). */
  public readonly queue: sqs.Queue;
  /** FIFO dead-letter queue of the work queue. */
  public readonly deadLetterQueue: sqs.Queue;
  /** Dead-letter queue of the EventBridge targets and of the router's and the sweep's asynchronous invocations. */
  public readonly eventDeadLetterQueue: sqs.Queue;
  /** Routes ECS task events to the queue. */
  public readonly routerFunction: lambda.Function;
  /** Reconciles services from queue messages. */
  public readonly reconcileFunction: lambda.Function;
  /** Enqueues a reconcile of every service on a schedule. */
  public readonly sweepFunction: lambda.Function;
  /** The "ECS Task State Change" rule. */
  public readonly taskStateRule: events.Rule;
  /** The sweep schedule. */
  public readonly sweepSchedule: events.Rule;
  /** The SSM parameter holding the configuration, when the configuration is delivered that way. */
  public readonly configParameter?: ssm.StringParameter;
  /** Alarms, dashboard and saved queries. */
  public readonly observability: Observability;

  public constructor(scope: Construct, id: string, props: DiscoverySyncControlPlaneProps) {
    super(scope, id);
    const settings = resolveSettings(props);
    const validated = validateConfig(props.config, props.configSource, this);
    this.config = validated.config;
    const stack = Stack.of(this);

    // --- Queues -------------------------------------------------------------------------------------------------
    this.deadLetterQueue = new sqs.Queue(this, "QueueDeadLetters", {
      fifo: true,
      // A FIFO queue's dead-letter queue must be FIFO too.
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, "Queue", {
      fifo: true,
      // Off on purpose: the router sets MessageDeduplicationId from the EventBridge event id, so redeliveries of one
      // event are absorbed while two different events with the same body (same task, same state) both count.
      contentBasedDeduplication: false,
      // Lambda's rule for SQS event sources: at least six times the function timeout, so a message is not handed to
      // a second invocation while the first one (with its retries by the poller) still works on it.
      visibilityTimeout: Duration.seconds(settings.reconcileTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      retentionPeriod: Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });
    this.eventDeadLetterQueue = new sqs.Queue(this, "EventDeadLetters", {
      // Standard queue: EventBridge target DLQs and Lambda asynchronous-invocation DLQs cannot be FIFO.
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    // --- Configuration delivery -----------------------------------------------------------------------------------
    // The configuration as given: the handlers' schema refuses the fields parseConfig derives (clusterName, ...).
    const configJson = validated.hasTokens ? stack.toJsonString(validated.document) : JSON.stringify(validated.document);
    const baseEnvironment: Record<string, string> = {
      POWERTOOLS_SERVICE_NAME: settings.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: settings.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      // No NODE_OPTIONS=--enable-source-maps: the bundles carry no source maps (see handlerBundling for why).
    };
    // Lambda measures the environment as the JSON of the variables map (its error quotes the "String measured":
    // {"KEY":"value",...}): quotes, separators and the escaping of the JSON configuration count, about one byte per
    // quote of the configuration more than its own size. The queue URL is a token here: count its longest form,
    // https://sqs.<14-character region>.amazonaws.com.cn/<account>/<80-character name>, 137 bytes.
    const environmentBytes = Buffer.byteLength(
      JSON.stringify({ ...baseEnvironment, [QUEUE_URL_ENV_VAR]: "u".repeat(137), [CONFIG_ENV_VAR]: validated.estimatedJson }),
      "utf8",
    );
    const delivery: Exclude<ConfigDelivery, "auto"> =
      settings.configDelivery === "auto"
        ? environmentBytes <= LAMBDA_ENVIRONMENT_LIMIT_BYTES
          ? "environment"
          : "parameter"
        : settings.configDelivery;
    if (delivery === "environment" && environmentBytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
      throw new Error(
        `configDelivery "environment": the configuration (${validated.estimatedBytes} bytes) makes the Lambda environment ` +
          `about ${environmentBytes} bytes, over the ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit; use configDelivery "auto" or "parameter"`,
      );
    }
    const configEnvironment: Record<string, string> = {};
    if (delivery === "parameter") {
      if (validated.estimatedBytes > SSM_ADVANCED_LIMIT_BYTES) {
        throw new Error(
          `the configuration is ${validated.estimatedBytes} bytes, over the ${SSM_ADVANCED_LIMIT_BYTES}-byte limit of an Advanced SSM parameter; ` +
            "split the services over several control planes",
        );
      }
      this.configParameter = new ssm.StringParameter(this, "Config", {
        description: "discovery-sync configuration (read by the control plane's functions at cold start)",
        stringValue: configJson,
        // Standard up to 4 KB; Advanced (charged per parameter-month) only when the document needs it.
        tier: validated.estimatedBytes > SSM_STANDARD_LIMIT_BYTES ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
      });
      configEnvironment[CONFIG_PARAMETER_ENV_VAR] = this.configParameter.parameterName;
    } else {
      configEnvironment[CONFIG_ENV_VAR] = configJson;
    }

    // --- Functions ----------------------------------------------------------------------------------------------
    const configRead = this.configParameter
      ? [
          new iam.PolicyStatement({
            sid: "ReadConfiguration",
            actions: ["ssm:GetParameter"],
            resources: [this.configParameter.parameterArn],
          }),
        ]
      : [];
    const sendToQueue = new iam.PolicyStatement({
      sid: "SendToWorkQueue",
      actions: ["sqs:SendMessage"],
      resources: [this.queue.queueArn],
    });
    const environment = { ...baseEnvironment, ...configEnvironment };
    const functionsDir = props.functionsDir ?? defaultFunctionsDir();

    this.routerFunction = this.createFunction("Router", {
      role: "router",
      description: "discovery-sync: routes ECS task state changes to the work queue",
      timeout: Duration.seconds(10),
      memorySize: 256,
      environment: { ...environment, [QUEUE_URL_ENV_VAR]: this.queue.queueUrl },
      statements: [sendToQueue, ...configRead],
      settings,
      functionsDir,
      code: props.code?.router,
      // EventBridge invokes asynchronously: Lambda retries twice, then the event goes to the dead-letter queue.
      deadLetterQueue: this.eventDeadLetterQueue,
      retryAttempts: 2,
    });
    this.reconcileFunction = this.createFunction("Reconcile", {
      role: "reconcile",
      description: "discovery-sync: reconciles Cloud Map, target groups and the endpoint document of a service",
      timeout: settings.reconcileTimeout,
      memorySize: settings.reconcileMemorySize,
      environment: { ...environment, [QUEUE_URL_ENV_VAR]: this.queue.queueUrl },
      statements: [
        ...reconcileStatements(this, this.config, {
          allowUnscopedCloudMapDns: props.allowUnscopedCloudMapDns,
          configSource: props.configSource,
        }),
        new iam.PolicyStatement({
          sid: "DelayRetries",
          // The handler brings a failed message back after seconds (ChangeMessageVisibilityBatch is authorised by
          // ChangeMessageVisibility) instead of the queue's visibility timeout of 6 x the function timeout.
          actions: ["sqs:ChangeMessageVisibility"],
          resources: [this.queue.queueArn],
        }),
        // What the SQS event source mapping does with the function's role (exactly, without GetQueueUrl).
        new iam.PolicyStatement({
          sid: "ConsumeWorkQueue",
          // (Lambda developer guide, "Execution role permissions" for SQS; managed policy AWSLambdaSQSQueueExecutionRole).
          actions: ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
          resources: [this.queue.queueArn],
        }),
        ...configRead,
      ],
      settings,
      functionsDir,
      code: props.code?.reconcile,
    });
    this.reconcileFunction.addEventSourceMapping("WorkQueue", {
      eventSourceArn: this.queue.queueArn,
      batchSize: settings.reconcileBatchSize,
      // FIFO partial batch responses: the handler reports the first failed message and every later one.
      reportBatchItemFailures: true,
      ...(settings.reconcileMaxConcurrency === undefined
        ? {}
        : { maxConcurrency: settings.reconcileMaxConcurrency }),
    });
    this.sweepFunction = this.createFunction("Sweep", {
      role: "sweep",
      description: "discovery-sync: enqueues a reconcile of every configured service",
      timeout: Duration.seconds(30),
      memorySize: 256,
      environment: { ...environment, [QUEUE_URL_ENV_VAR]: this.queue.queueUrl },
      statements: [sendToQueue, ...configRead],
      settings,
      functionsDir,
      code: props.code?.sweep,
      // The schedule invokes asynchronously: Lambda retries a failed sweep twice (a retry reuses the schedule event's id,
      // so the FIFO queue drops what the failed attempt already sent), then keeps it in the event dead-letter queue,
      // whose alarm pages; the next sweep redoes its work anyway.
      deadLetterQueue: this.eventDeadLetterQueue,
      retryAttempts: 2,
    });

    // --- Event routing ------------------------------------------------------------------------------------------
    this.taskStateRule = new events.Rule(this, "TaskStateRule", {
      description: "discovery-sync: ECS task state changes of the synced services",
      eventPattern: {
        source: ["aws.ecs"],
        detailType: ["ECS Task State Change"],
        detail: taskEventDetailPattern(stack, this.config),
      },
    });
    this.taskStateRule.addTarget(
      new targets.LambdaFunction(this.routerFunction, {
        retryAttempts: settings.eventRetryAttempts,
        maxEventAge: settings.eventMaxAge,
        deadLetterQueue: this.eventDeadLetterQueue,
      }),
    );
    this.sweepSchedule = new events.Rule(this, "SweepSchedule", {
      description: "discovery-sync: periodic reconcile of every service",
      schedule: events.Schedule.rate(settings.sweepRate),
    });
    this.sweepSchedule.addTarget(
      new targets.LambdaFunction(this.sweepFunction, {
        retryAttempts: 2,
        maxEventAge: Duration.seconds(Math.max(60, Math.min(settings.sweepRate.toSeconds(), 86_400))),
        deadLetterQueue: this.eventDeadLetterQueue,
      }),
    );

    this.observability = new Observability(this, "Observability", {
      services: this.config.services.map((s) => s.name),
      metricsNamespace: settings.metricsNamespace,
      serviceName: settings.serviceName,
      documentAgeThreshold: settings.documentAgeThreshold,
      sweepRate: settings.sweepRate,
      queueAgeThreshold: settings.queueAgeThreshold,
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      eventDeadLetterQueue: this.eventDeadLetterQueue,
      routerFunction: this.routerFunction,
      reconcileFunction: this.reconcileFunction,
      sweepFunction: this.sweepFunction,
      alarmActions: props.alarmActions ?? [],
      dashboardName: props.dashboardName,
    });
  }

  private createFunction(
    id: string,
    options: {
      role: FunctionRole;
      description: string;
      timeout: Duration;
      memorySize: number;
      environment: Record<string, string>;
      statements: iam.PolicyStatement[];
      settings: Settings;
      functionsDir: string;
      code: lambda.Code | undefined;
      deadLetterQueue?: sqs.IQueue;
      retryAttempts?: number;
    },
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: options.settings.logRetention });
    // One role per function, with the exact statements inline (no AWSLambdaBasicExecutionRole: its logs:* on "*" is
    // broader than writing to this function's own log group).
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `discovery-sync ${options.role} function`,
      inlinePolicies: {
        [options.role]: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: "WriteOwnLogs",
              actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
              resources: [`${logGroup.logGroupArn}`],
            }),
            ...options.statements,
          ],
        }),
      },
    });
    const common = {
      description: options.description,
      // HANDLER_RUNTIME_NAME (./bundling.ts) names it for scripts that cannot load aws-cdk-lib.
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: options.timeout,
      memorySize: options.memorySize,
      environment: options.environment,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      // With the JSON log format Lambda filters application logs by level (INFO unless told) and Powertools follows
      // AWS_LAMBDA_LOG_LEVEL: keep the two equal so that logLevel "DEBUG" really logs DEBUG.
      applicationLogLevelV2: lambda.ApplicationLogLevel[options.settings.logLevel],
      ...(options.deadLetterQueue ? { deadLetterQueue: options.deadLetterQueue } : {}),
      ...(options.retryAttempts === undefined ? {} : { retryAttempts: options.retryAttempts }),
    };
    if (options.code !== undefined) {
      return new lambda.Function(this, id, { ...common, code: options.code, handler: "index.handler" });
    }
    const entry = path.join(options.functionsDir, ENTRY_FILES[options.role]);
    if (!existsSync(entry)) {
      throw new Error(`handler source ${entry} not found; set functionsDir to the directory with ${Object.values(ENTRY_FILES).join(", ")}`);
    }
    return new nodejs.NodejsFunction(this, id, {
      ...common,
      entry,
      handler: "handler",
      projectRoot: path.resolve(options.functionsDir, ".."),
      depsLockFilePath: findLockFile(options.functionsDir),
      bundling: {
        // Local esbuild (a root devDependency); never Docker, so synthesis works offline and in tests.
        forceDockerBundling: false,
        // The settings, and why each, are in handlerBundling (./bundling.ts), which the cold-start benchmark uses too.
        format: nodejs.OutputFormat.ESM,
        target: handlerBundling.target,
        minify: handlerBundling.minify,
        sourceMap: handlerBundling.sourceMap,
        esbuildArgs: { "--conditions": handlerBundling.conditions.join(",") },
        mainFields: [...handlerBundling.mainFields],
        externalModules: [],
        banner: handlerBundling.banner,
        // esbuild's size summary of every bundle says nothing a synth or test needs; warnings and errors still print.
        logLevel: nodejs.LogLevel.WARNING,
      },
    });
  }
}

interface Settings {
  readonly configDelivery: ConfigDelivery;
  readonly reconcileTimeout: Duration;
  readonly reconcileMemorySize: number;
  readonly reconcileBatchSize: number;
  readonly reconcileMaxConcurrency: number | undefined;
  readonly sweepRate: Duration;
  readonly maxReceiveCount: number;
  readonly eventRetryAttempts: number;
  readonly eventMaxAge: Duration;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel: LogLevel;
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly documentAgeThreshold: Duration;
  readonly queueAgeThreshold: Duration;
}

/** Applies defaults and checks ranges, with messages that say what to change. */
function resolveSettings(props: DiscoverySyncControlPlaneProps): Settings {
  const reconcileTimeout = props.reconcileTimeout ?? Duration.seconds(60);
  const sweepRate = props.sweepRate ?? Duration.minutes(5);
  const settings: Settings = {
    configDelivery: props.configDelivery ?? "auto",
    reconcileTimeout,
    reconcileMemorySize: props.reconcileMemorySize ?? 512,
    reconcileBatchSize: props.reconcileBatchSize ?? 10,
    reconcileMaxConcurrency: props.reconcileMaxConcurrency,
    sweepRate,
    maxReceiveCount: props.maxReceiveCount ?? 5,
    eventRetryAttempts: props.eventRetryAttempts ?? 24,
    eventMaxAge: props.eventMaxAge ?? Duration.hours(1),
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? "INFO",
    serviceName: props.serviceName ?? DEFAULT_SERVICE_NAME,
    metricsNamespace: props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
    documentAgeThreshold: props.documentAgeThreshold ?? Duration.seconds(sweepRate.toSeconds() * 3),
    queueAgeThreshold:
      props.queueAgeThreshold ?? Duration.seconds(Math.max(15 * 60, 2 * VISIBILITY_TIMEOUT_FACTOR * reconcileTimeout.toSeconds())),
  };
  if (!["auto", "environment", "parameter"].includes(settings.configDelivery)) {
    throw new Error(`configDelivery must be "auto", "environment" or "parameter" (given ${JSON.stringify(settings.configDelivery)})`);
  }
  checkRange("reconcileTimeout (seconds)", reconcileTimeout.toSeconds(), 1, 900);
  checkRange("reconcileMemorySize", settings.reconcileMemorySize, 128, 10_240);
  checkRange("reconcileBatchSize", settings.reconcileBatchSize, 1, 10, "the maximum of an SQS FIFO event source");
  if (settings.reconcileMaxConcurrency !== undefined) {
    checkRange("reconcileMaxConcurrency", settings.reconcileMaxConcurrency, 2, 1000);
  }
  const sweepSeconds = sweepRate.toSeconds();
  if (sweepSeconds % 60 !== 0) {
    throw new Error(`sweepRate must be a whole number of minutes (given ${sweepSeconds} seconds)`);
  }
  checkRange("sweepRate (minutes)", sweepSeconds / 60, 1, 1440);
  checkRange("maxReceiveCount", settings.maxReceiveCount, 1, 1000);
  checkRange("eventRetryAttempts", settings.eventRetryAttempts, 0, 185);
  checkRange("eventMaxAge (seconds)", settings.eventMaxAge.toSeconds(), 60, 86_400);
  checkRange(
    "documentAgeThreshold (seconds)",
    settings.documentAgeThreshold.toSeconds(),
    2 * sweepSeconds,
    86_400,
    "at least twice the sweep rate, or a healthy service raises the alarm between two sweeps",
  );
  checkRange(
    "queueAgeThreshold (seconds)",
    settings.queueAgeThreshold.toSeconds(),
    60,
    4 * 86_400,
    "from one alarm period to the work queue's retention of 4 days",
  );
  if (!/^[A-Za-z0-9_.\-/#:]{1,255}$/.test(settings.metricsNamespace)) {
    throw new Error(`metricsNamespace must be 1-255 characters of letters, digits and . - _ / # : (given ${JSON.stringify(settings.metricsNamespace)})`);
  }
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(settings.serviceName)) {
    throw new Error(`serviceName must be 1-128 letters, digits, '_', '.' or '-' (given ${JSON.stringify(settings.serviceName)})`);
  }
  return settings;
}

function checkRange(name: string, value: number, min: number, max: number, why?: string): void {
  if (Token.isUnresolved(value)) throw new Error(`${name} must be a literal number, not a token`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max} inclusive (given ${value})${why ? `: ${why}` : ""}`);
  }
}

function findLockFile(from: string): string {
  let dir = path.resolve(from);
  for (;;) {
    for (const name of ["package-lock.json", "pnpm-lock.yaml", "yarn.lock", "bun.lockb"]) {
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no lock file found above ${from}; NodejsFunction needs one to find the project root`);
    dir = parent;
  }
}

/**
 * The repository's `functions/` directory: the nearest `functions/route.ts` above this module. Searched rather than
 * fixed relative to this file, because SST bundles the stacks (and this construct) into a file elsewhere in the
 * repository before it runs them.
 */
function defaultFunctionsDir(): string {
  for (let dir = HERE; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "functions");
    if (existsSync(path.join(candidate, ENTRY_FILES.router))) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(HERE, "../../../functions");
  }
}

/**
 * The `detail` part of the task-state rule's pattern: the configured clusters, each with the service groups
 * (`service:<ecsService>`) configured in it, so that an event reaches the router only for a configured
 * (cluster, service) pair, and only at a `lastStatus` that can change what is published ({@link TASK_EVENT_LAST_STATUSES}).
 * Several clusters are combined with `$or`.
 */
function taskEventDetailPattern(stack: Stack, config: DiscoverySyncConfig): Record<string, unknown> {
  // Grouped by the cluster as configured (its ARN, or its name); ARNs are made once per cluster.
  const groupsByCluster = new Map<string, { arn: string; groups: Set<string> }>();
  for (const service of config.services) {
    const key = service.clusterArn ?? service.clusterName;
    const entry = groupsByCluster.get(key) ?? { arn: clusterArn(stack, service), groups: new Set<string>() };
    entry.groups.add(`service:${service.ecsService}`);
    groupsByCluster.set(key, entry);
  }
  const alternatives = [...groupsByCluster.values()].map(({ arn, groups }) => ({ clusterArn: [arn], group: [...groups].sort() }));
  const lastStatus = [...TASK_EVENT_LAST_STATUSES];
  return alternatives.length === 1 ? { ...alternatives[0]!, lastStatus } : { $or: alternatives, lastStatus };
}
