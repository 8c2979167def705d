import assert from "node:assert/strict";
import { count, describeStack, ofType } from "../harness";

const BUCKET = "gcp:storage/bucket:Bucket";

type Rule = { action: { type: string }; condition: Record<string, unknown> };

describeStack("gcp-storage", {
    dev(doc) {
        assert.equal(count(doc, BUCKET), 2);
        for (const b of ofType(doc, BUCKET)) {
            assert.equal(b.inputs.uniformBucketLevelAccess, true);
            assert.equal(b.inputs.publicAccessPrevention, "enforced");
            assert.equal(b.inputs.location, "US-CENTRAL1");
            assert.equal(b.inputs.forceDestroy, true);
            assert.match(String(b.inputs.name), /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "a valid bucket name");
        }
        const [assets, logs] = ofType(doc, BUCKET);
        assert.deepEqual(assets.inputs.versioning, { enabled: true });
        assert.deepEqual(logs.inputs.versioning, { enabled: false });
        const noncurrent = (assets.inputs.lifecycleRules as Rule[]).find((r) => r.condition.daysSinceNoncurrentTime !== undefined);
        assert.equal(noncurrent?.condition.daysSinceNoncurrentTime, 30);
        assert.equal((logs.inputs.lifecycleRules as Rule[]).find((r) => r.action.type === "Delete")?.condition.age, 30);
    },
    prod(doc) {
        for (const b of ofType(doc, BUCKET)) {
            assert.equal(b.inputs.forceDestroy, false);
            assert.deepEqual(b.inputs.softDeletePolicy, { retentionDurationSeconds: 30 * 24 * 3600 });
        }
        const logs = ofType(doc, BUCKET).find((b) => String(b.inputs.name).endsWith("-logs"));
        assert.equal((logs?.inputs.lifecycleRules as Rule[]).find((r) => r.action.type === "Delete")?.condition.age, 365);
    },
});
