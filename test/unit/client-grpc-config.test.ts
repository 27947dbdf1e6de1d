import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "@discovery-sync/client";
import { discoveryChannelOptions, discoveryServiceConfig, registerEndpointResolver } from "@discovery-sync/client/grpc";

// The resolver's channel configuration, without network: the service config it sends with every list (retry policy,
// throttling) and the keepalive channel options, their defaults, overrides and refusals. What they do on real
// connections is in test/integration/client-grpc-resilience.test.ts.

let schemeCounter = 0;

describe("channel configuration", () => {
  it("retries UNAVAILABLE and CANCELLED 3 times with a throttle by default, and takes overrides", () => {
    expect(discoveryServiceConfig("round_robin", undefined)).toEqual({
      loadBalancingConfig: [{ round_robin: {} }],
      methodConfig: [
        {
          name: [{}],
          retryPolicy: {
            maxAttempts: 3,
            initialBackoff: "0.1s",
            maxBackoff: "1s",
            backoffMultiplier: 2,
            retryableStatusCodes: ["UNAVAILABLE", "CANCELLED"],
          },
        },
      ],
      retryThrottling: { maxTokens: 100, tokenRatio: 0.1 },
    });
    expect(
      discoveryServiceConfig("pick_first", {
        maxAttempts: 2,
        initialBackoffMs: 50,
        retryableStatusCodes: ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
        throttling: false,
      }),
    ).toEqual({
      loadBalancingConfig: [{ pick_first: {} }],
      methodConfig: [
        {
          name: [{}],
          retryPolicy: {
            maxAttempts: 2,
            initialBackoff: "0.05s",
            maxBackoff: "1s",
            backoffMultiplier: 2,
            retryableStatusCodes: ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
          },
        },
      ],
    });
    expect(discoveryServiceConfig("round_robin", false)).toEqual({ loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] });
  });

  it("sets keepalive at 330 s with a 20 s timeout and no pings without calls by default", () => {
    expect(discoveryChannelOptions(undefined)).toEqual({
      "grpc.keepalive_time_ms": 330_000,
      "grpc.keepalive_timeout_ms": 20_000,
      "grpc.keepalive_permit_without_calls": 0,
    });
    expect(discoveryChannelOptions({ timeMs: 30_000, permitWithoutCalls: true })).toMatchObject({
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_permit_without_calls": 1,
    });
    expect(discoveryChannelOptions(false)).toEqual({});
  });

  it.each([
    [{ retryPolicy: { maxAttempts: 6 } }, "retryPolicy.maxAttempts", 6],
    [{ retryPolicy: { maxAttempts: 1 } }, "retryPolicy.maxAttempts", 1],
    [{ retryPolicy: { initialBackoffMs: 500, maxBackoffMs: 100 } }, "retryPolicy.maxBackoffMs", 100],
    [{ retryPolicy: { backoffMultiplier: 0.5 } }, "retryPolicy.backoffMultiplier", 0.5],
    [{ retryPolicy: { retryableStatusCodes: ["OK"] } }, "retryPolicy.retryableStatusCodes", ["OK"]],
    [{ retryPolicy: { retryableStatusCodes: [] } }, "retryPolicy.retryableStatusCodes", []],
    [{ retryPolicy: { throttling: { maxTokens: 0, tokenRatio: 0.1 } } }, "retryPolicy.throttling.maxTokens", 0],
    [{ retryPolicy: { attempts: 3 } }, "retryPolicy.attempts", 3],
    [{ keepalive: { timeMs: 1_000 } }, "keepalive.timeMs", 1_000],
    [{ keepalive: { permitWithoutCalls: 1 } }, "keepalive.permitWithoutCalls", 1],
    [{ readyTimeoutMs: 0 }, "readyTimeoutMs", 0],
  ])("refuses %j when registering, naming the option and the value", (options, option, value) => {
    let caught: unknown;
    try {
      registerEndpointResolver({ scheme: `config-bad-${++schemeCounter}`, ...(options as object) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect(caught).toMatchObject({ option, value });
  });
});
