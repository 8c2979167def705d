import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const SERVICE = "aws:apprunner/service:Service";

describeStack("containers-apps", {
    dev(doc) {
        const svc = only(doc, SERVICE);
        assert.deepEqual(svc.inputs.instanceConfiguration, { cpu: "256", memory: "512" });
        const image = (svc.inputs.sourceConfiguration as { imageRepository: { imageIdentifier: string } }).imageRepository;
        assert.match(image.imageIdentifier, /containers-images-dev\/app:0\.7\.0$/, "runs the image containers-images publishes");
        const scaling = only(doc, "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion");
        assert.equal(scaling.inputs.maxSize, 1);
    },
    prod(doc) {
        assert.deepEqual(only(doc, SERVICE).inputs.instanceConfiguration, { cpu: "2048", memory: "4096" });
        const scaling = only(doc, "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion");
        assert.equal(scaling.inputs.minSize, 2);
        assert.equal(scaling.inputs.maxSize, 10);
    },
});
