import { z } from "zod";
import { ConfigError, type ConfigIssue } from "./errors.js";

/** Name of the environment variable the handlers read their configuration from (a JSON string). */
export const configEnvVar = "DISCOVERY_SYNC_CONFIG";

const clusterName = /^[A-Za-z0-9_-]{1,255}$/;
const clusterArn = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/([A-Za-z0-9_-]{1,255})$/;
const targetGroupArn = /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/;
// SSM: letters, digits, and _ . - /; a hierarchy (leading "/") of at most 15 levels; at most 1011 characters.
const parameterName = /^\/?[A-Za-z0-9_.\-/]{1,1011}$/;

const serviceSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"),
    cluster: z
      .string()
      .refine((v) => clusterName.test(v) || clusterArn.test(v), "must be an ECS cluster name or cluster ARN"),
    ecsService: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, "must be an ECS service name (1-255 letters, digits, '_' or '-')"),
    port: z.number().int("must be an integer").min(1, "must be from 1 to 65535").max(65_535, "must be from 1 to 65535"),
    cloudMapServiceId: z.string().regex(/^srv-[A-Za-z0-9]{1,64}$/, "must be a Cloud Map service id like srv-0123456789abcdef").optional(),
    targetGroupArns: z
      .array(z.string().regex(targetGroupArn, "must be an ELBv2 target group ARN"))
      .max(5, "at most 5 target groups per service")
      .refine((arns) => new Set(arns).size === arns.length, "must not list a target group twice")
      .optional(),
    parameterName: z
      .string()
      .regex(parameterName, "must be an SSM parameter name (letters, digits, '_', '.', '-', '/')")
      .refine((v) => !/^\/?aws|^\/?ssm/i.test(v), "must not start with 'aws' or 'ssm' (reserved by SSM)")
      .refine((v) => v.split("/").filter(Boolean).length <= 15, "must have at most 15 hierarchy levels"),
  })
  .strict();

const configSchema = z
  .object({
    services: z.array(serviceSchema).min(1, "must list at least one service"),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.services.forEach((service, index) => {
      const uniqueKeys: Array<[field: "name" | "parameterName" | "ecsService" | "cloudMapServiceId", key: string]> = [
        ["name", `name:${service.name}`],
        ["parameterName", `parameter:${service.parameterName}`],
        ["ecsService", `ecs:${clusterNameOf(service.cluster)}/${service.ecsService}`],
      ];
      if (service.cloudMapServiceId !== undefined) {
        uniqueKeys.push(["cloudMapServiceId", `cloudmap:${service.cloudMapServiceId}`]);
      }
      for (const [field, key] of uniqueKeys) {
        const first = seen.get(key);
        if (first !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["services", index, field],
            message: `is already used by services[${first}]; each service needs its own`,
            input: service[field],
          });
        } else {
          seen.set(key, index);
        }
      }
    });
  });

/** One synced service. */
export type ServiceConfig = z.infer<typeof serviceSchema>;
/** The whole configuration of discovery-sync. */
export type DiscoverySyncConfig = z.infer<typeof configSchema>;

/** The cluster name of a configured cluster given as a name or an ARN. */
export function clusterNameOf(cluster: string): string {
  return clusterArn.exec(cluster)?.[1] ?? cluster;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`), "");
}

function describeGiven(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Validates a configuration object.
 *
 * @example
 * ```ts
 * const config = parseConfig({ services: [{ name: "workflow-agent", cluster: "workflow", ecsService: "workflow-agent",
 *   port: 50051, parameterName: "/discovery/workflow-agent/endpoints" }] });
 * ```
 * @throws {ConfigError} naming every wrong field and the value given.
 */
export function parseConfig(input: unknown, source = "configuration"): DiscoverySyncConfig {
  const result = configSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const issues: ConfigIssue[] = result.error.issues.map((issue) => {
    const given = "input" in issue ? issue.input : undefined;
    const path = formatPath(issue.path) || "$";
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
    return { path, message, given };
  });
  const lines = issues.map((i) => `  ${i.path}: ${i.message} (given ${describeGiven(i.given)})`);
  throw new ConfigError(`invalid ${source}:\n${lines.join("\n")}`, issues);
}

/**
 * Reads and validates the configuration from `DISCOVERY_SYNC_CONFIG`.
 *
 * @example
 * ```ts
 * const config = loadConfigFromEnv(process.env);
 * ```
 * @throws {ConfigError} when the variable is missing, not JSON, or invalid.
 */
export function loadConfigFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): DiscoverySyncConfig {
  const raw = env[configEnvVar];
  if (raw === undefined || raw.trim() === "") {
    throw new ConfigError(`${configEnvVar} is not set: it must hold the configuration as JSON`, [
      { path: "$", message: "missing" },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(
      `${configEnvVar} is not valid JSON (given ${describeGiven(raw)}): ${(error as Error).message}`,
      [{ path: "$", message: "not JSON", given: raw }],
      { cause: error },
    );
  }
  return parseConfig(parsed, configEnvVar);
}
