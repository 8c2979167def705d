import assert from "node:assert/strict";
import { count, describeStack, ofType } from "../harness";

describeStack("secrets", {
    dev(doc) {
        assert.equal(count(doc, "aws:secretsmanager/secret:Secret"), 2);
        for (const s of ofType(doc, "aws:secretsmanager/secret:Secret")) {
            assert.equal(s.inputs.recoveryWindowInDays, 0);
            assert.match(String(s.inputs.kmsKeyId), /^arn:aws:kms:/, "encrypted with the security stack's key");
        }
        for (const v of ofType(doc, "aws:secretsmanager/secretVersion:SecretVersion")) {
            assert.equal(v.inputs.secretString, "[secret]", "generated values never appear in plain text");
        }
    },
    prod(doc) {
        for (const s of ofType(doc, "aws:secretsmanager/secret:Secret")) assert.equal(s.inputs.recoveryWindowInDays, 30);
    },
});
