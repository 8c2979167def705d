import assert from "node:assert/strict";
import { count, describeStack, ofType } from "../harness";

const REPO = "aws:ecr/repository:Repository";

describeStack("services-ecr", {
    dev(doc) {
        assert.equal(count(doc, REPO), 2);
        assert.equal(count(doc, "aws:ecr/lifecyclePolicy:LifecyclePolicy"), 2);
        for (const r of ofType(doc, REPO)) {
            assert.deepEqual(r.inputs.imageScanningConfiguration, { scanOnPush: true });
            assert.equal((r.inputs.encryptionConfigurations as { encryptionType: string }[])[0].encryptionType, "KMS");
        }
    },
    prod(doc) {
        for (const r of ofType(doc, REPO)) assert.equal(r.inputs.imageTagMutability, "IMMUTABLE");
    },
});
