import {
  DescribeParametersCommand,
  GetParameterCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { EndpointDocumentError, parseEndpointDocument } from "@discovery-sync/client/document";
import type { DocumentPlan, ParameterState } from "../plan.js";

/**
 * Reads the endpoint document parameter. A value that is not a valid document is reported as `invalid`
 * (with the SSM version) rather than thrown: the reconcile then replaces it.
 *
 * @example
 * ```ts
 * const state = await readParameter(clients.ssm, "/discovery/workflow-agent/endpoints");
 * ```
 */
export async function readParameter(ssm: SSMClient, name: string): Promise<ParameterState> {
  try {
    const output = await ssm.send(new GetParameterCommand({ Name: name }));
    const version = output.Parameter?.Version ?? 0;
    try {
      return { kind: "valid", version, document: parseEndpointDocument(output.Parameter?.Value ?? "") };
    } catch (error) {
      if (error instanceof EndpointDocumentError) return { kind: "invalid", version, reason: error.message };
      throw error;
    }
  } catch (error) {
    if (error instanceof ParameterNotFound) return { kind: "missing" };
    throw error;
  }
}

async function currentTier(ssm: SSMClient, name: string): Promise<string | undefined> {
  const output = await ssm.send(
    new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [name] }] }),
  );
  return output.Parameters?.[0]?.Tier;
}

/**
 * Writes the planned document and returns the new SSM version. An existing Advanced parameter stays Advanced
 * even when the document would fit Standard: SSM can upgrade a parameter's tier but never downgrade it.
 */
export async function publishDocument(
  ssm: SSMClient,
  name: string,
  plan: Extract<DocumentPlan, { kind: "publish" }>,
): Promise<{ version: number | undefined; tier: "Standard" | "Advanced" }> {
  let tier = plan.minimumTier;
  if (tier === "Standard" && plan.overwrite && (await currentTier(ssm, name)) === "Advanced") tier = "Advanced";
  const output = await ssm.send(
    new PutParameterCommand({
      Name: name,
      Value: plan.text,
      Type: "String",
      Tier: tier,
      Overwrite: plan.overwrite,
      Description: `discovery-sync endpoint document of ${plan.document.service} (schema version 1)`,
    }),
  );
  return { version: output.Version, tier };
}
