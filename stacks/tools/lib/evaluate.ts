// Evaluates one real stack program under Pulumi's mock runtime and describes what it
// declared: every resource (in declaration order, with its parent and resolved inputs),
// the StackReferences it made and the outputs it exported.
//
// The Pulumi runtime keeps global state, so evaluate() runs once per process: the
// inspect tool is the process, and tests spawn it.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
    BASE_CONFIG_KEYS,
    ConfigValue,
    ENVIRONMENTS,
    SAMPLE_REQUIRED_CONFIG,
    StackMeta,
    readStackMeta,
    snapshotPath,
} from "./catalog";
import { GCP_PROJECT, GCP_REGION, mockCall, mockResource } from "./mocks";

export interface EvaluateOptions {
    /** The stack directory (holding index.ts, Pulumi.yaml and stack.yaml). */
    dir: string;
    env: string;
    deploymentId: string;
    org: string;
    project: string;
    /** Apply stack.yaml `config` as the first config tier, as the engine does (default true). */
    stackDefaults: boolean;
    /** Extra config (highest tier), without namespace. */
    config: Record<string, string>;
}

export interface ResourceDoc {
    type: string;
    name: string;
    /** `type::name` of the parent resource, or null for a child of the stack. */
    parent: string | null;
    /** false for component resources. */
    custom: boolean;
    inputs: Record<string, unknown>;
}

/** The document `tools/inspect.ts` prints. */
export interface InspectDoc {
    stack: string;
    env: string;
    deploymentId: string;
    org: string;
    project: string;
    config: Record<string, string>;
    resources: ResourceDoc[];
    stackReferences: string[];
    outputs: Record<string, unknown>;
}

/** Facts for tests, printed only with `--diagnostics`. */
export interface Diagnostics {
    /** Config keys the program read (any getter, set or not), sorted. */
    configRead: string[];
    /** Resources whose type supports tags (`labels` on Google Cloud) but that were declared without them. */
    untagged: string[];
    /** For every StackReference: the upstream output names the program asked for. */
    upstreamOutputsRead: Record<string, string[]>;
}

const SECRET = "[secret]";
const STACK_REFERENCE = "pulumi:pulumi:StackReference";

/** Converts deserialized values to plain JSON: secrets become "[secret]", assets a small
 *  description, keys sorted so documents diff well. */
async function plain(v: unknown): Promise<unknown> {
    if (v === undefined || v === null) return null;
    if (Array.isArray(v)) return Promise.all(v.map(plain));
    if (typeof v !== "object") return v;
    const o = v as Record<string, unknown>;
    if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return SECRET;
    if (pulumi.asset.AssetArchive.isInstance(o)) {
        const assets = (await (o as unknown as pulumi.asset.AssetArchive).assets) as Record<string, unknown>;
        return { archive: await plain(assets) };
    }
    if (pulumi.asset.StringAsset.isInstance(o)) {
        return { text: await (o as unknown as pulumi.asset.StringAsset).text };
    }
    if (pulumi.asset.FileAsset.isInstance(o)) return { path: await (o as unknown as pulumi.asset.FileAsset).path };
    if (pulumi.Resource.isInstance(o)) return await new Promise((res) => (o as unknown as pulumi.Resource).urn.apply(res));
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) {
        if (o[k] !== undefined) out[k] = await plain(o[k]);
    }
    return out;
}

/** Reads a value the program exported (Output, promise or plain), keeping secrecy. */
async function exportedValue(v: unknown): Promise<unknown> {
    const o = pulumi.output(v) as unknown as { isSecret: Promise<boolean>; promise(): Promise<unknown> };
    if (await o.isSecret) return SECRET;
    return plain(await o.promise());
}

/** The upstream outputs a mocked StackReference returns: those the upstream's stack.yaml
 *  declares, with the values from its committed snapshot for the same environment. */
function upstreamOutputs(fqName: string, opts: EvaluateOptions): { outputs: Record<string, unknown>; secret: string[] } {
    const stackName = fqName.split("/").pop() ?? "";
    const prefix = `${opts.deploymentId}-`;
    const suffix = `-${opts.env}`;
    if (!stackName.startsWith(prefix) || !stackName.endsWith(suffix)) {
        throw new Error(`StackReference '${fqName}' is not <org>/<project>/${opts.deploymentId}-<stack>-${opts.env}`);
    }
    const upstream = stackName.slice(prefix.length, stackName.length - suffix.length);
    const dir = path.join(path.dirname(opts.dir), upstream);
    if (!fs.existsSync(path.join(dir, "stack.yaml"))) {
        throw new Error(`StackReference '${fqName}' names unknown stack '${upstream}'`);
    }
    const meta = readStackMeta(dir);
    const snap = snapshotPath(upstream, opts.env);
    if (!fs.existsSync(snap)) {
        throw new Error(`no snapshot ${path.relative(process.cwd(), snap)} to mock '${fqName}' from: run npm run snapshots`);
    }
    const doc = JSON.parse(fs.readFileSync(snap, "utf8")) as InspectDoc;
    const outputs: Record<string, unknown> = {};
    const secret: string[] = [];
    for (const name of meta.outputs) {
        if (name in doc.outputs) {
            outputs[name] = doc.outputs[name];
            if (doc.outputs[name] === SECRET) secret.push(name);
        }
    }
    return { outputs, secret };
}

function configString(v: ConfigValue): string {
    return typeof v === "string" ? v : JSON.stringify(v);
}

/** The config the program runs with: stack.yaml defaults, sample values for required keys,
 *  the four engine-supplied keys, then explicit overrides. */
export function buildConfig(meta: StackMeta, opts: EvaluateOptions): Record<string, string> {
    const config: Record<string, string> = {};
    if (opts.stackDefaults) {
        for (const [k, v] of Object.entries(meta.config)) config[k] = configString(v);
    }
    for (const k of meta.required_config) {
        if (SAMPLE_REQUIRED_CONFIG[k] !== undefined) config[k] = SAMPLE_REQUIRED_CONFIG[k];
    }
    Object.assign(config, {
        deploymentId: opts.deploymentId,
        environment: opts.env,
        org: opts.org,
        project: opts.project,
    });
    Object.assign(config, opts.config);
    return Object.fromEntries(Object.entries(config).sort(([a], [b]) => a.localeCompare(b)));
}

interface Declared {
    type: string;
    name: string;
    parent: string | null;
    custom: boolean;
    taggable: boolean;
    inputs?: Record<string, unknown>;
}

export async function evaluate(opts: EvaluateOptions): Promise<{ doc: InspectDoc; diagnostics: Diagnostics }> {
    if (!(ENVIRONMENTS as readonly string[]).includes(opts.env)) {
        throw new Error(`unknown environment '${opts.env}' (expected one of ${ENVIRONMENTS.join(", ")})`);
    }
    const meta = readStackMeta(opts.dir);
    const stack = meta.name;
    const config = buildConfig(meta, opts);
    // The Pulumi project of a stack directory is its Pulumi.yaml name (the stack name),
    // which is also the namespace of its config keys.
    const pulumiProject = stack;
    const pulumiStack = `${opts.deploymentId}-${stack}-${opts.env}`;

    const namespaced: Record<string, string> = { "aws:region": "us-east-1", "gcp:project": GCP_PROJECT, "gcp:region": GCP_REGION };
    for (const [k, v] of Object.entries(config)) namespaced[`${pulumiProject}:${k}`] = v;
    pulumi.runtime.setAllConfig(namespaced, []);

    // Record every config key the program reads, set or not.
    const configRead = new Set<string>();
    const configProto = pulumi.Config.prototype as unknown as { getImpl: (...a: unknown[]) => unknown; name: string };
    const getImpl = configProto.getImpl;
    configProto.getImpl = function (this: { name: string }, key: unknown, ...rest: unknown[]) {
        if (this.name === pulumiProject) configRead.add(String(key));
        return getImpl.call(this, key, ...rest);
    };

    const declared: Declared[] = [];
    const byKey = new Map<string, Declared>();
    const stackReferences: string[] = [];
    const upstreamOutputsRead: Record<string, Set<string>> = {};
    const referenceNames = new WeakMap<object, string>();
    const pending: Promise<unknown>[] = [];

    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
                if (args.type === STACK_REFERENCE) {
                    const name = String(args.inputs.name);
                    const { outputs, secret } = upstreamOutputs(name, opts);
                    return { id: name, state: { name, outputs, secretOutputNames: secret } };
                }
                const rec = byKey.get(`${args.type}::${args.name}`);
                if (rec) {
                    pending.push(plain(args.inputs).then((p) => (rec.inputs = p as Record<string, unknown>)));
                }
                return mockResource(args.type, args.name, args.inputs);
            },
            call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
                return mockCall(args.token, args.inputs);
            },
        },
        pulumiProject,
        pulumiStack,
        false,
        opts.org,
    );

    // StackReference.getOutput/requireOutput: remember which names the program reads.
    const refProto = pulumi.StackReference.prototype as unknown as Record<string, (this: pulumi.StackReference, n: pulumi.Input<string>) => unknown>;
    for (const method of ["getOutput", "requireOutput", "getOutputDetails", "getOutputValue"]) {
        const original = refProto[method];
        if (!original) continue;
        refProto[method] = function (this: pulumi.StackReference, outputName: pulumi.Input<string>) {
            const ref = referenceNames.get(this) ?? "?";
            pulumi.output(outputName).apply((out) => (upstreamOutputsRead[ref] ??= new Set()).add(out));
            return original.call(this, outputName);
        };
    }

    const indexPath = path.join(opts.dir, "index.ts");
    let moduleExports: Record<string, unknown> = {};
    await pulumi.runtime.runInPulumiStack(async () => {
        // A stack transformation runs synchronously in every resource's constructor:
        // that gives declaration order, the parent, and whether the type takes tags
        // (generated SDK classes pass a `tags` key only when the resource has one; on
        // Google Cloud the equivalent is `labels`, and `tags` are network tags).
        pulumi.runtime.registerStackTransformation((args) => {
            if (args.type === STACK_REFERENCE) {
                stackReferences.push(args.name);
                referenceNames.set(args.resource, args.name);
                return undefined;
            }
            const parent = args.opts.parent as unknown as { __pulumiType?: string; __name?: string } | undefined;
            const rec: Declared = {
                type: args.type,
                name: args.name,
                parent: parent && parent.__pulumiType !== "pulumi:pulumi:Stack" ? `${parent.__pulumiType}::${parent.__name}` : null,
                custom: args.resource instanceof pulumi.CustomResource,
                taggable: tagKey(args.type) in args.props,
            };
            const key = `${args.type}::${args.name}`;
            if (byKey.has(key)) throw new Error(`two resources named ${key}: give every resource a unique name`);
            byKey.set(key, rec);
            declared.push(rec);
            return undefined;
        });
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        moduleExports = require(indexPath) as Record<string, unknown>;
        return moduleExports;
    });
    // Wait for every registration (and its mock) to finish.
    await pulumi.runtime.disconnect();
    await Promise.all(pending);

    const outputs: Record<string, unknown> = {};
    for (const k of Object.keys(moduleExports).sort()) {
        if (k === "__esModule" || k === "default") continue;
        outputs[k] = await exportedValue(moduleExports[k]);
    }

    const resources: ResourceDoc[] = declared.map((r) => {
        if (!r.inputs) throw new Error(`${r.type}::${r.name} was declared but never registered`);
        return { type: r.type, name: r.name, parent: r.parent, custom: r.custom, inputs: r.inputs };
    });
    const untagged = declared
        .filter((r) => r.custom && r.taggable)
        .filter((r) => {
            const tags = tagMap(r.inputs?.[tagKey(r.type)]);
            return BASE_TAGS.some((t) => !(t in tags));
        })
        .map((r) => `${r.type}::${r.name}`);

    return {
        doc: {
            stack,
            env: opts.env,
            deploymentId: opts.deploymentId,
            org: opts.org,
            project: opts.project,
            config,
            resources,
            stackReferences,
            outputs,
        },
        diagnostics: {
            configRead: [...configRead].sort(),
            untagged,
            upstreamOutputsRead: Object.fromEntries(
                Object.entries(upstreamOutputsRead).map(([k, v]) => [k, [...v].sort()]),
            ),
        },
    };
}

/** The input holding a resource's tags: `labels` for Google Cloud (`gcp:`) resources, whose
 *  `tags` are network tags, and `tags` for everything else. */
export function tagKey(type: string): "tags" | "labels" {
    return type.startsWith("gcp:") ? "labels" : "tags";
}

/** A resource's tags as a map, or undefined when it was declared without any. */
export function tagsOf(r: { type: string; inputs: Record<string, unknown> }): Record<string, string> | undefined {
    const v = r.inputs[tagKey(r.type)];
    return v === undefined || v === null ? undefined : tagMap(v);
}

/** Tags as a map, whether given as a map or as an Auto Scaling group's `[{key, value}]` list. */
export function tagMap(tags: unknown): Record<string, string> {
    if (Array.isArray(tags)) {
        return Object.fromEntries(tags.map((t: { key: string; value: string }) => [t.key, t.value]));
    }
    return (tags ?? {}) as Record<string, string>;
}

/** The tags every taggable resource must carry. */
export const BASE_TAGS = ["deployment-id", "environment", "stack", "project", "managed-by"];

export { BASE_CONFIG_KEYS };
