import assert from "node:assert/strict";
import { count, describeStack, only } from "../harness";

describeStack("authentication", {
    dev(doc) {
        const pool = only(doc, "aws:cognito/userPool:UserPool");
        assert.equal(pool.inputs.mfaConfiguration, "OFF");
        assert.equal(pool.inputs.deletionProtection, "INACTIVE");
        assert.equal(count(doc, "aws:acm/certificate:Certificate"), 0, "dev uses Cognito's own domain");
        const client = only(doc, "aws:cognito/userPoolClient:UserPoolClient");
        assert.deepEqual(client.inputs.callbackUrls, ["https://app.dev.ecommerce.example.com/auth/callback"]);
        assert.equal(client.inputs.generateSecret, false);
    },
    prod(doc) {
        const pool = only(doc, "aws:cognito/userPool:UserPool");
        assert.equal(pool.inputs.mfaConfiguration, "ON");
        assert.equal(pool.inputs.deletionProtection, "ACTIVE");
        assert.equal(only(doc, "aws:acm/certificate:Certificate").inputs.domainName, "auth.ecommerce.example.com");
        assert.equal(only(doc, "aws:cognito/userPoolDomain:UserPoolDomain").inputs.domain, "auth.ecommerce.example.com");
        assert.equal(count(doc, "aws:route53/record:Record"), 2, "certificate validation + alias");
    },
});
