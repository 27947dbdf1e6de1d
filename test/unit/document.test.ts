import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import {
  compareEndpoints,
  EndpointDocumentError,
  parseEndpointDocument,
  sameEndpointContent,
  serializeEndpointDocument,
  type EndpointDocument,
} from "@discovery-sync/client/document";

const schema = JSON.parse(readFileSync(new URL("../../packages/client/schemas/endpoint-document.v1.json", import.meta.url), "utf8"));
const ajv = new Ajv2020({ strict: false });
addFormats.default(ajv);
const validateWithJsonSchema = ajv.compile(schema);

const valid: EndpointDocument = {
  schemaVersion: 1,
  service: "workflow-agent",
  revision: 7,
  generatedAt: "2026-11-23T12:00:00.000Z",
  endpoints: [{ address: "10.0.1.5", port: 50051, zone: "us-east-1a", taskId: "c13b4cb40f1f4fe4a2971f76ae5a47ad" }],
  draining: [],
};

const invalid: Array<[string, unknown, string]> = [
  ["not an object", [], "$"],
  ["wrong schema version", { ...valid, schemaVersion: 2 }, "schemaVersion"],
  ["empty service", { ...valid, service: "" }, "service"],
  ["revision 0", { ...valid, revision: 0 }, "revision"],
  ["fractional revision", { ...valid, revision: 1.5 }, "revision"],
  ["local time", { ...valid, generatedAt: "2026-11-23T12:00:00+01:00" }, "generatedAt"],
  ["hostname address", { ...valid, endpoints: [{ address: "example.com", port: 1 }] }, "endpoints[0].address"],
  ["bad IPv4", { ...valid, endpoints: [{ address: "10.0.1.256", port: 1 }] }, "endpoints[0].address"],
  ["port 0", { ...valid, endpoints: [{ address: "10.0.0.1", port: 0 }] }, "endpoints[0].port"],
  ["port 65536", { ...valid, draining: [{ address: "10.0.0.1", port: 65536 }] }, "draining[0].port"],
  ["port as text", { ...valid, endpoints: [{ address: "10.0.0.1", port: "80" }] }, "endpoints[0].port"],
  ["missing draining", { ...valid, draining: undefined }, "draining"],
  ["empty zone", { ...valid, endpoints: [{ address: "10.0.0.1", port: 1, zone: "" }] }, "endpoints[0].zone"],
];

describe("endpoint document", () => {
  it("accepts a valid document, as text or value, and the JSON Schema agrees", () => {
    expect(parseEndpointDocument(valid)).toEqual(valid);
    expect(parseEndpointDocument(serializeEndpointDocument(valid))).toEqual(valid);
    expect(validateWithJsonSchema(JSON.parse(serializeEndpointDocument(valid)))).toBe(true);
  });

  it("accepts IPv6 addresses and drops unknown fields", () => {
    const doc = parseEndpointDocument({ ...valid, extra: true, endpoints: [{ address: "fd00::1", port: 443, weight: 3 }] });
    expect(doc.endpoints).toEqual([{ address: "fd00::1", port: 443 }]);
    expect("extra" in doc).toBe(false);
  });

  it.each(invalid)("refuses %s, naming the field, and the JSON Schema refuses it too", (_, value, path) => {
    expect(() => parseEndpointDocument(value)).toThrowError(EndpointDocumentError);
    try {
      parseEndpointDocument(value);
    } catch (error) {
      expect((error as EndpointDocumentError).path).toBe(path);
    }
    expect(validateWithJsonSchema(value)).toBe(false);
  });

  it("refuses text that is not JSON, quoting it", () => {
    expect(() => parseEndpointDocument("{not json")).toThrowError(/not JSON \(given "\{not json"\)/);
  });

  it("serialises with a fixed key order and compares content without revision or time", () => {
    const reordered = { draining: [], endpoints: valid.endpoints, generatedAt: valid.generatedAt, revision: 7, service: valid.service, schemaVersion: 1 as const };
    expect(serializeEndpointDocument(reordered)).toBe(serializeEndpointDocument(valid));
    expect(sameEndpointContent(valid, { ...valid, revision: 8, generatedAt: "2027-01-01T00:00:00Z" })).toBe(true);
    expect(sameEndpointContent(valid, { ...valid, endpoints: [] })).toBe(false);
  });
});

describe("compareEndpoints", () => {
  it("orders addresses numerically, IPv4 before IPv6, then by port", () => {
    const sorted = [
      { address: "fd00::10", port: 1 },
      { address: "10.0.0.10", port: 2 },
      { address: "10.0.0.9", port: 5 },
      { address: "fd00::9", port: 1 },
      { address: "10.0.0.10", port: 1 },
      { address: "10.105.0.1", port: 1 },
      { address: "10.90.0.1", port: 1 },
    ].sort(compareEndpoints);
    expect(sorted.map((e) => `${e.address}/${e.port}`)).toEqual([
      "10.0.0.9/5",
      "10.0.0.10/1",
      "10.0.0.10/2",
      "10.90.0.1/1",
      "10.105.0.1/1",
      "fd00::9/1",
      "fd00::10/1",
    ]);
  });
});
