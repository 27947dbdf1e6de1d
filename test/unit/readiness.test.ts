import { describe, expect, it } from "vitest";
import * as core from "@discovery-sync/core";
import {
  classifyTask,
  needsTaskDefinition,
  observeTask,
  taskDefinitionFactsOf,
  type ObservedTask,
  type TaskDefinitionFacts,
} from "@discovery-sync/client/readiness";
import type { Task, TaskDefinition } from "@aws-sdk/client-ecs";

const taskArn = "arn:aws:ecs:us-east-1:123456789012:task/workflow/c13b4cb40f1f4fe4a2971f76ae5a47ad";
const withEni: Task = {
  taskArn,
  group: "service:workflow-agent",
  lastStatus: "RUNNING",
  desiredStatus: "RUNNING",
  healthStatus: "HEALTHY",
  availabilityZone: "us-east-1a",
  taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/workflow-agent:1",
  version: 3,
  attachments: [{ type: "eni", details: [{ name: "privateIPv4Address", value: "10.0.1.5" }] }],
};
const noHealthCheck: TaskDefinitionFacts = { networkMode: "awsvpc", hasContainerHealthCheck: false };
const withHealthCheck: TaskDefinitionFacts = { networkMode: "awsvpc", hasContainerHealthCheck: true };

const observe = (patch: Partial<Task>): ObservedTask => observeTask({ ...withEni, ...patch });

describe("observeTask", () => {
  it("takes the id, IP, zone and version", () => {
    expect(observeTask(withEni)).toMatchObject({
      taskId: "c13b4cb40f1f4fe4a2971f76ae5a47ad",
      privateIpv4: "10.0.1.5",
      hasEni: true,
      availabilityZone: "us-east-1a",
      version: 3,
    });
  });

  it("reads the IP of an ElasticNetworkInterface attachment, or of the container's interface", () => {
    expect(observe({ attachments: [{ type: "ElasticNetworkInterface", details: [{ name: "privateIPv4Address", value: "10.0.2.9" }] }] }).privateIpv4).toBe("10.0.2.9");
    expect(
      observe({ attachments: [{ type: "eni", details: [] }], containers: [{ networkInterfaces: [{ privateIpv4Address: "10.0.3.3" }] }] }).privateIpv4,
    ).toBe("10.0.3.3");
    expect(observe({ attachments: [] }).hasEni).toBe(false);
  });
});

describe("classifyTask", () => {
  it.each<[string, Partial<Task>, TaskDefinitionFacts | undefined, string]>([
    ["running and healthy", {}, withHealthCheck, "ready"],
    ["health UNKNOWN without a health check", { healthStatus: "UNKNOWN" }, noHealthCheck, "ready"],
    ["health missing without a health check", { healthStatus: undefined }, noHealthCheck, "ready"],
    ["health UNKNOWN with a health check", { healthStatus: "UNKNOWN" }, withHealthCheck, "not-ready"],
    ["health UNKNOWN, definition unknown", { healthStatus: "UNKNOWN" }, undefined, "not-ready"],
    ["unhealthy", { healthStatus: "UNHEALTHY" }, noHealthCheck, "not-ready"],
    ["pending", { lastStatus: "PENDING" }, noHealthCheck, "not-ready"],
    ["no IP yet", { attachments: [{ type: "eni", details: [] }] }, noHealthCheck, "not-ready"],
    ["told to stop while running", { desiredStatus: "STOPPED" }, withHealthCheck, "draining"],
    ["told to stop while unhealthy", { desiredStatus: "STOPPED", healthStatus: "UNHEALTHY" }, withHealthCheck, "draining"],
    ["deactivating", { desiredStatus: "STOPPED", lastStatus: "DEACTIVATING" }, withHealthCheck, "draining"],
    ["stopped", { desiredStatus: "STOPPED", lastStatus: "STOPPED" }, withHealthCheck, "not-ready"],
    ["stopped before it ran", { desiredStatus: "STOPPED", lastStatus: "PENDING" }, withHealthCheck, "not-ready"],
    ["bridge network mode", { attachments: [] }, { networkMode: "bridge", hasContainerHealthCheck: false }, "unsupported"],
    ["running without an ENI, definition unknown", { attachments: [], healthStatus: "HEALTHY" }, undefined, "unsupported"],
  ])("%s", (_, patch, facts, kind) => {
    expect(classifyTask(observe(patch), facts).kind).toBe(kind);
  });

  it("gives the address of ready and draining tasks, and the reason otherwise", () => {
    expect(classifyTask(observe({}), withHealthCheck)).toEqual({ kind: "ready", address: "10.0.1.5" });
    expect(classifyTask(observe({ healthStatus: "UNHEALTHY" }), withHealthCheck)).toEqual({ kind: "not-ready", reason: "healthStatus UNHEALTHY" });
  });
});

describe("needsTaskDefinition", () => {
  it.each<[string, Partial<Task>, boolean]>([
    ["running with UNKNOWN health", { healthStatus: "UNKNOWN" }, true],
    ["running without a health status", { healthStatus: undefined }, true],
    ["running and HEALTHY", {}, false],
    ["running and UNHEALTHY", { healthStatus: "UNHEALTHY" }, false],
    ["pending with UNKNOWN health", { lastStatus: "PENDING", healthStatus: "UNKNOWN" }, false],
    ["no task definition ARN", { healthStatus: "UNKNOWN", taskDefinitionArn: undefined }, false],
  ])("%s", (_, patch, expected) => {
    expect(needsTaskDefinition(observe(patch))).toBe(expected);
  });
});

describe("taskDefinitionFactsOf", () => {
  it("sees a container health check only when it has a command", () => {
    // Prepare
    const withCheck: TaskDefinition = {
      networkMode: "awsvpc",
      containerDefinitions: [{ name: "sidecar" }, { name: "app", healthCheck: { command: ["CMD", "grpc_health_probe"] } }],
    };
    const emptyCheck: TaskDefinition = { networkMode: "bridge", containerDefinitions: [{ name: "app", healthCheck: { command: [] } }] };

    // Assess
    expect(taskDefinitionFactsOf(withCheck)).toEqual({ networkMode: "awsvpc", hasContainerHealthCheck: true });
    expect(taskDefinitionFactsOf(emptyCheck)).toEqual({ networkMode: "bridge", hasContainerHealthCheck: false });
    expect(taskDefinitionFactsOf({})).toEqual({ networkMode: undefined, hasContainerHealthCheck: false });
  });
});

describe("one readiness rule for the reconciler and the client", () => {
  it("is the client's code, re-exported by the core under the same names", () => {
    expect(core.classifyTask).toBe(classifyTask);
    expect(core.observeTask).toBe(observeTask);
    expect(core.needsTaskDefinition).toBe(needsTaskDefinition);
  });
});
