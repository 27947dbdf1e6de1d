/**
 * The client as npm publishes it: packed with `npm pack` (whose `prepack` builds it), installed from the tarball into
 * an application outside the repository, and used there the three ways users do: an ESM import, a CommonJS
 * `require()` and a TypeScript type check (`moduleResolution: nodenext`), each of every subpath. The package is built
 * in a temporary copy, so no `dist/` is left in the repository. The optional peers and `@aws-sdk/client-ssm` come from
 * the npm registry (`--prefer-offline`: npm's cache first).
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const packageDir = join(repoRoot, "packages/client");
const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
  name: string;
  version: string;
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
};
const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** The version of a package installed in the repository: the app installs the same ones, most likely from npm's cache. */
function repoVersion(name: string): string {
  return (JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
}

/** Every code subpath of the package (`.`, `./grpc`, ...) as an import specifier. */
const specifiers = Object.entries(manifest.exports)
  .filter(([, target]) => typeof target === "object")
  .map(([subpath]) => (subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`));

/** A name each subpath must export: proof that the right module was loaded, not just something. */
const exportedName: Record<string, string> = {
  "": "createEndpointReader",
  document: "parseEndpointDocument",
  shards: "parseStoredDocument",
  "ssm-shards": "readShardValues",
  grpc: "registerEndpointResolver",
  cloudmap: "cloudMapFallback",
  ecs: "ecsFallback",
  readiness: "classifyTask",
  prometheus: "registerReaderMetrics",
};
const subpathOf = (specifier: string) => specifier.slice(manifest.name.length + 1);

let workDir: string;
let appDir: string;
let packedFiles: string[];

async function sh(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  try {
    return await run(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024 });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}: ${failed.message}\n${failed.stdout ?? ""}\n${failed.stderr ?? ""}`, {
      cause: error,
    });
  }
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "discovery-client-pack-"));
  // Prepare the package in a copy: its build writes dist/ there, never into the repository.
  const copy = join(workDir, "package");
  mkdirSync(copy);
  for (const entry of ["package.json", "README.md", "LICENSE", "schemas", "src"]) {
    cpSync(join(packageDir, entry), join(copy, entry), { recursive: true });
  }
  const buildConfig = JSON.parse(readFileSync(join(packageDir, "tsconfig.build.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(copy, "tsconfig.build.json"), JSON.stringify({ ...buildConfig, extends: join(repoRoot, "tsconfig.json") }));
  // The build's type imports (the AWS SDK, grpc-js, @types/node) resolve through the repository's node_modules; npm
  // pack never packs node_modules.
  symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"), "dir");

  const packed = await sh("npm", ["pack", "--json", "--pack-destination", workDir], copy);
  const [report] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = report!.files.map((file) => file.path);
  const tarball = join(workDir, report!.filename);

  appDir = join(workDir, "app");
  mkdirSync(appDir);
  writeFileSync(join(appDir, "package.json"), JSON.stringify({ name: "discovery-client-pack-app", private: true, version: "1.0.0" }));
  const peers = Object.keys(manifest.peerDependencies).map((name) => `${name}@${repoVersion(name)}`);
  await sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball, ...peers], appDir);
}, 180_000);

afterAll(() => {
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe("the packed @discovery-sync/client", () => {
  it("holds the compiled code, its sources for the maps, the schemas, the README and the LICENSE, and nothing else", () => {
    // Assess
    expect(packedFiles).toEqual(expect.arrayContaining(["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts"]));
    for (const specifier of specifiers) {
      const name = specifier === manifest.name ? "index" : subpathOf(specifier);
      expect(packedFiles).toEqual(expect.arrayContaining([`dist/${name}.js`, `dist/${name}.d.ts`, `dist/${name}.js.map`, `src/${name}.ts`]));
    }
    expect(packedFiles.filter((file) => !/^(dist|src|schemas)\/|^(LICENSE|README\.md|package\.json)$/.test(file))).toEqual([]);
    expect(packedFiles.some((file) => file.endsWith(".tsbuildinfo"))).toBe(false);
  });

  it("has source maps and declaration maps that lead to files the package ships", () => {
    const installed = join(appDir, "node_modules", manifest.name);
    const maps = packedFiles.filter((file) => file.endsWith(".map"));
    expect(maps.length).toBeGreaterThanOrEqual(2 * specifiers.length);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(installed, map), "utf8")) as { sources: string[] };
      for (const source of sources) expect(existsSync(join(installed, dirname(map), source)), `${map} -> ${source}`).toBe(true);
    }
  });

  it("imports every subpath as ESM, and says on Node.js 20 that the AWS SDK will need Node.js 22", async () => {
    // Prepare
    const checks = specifiers.map((specifier) => {
      const name = exportedName[specifier === manifest.name ? "" : subpathOf(specifier)]!;
      return `{ const m = await import(${JSON.stringify(specifier)}); if (typeof m[${JSON.stringify(name)}] !== "function") throw new Error(${JSON.stringify(`${specifier} lacks ${name}`)}); }`;
    });
    writeFileSync(
      join(appDir, "esm.mjs"),
      [
        ...checks,
        `import { createEndpointReader } from "@discovery-sync/client";`,
        `import { ecsFallback } from "@discovery-sync/client/ecs";`,
        // An SSMClient is created at the first read: with the override set, that read never leaves the process.
        `const reader = createEndpointReader({ parameterName: "/discovery/app/endpoints", envOverride: "APP_ENDPOINTS", env: { APP_ENDPOINTS: "localhost:50051" } });`,
        `ecsFallback({ cluster: "workflow", serviceName: "app", port: 50051 });`,
        `const { SSMClient } = await import("@aws-sdk/client-ssm"); new SSMClient({ region: "us-east-1" });`,
        `console.log(JSON.stringify(await reader.endpoints()));`,
      ].join("\n"),
    );

    // Act
    const { stdout, stderr } = await sh("node", ["esm.mjs"], appDir, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "" });

    // Assess
    expect(JSON.parse(stdout)).toEqual([{ address: "localhost", port: 50051 }]);
    const major = Number(process.versions.node.split(".")[0]);
    if (major < 22) {
      expect(stderr).toContain("NodeVersionSupportWarning");
      expect(stderr).toContain("will require node >=22");
    } else {
      expect(stderr).not.toContain("NodeVersionSupportWarning");
    }
  });

  it("loads every subpath with CommonJS require()", async () => {
    // Prepare
    const checks = specifiers.map((specifier) => {
      const name = exportedName[specifier === manifest.name ? "" : subpathOf(specifier)]!;
      return `if (typeof require(${JSON.stringify(specifier)})[${JSON.stringify(name)}] !== "function") throw new Error(${JSON.stringify(`${specifier} lacks ${name}`)});`;
    });
    writeFileSync(join(appDir, "cjs.cjs"), [...checks, `console.log("required ${specifiers.length}");`].join("\n"));

    // Act
    const { stdout } = await sh("node", ["cjs.cjs"], appDir);

    // Assess
    expect(stdout.trim()).toBe(`required ${specifiers.length}`);
  });

  it("type-checks every subpath with moduleResolution nodenext", async () => {
    // Prepare: one use of each subpath's main export, typed, so that its declarations are read
    const imports = specifiers.map((specifier, i) => `import { ${exportedName[specifier === manifest.name ? "" : subpathOf(specifier)]} as export${i} } from ${JSON.stringify(specifier)};`);
    const uses = specifiers.map((_, i) => `const used${i}: Function = export${i};`);
    writeFileSync(
      join(appDir, "check.mts"),
      [
        ...imports,
        ...uses,
        `import { createEndpointReader, type Endpoint, EndpointsUnavailableError } from "@discovery-sync/client";`,
        `import { ecsFallback, type EcsFallbackOptions } from "@discovery-sync/client/ecs";`,
        `import type { EndpointDocument } from "@discovery-sync/client/document";`,
        `const options: EcsFallbackOptions = { cluster: "workflow", serviceName: "app", port: 50051 };`,
        `const reader = createEndpointReader({ parameterName: "/discovery/app/endpoints", fallbacks: [ecsFallback(options)] });`,
        `const list: readonly Endpoint[] = await reader.endpoints().catch((e: unknown) => { if (e instanceof EndpointsUnavailableError) return []; throw e; });`,
        `const doc: EndpointDocument | undefined = reader.current();`,
        `export { list, doc, ${specifiers.map((_, i) => `used${i}`).join(", ")} };`,
      ].join("\n"),
    );
    writeFileSync(
      join(appDir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [join(repoRoot, "node_modules/@types")],
        },
        files: ["check.mts"],
      }),
    );

    // Act and assess: tsc exits non-zero with the errors on stdout
    const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
    const { stdout } = await sh("node", [tsc, "-p", "tsconfig.json"], appDir);
    expect(stdout).toBe("");
  });
});
