// services-api: the public API. API Gateway terminates TLS on api.<zone>, verifies the
// Cognito JWT, throttles per environment, and forwards through a VPC link to the ECS
// service's load balancer.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { CustomDomain } from "./src/custom-domain";
import { HttpApi } from "./src/http-api";

const ctx = loadContext("services-api");
const network = stackReference(ctx, "network");
const dns = stackReference(ctx, "dns");
const auth = stackReference(ctx, "authentication");
const ecs = stackReference(ctx, "services-ecs");

const http = new HttpApi(resourceName(ctx, "api"), {
    apiName: `${ctx.prefix}-api`,
    vpcId: network.requireOutput("vpcId") as pulumi.Output<string>,
    vpcCidrBlock: network.requireOutput("vpcCidrBlock") as pulumi.Output<string>,
    subnetIds: network.requireOutput("privateSubnetIds") as pulumi.Output<string[]>,
    listenerArn: ecs.requireOutput("albListenerArn") as pulumi.Output<string>,
    jwtIssuer: pulumi.interpolate`https://${auth.requireOutput("userPoolEndpoint")}`,
    jwtAudience: auth.requireOutput("userPoolClientId") as pulumi.Output<string>,
    corsAllowOrigins: (ctx.config.get("corsAllowOrigins") ?? "*").split(",").map((o) => o.trim()),
    throttlingBurstLimit: sizedNumber(ctx, "throttlingBurstLimit", { dev: 50, stage: 200, prod: 1000 }),
    throttlingRateLimit: sizedNumber(ctx, "throttlingRateLimit", { dev: 25, stage: 100, prod: 500 }),
    logRetentionDays: sizedNumber(ctx, "logRetentionDays", { dev: 7, stage: 30, prod: 90 }),
    tags: ctx.tags,
});

let url: pulumi.Output<string> = http.stage.invokeUrl;
if (ctx.config.getBoolean("customDomain") ?? true) {
    const domain = new CustomDomain(resourceName(ctx, "domain"), {
        domainName: pulumi.interpolate`${ctx.config.get("subdomain") ?? "api"}.${dns.requireOutput("zoneName")}`,
        zoneId: dns.requireOutput("zoneId") as pulumi.Output<string>,
        apiId: http.api.id,
        stageName: http.stage.name,
        tags: ctx.tags,
    });
    url = domain.url;
}

export const apiId = http.api.id;
export const apiEndpoint = http.api.apiEndpoint;
/** The URL clients use: the custom domain when enabled. */
export const apiUrl = url;
export const stageName = http.stage.name;
