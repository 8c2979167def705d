import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const SERVICE = "aws:ecs/service:Service";
const TASK = "aws:ecs/taskDefinition:TaskDefinition";

describeStack("services-ecs", {
    dev(doc) {
        assert.equal(only(doc, SERVICE).inputs.desiredCount, 1);
        const task = only(doc, TASK);
        assert.equal(task.inputs.cpu, "256");
        assert.equal(task.inputs.memory, "512");
        const [container] = JSON.parse(String(task.inputs.containerDefinitions));
        assert.match(container.image, /services-ecr-dev\/api:latest$/, "runs the services-ecr image");
        assert.equal(container.portMappings[0].containerPort, 8080, "the port comes from the security stack");
        assert.equal(only(doc, "aws:lb/loadBalancer:LoadBalancer").inputs.enableDeletionProtection, false);
        assert.ok(String(only(doc, "aws:lb/loadBalancer:LoadBalancer").inputs.name).length <= 32);
    },
    stage(doc) {
        assert.equal(only(doc, SERVICE).inputs.desiredCount, 2);
    },
    prod(doc) {
        assert.equal(only(doc, SERVICE).inputs.desiredCount, 3);
        const task = only(doc, TASK);
        assert.equal(task.inputs.cpu, "1024");
        assert.equal(task.inputs.memory, "2048");
        assert.equal(only(doc, "aws:appautoscaling/target:Target").inputs.maxCapacity, 10);
        assert.equal(only(doc, "aws:lb/loadBalancer:LoadBalancer").inputs.enableDeletionProtection, true);
    },
});
