// monitoring: alarms on the signals that mean users are affected (database saturation,
// API and load balancer errors, unhealthy tasks, NAT port exhaustion), a dashboard with
// the same metrics, and the SNS topic the alarms notify.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { AlarmTopic } from "./src/alarm-topic";
import { AlarmSpec, Alarms } from "./src/alarms";

const ctx = loadContext("monitoring");
const network = stackReference(ctx, "network");
const database = stackReference(ctx, "database-rds");
const ecs = stackReference(ctx, "services-ecs");
const api = stackReference(ctx, "services-api");

const out = (ref: pulumi.StackReference, name: string) => ref.requireOutput(name) as pulumi.Output<string>;
const db = out(database, "dbInstanceIdentifier");
const cluster = out(ecs, "clusterName");
const service = out(ecs, "serviceName");
const alb = out(ecs, "albArnSuffix");
const targetGroup = out(ecs, "targetGroupArnSuffix");
const apiId = out(api, "apiId");
const stage = out(api, "stageName");

const cpuPercent = ctx.config.getNumber("cpuAlarmPercent") ?? 80;
const freeStorageGb = sizedNumber(ctx, "dbFreeStorageAlarmGb", { dev: 2, stage: 5, prod: 10 });
const http5xx = sizedNumber(ctx, "http5xxAlarmCount", { dev: 50, stage: 20, prod: 10 });

const topic = new AlarmTopic(resourceName(ctx, "alarms-topic"), {
    topicName: `${ctx.prefix}-alarms`,
    email: ctx.config.get("alarmEmail") ?? "",
    tags: ctx.tags,
});

const specs: AlarmSpec[] = [
    { suffix: "db-cpu", description: "Database CPU high: queries will slow down", namespace: "AWS/RDS", metricName: "CPUUtilization",
      dimensions: { DBInstanceIdentifier: db }, statistic: "Average", comparison: "GreaterThanThreshold", threshold: cpuPercent },
    { suffix: "db-free-storage", description: "Database storage nearly full (autoscaling may be at its maximum)", namespace: "AWS/RDS",
      metricName: "FreeStorageSpace", dimensions: { DBInstanceIdentifier: db }, statistic: "Minimum", comparison: "LessThanThreshold",
      threshold: freeStorageGb * 1024 ** 3 },
    { suffix: "ecs-cpu", description: "api service CPU high beyond what autoscaling absorbs", namespace: "AWS/ECS", metricName: "CPUUtilization",
      dimensions: { ClusterName: cluster, ServiceName: service }, statistic: "Average", comparison: "GreaterThanThreshold", threshold: cpuPercent },
    { suffix: "ecs-memory", description: "api service memory high: tasks risk OOM kills", namespace: "AWS/ECS", metricName: "MemoryUtilization",
      dimensions: { ClusterName: cluster, ServiceName: service }, statistic: "Average", comparison: "GreaterThanThreshold", threshold: cpuPercent },
    { suffix: "alb-5xx", description: "Load balancer returning 5xx to clients", namespace: "AWS/ApplicationELB", metricName: "HTTPCode_ELB_5XX_Count",
      dimensions: { LoadBalancer: alb }, statistic: "Sum", comparison: "GreaterThanThreshold", threshold: http5xx },
    { suffix: "alb-unhealthy", description: "api tasks failing load balancer health checks", namespace: "AWS/ApplicationELB",
      metricName: "UnHealthyHostCount", dimensions: { LoadBalancer: alb, TargetGroup: targetGroup }, statistic: "Maximum",
      comparison: "GreaterThanOrEqualToThreshold", threshold: 1, periodSeconds: 60, evaluationPeriods: 3 },
    { suffix: "api-5xx", description: "HTTP API returning 5xx", namespace: "AWS/ApiGateway", metricName: "5xx",
      dimensions: { ApiId: apiId, Stage: stage }, statistic: "Sum", comparison: "GreaterThanThreshold", threshold: http5xx },
];

const alarms = new Alarms(resourceName(ctx, "alarms"), { prefix: ctx.prefix, topicArn: topic.topic.arn, alarms: specs, tags: ctx.tags });

// NAT gateways go on the dashboard rather than into alarms: how many there are is only
// known from the network stack's outputs, and resources must not be declared inside
// apply() (a preview could not show them).
const natGatewayIds = network.requireOutput("natGatewayIds") as pulumi.Output<string[]>;
const region = aws.getRegionOutput().region;

const dashboardBody = pulumi
    .all([
        pulumi.all([region, db, cluster, service, alb, apiId, stage, network.requireOutput("vpcId") as pulumi.Output<string>]),
        natGatewayIds,
    ])
    .apply(([[r, dbId, clusterName, serviceName, albSuffix, api, stageName, vpc], nats]) => {
        const widget = (x: number, y: number, title: string, metrics: unknown[][], stat = "Average") => ({
            type: "metric", x, y, width: 12, height: 6,
            properties: { title, region: r, stat, period: 300, view: "timeSeries", metrics },
        });
        return JSON.stringify({
            widgets: [
                { type: "text", x: 0, y: 0, width: 24, height: 2,
                  properties: { markdown: `# Deployment ${ctx.deploymentId}, ${ctx.environment}\nVPC ${vpc}` } },
                widget(0, 2, "Database CPU %", [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", dbId]]),
                widget(12, 2, "Database connections", [["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", dbId]]),
                widget(0, 8, "api service CPU / memory %", [
                    ["AWS/ECS", "CPUUtilization", "ClusterName", clusterName, "ServiceName", serviceName],
                    ["AWS/ECS", "MemoryUtilization", "ClusterName", clusterName, "ServiceName", serviceName],
                ]),
                widget(12, 8, "Load balancer requests and 5xx", [
                    ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", albSuffix],
                    ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", albSuffix],
                ], "Sum"),
                widget(0, 14, "API requests, 4xx, 5xx", [
                    ["AWS/ApiGateway", "Count", "ApiId", api, "Stage", stageName],
                    ["AWS/ApiGateway", "4xx", "ApiId", api, "Stage", stageName],
                    ["AWS/ApiGateway", "5xx", "ApiId", api, "Stage", stageName],
                ], "Sum"),
                widget(12, 14, "NAT port allocation errors", nats.map((id) => ["AWS/NATGateway", "ErrorPortAllocation", "NatGatewayId", id]), "Sum"),
            ],
        });
    });

const dashboard = new aws.cloudwatch.Dashboard(resourceName(ctx, "dashboard"), {
    dashboardName: ctx.prefix,
    dashboardBody,
});

export const alarmTopicArn = topic.topic.arn;
export const dashboardName = dashboard.dashboardName;
export const alarmNames = alarms.alarms.map((a) => a.name);
