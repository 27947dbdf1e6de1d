/**
 * The in-memory Parameter Store the unit tests' fake SSM clients answer from follows the AWS rules the writer and the
 * reader depend on (shared/AWS-FACTS.md): if it were more lenient than SSM, the tests built on it would pass code that
 * fails on AWS.
 */
import { describe, expect, it } from "vitest";
import { fakeParameterStore } from "./fake-parameter-store.js";

const name = "/discovery/a/endpoints";
const bytes = (n: number) => "x".repeat(n);

describe("the fake Parameter Store", () => {
  it("resolves Intelligent-Tiering by size, never downgrades, and refuses values over a tier's limit", () => {
    const store = fakeParameterStore();
    expect(store.answer("PutParameterCommand", { Name: name, Value: bytes(4_096), Tier: "Intelligent-Tiering" })).toEqual({ Version: 1, Tier: "Standard" });
    expect(store.answer("PutParameter", { Name: name, Value: bytes(4_097), Tier: "Intelligent-Tiering", Overwrite: true })).toEqual({ Version: 2, Tier: "Advanced" });
    expect(store.answer("PutParameter", { Name: name, Value: "small", Tier: "Intelligent-Tiering", Overwrite: true })).toEqual({ Version: 3, Tier: "Advanced" });
    expect(() => store.answer("PutParameter", { Name: name, Value: "small", Tier: "Standard", Overwrite: true })).toThrow(/can't downgrade/);
    expect(() => store.answer("PutParameter", { Name: name, Value: bytes(8_193), Tier: "Advanced", Overwrite: true })).toThrow(/maximum parameter value of 8192/);
    expect(() => store.answer("PutParameter", { Name: "/other", Value: bytes(4_097), Tier: "Standard" })).toThrow(/maximum parameter value of 4096/);
    expect(() => store.answer("PutParameter", { Name: name, Value: "again" })).toThrow(expect.objectContaining({ name: "ParameterAlreadyExists" }));
    expect(store.history(name).map((v) => [v.version, v.tier])).toEqual([
      [1, "Standard"],
      [2, "Advanced"],
      [3, "Advanced"],
    ]);
  });

  it("answers selectors, at most 10 names, and names it cannot resolve as invalid", () => {
    const store = fakeParameterStore();
    store.put(name, "one");
    store.put(name, "two");
    expect(store.answer("GetParameter", { Name: `${name}:1` })).toMatchObject({ Parameter: { Name: name, Value: "one", Version: 1 } });
    expect(() => store.answer("GetParameter", { Name: `${name}:9` })).toThrow(expect.objectContaining({ name: "ParameterVersionNotFound" }));
    expect(() => store.answer("GetParameter", { Name: "/missing" })).toThrow(expect.objectContaining({ name: "ParameterNotFound" }));
    const answer = store.answer("GetParameters", { Names: [`${name}:1`, name, "/missing"] }) as { Parameters: { Value: string }[]; InvalidParameters: string[] };
    expect(answer.Parameters.map((p) => p.Value).sort()).toEqual(["one", "two"]);
    expect(answer.InvalidParameters).toEqual(["/missing"]);
    expect(() => store.answer("GetParameters", { Names: Array.from({ length: 11 }, (_, i) => `/p${i}`) })).toThrow(
      expect.objectContaining({ name: "ValidationException" }),
    );
  });

  it("deletes what exists, reports the rest invalid, and starts a recreated name again at version 1", () => {
    const store = fakeParameterStore();
    store.put(name, "one");
    store.put(name, "two");
    expect(store.answer("DeleteParameters", { Names: [name, "/missing"] })).toEqual({ DeletedParameters: [name], InvalidParameters: ["/missing"] });
    expect(store.get(name)).toBeUndefined();
    expect(store.put(name, "three")).toBe(1);
  });

  it("lists one level under a path, in pages with a NextToken", () => {
    const store = fakeParameterStore();
    for (let i = 0; i < 5; i++) store.put(`${name}/shards/${i}`, "s");
    store.put(`${name}/shards/1/deeper`, "s");
    store.pageSize = 2;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = store.answer("GetParametersByPath", { Path: `${name}/shards`, ...(token === undefined ? {} : { NextToken: token }) }) as {
        Parameters: { Name: string }[];
        NextToken?: string;
      };
      expect(page.Parameters.length).toBeLessThanOrEqual(2);
      names.push(...page.Parameters.map((p) => p.Name));
      token = page.NextToken;
    } while (token !== undefined);
    expect(names.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${name}/shards/${i}`));
  });
});
