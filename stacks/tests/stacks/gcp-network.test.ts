import assert from "node:assert/strict";
import { count, describeStack, only } from "../harness";

const ADDRESS = "gcp:compute/address:Address";
const SUBNET = "gcp:compute/subnetwork:Subnetwork";
const NAT = "gcp:compute/routerNat:RouterNat";

describeStack("gcp-network", {
    dev(doc) {
        const network = only(doc, "gcp:compute/network:Network");
        assert.equal(network.inputs.autoCreateSubnetworks, false, "custom mode");
        assert.equal(network.inputs.name, "d000000-gcp-network-dev-vpc", "physical names are lowercase");
        const subnet = only(doc, SUBNET);
        assert.equal(subnet.inputs.ipCidrRange, "10.20.0.0/20");
        assert.equal(subnet.inputs.privateIpGoogleAccess, true);
        assert.equal(subnet.inputs.logConfig, undefined, "no flow logs in dev");
        assert.equal(count(doc, ADDRESS), 0, "dev NAT uses Google-allocated addresses");
        assert.equal(only(doc, NAT).inputs.natIpAllocateOption, "AUTO_ONLY");
        const range = only(doc, "gcp:compute/globalAddress:GlobalAddress");
        assert.deepEqual([range.inputs.purpose, range.inputs.address, range.inputs.prefixLength], ["VPC_PEERING", "10.21.0.0", 16]);
        assert.equal(only(doc, "gcp:servicenetworking/connection:Connection").inputs.service, "servicenetworking.googleapis.com");
        assert.equal(doc.outputs.region, "us-central1");
    },
    stage(doc) {
        assert.equal(count(doc, ADDRESS), 0);
    },
    prod(doc) {
        assert.equal(count(doc, ADDRESS), 2, "prod NAT egresses from two reserved addresses");
        const nat = only(doc, NAT);
        assert.equal(nat.inputs.natIpAllocateOption, "MANUAL_ONLY");
        assert.equal((nat.inputs.natIps as string[]).length, 2);
        assert.equal(nat.inputs.minPortsPerVm, 128);
        const logConfig = only(doc, SUBNET).inputs.logConfig as { flowSampling: number };
        assert.equal(logConfig.flowSampling, 0.5, "prod records flow logs");
    },
});
