import assert from "node:assert/strict";
import { count, describeStack, ofType, only } from "../harness";

describeStack("security", {
    dev(doc) {
        const key = only(doc, "aws:kms/key:Key");
        assert.equal(key.inputs.enableKeyRotation, true);
        assert.equal(key.inputs.deletionWindowInDays, 7);
        assert.equal(count(doc, "aws:ec2/securityGroup:SecurityGroup"), 2);
        const appIn = ofType(doc, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").find((r) => r.name.endsWith("app-in"));
        assert.ok(appIn, "the app group admits the ALB");
        assert.equal(appIn.inputs.fromPort, 8080);
        assert.equal(appIn.inputs.cidrIpv4, undefined, "app ingress comes from the ALB group, not a CIDR");
        assert.equal(doc.outputs.appPort, 8080);
    },
    prod(doc) {
        assert.equal(only(doc, "aws:kms/key:Key").inputs.deletionWindowInDays, 30);
    },
});
