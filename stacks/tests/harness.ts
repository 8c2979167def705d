// Shared checks for every stack, run under Pulumi's mock runtime (through tools/inspect.ts).
//
// describeStack(name, assertions) evaluates the program for dev, stage and prod, plus a
// variant run (dev, no stack.yaml defaults, another org and project), and checks:
//  - the committed snapshot stacks/<name>/inspect/<env>.json is up to date;
//  - StackReferences are exactly depends_on, named <org>/<project>/<deploymentId>-<dep>-<env>,
//    with org and project taken from config;
//  - every stack.yaml output is exported, and every upstream output read is declared upstream;
//  - every taggable resource carries the five cloud-engine tags (GCP: as labels);
//  - config keys read == the four base keys + stack.yaml config + required_config, and the
//    program's own defaults equal the stack.yaml defaults;
//  - the stack's own per-environment assertions.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { before, describe, test } from "node:test";
import { BASE_CONFIG_KEYS, ENVIRONMENTS, Environment, StackMeta, readStackMeta, snapshotPath, stackDir } from "../tools/lib/catalog";
import { tagsOf } from "../tools/lib/evaluate";
import type { InspectDoc, ResourceDoc } from "../tools/lib/evaluate";
import { InspectResult, limited, runInspect, snapshotText } from "../tools/lib/run-inspect";

export type EnvAssertions = Partial<Record<Environment, (doc: InspectDoc) => void>>;

const VARIANT = { org: "acme-corp", project: "shop" };

/** Resources of a type. */
export function ofType(doc: InspectDoc, type: string): ResourceDoc[] {
    return doc.resources.filter((r) => r.type === type);
}

/** How many resources of a type. */
export function count(doc: InspectDoc, type: string): number {
    return ofType(doc, type).length;
}

/** The only resource of a type (fails when there are none or several). */
export function only(doc: InspectDoc, type: string): ResourceDoc {
    const found = ofType(doc, type);
    assert.equal(found.length, 1, `expected exactly one ${type}, found ${found.length}`);
    return found[0];
}

/** Replaces every string equal to `from` (deeply) — used to compare the variant run. */
function replaceStrings(v: unknown, map: Record<string, string>): unknown {
    if (typeof v === "string") {
        let s = v;
        for (const [from, to] of Object.entries(map)) s = s === from ? to : s.split(`${from}/`).join(`${to}/`);
        return s;
    }
    if (Array.isArray(v)) return v.map((x) => replaceStrings(x, map));
    if (v && typeof v === "object") {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceStrings(x, map)]));
    }
    return v;
}

export function describeStack(name: string, assertions: EnvAssertions): void {
    describe(`stack ${name}`, () => {
        const meta: StackMeta = readStackMeta(stackDir(name));
        const results = {} as Record<Environment, InspectResult>;
        let variant: InspectResult;

        before(async () => {
            const runs = await limited(2, [
                ...ENVIRONMENTS.map((env) => () => runInspect(name, env)),
                () => runInspect(name, "dev", ["--no-stack-defaults", "--org", VARIANT.org, "--project", VARIANT.project]),
            ]);
            ENVIRONMENTS.forEach((env, i) => (results[env] = runs[i]));
            variant = runs[3];
        });

        for (const env of ENVIRONMENTS) {
            describe(env, () => {
                test("snapshot is up to date (npm run snapshots)", () => {
                    const file = snapshotPath(name, env);
                    assert.ok(fs.existsSync(file), `missing ${file}: run npm run snapshots`);
                    assert.equal(fs.readFileSync(file, "utf8"), snapshotText(results[env].doc), `${file} is stale: run npm run snapshots`);
                });

                test("StackReferences are exactly depends_on", () => {
                    const expected = meta.depends_on.map((d) => `organization/ecommerce/D000000-${d}-${env}`).sort();
                    assert.deepEqual([...results[env].doc.stackReferences].sort(), expected);
                });

                test("exports every stack.yaml output", () => {
                    const exported = Object.keys(results[env].doc.outputs);
                    for (const o of meta.outputs) assert.ok(exported.includes(o), `output ${o} is not exported`);
                    for (const [o, v] of Object.entries(results[env].doc.outputs)) {
                        assert.ok(v !== null && v !== "", `output ${o} is empty`);
                    }
                });

                test("reads only outputs its upstreams declare", () => {
                    for (const [ref, names] of Object.entries(results[env].diagnostics.upstreamOutputsRead)) {
                        const upstream = ref.split("/")[2].slice("D000000-".length, -(`-${env}`.length));
                        assert.ok(meta.depends_on.includes(upstream), `reads ${ref}, not in depends_on`);
                        const declared = readStackMeta(stackDir(upstream)).outputs;
                        for (const n of names) assert.ok(declared.includes(n), `${upstream} does not declare output ${n}`);
                    }
                });

                test("tags every taggable resource", () => {
                    assert.deepEqual(results[env].diagnostics.untagged, []);
                    for (const r of results[env].doc.resources) {
                        const tags = tagsOf(r);
                        if (!tags) continue;
                        // Google Cloud label values are lowercase.
                        const deploymentId = r.type.startsWith("gcp:") ? "d000000" : "D000000";
                        assert.equal(tags["deployment-id"], deploymentId, `${r.name}`);
                        assert.equal(tags.environment, env, `${r.name}`);
                        assert.equal(tags.stack, name, `${r.name}`);
                        assert.equal(tags.project, "ecommerce", `${r.name}`);
                        assert.equal(tags["managed-by"], "cloud-engine", `${r.name}`);
                    }
                });

                test("names every resource after the Pulumi stack", () => {
                    for (const r of results[env].doc.resources) {
                        assert.ok(r.name.startsWith(`D000000-${name}-${env}`), `${r.type} ${r.name}`);
                    }
                });

                const own = assertions[env];
                if (own) test(`${name} ${env} resources`, () => own(results[env].doc));
            });
        }

        test("config keys read are exactly the declared ones", () => {
            const read = new Set(ENVIRONMENTS.flatMap((env) => results[env].diagnostics.configRead));
            const declared = new Set<string>([...BASE_CONFIG_KEYS, ...Object.keys(meta.config), ...meta.required_config]);
            assert.deepEqual([...read].sort(), [...declared].sort());
        });

        test("org and project come from config; code defaults equal stack.yaml defaults", () => {
            assert.deepEqual(
                [...variant.doc.stackReferences].sort(),
                meta.depends_on.map((d) => `${VARIANT.org}/${VARIANT.project}/D000000-${d}-dev`).sort(),
            );
            assert.equal(variant.doc.org, VARIANT.org);
            const normalized = replaceStrings(
                { resources: variant.doc.resources, outputs: variant.doc.outputs },
                { [VARIANT.project]: "ecommerce", [VARIANT.org]: "organization" },
            );
            assert.deepEqual(normalized, { resources: results.dev.doc.resources, outputs: results.dev.doc.outputs });
        });

        test("prod declares at least as many resources as dev", () => {
            assert.ok(results.prod.doc.resources.length >= results.dev.doc.resources.length);
        });
    });
}
