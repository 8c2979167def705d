// Regenerates stacks/<name>/inspect/<env>.json for every stack and environment with
// deployment D000000, org `organization`, project `ecommerce` (npm run snapshots).
//
// Upstream stacks go first: a mocked StackReference answers with the upstream's
// snapshot outputs, so a stack's snapshot depends on its upstreams' snapshots.
//   npx tsx tools/snapshots.ts [stack...]
import * as fs from "node:fs";
import * as path from "node:path";
import { ENVIRONMENTS, listStacks, readStackMeta, snapshotPath, stackDir, topologicalOrder } from "./lib/catalog";
import { limited, runInspect, snapshotText } from "./lib/run-inspect";

async function main(): Promise<void> {
    const all = topologicalOrder(listStacks().map((s) => readStackMeta(stackDir(s))));
    const wanted = process.argv.slice(2);
    for (const w of wanted) if (!all.includes(w)) throw new Error(`unknown stack '${w}'`);
    for (const stack of all.filter((s) => wanted.length === 0 || wanted.includes(s))) {
        const results = await limited(2, ENVIRONMENTS.map((env) => () => runInspect(stack, env)));
        ENVIRONMENTS.forEach((env, i) => {
            const file = snapshotPath(stack, env);
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, snapshotText(results[i].doc));
        });
        const counts = results.map((r, i) => `${ENVIRONMENTS[i]} ${r.doc.resources.length}`).join(", ");
        process.stdout.write(`${stack}: ${counts} resources\n`);
    }
}

main().catch((e) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
});
