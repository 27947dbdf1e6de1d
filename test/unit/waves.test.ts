import { Readable } from "node:stream";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { HttpResponse } from "@smithy/protocol-http";
import { describe, expect, it } from "vitest";
import { countWaves, waveCounter } from "@discovery-sync/emulator";
import { deferred } from "./client-fake-ssm.js";

function fakeClock() {
  let time = 0;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

describe("countWaves", () => {
  it("counts overlapping intervals as one wave and a later, disjoint one as another", () => {
    expect(countWaves([{ start: 0, end: 5 }, { start: 1, end: 4 }, { start: 6, end: 9 }])).toBe(2);
  });

  it("keeps a chain of overlaps in one wave even when its first and last requests do not overlap", () => {
    expect(countWaves([{ start: 0, end: 3 }, { start: 2, end: 6 }, { start: 5, end: 8 }])).toBe(1);
  });

  it("opens a new wave for a request that starts exactly when the previous one ended", () => {
    expect(countWaves([{ start: 0, end: 2 }, { start: 2, end: 4 }, { start: 4, end: 6 }])).toBe(3);
  });

  it("does not depend on the order intervals are given in, and counts a request still in flight", () => {
    expect(countWaves([{ start: 10, end: Infinity }, { start: 0, end: 1 }, { start: 11, end: 12 }])).toBe(2);
    expect(countWaves([])).toBe(0);
  });
});

describe("waveCounter.track with fake timed requests", () => {
  it("puts overlapping requests in one wave and sequential ones in a wave each", async () => {
    // Prepare
    const clock = fakeClock();
    const counter = waveCounter({ now: clock.now });
    counter.start();
    const listTasks = deferred();
    const listInstances = deferred();

    // Act: two reads in flight together, released in the opposite order, then two writes one after the other.
    const reads = Promise.all([
      counter.track("ListTasks", () => listTasks.promise),
      counter.track("ListInstances", () => listInstances.promise),
    ]);
    clock.advance(3);
    listInstances.resolve();
    clock.advance(2);
    listTasks.resolve();
    await reads;
    clock.advance(1);
    await counter.track("RegisterInstance", async () => void clock.advance(4));
    await counter.track("PutParameter", async () => void clock.advance(4));
    const measurement = counter.stop();

    // Assess
    expect(measurement.waves).toBe(3);
    expect(measurement.calls).toBe(4);
    expect(measurement.callsByOperation).toEqual({ ListTasks: 1, ListInstances: 1, RegisterInstance: 1, PutParameter: 1 });
    expect(measurement.requests.map((request) => [request.operation, request.wave])).toEqual([
      ["ListTasks", 1],
      ["ListInstances", 1],
      ["RegisterInstance", 2],
      ["PutParameter", 3],
    ]);
    expect(measurement.requests[0]).toMatchObject({ startedAt: 0, endedAt: 5 });
    expect(measurement.spanMs).toBe(14);
  });

  it("joins a request that starts while an earlier one is still in flight to that one's wave", async () => {
    // Prepare
    const counter = waveCounter();
    counter.start();
    const slow = deferred();

    // Act: a long read, and two short requests one after the other while it is still in flight.
    const slowRead = counter.track("DescribeTasks", () => slow.promise);
    await counter.track("GetParameter", async () => undefined);
    await counter.track("PutParameter", async () => undefined);
    slow.resolve();
    await slowRead;
    await counter.track("SendMessage", async () => undefined);

    // Assess
    expect(counter.waves()).toBe(2);
    expect(counter.callsByOperation()).toEqual({ DescribeTasks: 1, GetParameter: 1, PutParameter: 1, SendMessage: 1 });
  });

  it("records only inside a window, and a new window forgets the last one", async () => {
    // Prepare
    const counter = waveCounter();
    const leftOver = deferred();

    // Act
    await counter.track("GetParameter", async () => undefined);
    counter.start();
    const straddling = counter.track("ListTasks", () => leftOver.promise);
    const first = counter.stop();
    counter.start();
    await counter.track("PutParameter", async () => undefined);
    leftOver.resolve();
    await straddling;
    await counter.track("PutParameter", async () => undefined);
    const second = counter.stop();
    await counter.track("GetParameter", async () => undefined);

    // Assess: the first window saw one unfinished request; the second two sequential writes, untouched by it.
    expect(first.calls).toBe(1);
    expect(first.requests[0]?.endedAt).toBeUndefined();
    expect(second.callsByOperation).toEqual({ PutParameter: 2 });
    expect(second.waves).toBe(2);
    expect(counter.measurement().calls).toBe(2);
  });

  it("counts a failed request and ends it, so the next request opens a new wave", async () => {
    const counter = waveCounter();
    counter.start();

    await expect(counter.track("RegisterTargets", async () => Promise.reject(new Error("throttled")))).rejects.toThrow(
      "throttled",
    );
    await counter.track("RegisterTargets", async () => undefined);

    expect(counter.stop()).toMatchObject({ calls: 2, waves: 2, callsByOperation: { RegisterTargets: 2 } });
  });
});

describe("waveCounter.plugin on an SDK v3 client (fake HTTP handler, no network)", () => {
  function ssmWithFakeHandler(answer: (target: string) => Promise<HttpResponse>) {
    return new SSMClient({
      region: "us-east-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      maxAttempts: 2,
      requestHandler: {
        handle: async (request: { headers: Record<string, string> }) => ({
          response: await answer(request.headers["x-amz-target"] ?? ""),
        }),
      },
    });
  }

  function jsonResponse(statusCode: number, body: unknown): HttpResponse {
    return new HttpResponse({
      statusCode,
      headers: { "content-type": "application/x-amz-json-1.1" },
      body: Readable.from([Buffer.from(JSON.stringify(body))]),
    });
  }

  it("names requests by operation and counts parallel calls as one wave, a following call as the next", async () => {
    // Prepare
    const releases: Array<() => void> = [];
    const ssm = ssmWithFakeHandler(
      (target) =>
        new Promise((resolve) =>
          releases.push(() =>
            resolve(
              jsonResponse(
                200,
                target.endsWith("PutParameter") ? { Version: 2 } : { Parameter: { Name: "/p", Value: "v", Version: 1 } },
              ),
            ),
          ),
        ),
    );
    const counter = waveCounter();
    ssm.middlewareStack.use(counter.plugin);
    counter.start();

    // Act: both reads reach the handler before either is answered.
    const reads = Promise.all([
      ssm.send(new GetParameterCommand({ Name: "/a" })),
      ssm.send(new GetParameterCommand({ Name: "/b" })),
    ]);
    while (releases.length < 2) await new Promise((resolve) => setImmediate(resolve));
    for (const release of releases.splice(0)) release();
    const [a] = await reads;
    const write = ssm.send(new PutParameterCommand({ Name: "/a", Value: "w", Overwrite: true }));
    while (releases.length < 1) await new Promise((resolve) => setImmediate(resolve));
    releases.shift()?.();
    const written = await write;
    const measurement = counter.stop();

    // Assess
    expect(a.Parameter?.Value).toBe("v");
    expect(written.Version).toBe(2);
    expect(measurement.callsByOperation).toEqual({ GetParameter: 2, PutParameter: 1 });
    expect(measurement.waves).toBe(2);
    expect(measurement.requests.map((request) => request.input?.["Name"])).toEqual(["/a", "/b", "/a"]);
  });

  it("counts every retry attempt as a request of its own", async () => {
    // Prepare: the first attempt fails with a retryable 500, the second succeeds.
    let attempts = 0;
    const ssm = ssmWithFakeHandler(async () => {
      attempts += 1;
      return attempts === 1
        ? jsonResponse(500, { __type: "InternalServerError", message: "try again" })
        : jsonResponse(200, { Parameter: { Name: "/p", Value: "v", Version: 1 } });
    });
    const counter = waveCounter();
    ssm.middlewareStack.use(counter.plugin);
    counter.start();

    // Act
    const answer = await ssm.send(new GetParameterCommand({ Name: "/p" }));
    const measurement = counter.stop();

    // Assess: two attempts, one after the other, with the retry's backoff between them.
    expect(answer.Parameter?.Value).toBe("v");
    expect(attempts).toBe(2);
    expect(measurement.callsByOperation).toEqual({ GetParameter: 2 });
    expect(measurement.waves).toBe(2);
  });
});
