// The catalog as a whole: the 16 AWS stacks of the platform design and the 4 GCP stacks,
// their metadata files, the dependency graph, and the files every stack directory must have.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import {
    BASE_CONFIG_KEYS,
    ENVIRONMENTS,
    REPO_DIR,
    STACKS_DIR,
    listStacks,
    parseStackMeta,
    readStackMeta,
    snapshotPath,
    stackDir,
    topologicalOrder,
} from "../tools/lib/catalog";

/** depends_on from the platform design (docs/design.md). */
const DESIGN: Record<string, string[]> = {
    network: [],
    security: ["network"],
    dns: ["network"],
    secrets: ["security"],
    authentication: ["security", "dns"],
    storage: ["security"],
    "database-rds": ["network", "security", "secrets"],
    "containers-images": ["security"],
    "containers-apps": ["containers-images"],
    "services-ecr": ["security"],
    "services-ecs": ["network", "security", "services-ecr"],
    "services-eks": ["network", "security"],
    "services-api": ["network", "dns", "authentication", "services-ecs"],
    "compute-ec2": ["network", "security"],
    "compute-lambda": ["network", "security", "secrets"],
    monitoring: ["network", "database-rds", "services-ecs", "services-api"],
    // Google Cloud (a project with `provider: gcp`): the same roles on GCP services.
    "gcp-network": [],
    "gcp-compute": ["gcp-network"],
    "gcp-database": ["gcp-network"],
    "gcp-storage": [],
};

/** The cloud a stack deploys to. stack.yaml has no field for it (the Rust catalog's schema
 *  is strict), so it is the name: `gcp-*` stacks are Google Cloud, the others AWS. */
const provider = (stack: string): "aws" | "gcp" => (stack.startsWith("gcp-") ? "gcp" : "aws");

const read = (...p: string[]) => fs.readFileSync(path.join(...p), "utf8");
const rootPkg = () => JSON.parse(read(STACKS_DIR, "package.json")) as { workspaces: string[]; dependencies: Record<string, string> };

describe("catalog", () => {
    const stacks = listStacks();

    test("has exactly the stacks of the design: 16 on AWS, 4 on GCP", () => {
        assert.deepEqual(stacks, Object.keys(DESIGN).sort());
        assert.equal(stacks.filter((s) => provider(s) === "aws").length, 16);
        assert.equal(stacks.filter((s) => provider(s) === "gcp").length, 4);
    });

    test("depends_on matches the design and the graph is acyclic", () => {
        const metas = stacks.map((s) => readStackMeta(stackDir(s)));
        for (const m of metas) assert.deepEqual([...m.depends_on].sort(), [...DESIGN[m.name]].sort(), m.name);
        const order = topologicalOrder(metas);
        for (const m of metas) for (const d of m.depends_on) assert.ok(order.indexOf(d) < order.indexOf(m.name));
        for (const m of metas) for (const d of m.depends_on) assert.equal(provider(d), provider(m.name), `${m.name} → ${d} crosses clouds`);
    });

    test("the npm workspace lists every stack", () => {
        const pkg = JSON.parse(read(STACKS_DIR, "package.json"));
        assert.deepEqual([...pkg.workspaces].sort(), stacks);
        assert.equal(pkg.private, true);
    });

    test("stack.yaml schema rejects unknown and missing keys", () => {
        const ok = "name: x\ndescription: d\ndepends_on: []\nrequired_config: []\nconfig: {}\noutputs: []\n";
        assert.equal(parseStackMeta("t", ok).name, "x");
        assert.throws(() => parseStackMeta("t", `${ok}extra: 1\n`), /unknown key 'extra'/);
        assert.throws(() => parseStackMeta("t", ok.replace("outputs: []\n", "")), /missing key 'outputs'/);
        assert.throws(() => parseStackMeta("t", ok.replace("config: {}", "config: {a: [1]}")), /config.a/);
        assert.equal(parseStackMeta("t", ok).provider, "aws");
        assert.equal(parseStackMeta("t", `${ok}provider: gcp\n`).provider, "gcp");
        assert.throws(() => parseStackMeta("t", `${ok}provider: azure\n`), /provider must be one of aws, gcp/);
    });

    test("one shared context in stacks/shared; no stack and no template carries a copy", () => {
        const shared = path.join(STACKS_DIR, "shared");
        assert.ok(fs.existsSync(path.join(shared, "context.ts")), "stacks/shared/context.ts");
        assert.ok(!fs.existsSync(path.join(shared, "stack.yaml")), "stacks/shared is not a stack");
        assert.ok(!stacks.includes("shared"));
        // Not a workspace package: it is reached by relative import, never through node_modules
        // (Pulumi's ts-node does not compile TypeScript under node_modules).
        assert.ok(!rootPkg().workspaces.includes("shared"));
        assert.ok(!fs.existsSync(path.join(STACKS_DIR, "node_modules", "@cloud-engine", "shared")));
        // The only definition of loadContext under stacks/ and templates/ is the shared one.
        const definers: string[] = [];
        const walk = (d: string) => {
            for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                if (e.name === "node_modules" || e.name.startsWith(".")) continue;
                const p = path.join(d, e.name);
                if (e.isDirectory()) walk(p);
                else if (/\.ts(\.template)?$/.test(e.name) && /export function loadContext\(/.test(fs.readFileSync(p, "utf8"))) {
                    definers.push(path.relative(REPO_DIR, p));
                }
            }
        };
        walk(STACKS_DIR);
        walk(path.join(REPO_DIR, "templates"));
        assert.deepEqual(definers, [path.join("stacks", "shared", "context.ts")]);
    });

    for (const name of Object.keys(DESIGN)) {
        describe(name, () => {
            const dir = stackDir(name);

            test("stack.yaml is valid and its name is the directory", () => {
                const meta = readStackMeta(dir);
                assert.equal(meta.name, name);
                assert.ok(meta.outputs.length > 0, "exports something");
                for (const k of [...Object.keys(meta.config), ...meta.required_config]) {
                    assert.ok(!(BASE_CONFIG_KEYS as readonly string[]).includes(k), `${k} is supplied by the engine`);
                }
                for (const k of meta.required_config) assert.ok(!(k in meta.config), `${k} is required and has a default`);
            });

            test("Pulumi.yaml names the stack and runs index.ts on nodejs", () => {
                const y = parse(read(dir, "Pulumi.yaml"));
                assert.deepEqual(Object.keys(y).sort(), ["description", "main", "name", "runtime"]);
                assert.equal(y.name, name);
                assert.equal(y.runtime, "nodejs");
                assert.equal(y.main, "index.ts");
                assert.equal(y.description, readStackMeta(dir).description);
            });

            test("package.json and tsconfig.json", () => {
                const pkg = JSON.parse(read(dir, "package.json"));
                assert.equal(pkg.name, `@cloud-engine/stack-${name}`);
                assert.equal(pkg.version, "0.7.0");
                assert.equal(pkg.private, true);
                assert.ok(pkg.dependencies["@pulumi/pulumi"] && pkg.dependencies[`@pulumi/${provider(name)}`]);
                const other = provider(name) === "aws" ? "@pulumi/gcp" : "@pulumi/aws";
                assert.ok(!(other in pkg.dependencies), `an ${provider(name)} stack does not depend on ${other}`);
                for (const [dep, range] of Object.entries(pkg.dependencies as Record<string, string>)) {
                    assert.equal(range, rootPkg().dependencies[dep], `${dep} has the workspace root's range`);
                }
                // The same @pulumi/pulumi range as the workspace root, so the stack and
                // stacks/shared/context.ts load one copy of it (stacks/node_modules).
                assert.equal(pkg.dependencies["@pulumi/pulumi"], rootPkg().dependencies["@pulumi/pulumi"]);
                assert.ok(!fs.existsSync(path.join(dir, "node_modules", "@pulumi", "pulumi")), "a nested @pulumi/pulumi would not be the shared context's");
                const ts = JSON.parse(read(dir, "tsconfig.json"));
                assert.equal(ts.extends, "../tsconfig.base.json");
                assert.ok(ts.include.includes("../shared/**/*.ts"), "tsconfig includes the shared code");
            });

            test("index.ts at the root, components under src/, context from stacks/shared", () => {
                assert.ok(fs.existsSync(path.join(dir, "index.ts")));
                const src = fs.readdirSync(path.join(dir, "src"));
                assert.ok(src.length >= 1, "at least one component");
                assert.ok(!src.includes("context.ts"), "src/context.ts is a copy: import ../shared/context instead");
                const index = read(dir, "index.ts");
                assert.match(index, /^import \{ [^}]*\bloadContext\b[^}]* \} from "\.\.\/shared\/context";$/m, "index.ts loads the shared context");
                const all = [index, ...src.map((f) => read(dir, "src", f))].join("\n");
                assert.doesNotMatch(all, /from "\.\/(src\/)?context"/, "no stack-local context module");
                assert.match(all, /extends pulumi\.ComponentResource/);
                assert.doesNotMatch(all, /["'`]organization\//, "the org is never hard-coded");
                const other = provider(name) === "aws" ? "@pulumi/gcp" : "@pulumi/aws";
                assert.doesNotMatch(all, new RegExp(`from "${other}"`), `an ${provider(name)} stack imports no ${other}`);
            });

            test("docs/README.md documents every config key and output", () => {
                const doc = read(dir, "docs", "README.md");
                const meta = readStackMeta(dir);
                for (const k of [...Object.keys(meta.config), ...meta.required_config]) assert.ok(doc.includes(`\`${k}\``), `config ${k}`);
                for (const o of meta.outputs) assert.ok(doc.includes(`\`${o}\``), `output ${o}`);
                for (const d of meta.depends_on) assert.ok(doc.includes(d), `upstream ${d}`);
            });

            test("has a snapshot per environment and no other", () => {
                for (const env of ENVIRONMENTS) assert.ok(fs.existsSync(snapshotPath(name, env)), `${name}/inspect/${env}.json`);
                assert.deepEqual(fs.readdirSync(path.join(dir, "inspect")).sort(), ENVIRONMENTS.map((e) => `${e}.json`).sort());
            });
        });
    }
});
