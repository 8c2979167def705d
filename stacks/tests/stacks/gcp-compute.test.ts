import assert from "node:assert/strict";
import { describeStack, ofType, only } from "../harness";

const TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate";
const AUTOSCALER = "gcp:compute/regionAutoscaler:RegionAutoscaler";

type Policy = { minReplicas: number; maxReplicas: number };

describeStack("gcp-compute", {
    dev(doc) {
        const t = only(doc, TEMPLATE);
        assert.equal(t.inputs.machineType, "e2-small");
        const [nic] = t.inputs.networkInterfaces as { subnetwork: string; accessConfigs?: unknown }[];
        assert.match(nic.subnetwork, /\/subnetworks\/d000000-gcp-network-dev-vpc-subnet$/, "in gcp-network's subnet");
        assert.equal(nic.accessConfigs, undefined, "no external IP");
        assert.deepEqual(t.inputs.shieldedInstanceConfig, { enableIntegrityMonitoring: true, enableSecureBoot: true, enableVtpm: true });
        assert.equal((t.inputs.metadata as Record<string, string>)["enable-oslogin"], "TRUE");
        const [disk] = t.inputs.disks as { diskSizeGb: number; sourceImage: string }[];
        assert.equal(disk.diskSizeGb, 20);
        assert.equal(disk.sourceImage, "debian-cloud/debian-12");
        const policy = only(doc, AUTOSCALER).inputs.autoscalingPolicy as Policy;
        assert.deepEqual([policy.minReplicas, policy.maxReplicas], [1, 1]);
        // The firewall rules admit only health checkers and IAP, and only to this group's tag.
        const tags = t.inputs.tags as string[];
        for (const fw of ofType(doc, "gcp:compute/firewall:Firewall")) assert.deepEqual(fw.inputs.targetTags, tags);
        assert.equal((only(doc, "gcp:serviceaccount/account:Account").inputs.accountId as string).length <= 30, true);
    },
    stage(doc) {
        assert.equal(only(doc, TEMPLATE).inputs.machineType, "e2-medium");
        const policy = only(doc, AUTOSCALER).inputs.autoscalingPolicy as Policy;
        assert.deepEqual([policy.minReplicas, policy.maxReplicas], [1, 3]);
    },
    prod(doc) {
        assert.equal(only(doc, TEMPLATE).inputs.machineType, "n2-standard-2");
        const policy = only(doc, AUTOSCALER).inputs.autoscalingPolicy as Policy;
        assert.deepEqual([policy.minReplicas, policy.maxReplicas], [2, 6]);
        const mig = only(doc, "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager");
        assert.equal(mig.inputs.distributionPolicyTargetShape, "EVEN", "spread over the region's zones");
        assert.equal((mig.inputs.updatePolicy as { maxUnavailableFixed: number }).maxUnavailableFixed, 0);
    },
});
