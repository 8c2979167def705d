// A Fargate service: task definition, service in the private subnets registered with the
// load balancer, its log group and task role, and CPU target-tracking autoscaling.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface FargateServiceArgs {
    serviceName: string;
    clusterArn: pulumi.Input<string>;
    clusterName: pulumi.Input<string>;
    image: pulumi.Input<string>;
    containerPort: pulumi.Input<number>;
    /** Fargate task size: cpu units (256 = 0.25 vCPU) and MiB, in a combination Fargate accepts. */
    cpu: number;
    memory: number;
    desiredCount: number;
    maxCount: number;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    securityGroupId: pulumi.Input<string>;
    executionRoleArn: pulumi.Input<string>;
    targetGroupArn: pulumi.Input<string>;
    logRetentionDays: number;
    environment: Record<string, string>;
    tags: Record<string, string>;
}

export class FargateService extends pulumi.ComponentResource {
    public readonly service: aws.ecs.Service;

    constructor(name: string, args: FargateServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:ecs:FargateService", name, {}, opts);
        const parent = { parent: this };

        const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, {
            name: `/cloud-engine/${args.serviceName}`,
            retentionInDays: args.logRetentionDays,
            tags: args.tags,
        }, parent);

        // What the application itself may do (the execution role only pulls images and writes logs).
        const taskRole = new aws.iam.Role(`${name}-task`, {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: args.tags,
        }, parent);

        const containerName = "app";
        const taskDefinition = new aws.ecs.TaskDefinition(`${name}-task`, {
            family: args.serviceName,
            requiresCompatibilities: ["FARGATE"],
            networkMode: "awsvpc",
            cpu: String(args.cpu),
            memory: String(args.memory),
            runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
            executionRoleArn: args.executionRoleArn,
            taskRoleArn: taskRole.arn,
            containerDefinitions: pulumi.jsonStringify([{
                name: containerName,
                image: args.image,
                essential: true,
                portMappings: [{ containerPort: args.containerPort, protocol: "tcp" }],
                environment: Object.entries(args.environment).map(([name, value]) => ({ name, value })),
                logConfiguration: {
                    logDriver: "awslogs",
                    options: { "awslogs-group": logs.name, "awslogs-region": aws.getRegionOutput({}, parent).region, "awslogs-stream-prefix": containerName },
                },
            }]),
            tags: args.tags,
        }, parent);

        this.service = new aws.ecs.Service(`${name}`, {
            name: args.serviceName,
            cluster: args.clusterArn,
            taskDefinition: taskDefinition.arn,
            desiredCount: args.desiredCount,
            launchType: "FARGATE",
            networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
            loadBalancers: [{ targetGroupArn: args.targetGroupArn, containerName, containerPort: args.containerPort }],
            // Roll back automatically when new tasks keep failing their health checks.
            deploymentCircuitBreaker: { enable: true, rollback: true },
            healthCheckGracePeriodSeconds: 60,
            propagateTags: "SERVICE",
            enableExecuteCommand: true,
            tags: args.tags,
        }, {
            parent: this,
            // Autoscaling owns the running count after the first deployment.
            ignoreChanges: ["desiredCount"],
        });

        const target = new aws.appautoscaling.Target(`${name}-scaling`, {
            serviceNamespace: "ecs",
            scalableDimension: "ecs:service:DesiredCount",
            resourceId: pulumi.interpolate`service/${args.clusterName}/${this.service.name}`,
            minCapacity: args.desiredCount,
            maxCapacity: args.maxCount,
            tags: args.tags,
        }, parent);
        new aws.appautoscaling.Policy(`${name}-cpu`, {
            policyType: "TargetTrackingScaling",
            serviceNamespace: target.serviceNamespace,
            scalableDimension: target.scalableDimension,
            resourceId: target.resourceId,
            targetTrackingScalingPolicyConfiguration: {
                targetValue: 60,
                predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
                scaleInCooldown: 120,
                scaleOutCooldown: 60,
            },
        }, parent);

        this.registerOutputs({ serviceName: this.service.name });
    }
}
