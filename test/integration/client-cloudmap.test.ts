import { describe, expect, it } from "vitest";
import { SSMClient } from "@aws-sdk/client-ssm";
import {
  CreateHttpNamespaceCommand,
  CreateServiceCommand,
  DeregisterInstanceCommand,
  ListNamespacesCommand,
  RegisterInstanceCommand,
  ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { createEndpointReader } from "@discovery-sync/client";
import { cloudMapFallback } from "@discovery-sync/client/cloudmap";
import { isolatedAccount } from "../support/aws.js";
import { requestCounter } from "@discovery-sync/emulator";

async function cloudMapService(admin: ServiceDiscoveryClient, namespace: string, service: string): Promise<string> {
  await admin.send(new CreateHttpNamespaceCommand({ Name: namespace }));
  const { Namespaces } = await admin.send(new ListNamespacesCommand({}));
  const namespaceId = Namespaces?.find((n) => n.Name === namespace)?.Id;
  if (namespaceId === undefined) throw new Error(`namespace ${namespace} was not created`);
  const created = await admin.send(new CreateServiceCommand({ Name: service, NamespaceId: namespaceId }));
  return created.Service!.Id!;
}

function register(admin: ServiceDiscoveryClient, serviceId: string, id: string, ip: string, zone?: string) {
  return admin.send(
    new RegisterInstanceCommand({
      ServiceId: serviceId,
      InstanceId: id,
      Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: "50051", ...(zone === undefined ? {} : { AVAILABILITY_ZONE: zone }) },
    }),
  );
}

/** Records every InstancesRevision a client receives, in order. */
function revisionRecorder(client: ServiceDiscoveryClient): Array<number | undefined> {
  const seen: Array<number | undefined> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === "DiscoverInstancesRevisionCommand") {
        seen.push((result.output as { InstancesRevision?: number }).InstancesRevision);
      }
      return result;
    },
    { step: "initialize", name: "recordInstancesRevision" },
  );
  return seen;
}

describe("Cloud Map fallback against the emulator", () => {
  it("serves Cloud Map's healthy instances when the SSM parameter is missing, refetching only when the revision changes", async () => {
    // Prepare
    const account = isolatedAccount();
    const admin = account.client(ServiceDiscoveryClient);
    const serviceId = await cloudMapService(admin, "workflow.local", "workflow-agent");
    await register(admin, serviceId, "task-1", "10.0.0.1", "us-east-1a");
    await register(admin, serviceId, "task-2", "10.0.0.2", "us-east-1b");
    const discovery = account.client(ServiceDiscoveryClient);
    const counter = requestCounter();
    discovery.middlewareStack.use(counter.plugin);
    const revisions = revisionRecorder(discovery);
    const reasons: string[] = [];
    const reader = createEndpointReader({
      parameterName: "/discovery/workflow-agent/endpoints",
      ssmClient: account.client(SSMClient),
      lambdaExtension: false,
      fallbacks: [cloudMapFallback({ namespaceName: "workflow.local", serviceName: "workflow-agent", client: discovery })],
    });
    reader.on("error", (e) => reasons.push(`${e.source}:${e.reason}`));
    const listings = () => counter.count("DiscoverInstancesCommand");
    const addresses = async () => (await reader.endpoints()).map((e) => e.address);

    try {
      // Act 1: cold load, then a refresh with nothing changed
      const first = await reader.endpoints();
      const listingsAfterLoad = listings();
      await reader.refresh();
      const listingsAfterUnchanged = listings();

      // Act 2: one task leaves. Each change is refreshed on its own: moto's revision is the sum of per-instance
      // counters of the instances present, so "deregister one, register another" lands back on the same number
      // (AWS's revision only grows). The fallback compares for equality, which is right for both.
      await admin.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: "task-1" }));
      await reader.refresh();
      const listingsAfterLeave = listings();
      const afterLeave = await addresses();

      // Act 3: another task arrives
      await register(admin, serviceId, "task-3", "10.0.0.3", "us-east-1a");
      await reader.refresh();
      const listingsAfterArrive = listings();
      const afterArrive = await addresses();

      // Assess
      expect(first).toEqual([
        { address: "10.0.0.1", port: 50051, zone: "us-east-1a", taskId: "task-1" },
        { address: "10.0.0.2", port: 50051, zone: "us-east-1b", taskId: "task-2" },
      ]);
      expect(reader.status().source).toBe("cloudmap");
      expect(reasons.length).toBeGreaterThanOrEqual(4);
      expect(new Set(reasons)).toEqual(new Set(["ssm:not-found"]));
      // The test's premise: each change moved the revision away from the one before it (on moto it goes 2, 2, 1, 2),
      // and the unchanged refresh saw the same one.
      expect(revisions).toHaveLength(4);
      expect(revisions[1]).toBe(revisions[0]);
      expect(revisions[2]).not.toBe(revisions[1]);
      expect(revisions[3]).not.toBe(revisions[2]);
      expect([listingsAfterLoad, listingsAfterUnchanged, listingsAfterLeave, listingsAfterArrive]).toEqual([1, 1, 2, 3]);
      expect(counter.count("DiscoverInstancesRevisionCommand")).toBe(4);
      expect(afterLeave).toEqual(["10.0.0.2"]);
      expect(afterArrive).toEqual(["10.0.0.2", "10.0.0.3"]);
    } finally {
      reader.close();
    }
  });

  it("builds its own client with disableHostPrefix when an endpoint is configured", async () => {
    // Prepare: without disableHostPrefix the SDK would send DiscoverInstances to data-127.0.0.1
    const account = isolatedAccount();
    const admin = account.client(ServiceDiscoveryClient);
    const serviceId = await cloudMapService(admin, "orders.local", "orders");
    await register(admin, serviceId, "task-9", "10.0.9.9");
    const { disableHostPrefix: _ignored, ...config } = account.clientConfig;
    const fallback = cloudMapFallback({ namespaceName: "orders.local", serviceName: "orders", clientConfig: config });

    // Act: the fallback's own client cannot take the account plugin, so it reads the default emulator account;
    // what matters here is that the request reaches the emulator at all (no ENOTFOUND data-127.0.0.1).
    const outcome = await fallback.resolve().then(
      (list) => ({ ok: true as const, list }),
      (error: unknown) => ({ ok: false as const, error }),
    );

    // Assess
    if (!outcome.ok) expect(String(outcome.error)).not.toMatch(/ENOTFOUND|data-127/);
  });

  it("refuses an injected client with a custom endpoint but the host prefix still on", () => {
    const account = isolatedAccount();
    const client = new ServiceDiscoveryClient({ ...account.clientConfig, disableHostPrefix: false });
    expect(() => cloudMapFallback({ namespaceName: "a.local", serviceName: "a", client })).toThrow(/disableHostPrefix/);
  });
});
