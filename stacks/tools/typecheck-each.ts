// Typechecks every stack on its own (tsc -p <stack>/tsconfig.json), proving each one
// compiles without the rest of the workspace. Slower than `npm run typecheck`, which
// checks all stacks, tools and tests in one program.
//   npx tsx tools/typecheck-each.ts [stack...]
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { STACKS_DIR, listStacks } from "./lib/catalog";

const tsc = path.join(STACKS_DIR, "node_modules", "typescript", "bin", "tsc");
const wanted = process.argv.slice(2);
let failed = 0;
for (const stack of listStacks().filter((s) => wanted.length === 0 || wanted.includes(s))) {
    const started = Date.now();
    const r = spawnSync(process.execPath, [tsc, "-p", path.join(STACKS_DIR, stack, "tsconfig.json"), "--noEmit"], { stdio: "inherit" });
    process.stdout.write(`${r.status === 0 ? "ok  " : "FAIL"} ${stack} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
    if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
