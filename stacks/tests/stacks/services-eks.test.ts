import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const NODES = "aws:eks/nodeGroup:NodeGroup";

describeStack("services-eks", {
    dev(doc) {
        const ng = only(doc, NODES);
        assert.deepEqual(ng.inputs.scalingConfig, { desiredSize: 1, maxSize: 2, minSize: 1 });
        assert.deepEqual(ng.inputs.instanceTypes, ["t3.medium"]);
        assert.equal(ng.inputs.capacityType, "SPOT");
        const cluster = only(doc, "aws:eks/cluster:Cluster");
        assert.equal(cluster.inputs.version, "1.31");
        assert.deepEqual((cluster.inputs.encryptionConfig as { resources: string[] }).resources, ["secrets"]);
    },
    prod(doc) {
        const ng = only(doc, NODES);
        assert.deepEqual(ng.inputs.scalingConfig, { desiredSize: 3, maxSize: 9, minSize: 3 });
        assert.deepEqual(ng.inputs.instanceTypes, ["m6i.xlarge"]);
        assert.equal(ng.inputs.capacityType, "ON_DEMAND");
        assert.equal((only(doc, "aws:eks/cluster:Cluster").inputs.enabledClusterLogTypes as string[]).length, 5);
    },
});
