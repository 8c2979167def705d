import assert from "node:assert/strict";
import { count, describeStack, ofType, only } from "../harness";

const NAT = "aws:ec2/natGateway:NatGateway";
const SUBNET = "aws:ec2/subnet:Subnet";

describeStack("network", {
    dev(doc) {
        assert.equal(count(doc, NAT), 1, "dev shares one NAT gateway");
        assert.equal(count(doc, SUBNET), 4, "2 AZs x public/private");
        assert.equal(count(doc, "aws:ec2/flowLog:FlowLog"), 0);
        assert.ok(doc.resources.length >= 10 && doc.resources.length <= 16, `dev has ${doc.resources.length} resources`);
        assert.equal(only(doc, "aws:ec2/vpc:Vpc").inputs.cidrBlock, "10.0.0.0/16");
        assert.deepEqual(doc.outputs.availabilityZones, ["us-east-1a", "us-east-1b"]);
    },
    stage(doc) {
        assert.equal(count(doc, NAT), 1);
        assert.equal(count(doc, SUBNET), 4);
    },
    prod(doc) {
        assert.equal(count(doc, NAT), 3, "prod has a NAT gateway per AZ");
        assert.equal(count(doc, "aws:ec2/eip:Eip"), 3);
        assert.equal(count(doc, SUBNET), 6, "3 AZs x public/private");
        assert.equal(count(doc, "aws:ec2/flowLog:FlowLog"), 1);
        const cidrs = ofType(doc, SUBNET).map((s) => s.inputs.cidrBlock).sort();
        assert.equal(new Set(cidrs).size, 6, "subnet ranges do not overlap");
        assert.equal((doc.outputs.natGatewayIds as string[]).length, 3);
        // Each private subnet routes through the NAT gateway of its own AZ.
        assert.equal(count(doc, "aws:ec2/routeTable:RouteTable"), 4);
    },
});
