// templates/stack renders into a stack that typechecks inside the workspace and runs under
// the mock runtime; templates/docs render with every placeholder replaced.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_DIR, STACKS_DIR, parseStackMeta } from "../tools/lib/catalog";
import { PLACEHOLDERS, render, renderTree, varsFor } from "../tools/lib/render";
import { runInspect, runPulumiLoader } from "../tools/lib/run-inspect";

const TEMPLATES = path.join(REPO_DIR, "templates");
// A direct child of stacks/, so `../tsconfig.base.json` and node_modules resolve as for a real stack.
const OUT = path.join(STACKS_DIR, ".tmp-example");
const VARS = varsFor("example", "Example stack rendered by the template test", ["network"]);

const STACK_FILES = [
    "index.ts", "src/component-example.ts", "src/outputs.ts", "Pulumi.yaml",
    "package.json", "tsconfig.json", "stack.yaml", "docs/README.md",
];
const DOC_FILES = [
    "Stack_Prompt_Main.md", "Stack_Prompt_Extra.md", "Stack_Definitions.md", "Stack_Resources.md",
    "Stack_History_Errors.md", "Stack_History_Fixes.md", "Stack_History.md",
];

describe("templates", () => {
    before(() => {
        fs.rmSync(OUT, { recursive: true, force: true });
        renderTree(path.join(TEMPLATES, "stack"), OUT, VARS);
    });
    after(() => fs.rmSync(OUT, { recursive: true, force: true }));

    test("render() refuses unknown and leftover placeholders", () => {
        assert.equal(render("a {{STACK_NAME}} b", VARS), "a example b");
        assert.throws(() => render("{{NOPE}}", VARS), /unknown placeholder \{\{NOPE\}\}/);
        assert.throws(() => render("{{ STACK_NAME }}", VARS), /left after rendering/);
    });

    test("templates/stack has every expected file and uses only known placeholders", () => {
        for (const f of STACK_FILES) assert.ok(fs.existsSync(path.join(OUT, f)), `missing ${f}`);
        const used = new Set<string>();
        const walk = (d: string) => {
            for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                const p = path.join(d, e.name);
                if (e.isDirectory()) walk(p);
                else if (e.name.endsWith(".template")) for (const m of fs.readFileSync(p, "utf8").matchAll(/\{\{([A-Z_]+)\}\}/g)) used.add(m[1]);
            }
        };
        // The stack and docs templates are this renderer's; deployment manifest templates
        // (templates/default, templates/minimal) are rendered and validated by the Rust catalog.
        walk(path.join(TEMPLATES, "stack"));
        walk(path.join(TEMPLATES, "docs"));
        assert.deepEqual([...used].sort(), [...PLACEHOLDERS].sort(), "every placeholder is used, and no other");
    });

    test("the rendered stack uses stacks/shared/context.ts and carries no copy", () => {
        assert.ok(!fs.existsSync(path.join(OUT, "src", "context.ts")), "the template renders a src/context.ts");
        assert.match(fs.readFileSync(path.join(OUT, "index.ts"), "utf8"), /^import \{ [^}]*\bloadContext\b[^}]* \} from "\.\.\/shared\/context";$/m);
        assert.ok(JSON.parse(fs.readFileSync(path.join(OUT, "tsconfig.json"), "utf8")).include.includes("../shared/**/*.ts"));
    });

    test("the rendered stack.yaml follows the catalog schema", () => {
        const meta = parseStackMeta("stack.yaml", fs.readFileSync(path.join(OUT, "stack.yaml"), "utf8"));
        assert.equal(meta.name, "example");
        assert.deepEqual(meta.depends_on, ["network"]);
    });

    test("the rendered stack typechecks inside the workspace", () => {
        const tsc = path.join(STACKS_DIR, "node_modules", "typescript", "bin", "tsc");
        execFileSync(process.execPath, [tsc, "-p", path.join(OUT, "tsconfig.json"), "--noEmit"], { cwd: STACKS_DIR, stdio: "pipe" });
    });

    test("the rendered stack runs under the mock runtime", async () => {
        const { doc, diagnostics } = await runInspect("example", "dev", ["--dir", OUT]);
        assert.deepEqual(doc.stackReferences, ["organization/ecommerce/D000000-network-dev"]);
        assert.deepEqual(Object.keys(doc.outputs), ["exampleLogGroupName"]);
        assert.deepEqual(diagnostics.untagged, []);
        assert.equal(doc.resources.find((r) => r.type === "aws:cloudwatch/logGroup:LogGroup")?.inputs.retentionInDays, 7);
    });

    test("the rendered stack loads under Pulumi's own ts-node loader, shared context included", async () => {
        const run = await runPulumiLoader(OUT, "dev");
        assert.deepEqual(run.outputs, ["exampleLogGroupName"]);
        assert.ok(run.typescript.includes("shared/context.ts"), run.typescript.join(", "));
        assert.ok(run.typescript.includes(".tmp-example/index.ts"), run.typescript.join(", "));
    });

    test("templates/docs render with every placeholder replaced", () => {
        for (const f of DOC_FILES) {
            const src = path.join(TEMPLATES, "docs", `${f}.template`);
            assert.ok(fs.existsSync(src), `missing ${src}`);
            const out = render(fs.readFileSync(src, "utf8"), VARS, src);
            assert.ok(out.includes("example"), `${f} names the stack`);
        }
    });
});
