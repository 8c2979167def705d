import assert from "node:assert/strict";
import { count, describeStack, only } from "../harness";

describeStack("containers-images", {
    dev(doc) {
        const repo = only(doc, "aws:ecr/repository:Repository");
        assert.equal(repo.inputs.imageTagMutability, "MUTABLE");
        assert.equal(repo.inputs.name, "d000000-containers-images-dev/app");
        const policy = JSON.parse(String(only(doc, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy));
        assert.equal(policy.rules[1].selection.countNumber, 10);
        assert.equal(count(doc, "aws:ssm/parameter:Parameter"), 2);
        assert.match(String(doc.outputs.imageUri), /\.dkr\.ecr\.us-east-1\.amazonaws\.com\/d000000-containers-images-dev\/app:0\.7\.0$/);
    },
    prod(doc) {
        assert.equal(only(doc, "aws:ecr/repository:Repository").inputs.imageTagMutability, "IMMUTABLE");
    },
});
