// gcp-storage: the application's asset bucket (versioned) and a log bucket (objects
// expire) on Cloud Storage — Google Cloud's counterpart of the storage stack.
//
// Both live in `location` (default US-CENTRAL1, the region the gcp template deploys to)
// with uniform bucket-level access and public access prevention enforced, so nothing in
// them can be made public by an object ACL or an allUsers grant. Encryption is
// Google-managed (there is no GCP key stack to provide a CMEK key yet). dev and stage
// buckets can be destroyed with their contents and keep deleted objects for 7 days; prod's
// cannot, and keep them for 30.
import { loadContext, resourceName, sizedNumber } from "../shared/context";
import { gcpLabels, gcpName } from "../shared/gcp";
import { GcsBucket } from "./src/secure-bucket";

const ctx = loadContext("gcp-storage");

const location = ctx.config.get("location") ?? "US-CENTRAL1";
const softDeleteDays = sizedNumber(ctx, "softDeleteDays", { dev: 7, stage: 7, prod: 30 });
if (softDeleteDays !== 0 && (softDeleteDays < 7 || softDeleteDays > 90)) {
    throw new Error(`config softDeleteDays must be 0 (off) or 7 to 90, got ${softDeleteDays}`);
}

const assets = new GcsBucket(resourceName(ctx, "assets"), {
    bucketName: gcpName(ctx, "assets"),
    location,
    versioning: true,
    noncurrentVersionDays: ctx.config.getNumber("noncurrentVersionDays") ?? 30,
    softDeleteDays,
    forceDestroy: !ctx.isProd,
    labels: gcpLabels(ctx, { purpose: "assets" }),
});

const logs = new GcsBucket(resourceName(ctx, "logs"), {
    bucketName: gcpName(ctx, "logs"),
    location,
    versioning: false,
    expireDays: sizedNumber(ctx, "logRetentionDays", { dev: 30, stage: 90, prod: 365 }),
    softDeleteDays,
    forceDestroy: !ctx.isProd,
    labels: gcpLabels(ctx, { purpose: "logs" }),
});

export const assetsBucketName = assets.bucket.name;
export const assetsBucketUrl = assets.bucket.url;
export const logsBucketName = logs.bucket.name;
export const logsBucketUrl = logs.bucket.url;
