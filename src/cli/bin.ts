#!/usr/bin/env node
/**
 * The bin: runs the bundled CLI, `main.cjs` beside it, compiled from the V8 code cache that
 * `npm run build` made for it (`main.cjs.cache`, see scripts/code-cache.mjs). Compiling the bundle
 * and then each function on its first call is a good part of every call's start-up; with the
 * cache `list --json` starts about 10 ms sooner. Node ≥ 22.1 keeps such a cache itself
 * (`module.enableCompileCache`), so there the bundle is simply required. A cache that does not
 * match this Node (another V8, other flags) is rejected by V8 and the bundle compiles as usual.
 */

import { readFileSync } from "node:fs";
import module, { createRequire } from "node:module";
import { join } from "node:path";
import vm from "node:vm";

const file = join(__dirname, "main.cjs");
const requireFromMain = createRequire(file);
const compileCache = (module as { enableCompileCache?: () => unknown }).enableCompileCache;

if (compileCache) {
  compileCache();
  requireFromMain(file);
} else {
  // No `import()` may run in this script: it has no module loader (the build checks the bundle
  // has none; Node's own for vm scripts is experimental and warns on every use).
  const script = new vm.Script(module.wrap(readFileSync(file, "utf8")), {
    filename: file,
    cachedData: readCache(`${file}.cache`),
  });
  const exports = {};
  script.runInThisContext()(exports, requireFromMain, { exports }, file, __dirname);
}

function readCache(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined; // no cache: V8 compiles the bundle, as without this file
  }
}
