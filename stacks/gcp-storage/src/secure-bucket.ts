// A Cloud Storage bucket with the settings every cloud-engine bucket must have: uniform
// bucket-level access (IAM only, no object ACLs), public access prevention enforced,
// Google-managed encryption, soft delete, and optional versioning and lifecycle rules.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface GcsBucketArgs {
    /** The bucket name (global across Google Cloud; lowercase). */
    bucketName: string;
    /** Region (`US-CENTRAL1`) or multi-region (`US`). */
    location: string;
    versioning: boolean;
    /** Delete live objects after this many days (logs); undefined keeps them. */
    expireDays?: number;
    /** Delete noncurrent versions this many days after they were replaced. */
    noncurrentVersionDays?: number;
    /** Keep deleted objects recoverable this many days (0 = off; Cloud Storage allows 7–90). */
    softDeleteDays: number;
    /** Allow destroying a non-empty bucket (never in prod). */
    forceDestroy: boolean;
    labels: Record<string, string>;
}

export class GcsBucket extends pulumi.ComponentResource {
    public readonly bucket: gcp.storage.Bucket;

    constructor(name: string, args: GcsBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:storage:GcsBucket", name, {}, opts);

        const lifecycleRules: gcp.types.input.storage.BucketLifecycleRule[] = [];
        if (args.expireDays !== undefined) {
            lifecycleRules.push({ action: { type: "Delete" }, condition: { age: args.expireDays, withState: "ANY" } });
        }
        if (args.noncurrentVersionDays !== undefined) {
            lifecycleRules.push({
                action: { type: "Delete" },
                condition: { daysSinceNoncurrentTime: args.noncurrentVersionDays, withState: "ARCHIVED" },
            });
        }
        // Abandoned resumable/multipart uploads are billed until they are aborted.
        lifecycleRules.push({ action: { type: "AbortIncompleteMultipartUpload" }, condition: { age: 7 } });

        this.bucket = new gcp.storage.Bucket(`${name}`, {
            name: args.bucketName,
            location: args.location,
            storageClass: "STANDARD",
            uniformBucketLevelAccess: true,
            publicAccessPrevention: "enforced",
            versioning: { enabled: args.versioning },
            softDeletePolicy: { retentionDurationSeconds: args.softDeleteDays * 24 * 3600 },
            lifecycleRules,
            forceDestroy: args.forceDestroy,
            labels: args.labels,
        }, { parent: this });

        this.registerOutputs({ bucket: this.bucket.name });
    }
}
