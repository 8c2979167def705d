import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const RDS = "aws:rds/instance:Instance";

describeStack("database-rds", {
    dev(doc) {
        const db = only(doc, RDS);
        assert.equal(db.inputs.instanceClass, "db.t4g.micro");
        assert.equal(db.inputs.multiAz, false);
        assert.equal(db.inputs.allocatedStorage, 20);
        assert.equal(db.inputs.deletionProtection, false);
        assert.equal(db.inputs.skipFinalSnapshot, true);
        assert.equal(db.inputs.engineVersion, "16.3");
        assert.equal(db.inputs.password, "[secret]", "the password stays secret");
        assert.equal(db.inputs.storageEncrypted, true);
        assert.equal(only(doc, "aws:rds/parameterGroup:ParameterGroup").inputs.family, "postgres16");
        assert.equal(doc.outputs.dbPort, 5432);
    },
    stage(doc) {
        assert.equal(only(doc, RDS).inputs.instanceClass, "db.t4g.medium");
    },
    prod(doc) {
        const db = only(doc, RDS);
        assert.equal(db.inputs.multiAz, true);
        assert.equal(db.inputs.instanceClass, "db.r6g.large");
        assert.equal(db.inputs.allocatedStorage, 100);
        assert.equal(db.inputs.deletionProtection, true);
        assert.equal(db.inputs.backupRetentionPeriod, 30);
        assert.equal(db.inputs.finalSnapshotIdentifier, "d000000-database-rds-prod-final");
    },
});
