import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ServiceDiscoveryClient, type HttpInstanceSummary } from "@aws-sdk/client-servicediscovery";
import { InvalidOptionError } from "@discovery-sync/client";
import { cloudMapFallback, toEndpoints } from "@discovery-sync/client/cloudmap";

/**
 * A real ServiceDiscoveryClient whose requests never leave the process: a middleware at the `initialize` step answers
 * DiscoverInstancesRevision and DiscoverInstances from the fields below and counts each command.
 */
function fakeCloudMap() {
  const client = new ServiceDiscoveryClient({
    region: "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  const fake = {
    client,
    revision: 1 as number | undefined,
    instances: [] as HttpInstanceSummary[],
    failListing: undefined as Error | undefined,
    calls: {} as Record<string, number>,
    inputs: [] as unknown[],
  };
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const name = String(context.commandName);
      fake.calls[name] = (fake.calls[name] ?? 0) + 1;
      fake.inputs.push(args.input);
      if (name === "DiscoverInstancesRevisionCommand") {
        return { output: { InstancesRevision: fake.revision, $metadata: {} }, response: {} };
      }
      if (fake.failListing !== undefined) throw fake.failListing;
      return { output: { Instances: fake.instances, $metadata: {} }, response: {} };
    },
    { step: "initialize", name: "fakeCloudMapAnswer" },
  );
  return fake;
}

function instance(id: string, ip: string, zone?: string): HttpInstanceSummary {
  return {
    InstanceId: id,
    Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: "50051", ...(zone === undefined ? {} : { AVAILABILITY_ZONE: zone }) },
  };
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-11-25T06:00:00.000Z") });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("cloudMapFallback", () => {
  it("asks for healthy instances of namespace and service, and reuses the list while the revision is unchanged", async () => {
    // Prepare
    const cloudMap = fakeCloudMap();
    cloudMap.instances = [instance("t2", "10.0.0.2", "us-east-1b"), instance("t1", "10.0.0.1", "us-east-1a")];
    const fallback = cloudMapFallback({ namespaceName: "workflow.local", serviceName: "workflow-agent", client: cloudMap.client });

    // Act
    const first = await fallback.resolve();
    const second = await fallback.resolve();

    // Assess
    expect(fallback.name).toBe("cloudmap");
    expect(first).toEqual([
      { address: "10.0.0.1", port: 50051, zone: "us-east-1a", taskId: "t1" },
      { address: "10.0.0.2", port: 50051, zone: "us-east-1b", taskId: "t2" },
    ]);
    expect(second).toBe(first);
    expect(cloudMap.calls).toEqual({ DiscoverInstancesRevisionCommand: 2, DiscoverInstancesCommand: 1 });
    expect(cloudMap.inputs[1]).toEqual({
      NamespaceName: "workflow.local",
      ServiceName: "workflow-agent",
      HealthStatus: "HEALTHY",
      MaxResults: 1_000,
    });
  });

  it("lists again when the revision changes, whether it grows (AWS) or drops (moto on deregister)", async () => {
    // Prepare
    const cloudMap = fakeCloudMap();
    cloudMap.instances = [instance("t1", "10.0.0.1"), instance("t2", "10.0.0.2")];
    const fallback = cloudMapFallback({ namespaceName: "a.local", serviceName: "a", client: cloudMap.client });
    await fallback.resolve();

    // Act
    cloudMap.revision = 5;
    cloudMap.instances = [instance("t1", "10.0.0.1")];
    const afterGrow = await fallback.resolve();
    cloudMap.revision = 2;
    cloudMap.instances = [instance("t3", "10.0.0.3")];
    const afterDrop = await fallback.resolve();

    // Assess
    expect(afterGrow.map((e) => e.address)).toEqual(["10.0.0.1"]);
    expect(afterDrop.map((e) => e.address)).toEqual(["10.0.0.3"]);
    expect(cloudMap.calls.DiscoverInstancesCommand).toBe(3);
  });

  it("lists again after maxListAgeMs even with the same revision, since health changes do not move it", async () => {
    // Prepare
    const cloudMap = fakeCloudMap();
    cloudMap.instances = [instance("t1", "10.0.0.1"), instance("t2", "10.0.0.2")];
    const fallback = cloudMapFallback({
      namespaceName: "a.local",
      serviceName: "a",
      client: cloudMap.client,
      maxListAgeMs: 10_000,
    });
    await fallback.resolve();

    // Act: t2 turns unhealthy (same revision)
    cloudMap.instances = [instance("t1", "10.0.0.1")];
    vi.advanceTimersByTime(9_999);
    const beforeAge = await fallback.resolve();
    vi.advanceTimersByTime(1);
    const atAge = await fallback.resolve();

    // Assess
    expect(beforeAge.map((e) => e.address)).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(atAge.map((e) => e.address)).toEqual(["10.0.0.1"]);
    expect(cloudMap.calls.DiscoverInstancesCommand).toBe(2);
  });

  it("lists on every call when the revision is unknown or maxListAgeMs is 0", async () => {
    // Prepare
    const unknown = fakeCloudMap();
    unknown.revision = undefined;
    const always = fakeCloudMap();
    const fallbacks = [
      cloudMapFallback({ namespaceName: "a.local", serviceName: "a", client: unknown.client }),
      cloudMapFallback({ namespaceName: "a.local", serviceName: "a", client: always.client, maxListAgeMs: 0 }),
    ];

    // Act
    for (const fallback of fallbacks) for (let i = 0; i < 3; i++) await fallback.resolve();

    // Assess
    expect(unknown.calls.DiscoverInstancesCommand).toBe(3);
    expect(always.calls.DiscoverInstancesCommand).toBe(3);
  });

  it("rejects when the listing fails, and lists again on the next call instead of reusing an old list", async () => {
    // Prepare
    const cloudMap = fakeCloudMap();
    cloudMap.instances = [instance("t1", "10.0.0.1")];
    const fallback = cloudMapFallback({ namespaceName: "a.local", serviceName: "a", client: cloudMap.client });
    await fallback.resolve();
    cloudMap.revision = 2;
    cloudMap.failListing = Object.assign(new Error("Rate exceeded"), { name: "RequestLimitExceeded" });

    // Act
    const failed = await fallback.resolve().catch((error: unknown) => error);
    cloudMap.failListing = undefined;
    cloudMap.instances = [instance("t2", "10.0.0.2")];
    const recovered = await fallback.resolve();

    // Assess
    expect(failed).toMatchObject({ name: "RequestLimitExceeded" });
    expect(recovered.map((e) => e.address)).toEqual(["10.0.0.2"]);
  });

  it("validates its options up front, naming the option", () => {
    const client = fakeCloudMap().client;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ namespaceName: "", serviceName: "a" }, "namespaceName"],
      [{ namespaceName: "a.local", serviceName: 3 }, "serviceName"],
      [{ namespaceName: "a.local", serviceName: "a", maxResults: 1_001 }, "maxResults"],
      [{ namespaceName: "a.local", serviceName: "a", maxListAgeMs: -1 }, "maxListAgeMs"],
      [{ namespaceName: "a.local", serviceName: "a", defaultPort: 70_000 }, "defaultPort"],
      [{ namespaceName: "a.local", serviceName: "a", client, clientConfig: {} }, "clientConfig"],
      [{ namespaceName: "a.local", serviceName: "a", client: {} }, "client"],
      [{ namespaceName: "a.local", serviceName: "a", maxAge: 5 }, "maxAge"],
    ];
    for (const [options, option] of cases) {
      let thrown: unknown;
      try {
        cloudMapFallback(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, option).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
    }
  });
});

describe("toEndpoints", () => {
  it("keeps instances with an address and a port, IPv6 included, one per address and port, sorted", () => {
    // Prepare
    const instances: HttpInstanceSummary[] = [
      instance("b", "10.0.0.10"),
      instance("a", "10.0.0.9", "us-east-1a"),
      { InstanceId: "a-again", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.9", AWS_INSTANCE_PORT: "50051" } },
      { InstanceId: "v6", Attributes: { AWS_INSTANCE_IPV6: "fd00::1", AWS_INSTANCE_PORT: "50051" } },
      { InstanceId: "no-port", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.20" } },
      { InstanceId: "bad-port", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.21", AWS_INSTANCE_PORT: "http" } },
      { InstanceId: "no-address", Attributes: { AWS_INSTANCE_PORT: "50051" } },
      { InstanceId: "host-name", Attributes: { AWS_INSTANCE_IPV4: "agent.local", AWS_INSTANCE_PORT: "50051" } },
    ];

    // Act
    const withoutDefault = toEndpoints(instances, undefined);
    const withDefault = toEndpoints(instances, 8080);

    // Assess
    expect(withoutDefault.map((e) => `${e.address}:${e.port}`)).toEqual(["10.0.0.9:50051", "10.0.0.10:50051", "fd00::1:50051"]);
    expect(withoutDefault[0]).toEqual({ address: "10.0.0.9", port: 50051, taskId: "a-again" });
    expect(withDefault.map((e) => `${e.address}:${e.port}`)).toContain("10.0.0.20:8080");
    expect(withDefault.map((e) => e.address)).not.toContain("10.0.0.21");
  });
});
