// Google Cloud naming and labels for the gcp-* stacks, on top of the shared context.
//
// GCP has no tags in the AWS sense: the equivalent is `labels`, whose keys and values may
// only hold lowercase letters, digits, `_` and `-` (at most 63 characters), and most
// resource names are RFC 1035 (lowercase, start with a letter, at most 63 characters). So
// the deployment id `D1BRV40` appears as `d1brv40` in labels and physical names; Pulumi's
// logical names keep `resourceName(ctx, …)` like every other stack.
import { createHash } from "node:crypto";
import { StackContext, resourceName } from "./context";

/** What GCP accepts in a label key or value. */
function labelValue(v: string): string {
    return v.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 63);
}

/** The five cloud-engine tags as GCP labels (lowercased), plus `extra`. */
export function gcpLabels(ctx: StackContext, extra: Record<string, string> = {}): Record<string, string> {
    const all = { ...ctx.tags, ...extra };
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [labelValue(k), labelValue(v)]));
}

/**
 * A physical GCP name: `resourceName(ctx, suffix)` lowercased (`d000000-gcp-network-dev-vpc`).
 * Longer than `max` (63 for most resources; 30 for service account ids), it is cut and ends
 * with 6 hex characters of a hash of the full name, so it stays unique and stable.
 */
export function gcpName(ctx: StackContext, suffix: string, max = 63): string {
    const full = resourceName(ctx, suffix).toLowerCase();
    if (full.length <= max) return full;
    const hash = createHash("sha256").update(full).digest("hex").slice(0, 6);
    return `${full.slice(0, max - 7).replace(/-+$/, "")}-${hash}`;
}
