// A tiny renderer for templates/: replaces every `{{NAME}}` and fails if one is unknown
// or left over — the same rule the Rust side applies when it creates a stack.
import * as fs from "node:fs";
import * as path from "node:path";

export const PLACEHOLDERS = [
    "STACK_NAME",
    "STACK_DESCRIPTION",
    "DEPENDS_ON_YAML",
    "STACK_REFERENCES_TS",
    "VERSION",
    "DATE",
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type Vars = Record<Placeholder, string>;

const PATTERN = /\{\{([A-Z0-9_]+)\}\}/g;

export function render(text: string, vars: Vars, source = "template"): string {
    const out = text.replace(PATTERN, (whole, name: string) => {
        if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
            throw new Error(`${source}: unknown placeholder ${whole}`);
        }
        return vars[name as Placeholder];
    });
    const left = out.match(/\{\{[^}]*\}\}/);
    if (left) throw new Error(`${source}: placeholder ${left[0]} left after rendering`);
    return out;
}

/** The TypeScript lines for `{{STACK_REFERENCES_TS}}`: one StackReference per upstream. */
export function stackReferencesTs(dependsOn: string[]): string {
    return dependsOn
        .map((dep) => `const ${dep.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())}Ref = stackReference(ctx, "${dep}");`)
        .join("\n");
}

export function varsFor(name: string, description: string, dependsOn: string[], version = "0.7.0", date = "2026-01-01"): Vars {
    return {
        STACK_NAME: name,
        STACK_DESCRIPTION: description,
        DEPENDS_ON_YAML: `[${dependsOn.join(", ")}]`,
        STACK_REFERENCES_TS: stackReferencesTs(dependsOn),
        VERSION: version,
        DATE: date,
    };
}

/** Renders every `*.template` under `from` into `to` (dropping the suffix); returns the files written. */
export function renderTree(from: string, to: string, vars: Vars): string[] {
    const written: string[] = [];
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
        const src = path.join(from, entry.name);
        if (entry.isDirectory()) {
            written.push(...renderTree(src, path.join(to, entry.name), vars));
        } else if (entry.name.endsWith(".template")) {
            const dest = path.join(to, entry.name.slice(0, -".template".length));
            fs.mkdirSync(path.dirname(dest), { recursive: true });
            fs.writeFileSync(dest, render(fs.readFileSync(src, "utf8"), vars, src));
            written.push(dest);
        }
    }
    return written;
}
