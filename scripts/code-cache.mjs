/**
 * Makes `dist/cli/main.cjs.cache`: V8's code cache of the bundled CLI, which the bin compiles
 * from (src/cli/bin.ts). It is made after a real call — `list` over a registry of two agents — so
 * that the functions a call runs are in it, not only the bundle's top level. A cache is good only
 * for the Node that made it (V8 version and flags); any other Node rejects it and compiles as
 * usual. Run by `npm run build`, after the bundle is built.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import module, { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli");
const main = join(cli, "main.cjs");
const cacheFile = `${main}.cache`;
const source = readFileSync(main, "utf8");

// The bin runs the bundle as a vm script, which has no loader for `import()`: a dynamic import
// left in it (esbuild keeps those of external packages) would fail at run time, so fail here.
const dynamicImport = /(?<![\w$.])import\(/.exec(source);
if (dynamicImport) {
  const around = source.slice(dynamicImport.index - 60, dynamicImport.index + 60);
  throw new Error(`${main} has an import(): require the module instead (…${around}…)`);
}

if (process.argv[2] === "--child") {
  // The call the cache is made from: this process runs the bundle as the bin would.
  const script = new vm.Script(module.wrap(source), { filename: main });
  process.argv = [process.argv[0], join(cli, "bin.cjs"), ...process.argv.slice(3), "list"];
  process.on("exit", () => writeFileSync(cacheFile, script.createCachedData()));
  const exports = {};
  script.runInThisContext()(exports, createRequire(main), { exports }, main, cli);
} else if ("enableCompileCache" in module) {
  rmSync(cacheFile, { force: true }); // this Node's bin does not read one (see src/cli/bin.ts)
} else {
  rmSync(cacheFile, { force: true });
  const dir = mkdtempSync(join(tmpdir(), "agentmux-registry-code-cache-"));
  try {
    // Every path given, and no AGENTMUX_* variable passed on: nothing outside `dir` is touched.
    const paths = ["--root", join(dir, "registry"), "--agents-base", join(dir, "agents")];
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith("AGENTMUX_")),
    );
    const run = (args) => {
      const child = spawnSync(process.execPath, args, { encoding: "utf8", env });
      if (child.status !== 0)
        throw new Error(`${args.join(" ")}: ${child.status}\n${child.stderr}`);
    };
    for (const name of ["first", "second"]) {
      run([join(cli, "bin.cjs"), ...paths, "create", "--name", name, "--definition", "d"]);
    }
    run([fileURLToPath(import.meta.url), "--child", ...paths]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
