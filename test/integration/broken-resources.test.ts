/**
 * One broken resource breaks nothing else, and inputs that must not be silently accepted are refused or reported:
 * each case is set up on the emulator as a real account would contain it, and asserted from what the emulator holds.
 */
import { describe, expect, it } from "vitest";
import { CreateTargetGroupCommand, DescribeTargetHealthCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { DeleteServiceCommand } from "@aws-sdk/client-servicediscovery";
import { GetParameterCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import { createReconcileHandler, parseConfig, readParameter, type ServiceConfig } from "@discovery-sync/core";
import { runServiceTasks, taskIdOf, taskIp } from "@discovery-sync/emulator";
import { CapturingLogger, createPipeline, reconcileRecord, type Pipeline } from "../support/pipeline.js";

/**
 * Runs the real reconcile handler with `service` configured as given (a parsed service edited by the test: the fields
 * the schema derives from `cluster` are derived again); returns its batch response and records.
 */
async function reconcileWith(pipeline: Pipeline, service: ServiceConfig) {
  const logger = new CapturingLogger();
  const { clusterName: _derivedName, clusterArn: _derivedArn, ...input } = service;
  const handler = createReconcileHandler({ config: parseConfig({ services: [input] }), clients: pipeline.clients, logger });
  const response = await handler({ Records: [reconcileRecord(pipeline, "m-1", service.name)] });
  return { response, logger, record: logger.records.at(-1)! };
}

describe("one broken resource breaks nothing else", () => {
  it("a deleted Cloud Map service fails alone, named; the target group and the document still follow the tasks", async () => {
    const pipeline = await createPipeline();
    const serviceId = pipeline.world.cloudMapServiceId!;
    await pipeline.worldClients.serviceDiscovery.send(new DeleteServiceCommand({ Id: serviceId }));
    const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, 2);
    const { response, record } = await reconcileWith(pipeline, pipeline.config.services[0]!);
    // Retried: the Cloud Map service may come back (or the configuration be fixed).
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m-1" }]);
    expect(record.outcome).toBe("failed");
    expect(record.error?.message).toMatch(new RegExp(`^reconcile of service workflow-agent failed: cloudmap\\.read ${serviceId}: `));
    // Read back directly: the pipeline's observe() lists the (deleted) Cloud Map service too.
    const health = await pipeline.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: pipeline.world.targetGroupArns[0]! }));
    expect((health.TargetHealthDescriptions ?? []).map((d) => `${d.Target?.Id}:${d.Target?.Port}`).sort()).toEqual(
      tasks.map((t) => `${taskIp(t)}:50051`).sort(),
    );
    const parameter = await readParameter(pipeline.clients.ssm, pipeline.world.serviceConfig.parameterName);
    expect(parameter.kind === "valid" && parameter.document.endpoints).toHaveLength(2);
  });

  it("a cluster that does not exist fails the reconcile with an error naming the cluster and the service", async () => {
    const pipeline = await createPipeline();
    const service = { ...pipeline.config.services[0]!, cluster: "no-such-cluster" };
    const { record } = await reconcileWith(pipeline, service);
    expect(record.error?.message).toMatch(/^reconcile of service workflow-agent failed: ecs\.read cluster no-such-cluster service workflow-agent: /);
  });
});

describe("inputs refused or reported, never silently accepted", () => {
  it("a target group of TargetType instance gets a clear error and no write, while the rest converges and the group is not held back", async () => {
    const pipeline = await createPipeline();
    const created = await pipeline.worldClients.elbv2.send(
      new CreateTargetGroupCommand({ Name: "by-instance", Protocol: "TCP", Port: 50051, VpcId: pipeline.world.vpcId, TargetType: "instance" }),
    );
    const instanceGroup = created.TargetGroups![0]!.TargetGroupArn!;
    const service = { ...pipeline.config.services[0]!, targetGroupArns: [...pipeline.world.targetGroupArns, instanceGroup] };
    const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, 2);
    const { response, record } = await reconcileWith(pipeline, service);
    // Retrying cannot fix a configuration: the message is not failed (the error is logged, counted and alarmed).
    expect(response.batchItemFailures).toEqual([]);
    expect(record).toMatchObject({ outcome: "failed", error: { reasons: ["TargetGroupTypeError"] } });
    expect(record.error?.message).toContain(`target group ${instanceGroup} of service workflow-agent has TargetType instance`);
    const described = await pipeline.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: instanceGroup }));
    expect(described.TargetHealthDescriptions ?? []).toEqual([]);
    const state = await pipeline.observe();
    expect(state.targets).toEqual(tasks.map((t) => `${taskIp(t)}:50051`).sort());
    expect(Object.keys(state.instances).sort()).toEqual(tasks.map((t) => taskIdOf(t.taskArn!)).sort());
  });

  it("a document of a newer schema version is never overwritten; Cloud Map and the target group still converge", async () => {
    const pipeline = await createPipeline();
    const name = pipeline.world.serviceConfig.parameterName;
    const newer = JSON.stringify({ schemaVersion: 3, service: "workflow-agent", revision: 9, endpoints: "elsewhere" });
    await pipeline.clients.ssm.send(new PutParameterCommand({ Name: name, Value: newer, Type: "String" }));
    const tasks = await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    const { response, record } = await reconcileWith(pipeline, pipeline.config.services[0]!);
    expect(response.batchItemFailures).toEqual([]);
    expect(record).toMatchObject({ outcome: "failed", error: { reasons: ["NewerDocumentError"] } });
    expect(record.error?.message).toContain(`${name} (service workflow-agent) holds a document of schemaVersion 3`);
    expect((await pipeline.clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value).toBe(newer);
    const state = await pipeline.observe();
    expect(state.targets).toEqual([`${taskIp(tasks[0]!)}:50051`]);
  });

  it("a corrupt document is replaced, with a warning that says what was wrong", async () => {
    const pipeline = await createPipeline();
    const name = pipeline.world.serviceConfig.parameterName;
    await pipeline.clients.ssm.send(new PutParameterCommand({ Name: name, Value: '{"schemaVersion":1,"service":"workflow-agent"', Type: "String" }));
    await runServiceTasks(pipeline.worldClients, pipeline.world, 1);
    const { response, logger, record } = await reconcileWith(pipeline, pipeline.config.services[0]!);
    expect(response.batchItemFailures).toEqual([]);
    expect(record.outcome).toBe("changed");
    const warning = logger.entries.find((e) => e.message === "document replaced");
    expect(warning).toMatchObject({ level: "warn", attributes: { serviceName: "workflow-agent", parameterName: name } });
    expect(String(warning?.attributes.reason)).toMatch(/not JSON/);
    expect((await pipeline.observe()).document).toMatchObject({ revision: 2, endpoints: [expect.any(Object)] });
  });
});
