// Offline inspect: evaluates a real stack program under Pulumi's mock runtime and prints
// one JSON document describing what it would create (see stacks/README.md, "Inspect").
//
//   npx tsx tools/inspect.ts --stack network --env dev [--deployment D000000]
//       [--org organization] [--project ecommerce] [--config key=value]...
//       [--no-stack-defaults] [--diagnostics] [--dir <stack dir>]
//
// Exit codes: 0 ok, 1 the program failed under mocks, 2 bad arguments (unknown stack/env).
import * as fs from "node:fs";
import * as path from "node:path";
import { ENVIRONMENTS, listStacks, stackDir } from "./lib/catalog";

const USAGE =
    "usage: inspect --stack <name> --env <dev|stage|prod> [--deployment D000000] [--org organization] " +
    "[--project ecommerce] [--config key=value]... [--no-stack-defaults] [--diagnostics] [--dir <stack dir>]";

function usageError(msg: string): never {
    process.stderr.write(`error: ${msg}\n${USAGE}\n`);
    process.exit(2);
}

interface Args {
    stack?: string;
    env?: string;
    deploymentId: string;
    org: string;
    project: string;
    config: Record<string, string>;
    stackDefaults: boolean;
    diagnostics: boolean;
    dir?: string;
}

function parseArgs(argv: string[]): Args {
    const args: Args = { deploymentId: "D000000", org: "organization", project: "ecommerce", config: {}, stackDefaults: true, diagnostics: false };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) usageError(`${flag} needs a value`);
            return v;
        };
        switch (flag) {
            case "--stack": args.stack = value(); break;
            case "--env": args.env = value(); break;
            case "--deployment": args.deploymentId = value(); break;
            case "--org": args.org = value(); break;
            case "--project": args.project = value(); break;
            case "--dir": args.dir = value(); break;
            case "--config": {
                const kv = value();
                const eq = kv.indexOf("=");
                if (eq <= 0) usageError(`--config expects key=value, got '${kv}'`);
                args.config[kv.slice(0, eq)] = kv.slice(eq + 1);
                break;
            }
            case "--no-stack-defaults": args.stackDefaults = false; break;
            case "--diagnostics": args.diagnostics = true; break;
            case "-h":
            case "--help":
                process.stdout.write(`${USAGE}\n`);
                process.exit(0);
            // falls through (exit never returns)
            default:
                usageError(`unknown argument '${flag}'`);
        }
    }
    return args;
}

async function main(): Promise<void> {
    const args = parseArgs(process.argv.slice(2));
    if (!args.stack) usageError("--stack is required");
    if (!args.env) usageError("--env is required");
    let dir: string;
    if (args.dir) {
        dir = path.resolve(args.dir);
        if (!fs.existsSync(path.join(dir, "stack.yaml"))) usageError(`no stack.yaml in ${dir}`);
    } else {
        const known = listStacks();
        if (!known.includes(args.stack)) usageError(`unknown stack '${args.stack}' (known: ${known.join(", ")})`);
        dir = stackDir(args.stack);
    }
    if (!(ENVIRONMENTS as readonly string[]).includes(args.env)) {
        usageError(`unknown environment '${args.env}' (expected one of ${ENVIRONMENTS.join(", ")})`);
    }
    if (!/^D[0-9A-Z]{6}$/.test(args.deploymentId)) usageError(`deployment id must be D + 6 uppercase base36 characters, got '${args.deploymentId}'`);

    // Only the JSON document goes to stdout: anything the program logs goes to stderr.
    console.log = (...a: unknown[]) => process.stderr.write(`${a.map(String).join(" ")}\n`);
    process.on("unhandledRejection", (e) => fail(e));

    // Imported late so that argument errors are reported without loading Pulumi.
    const { evaluate } = await import("./lib/evaluate");
    const { doc, diagnostics } = await evaluate({
        dir,
        env: args.env,
        deploymentId: args.deploymentId,
        org: args.org,
        project: args.project,
        stackDefaults: args.stackDefaults,
        config: args.config,
    });
    if (doc.stack !== args.stack) usageError(`${dir}/stack.yaml names stack '${doc.stack}', not '${args.stack}'`);
    const out = args.diagnostics ? { ...doc, diagnostics } : doc;
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`, () => process.exit(0));
}

function fail(e: unknown): never {
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`error: the program failed under mocks: ${msg}\n`);
    process.exit(1);
}

main().catch(fail);
