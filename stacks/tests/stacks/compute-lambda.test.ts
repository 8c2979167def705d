import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

const FN = "aws:lambda/function:Function";

describeStack("compute-lambda", {
    dev(doc) {
        const fn = only(doc, FN);
        assert.equal(fn.inputs.memorySize, 128);
        assert.equal(fn.inputs.reservedConcurrentExecutions, -1);
        assert.equal(fn.inputs.runtime, "nodejs20.x");
        assert.ok((fn.inputs.code as { archive: Record<string, unknown> }).archive["index.js"], "inline code archive");
        const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
        assert.match(env.APP_SECRET_ARN, /^arn:aws:secretsmanager:/);
        assert.equal(only(doc, "aws:cloudwatch/logGroup:LogGroup").inputs.name, "/aws/lambda/D000000-compute-lambda-dev-worker");
    },
    prod(doc) {
        const fn = only(doc, FN);
        assert.equal(fn.inputs.memorySize, 512);
        assert.equal(fn.inputs.reservedConcurrentExecutions, 50);
    },
});
