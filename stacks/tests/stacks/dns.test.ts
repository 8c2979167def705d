import assert from "node:assert/strict";
import { count, describeStack, ofType } from "../harness";

const ZONE = "aws:route53/zone:Zone";

describeStack("dns", {
    dev(doc) {
        assert.equal(count(doc, ZONE), 2);
        const [pub, priv] = ofType(doc, ZONE);
        assert.equal(pub.inputs.name, "dev.ecommerce.example.com");
        assert.equal(pub.inputs.forceDestroy, true);
        assert.equal(priv.inputs.name, "internal.dev.ecommerce.example.com");
        assert.ok(Array.isArray(priv.inputs.vpcs), "the private zone is attached to the VPC");
    },
    prod(doc) {
        const [pub] = ofType(doc, ZONE);
        assert.equal(pub.inputs.name, "ecommerce.example.com", "prod owns the bare domain");
        assert.equal(pub.inputs.forceDestroy, false);
        assert.equal(doc.outputs.zoneName, "ecommerce.example.com");
    },
});
