#!/usr/bin/env node
// The `discovery-sync` command. A built package runs dist/main.js. In this repository (no build step) it runs the
// TypeScript sources through tsx, with the "source" export condition under which the workspace packages export their
// sources (what `tsx --conditions=source` does for the root scripts), added by a resolve hook so no second process is
// needed.
import { existsSync } from "node:fs";
import { register } from "node:module";

const built = new URL("../dist/main.js", import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    process.stderr.write("discovery-sync: error: no build (dist/) and no tsx to run the sources: run `npm install` in the repository\n");
    process.exit(2);
  }
  tsx.register();
  // Registered after tsx, so it runs first and tsx's resolver sees the condition too.
  register(new URL("./source-condition.js", import.meta.url));
  await import(new URL("../src/main.ts", import.meta.url).href);
}
