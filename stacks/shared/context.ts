// The stack context: configuration every cloud-engine stack reads, its naming scheme,
// the tags every taggable resource carries, and environment-based sizing.
//
// One copy for every stack: each program imports it as `../shared/context` (from its
// index.ts at the stack root). It is a plain source folder beside the stacks, not an npm
// package, because Pulumi runs each stack directory on its own (cwd = the stack directory)
// with ts-node, and ts-node compiles only files whose path does not match `/node_modules/`
// (its default `ignore`). A relative import reaches this file by its real path
// `stacks/shared/context.ts`, so ts-node compiles it like the stack's own `src/` files, and
// its `@pulumi/pulumi` resolves to the same `stacks/node_modules` copy the stack uses.
// stacks/tests/pulumi-ts-node.test.ts runs stacks through Pulumi's own loader to prove it.
import * as pulumi from "@pulumi/pulumi";

/** The environments a deployment can enable, smallest first. */
export type Environment = "dev" | "stage" | "prod";
export const ENVIRONMENTS: readonly Environment[] = ["dev", "stage", "prod"];

/** A value per environment; used for everything that is sized by environment. */
export type BySize<T> = Record<Environment, T>;

/** The string a stack.yaml default holds for "pick the value for this environment". */
export const AUTO = "auto";

export interface StackContext {
    /** This stack's catalog name, e.g. `network`. */
    readonly stack: string;
    /** Deployment id, `D` + 6 uppercase base36 characters. */
    readonly deploymentId: string;
    readonly environment: Environment;
    /** Org used in StackReference names (`organization` on the local backend). */
    readonly org: string;
    /** The business project, e.g. `ecommerce`. */
    readonly project: string;
    /** `<deploymentId>-<stack>-<environment>`: the Pulumi stack name, and the prefix of every resource name. */
    readonly prefix: string;
    readonly isProd: boolean;
    /** Tags for every taggable resource. */
    readonly tags: Record<string, string>;
    /** This program's configuration (namespace = the Pulumi project of this directory). */
    readonly config: pulumi.Config;
}

const DEPLOYMENT_ID = /^D[0-9A-Z]{6}$/;

/** Reads and validates the configuration every stack requires. */
export function loadContext(stack: string): StackContext {
    const config = new pulumi.Config();
    const deploymentId = config.require("deploymentId");
    if (!DEPLOYMENT_ID.test(deploymentId)) {
        throw new Error(`config deploymentId must be D + 6 uppercase base36 characters, got '${deploymentId}'`);
    }
    const environment = config.require("environment") as Environment;
    if (!ENVIRONMENTS.includes(environment)) {
        throw new Error(`config environment must be one of ${ENVIRONMENTS.join(", ")}, got '${environment}'`);
    }
    const org = config.require("org");
    const project = config.require("project");
    return {
        stack,
        deploymentId,
        environment,
        org,
        project,
        prefix: `${deploymentId}-${stack}-${environment}`,
        isProd: environment === "prod",
        tags: {
            "deployment-id": deploymentId,
            environment,
            stack,
            project,
            "managed-by": "cloud-engine",
        },
        config,
    };
}

/** A resource name: `<deploymentId>-<stack>-<env>-<suffix>`. */
export function resourceName(ctx: StackContext, suffix: string): string {
    return `${ctx.prefix}-${suffix}`;
}

/** `tags` plus a `Name` tag, which the AWS console shows as the resource's name. */
export function namedTags(ctx: StackContext, suffix: string, extra: Record<string, string> = {}): Record<string, string> {
    return { ...ctx.tags, Name: resourceName(ctx, suffix), ...extra };
}

/** The fully qualified name of an upstream stack of the same deployment and environment. */
export function upstreamStackName(ctx: StackContext, upstream: string): string {
    return `${ctx.org}/${ctx.project}/${ctx.deploymentId}-${upstream}-${ctx.environment}`;
}

/** A StackReference to an upstream stack; read its values with `requireOutput`. */
export function stackReference(ctx: StackContext, upstream: string): pulumi.StackReference {
    const name = upstreamStackName(ctx, upstream);
    return new pulumi.StackReference(name, { name });
}

/** The value for this environment. */
export function bySize<T>(ctx: StackContext, values: BySize<T>): T {
    return values[ctx.environment];
}

/** A string setting; unset or `auto` picks the value for the environment. */
export function sizedString(ctx: StackContext, key: string, values: BySize<string>): string {
    const v = ctx.config.get(key);
    return v === undefined || v === AUTO ? values[ctx.environment] : v;
}

/** A number setting; unset or `auto` picks the value for the environment. */
export function sizedNumber(ctx: StackContext, key: string, values: BySize<number>): number {
    const v = ctx.config.get(key);
    if (v === undefined || v === AUTO) {
        return values[ctx.environment];
    }
    const n = Number(v);
    if (!Number.isFinite(n)) {
        throw new Error(`config ${key} must be a number or '${AUTO}', got '${v}'`);
    }
    return n;
}

/** A boolean setting; unset or `auto` picks the value for the environment. */
export function sizedBoolean(ctx: StackContext, key: string, values: BySize<boolean>): boolean {
    const v = ctx.config.get(key);
    if (v === undefined || v === AUTO) {
        return values[ctx.environment];
    }
    if (v !== "true" && v !== "false") {
        throw new Error(`config ${key} must be true, false or '${AUTO}', got '${v}'`);
    }
    return v === "true";
}
