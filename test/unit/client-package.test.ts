import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { build } from "esbuild";

const packageDir = fileURLToPath(new URL("../../packages/client/", import.meta.url));
const manifest = JSON.parse(readFileSync(`${packageDir}package.json`, "utf8")) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, string | Record<string, string>>;
  files: string[];
  sideEffects: boolean;
  scripts: Record<string, string>;
};
const optionalPeers = ["@grpc/grpc-js", "@aws-sdk/client-servicediscovery", "prom-client"];

/** Every bare (package) import reachable from an entry of the package's sources, as esbuild's metafile sees it. */
async function packagesImportedBy(entry: string): Promise<Set<string>> {
  const result = await build({
    entryPoints: [`${packageDir}src/${entry}.ts`],
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "silent",
  });
  const imported = new Set<string>();
  for (const input of Object.values(result.metafile.inputs)) {
    for (const edge of input.imports) if (edge.external === true) imported.add(edge.path);
  }
  return imported;
}

describe("@discovery-sync/client package", () => {
  it("imports only @aws-sdk/client-ssm and Node built-ins from its main entry", async () => {
    const imported = await packagesImportedBy("index");
    const nonBuiltin = [...imported].filter((path) => !path.startsWith("node:"));
    expect(nonBuiltin).toEqual(["@aws-sdk/client-ssm"]);
    for (const peer of optionalPeers) expect(imported.has(peer)).toBe(false);
  });

  it.each([
    ["grpc", "@grpc/grpc-js"],
    ["cloudmap", "@aws-sdk/client-servicediscovery"],
    ["prometheus", "prom-client"],
  ])("keeps %s's peer dependency behind its own subpath", async (entry, peer) => {
    const imported = await packagesImportedBy(entry);
    expect(imported.has(peer)).toBe(true);
    const others = optionalPeers.filter((p) => p !== peer);
    for (const other of others) expect(imported.has(other)).toBe(false);
  });

  it("declares one runtime dependency and the integrations as optional peers", () => {
    expect(Object.keys(manifest.dependencies)).toEqual(["@aws-sdk/client-ssm"]);
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual([...optionalPeers].sort());
    for (const peer of optionalPeers) expect(manifest.peerDependenciesMeta[peer]?.optional).toBe(true);
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.files).toContain("dist");
    expect(manifest.scripts.build).toContain("tsconfig.build.json");
  });

  it("ships every file it lists in files (dist is built by prepack)", () => {
    // Prepare: plain entries only; "!..." entries exclude, and dist exists only after a build
    const listed = manifest.files.filter((entry) => !entry.startsWith("!") && entry !== "dist");

    // Assess
    expect(listed).toContain("README.md");
    for (const entry of listed) expect(existsSync(`${packageDir}${entry}`), `${entry} is listed in files`).toBe(true);
  });

  it("has a README whose imports from the package name real exports of real entry points", async () => {
    // Prepare
    const readme = readFileSync(`${packageDir}README.md`, "utf8");
    const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    const imports = snippets.flatMap((code) =>
      [...code.matchAll(/import \{([^}]+)\} from "(@discovery-sync\/client[^"]*)"/g)].map((match) => ({
        names: match[1]!.split(",").map((name) => name.trim()).filter((name) => name !== "" && !name.startsWith("type ")),
        specifier: match[2]!,
      })),
    );

    // Assess
    expect(imports.map((entry) => entry.specifier).sort()).toEqual(
      expect.arrayContaining([
        "@discovery-sync/client",
        "@discovery-sync/client/cloudmap",
        "@discovery-sync/client/grpc",
        "@discovery-sync/client/prometheus",
      ]),
    );
    for (const { names, specifier } of imports) {
      expect(Object.keys(manifest.exports)).toContain(`.${specifier.slice("@discovery-sync/client".length)}`);
      const module = (await import(specifier)) as Record<string, unknown>;
      for (const name of names) expect(module[name], `${name} from ${specifier}`).toBeDefined();
    }
    for (const subpath of Object.keys(manifest.exports)) {
      if (subpath === "." || subpath === "./package.json") continue;
      expect(readme).toContain(`@discovery-sync/client/${subpath.slice(2)}`);
    }
  });

  it("names every subpath export after its source file (the convention vitest.config.ts aliases by)", () => {
    const sources = new Set(readdirSync(`${packageDir}src`));
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target === "string") continue; // plain files: package.json, the JSON schema
      const name = subpath === "." ? "index" : subpath.slice(2);
      expect(target).toEqual({ source: `./src/${name}.ts`, types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` });
      expect(sources.has(`${name}.ts`)).toBe(true);
    }
  });
});
