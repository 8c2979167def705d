// storage: the application's asset bucket (KMS-encrypted, versioned) and a log bucket
// for access logs (SSE-S3, because ALB and S3 server access logging cannot write to
// KMS-encrypted buckets).
import * as pulumi from "@pulumi/pulumi";
import { loadContext, namedTags, resourceName, sizedNumber, stackReference } from "../shared/context";
import { SecureBucket } from "./src/secure-bucket";

const ctx = loadContext("storage");
const security = stackReference(ctx, "security");

const noncurrentVersionDays = ctx.config.getNumber("noncurrentVersionDays") ?? 30;

const assets = new SecureBucket(resourceName(ctx, "assets"), {
    kmsKeyArn: security.requireOutput("kmsKeyArn") as pulumi.Output<string>,
    versioning: true,
    noncurrentVersionDays,
    forceDestroy: !ctx.isProd,
    tags: namedTags(ctx, "assets"),
});

const logs = new SecureBucket(resourceName(ctx, "logs"), {
    versioning: false,
    expireDays: sizedNumber(ctx, "logRetentionDays", { dev: 30, stage: 90, prod: 365 }),
    forceDestroy: !ctx.isProd,
    tags: namedTags(ctx, "logs"),
});

export const assetsBucketName = assets.bucket.bucket;
export const assetsBucketArn = assets.bucket.arn;
export const logsBucketName = logs.bucket.bucket;
export const logsBucketArn = logs.bucket.arn;
