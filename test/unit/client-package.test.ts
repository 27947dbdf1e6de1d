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
  license: string;
  repository: { type: string; url: string; directory: string };
  homepage: string;
  files: string[];
  sideEffects: boolean;
  scripts: Record<string, string>;
};
const optionalPeers = ["@grpc/grpc-js", "@aws-sdk/client-servicediscovery", "@aws-sdk/client-ecs", "prom-client"];

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
    ["ecs", "@aws-sdk/client-ecs"],
    ["prometheus", "prom-client"],
  ])("keeps %s's peer dependency behind its own subpath", async (entry, peer) => {
    const imported = await packagesImportedBy(entry);
    expect(imported.has(peer)).toBe(true);
    const others = optionalPeers.filter((p) => p !== peer);
    for (const other of others) expect(imported.has(other)).toBe(false);
  });

  it("keeps the readiness rule free of any package import (the core and the ECS fallback share it)", async () => {
    expect([...(await packagesImportedBy("readiness"))]).toEqual([]);
  });

  it("takes dependencies and peers by range, so an app's own SDK version is shared instead of duplicated", () => {
    // ~ for grpc-js: the resolver uses its experimental API (registerResolver, the resolver listener), which changed
    // shape between minor versions.
    for (const [name, range] of Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      expect(range, name).toMatch(name === "@grpc/grpc-js" ? /^~\d+\.\d+\.\d+$/ : /^\^\d+\.\d+\.\d+$/);
    }
  });

  it("ships its license, its sources for the source maps, and says where it comes from", () => {
    // Assess
    expect(manifest.license).toBe("Apache-2.0");
    expect(readFileSync(`${packageDir}LICENSE`, "utf8")).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(manifest.files).toEqual(expect.arrayContaining(["LICENSE", "README.md", "src", "dist"]));
    const buildConfig = JSON.parse(readFileSync(`${packageDir}tsconfig.build.json`, "utf8")) as { compilerOptions: Record<string, unknown> };
    // The maps point at ../src/*.ts: shipped, so a debugger and "go to definition" land on real code.
    expect(buildConfig.compilerOptions).toMatchObject({ sourceMap: true, declarationMap: true, rootDir: "src", outDir: "dist" });
    expect(manifest.repository).toEqual({
      type: "git",
      url: "git+https://github.com/discovery-sync/discovery-sync.git",
      directory: "packages/client",
    });
    expect(manifest.homepage).toMatch(/^https:\/\/github\.com\/discovery-sync\/discovery-sync\//);
  });

  it("has a README that stands alone on npm: no relative link out of the package", () => {
    const readme = readFileSync(`${packageDir}README.md`, "utf8");
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      if (/^https:\/\//.test(target) || target.startsWith("#")) continue;
      // A relative link must name a file the tarball has.
      expect(target, target).not.toMatch(/^\.\.\//);
      const file = target.replace(/^\.\//, "").replace(/#.*$/, "");
      expect(manifest.files.some((entry) => file === entry || file.startsWith(`${entry}/`)), target).toBe(true);
      expect(existsSync(`${packageDir}${file}`), target).toBe(true);
    }
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
        "@discovery-sync/client/ecs",
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
