// The stacks load the way Pulumi loads them: @pulumi/pulumi's own cmd/run registers ts-node
// with the stack directory as cwd, and ts-node compiles only TypeScript outside node_modules.
// stacks/shared/context.ts is imported by relative path, so it must be among the modules
// ts-node compiled, once, by its real path — for a stack without upstreams, one reading
// three of them, and a GCP stack that also uses stacks/shared/gcp.ts. (tools/pulumi-run.cjs;
// the template test runs the rendered template the same way.)
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readStackMeta, stackDir } from "../tools/lib/catalog";
import { runPulumiLoader } from "../tools/lib/run-inspect";

describe("Pulumi's ts-node loader", () => {
    for (const [stack, env] of [["network", "dev"], ["database-rds", "prod"], ["gcp-database", "prod"]] as const) {
        test(`${stack} ${env} runs with the shared context compiled by Pulumi's ts-node`, async () => {
            const run = await runPulumiLoader(stackDir(stack), env);
            assert.deepEqual(run.outputs, [...readStackMeta(stackDir(stack)).outputs].sort());
            assert.ok(run.typescript.includes("shared/context.ts"), run.typescript.join(", "));
            assert.ok(run.typescript.includes(`${stack}/index.ts`), run.typescript.join(", "));
            assert.deepEqual(run.typescript.filter((f) => f.includes("node_modules")), []);
            assert.deepEqual(run.typescript.filter((f) => f.endsWith("/context.ts")), ["shared/context.ts"]);
            if (stack.startsWith("gcp-")) assert.ok(run.typescript.includes("shared/gcp.ts"), run.typescript.join(", "));
        });
    }
});
