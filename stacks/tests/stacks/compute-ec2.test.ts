import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const LT = "aws:ec2/launchTemplate:LaunchTemplate";
const ASG = "aws:autoscaling/group:Group";

describeStack("compute-ec2", {
    dev(doc) {
        const lt = only(doc, LT);
        assert.equal(lt.inputs.instanceType, "t3.micro");
        assert.match(String(lt.inputs.imageId), /^ami-/);
        assert.equal((lt.inputs.metadataOptions as { httpTokens: string }).httpTokens, "required");
        const asg = only(doc, ASG);
        assert.equal(asg.inputs.minSize, 1);
        assert.equal(asg.inputs.maxSize, 1);
        assert.equal(asg.inputs.desiredCapacity, 1);
    },
    prod(doc) {
        assert.equal(only(doc, LT).inputs.instanceType, "m6i.large");
        const asg = only(doc, ASG);
        assert.equal(asg.inputs.minSize, 2);
        assert.equal(asg.inputs.desiredCapacity, 3);
        assert.equal((asg.inputs.vpcZoneIdentifiers as string[]).length, 3, "spread over the three prod AZs");
    },
});
