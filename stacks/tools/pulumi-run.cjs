// Runs one stack program the way `pulumi preview` loads it — through @pulumi/pulumi's own
// cmd/run/run.js: cwd = the stack directory, ts-node registered by Pulumi (its options, its
// choice of ts-node and TypeScript, its default `ignore` of /node_modules/) — but against
// Pulumi's mock monitor instead of an engine. It answers one question the tsx-based inspect
// tool cannot: does the program load under Pulumi's ts-node? (tsx compiles TypeScript
// anywhere, ts-node does not compile files under node_modules.)
//
// Plain CommonJS on purpose: run it with `node`, never through tsx, or tsx would compile the
// TypeScript instead of Pulumi's ts-node.
//
//   node tools/pulumi-run.cjs <stack dir> [dev|stage|prod]
//
// Prints one JSON line: {"stack", "env", "outputs": [exported names], "typescript": [every
// .ts module the program loaded, relative to stacks/, by real path]}. Exit 1 when the program
// fails. Upstream StackReferences answer with the upstream's committed snapshot outputs, other
// resources and provider functions with tools/lib/mocks.ts (loaded through the same ts-node).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const STACKS_DIR = path.resolve(__dirname, "..");
const dir = path.resolve(process.argv[2] || "");
const env = process.argv[3] || "dev";
if (!process.argv[2] || !fs.existsSync(path.join(dir, "stack.yaml"))) {
    process.stderr.write("usage: node tools/pulumi-run.cjs <stack dir> [dev|stage|prod]\n");
    process.exit(2);
}

// Someone else compiling TypeScript (tsx through NODE_OPTIONS or --import) would make the
// answer meaningless.
if (require.extensions[".ts"] !== undefined) {
    process.stderr.write("error: a TypeScript loader is already registered; run this with plain node (no tsx)\n");
    process.exit(2);
}

// Modules resolve from the stack directory, as they do when Pulumi runs it.
const fromStack = (m) => require(require.resolve(m, { paths: [dir] }));
const { parse } = fromStack("yaml");
const meta = parse(fs.readFileSync(path.join(dir, "stack.yaml"), "utf8"));
const project = parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")).name;
const deploymentId = "D000000";

// What the language host hands the program: the project's config (stack.yaml defaults plus
// the four engine keys) and TypeScript on.
process.chdir(dir);
process.env.PULUMI_NODEJS_TYPESCRIPT = "true";
const config = { "aws:region": "us-east-1", "gcp:project": "cloud-engine-mock", "gcp:region": "us-central1" };
for (const [k, v] of Object.entries(meta.config || {})) config[`${project}:${k}`] = String(v);
Object.assign(config, {
    [`${project}:deploymentId`]: deploymentId,
    [`${project}:environment`]: env,
    [`${project}:org`]: "organization",
    [`${project}:project`]: "ecommerce",
});
process.env.PULUMI_CONFIG = JSON.stringify(config);

const pulumi = fromStack("@pulumi/pulumi");
// run.js reads one constant from cmd/run/index.js, the CLI entry point, which parses argv and
// exits without --monitor: stand that module in before loading run.js.
const runIndex = require.resolve("@pulumi/pulumi/cmd/run/index.js", { paths: [dir] });
require.cache[runIndex] = { id: runIndex, filename: runIndex, loaded: true, exports: { nodeJSProcessExitedAfterLoggingUserActionableMessage: 32 } };
const { run } = fromStack("@pulumi/pulumi/cmd/run/run");

// tools/lib/mocks.ts is TypeScript: load it lazily, once Pulumi has registered ts-node.
let mocks;
const lib = () => (mocks ??= require(path.join(STACKS_DIR, "tools", "lib", "mocks.ts")));

function upstreamOutputs(name) {
    const stackName = name.split("/").pop();
    const upstream = stackName.slice(`${deploymentId}-`.length, -`-${env}`.length);
    const upMeta = parse(fs.readFileSync(path.join(STACKS_DIR, upstream, "stack.yaml"), "utf8"));
    const snap = JSON.parse(fs.readFileSync(path.join(STACKS_DIR, upstream, "inspect", `${env}.json`), "utf8"));
    return Object.fromEntries(upMeta.outputs.filter((o) => o in snap.outputs).map((o) => [o, snap.outputs[o]]));
}

const errors = [];
pulumi.runtime
    .setMocks(
        {
            newResource(args) {
                if (args.type === "pulumi:pulumi:StackReference") {
                    const name = String(args.inputs.name);
                    return { id: name, state: { name, outputs: upstreamOutputs(name), secretOutputNames: [] } };
                }
                return lib().mockResource(args.type, args.name, args.inputs);
            },
            call(args) {
                return lib().mockCall(args.token, args.inputs);
            },
        },
        project,
        `${deploymentId}-${meta.name}-${env}`,
        true,
        "organization",
    )
    .then(() => run({ _: ["index.ts"] }, () => {}, (err) => errors.push(err), (err) => errors.includes(err)))
    .then(async (exported) => {
        await pulumi.runtime.disconnect();
        if (errors.length > 0) throw errors[0];
        const typescript = Object.keys(require.cache)
            .filter((f) => f.endsWith(".ts"))
            .map((f) => path.relative(STACKS_DIR, f).split(path.sep).join("/"))
            .sort();
        const outputs = Object.keys(exported || {}).filter((k) => k !== "__esModule").sort();
        process.stdout.write(`${JSON.stringify({ stack: meta.name, env, outputs, typescript })}\n`);
        process.exit(0);
    })
    .catch((err) => {
        process.stderr.write(`error: ${meta.name} failed under Pulumi's loader: ${err && err.stack ? err.stack : err}\n`);
        process.exit(1);
    });
