import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const SQL = "gcp:sql/databaseInstance:DatabaseInstance";

interface Settings {
    tier: string;
    availabilityType: string;
    diskSize: number;
    deletionProtectionEnabled: boolean;
    ipConfiguration: { ipv4Enabled: boolean; privateNetwork: string; allocatedIpRange: string; sslMode: string };
    backupConfiguration: { pointInTimeRecoveryEnabled: boolean; backupRetentionSettings: { retainedBackups: number } };
    userLabels: Record<string, string>;
}

describeStack("gcp-database", {
    dev(doc) {
        const db = only(doc, SQL);
        const s = db.inputs.settings as Settings;
        assert.equal(db.inputs.databaseVersion, "POSTGRES_16");
        assert.equal(s.tier, "db-f1-micro");
        assert.equal(s.availabilityType, "ZONAL");
        assert.equal(s.diskSize, 10);
        assert.equal(db.inputs.deletionProtection, false, "dev can be destroyed");
        assert.equal(s.ipConfiguration.ipv4Enabled, false, "private IP only");
        assert.match(s.ipConfiguration.privateNetwork, /\/networks\/d000000-gcp-network-dev-vpc$/);
        assert.equal(s.ipConfiguration.allocatedIpRange, "d000000-gcp-network-dev-vpc-private-services");
        assert.equal(s.ipConfiguration.sslMode, "ENCRYPTED_ONLY");
        assert.equal(s.backupConfiguration.backupRetentionSettings.retainedBackups, 1);
        // Cloud SQL carries its labels in settings.userLabels (the harness checks top-level labels).
        assert.deepEqual(s.userLabels, {
            "deployment-id": "d000000", environment: "dev", "managed-by": "cloud-engine", project: "ecommerce", stack: "gcp-database",
        });
        assert.equal(only(doc, "gcp:sql/user:User").inputs.password, "[secret]", "the password stays secret");
        assert.equal(only(doc, "gcp:secretmanager/secretVersion:SecretVersion").inputs.secretData, "[secret]");
        assert.equal(only(doc, "gcp:sql/database:Database").inputs.name, "app");
        assert.equal(doc.outputs.dbPort, 5432);
        for (const [k, v] of Object.entries(doc.outputs)) assert.doesNotMatch(String(v), /^mock-/, `output ${k} is not the password`);
    },
    stage(doc) {
        assert.equal((only(doc, SQL).inputs.settings as Settings).tier, "db-custom-1-3840");
    },
    prod(doc) {
        const db = only(doc, SQL);
        const s = db.inputs.settings as Settings;
        assert.equal(s.tier, "db-custom-2-7680");
        assert.equal(s.availabilityType, "REGIONAL", "a standby in a second zone");
        assert.equal(db.inputs.deletionProtection, true);
        assert.equal(s.deletionProtectionEnabled, true);
        assert.equal(s.backupConfiguration.pointInTimeRecoveryEnabled, true);
        assert.equal(s.backupConfiguration.backupRetentionSettings.retainedBackups, 30);
    },
});
