import assert from "node:assert/strict";
import { count, describeStack, ofType } from "../harness";

describeStack("storage", {
    dev(doc) {
        assert.equal(count(doc, "aws:s3/bucket:Bucket"), 2);
        assert.equal(count(doc, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"), 2);
        for (const b of ofType(doc, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")) {
            assert.equal(b.inputs.blockPublicAcls && b.inputs.blockPublicPolicy && b.inputs.ignorePublicAcls && b.inputs.restrictPublicBuckets, true);
        }
        const [assetsEnc] = ofType(doc, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration");
        const rule = (assetsEnc.inputs.rules as { applyServerSideEncryptionByDefault: { sseAlgorithm: string } }[])[0];
        assert.equal(rule.applyServerSideEncryptionByDefault.sseAlgorithm, "aws:kms");
        assert.equal(ofType(doc, "aws:s3/bucket:Bucket")[0].inputs.forceDestroy, true);
    },
    prod(doc) {
        for (const b of ofType(doc, "aws:s3/bucket:Bucket")) assert.equal(b.inputs.forceDestroy, false);
        const logsLifecycle = ofType(doc, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").find((r) => r.name.includes("-logs-"));
        assert.ok(logsLifecycle);
        assert.equal((logsLifecycle.inputs.rules as { expiration: { days: number } }[])[0].expiration.days, 365);
    },
});
