// The stack catalog as the tools and tests see it: the stack directories and their
// stack.yaml metadata (the same file the Rust catalog reads).
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

/** `stacks/` — the npm workspace root. */
export const STACKS_DIR = path.resolve(__dirname, "..", "..");
/** The repository root (holds `templates/`). */
export const REPO_DIR = path.resolve(STACKS_DIR, "..");

export const ENVIRONMENTS = ["dev", "stage", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The config every stack requires, supplied by the engine rather than by stack.yaml. */
export const BASE_CONFIG_KEYS = ["deploymentId", "environment", "org", "project"] as const;

/** Values the offline tools use for `required_config` keys (a manifest sets the real ones). */
export const SAMPLE_REQUIRED_CONFIG: Record<string, string> = {
    domainName: "ecommerce.example.com",
};

export type ConfigValue = string | number | boolean;

/** stack.yaml, exactly. */
export interface StackMeta {
    name: string;
    description: string;
    depends_on: string[];
    required_config: string[];
    config: Record<string, ConfigValue>;
    outputs: string[];
    /** The cloud the program targets: `aws` (default) or `gcp`. */
    provider: Provider;
}

export type Provider = "aws" | "gcp";
export const PROVIDERS: readonly Provider[] = ["aws", "gcp"];

const KEYS = ["name", "description", "depends_on", "required_config", "config", "outputs"];
/** Keys a stack.yaml may leave out. */
const OPTIONAL_KEYS = ["provider"];

function fail(file: string, msg: string): never {
    throw new Error(`${file}: ${msg}`);
}

function stringList(file: string, key: string, v: unknown): string[] {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
        fail(file, `${key} must be a list of strings`);
    }
    return v as string[];
}

/** Parses and validates one stack.yaml (no missing and no extra keys). */
export function parseStackMeta(file: string, text: string): StackMeta {
    const doc = parse(text) as Record<string, unknown>;
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
        fail(file, "must be a mapping");
    }
    for (const k of Object.keys(doc)) {
        if (!KEYS.includes(k) && !OPTIONAL_KEYS.includes(k)) fail(file, `unknown key '${k}'`);
    }
    for (const k of KEYS) {
        if (!(k in doc)) fail(file, `missing key '${k}'`);
    }
    if (typeof doc.name !== "string" || !/^[a-z][a-z0-9-]*$/.test(doc.name)) fail(file, "name must be kebab-case");
    if (typeof doc.description !== "string" || doc.description.length === 0) fail(file, "description must be a string");
    const config = (doc.config ?? {}) as Record<string, unknown>;
    if (typeof config !== "object" || Array.isArray(config)) fail(file, "config must be a mapping");
    for (const [k, v] of Object.entries(config)) {
        if (!["string", "number", "boolean"].includes(typeof v)) fail(file, `config.${k} must be a string, number or bool`);
    }
    const provider = (doc.provider ?? "aws") as Provider;
    if (!PROVIDERS.includes(provider)) fail(file, `provider must be one of ${PROVIDERS.join(", ")}`);
    return {
        name: doc.name,
        description: doc.description,
        depends_on: stringList(file, "depends_on", doc.depends_on),
        required_config: stringList(file, "required_config", doc.required_config),
        config: config as Record<string, ConfigValue>,
        outputs: stringList(file, "outputs", doc.outputs),
        provider,
    };
}

export function stackDir(name: string): string {
    return path.join(STACKS_DIR, name);
}

export function readStackMeta(dir: string): StackMeta {
    const file = path.join(dir, "stack.yaml");
    return parseStackMeta(file, fs.readFileSync(file, "utf8"));
}

/** Every stack directory (a direct child of stacks/ holding a stack.yaml), sorted by name. */
export function listStacks(): string[] {
    return fs
        .readdirSync(STACKS_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith(".") && fs.existsSync(path.join(STACKS_DIR, d.name, "stack.yaml")))
        .map((d) => d.name)
        .sort();
}

/** The stacks in dependency order (upstreams first, ties by name). */
export function topologicalOrder(metas: StackMeta[]): string[] {
    const byName = new Map(metas.map((m) => [m.name, m]));
    const done = new Set<string>();
    const order: string[] = [];
    const visit = (name: string, trail: string[]) => {
        if (done.has(name)) return;
        if (trail.includes(name)) throw new Error(`dependency cycle: ${[...trail, name].join(" -> ")}`);
        const meta = byName.get(name);
        if (!meta) throw new Error(`unknown stack '${name}' (depended on by ${trail[trail.length - 1]})`);
        for (const dep of [...meta.depends_on].sort()) visit(dep, [...trail, name]);
        done.add(name);
        order.push(name);
    };
    for (const m of [...metas].sort((a, b) => a.name.localeCompare(b.name))) visit(m.name, []);
    return order;
}

export function snapshotPath(stack: string, env: string): string {
    return path.join(STACKS_DIR, stack, "inspect", `${env}.json`);
}
