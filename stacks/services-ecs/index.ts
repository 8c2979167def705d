// services-ecs: the api service on ECS Fargate behind a public application load balancer.
//
// Tasks run in the private subnets with the security stack's app group; the ALB sits in
// the public subnets with the ALB group. dev runs one 0.25 vCPU task; prod runs three
// 1 vCPU tasks (one per AZ) and scales to ten, with Container Insights and a protected ALB.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { FargateService } from "./src/fargate-service";
import { LoadBalancer } from "./src/load-balancer";

const ctx = loadContext("services-ecs");
const network = stackReference(ctx, "network");
const security = stackReference(ctx, "security");
const ecr = stackReference(ctx, "services-ecr");

const appPort = security.requireOutput("appPort") as pulumi.Output<number>;
const healthCheckPath = ctx.config.get("healthCheckPath") ?? "/health";
// Load balancer and target group names are limited to 32 characters.
const shortName = `${ctx.deploymentId}-${ctx.environment}-api`.toLowerCase();

const cluster = new aws.ecs.Cluster(resourceName(ctx, "cluster"), {
    name: `${ctx.prefix}-cluster`,
    settings: [{ name: "containerInsights", value: ctx.isProd ? "enabled" : "disabled" }],
    tags: ctx.tags,
});

const lb = new LoadBalancer(resourceName(ctx, "alb"), {
    shortName,
    vpcId: network.requireOutput("vpcId") as pulumi.Output<string>,
    subnetIds: network.requireOutput("publicSubnetIds") as pulumi.Output<string[]>,
    securityGroupId: security.requireOutput("albSecurityGroupId") as pulumi.Output<string>,
    targetPort: appPort,
    healthCheckPath,
    deletionProtection: ctx.isProd,
    tags: ctx.tags,
});

const imageTag = ctx.config.get("imageTag") ?? "latest";
const api = new FargateService(resourceName(ctx, "api"), {
    serviceName: `${ctx.prefix}-api`,
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    image: pulumi.interpolate`${ecr.requireOutput("apiRepositoryUrl")}:${imageTag}`,
    containerPort: appPort,
    cpu: sizedNumber(ctx, "cpu", { dev: 256, stage: 512, prod: 1024 }),
    memory: sizedNumber(ctx, "memory", { dev: 512, stage: 1024, prod: 2048 }),
    desiredCount: sizedNumber(ctx, "desiredCount", { dev: 1, stage: 2, prod: 3 }),
    maxCount: sizedNumber(ctx, "maxCount", { dev: 2, stage: 4, prod: 10 }),
    subnetIds: network.requireOutput("privateSubnetIds") as pulumi.Output<string[]>,
    securityGroupId: security.requireOutput("appSecurityGroupId") as pulumi.Output<string>,
    executionRoleArn: security.requireOutput("ecsTaskExecutionRoleArn") as pulumi.Output<string>,
    targetGroupArn: lb.targetGroup.arn,
    logRetentionDays: sizedNumber(ctx, "logRetentionDays", { dev: 7, stage: 30, prod: 90 }),
    environment: { ENVIRONMENT: ctx.environment, DEPLOYMENT_ID: ctx.deploymentId },
    tags: ctx.tags,
}, { dependsOn: [lb] });

export const clusterName = cluster.name;
export const clusterArn = cluster.arn;
export const serviceName = api.service.name;
export const albArn = lb.alb.arn;
export const albDnsName = lb.alb.dnsName;
export const albZoneId = lb.alb.zoneId;
/** For CloudWatch metrics (dimension LoadBalancer). */
export const albArnSuffix = lb.alb.arnSuffix;
/** services-api's VPC link integration targets this listener. */
export const albListenerArn = lb.listener.arn;
export const targetGroupArnSuffix = lb.targetGroup.arnSuffix;
