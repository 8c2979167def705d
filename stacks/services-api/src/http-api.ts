// An HTTP API that forwards every route privately, through a VPC link, to the ECS
// service's load balancer listener, with Cognito JWTs checked at the edge.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface HttpApiArgs {
    apiName: string;
    vpcId: pulumi.Input<string>;
    vpcCidrBlock: pulumi.Input<string>;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** The ALB listener the VPC link integration forwards to. */
    listenerArn: pulumi.Input<string>;
    /** Cognito issuer (`https://cognito-idp.<region>.amazonaws.com/<pool>`) and app client id. */
    jwtIssuer: pulumi.Input<string>;
    jwtAudience: pulumi.Input<string>;
    corsAllowOrigins: string[];
    throttlingBurstLimit: number;
    throttlingRateLimit: number;
    logRetentionDays: number;
    tags: Record<string, string>;
}

export class HttpApi extends pulumi.ComponentResource {
    public readonly api: aws.apigatewayv2.Api;
    public readonly stage: aws.apigatewayv2.Stage;

    constructor(name: string, args: HttpApiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:api:HttpApi", name, {}, opts);
        const parent = { parent: this };

        // The VPC link's network interfaces only need to reach the load balancer.
        const linkGroup = new aws.ec2.SecurityGroup(`${name}-vpc-link`, {
            vpcId: args.vpcId,
            description: "API Gateway VPC link to the internal load balancer listener",
            tags: { ...args.tags, Name: `${args.apiName}-vpc-link` },
        }, parent);
        new aws.vpc.SecurityGroupEgressRule(`${name}-vpc-link-out`, {
            securityGroupId: linkGroup.id,
            cidrIpv4: args.vpcCidrBlock,
            ipProtocol: "tcp",
            fromPort: 80,
            toPort: 80,
            description: "HTTP to the load balancer",
            tags: args.tags,
        }, parent);
        const link = new aws.apigatewayv2.VpcLink(`${name}-link`, {
            name: `${args.apiName}-link`,
            subnetIds: args.subnetIds,
            securityGroupIds: [linkGroup.id],
            tags: args.tags,
        }, parent);

        this.api = new aws.apigatewayv2.Api(`${name}`, {
            name: args.apiName,
            protocolType: "HTTP",
            corsConfiguration: {
                allowOrigins: args.corsAllowOrigins,
                allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allowHeaders: ["authorization", "content-type"],
                maxAge: 3600,
            },
            tags: args.tags,
        }, parent);

        const authorizer = new aws.apigatewayv2.Authorizer(`${name}-jwt`, {
            apiId: this.api.id,
            name: "cognito",
            authorizerType: "JWT",
            identitySources: ["$request.header.Authorization"],
            jwtConfiguration: { issuer: args.jwtIssuer, audiences: [args.jwtAudience] },
        }, parent);

        const integration = new aws.apigatewayv2.Integration(`${name}-alb`, {
            apiId: this.api.id,
            integrationType: "HTTP_PROXY",
            integrationMethod: "ANY",
            integrationUri: args.listenerArn,
            connectionType: "VPC_LINK",
            connectionId: link.id,
            payloadFormatVersion: "1.0",
            timeoutMilliseconds: 29000,
        }, parent);
        const target = pulumi.interpolate`integrations/${integration.id}`;

        // Health checks stay public so uptime probes need no token; everything else needs a JWT.
        new aws.apigatewayv2.Route(`${name}-health`, { apiId: this.api.id, routeKey: "GET /health", target }, parent);
        new aws.apigatewayv2.Route(`${name}-proxy`, {
            apiId: this.api.id,
            routeKey: "ANY /{proxy+}",
            target,
            authorizationType: "JWT",
            authorizerId: authorizer.id,
        }, parent);

        const accessLogs = new aws.cloudwatch.LogGroup(`${name}-access-logs`, {
            name: `/cloud-engine/${args.apiName}/access`,
            retentionInDays: args.logRetentionDays,
            tags: args.tags,
        }, parent);
        this.stage = new aws.apigatewayv2.Stage(`${name}-stage`, {
            apiId: this.api.id,
            name: "$default",
            autoDeploy: true,
            defaultRouteSettings: { throttlingBurstLimit: args.throttlingBurstLimit, throttlingRateLimit: args.throttlingRateLimit },
            accessLogSettings: {
                destinationArn: accessLogs.arn,
                format: JSON.stringify({
                    requestId: "$context.requestId", ip: "$context.identity.sourceIp", method: "$context.httpMethod",
                    path: "$context.path", status: "$context.status", latency: "$context.responseLatency",
                    integrationError: "$context.integrationErrorMessage",
                }),
            },
            tags: args.tags,
        }, parent);

        this.registerOutputs({ apiEndpoint: this.api.apiEndpoint });
    }
}
