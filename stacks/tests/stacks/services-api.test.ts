import assert from "node:assert/strict";
import { describeStack, only } from "../harness";

describeStack("services-api", {
    dev(doc) {
        const integration = only(doc, "aws:apigatewayv2/integration:Integration");
        assert.equal(integration.inputs.connectionType, "VPC_LINK");
        assert.match(String(integration.inputs.integrationUri), /:listener\/app\//, "targets the services-ecs listener");
        const authorizer = only(doc, "aws:apigatewayv2/authorizer:Authorizer");
        const jwt = authorizer.inputs.jwtConfiguration as { issuer: string; audiences: string[] };
        assert.match(jwt.issuer, /^https:\/\/cognito-idp\.us-east-1\.amazonaws\.com\/us-east-1_/);
        const stage = only(doc, "aws:apigatewayv2/stage:Stage");
        assert.deepEqual(stage.inputs.defaultRouteSettings, { throttlingBurstLimit: 50, throttlingRateLimit: 25 });
        assert.equal(only(doc, "aws:apigatewayv2/domainName:DomainName").inputs.domainName, "api.dev.ecommerce.example.com");
        assert.equal(doc.outputs.apiUrl, "https://api.dev.ecommerce.example.com");
    },
    prod(doc) {
        const stage = only(doc, "aws:apigatewayv2/stage:Stage");
        assert.deepEqual(stage.inputs.defaultRouteSettings, { throttlingBurstLimit: 1000, throttlingRateLimit: 500 });
        assert.equal(only(doc, "aws:apigatewayv2/domainName:DomainName").inputs.domainName, "api.ecommerce.example.com");
    },
});
