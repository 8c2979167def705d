// Runs tools/inspect.ts in a child process (the Pulumi runtime is process-global, so
// every evaluation gets a fresh process) and parses its JSON document.
import { execFile } from "node:child_process";
import * as path from "node:path";
import { STACKS_DIR } from "./catalog";
import type { Diagnostics, InspectDoc } from "./evaluate";

export interface InspectResult {
    doc: InspectDoc;
    diagnostics: Diagnostics;
}

const INSPECT = path.join(STACKS_DIR, "tools", "inspect.ts");

/** `node --import tsx tools/inspect.ts --stack S --env E --diagnostics ...extra`. */
export function runInspect(stack: string, env: string, extra: string[] = []): Promise<InspectResult> {
    const args = ["--import", "tsx", INSPECT, "--stack", stack, "--env", env, "--diagnostics", ...extra];
    return new Promise((resolve, reject) => {
        execFile(process.execPath, args, { cwd: STACKS_DIR, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                reject(new Error(`inspect ${stack} ${env} ${extra.join(" ")} failed (${err.code}):\n${stderr}`));
                return;
            }
            const parsed = JSON.parse(stdout) as InspectDoc & { diagnostics: Diagnostics };
            const { diagnostics, ...doc } = parsed;
            resolve({ doc, diagnostics });
        });
    });
}

export interface PulumiLoaderResult {
    stack: string;
    env: string;
    /** Names the program exported, sorted. */
    outputs: string[];
    /** Every .ts module the program loaded (compiled by Pulumi's ts-node), relative to stacks/. */
    typescript: string[];
}

const PULUMI_RUN = path.join(STACKS_DIR, "tools", "pulumi-run.cjs");

/** `node tools/pulumi-run.cjs <dir> <env>`: the program loaded by @pulumi/pulumi's own
 *  cmd/run (ts-node, cwd = the stack directory) under the mock monitor. Plain `node`, never
 *  tsx, so that Pulumi's ts-node is what compiles the TypeScript. */
export function runPulumiLoader(dir: string, env: string): Promise<PulumiLoaderResult> {
    return new Promise((resolve, reject) => {
        execFile(process.execPath, [PULUMI_RUN, dir, env], { cwd: STACKS_DIR, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                reject(new Error(`pulumi-run ${dir} ${env} failed (${err.code}):\n${stderr}`));
                return;
            }
            resolve(JSON.parse(stdout) as PulumiLoaderResult);
        });
    });
}

/** Runs jobs with at most `limit` in flight (the machine is small and shared). */
export async function limited<T>(limit: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
    const results: T[] = new Array(jobs.length);
    let next = 0;
    const worker = async () => {
        while (next < jobs.length) {
            const i = next++;
            results[i] = await jobs[i]();
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
    return results;
}

/** Snapshot files are the document as inspect prints it, 2-space JSON plus a newline. */
export function snapshotText(doc: InspectDoc): string {
    return `${JSON.stringify(doc, null, 2)}\n`;
}
