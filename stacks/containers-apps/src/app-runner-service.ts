// An App Runner service: a container from ECR behind App Runner's managed HTTPS endpoint,
// load balancing and autoscaling — no VPC, cluster or load balancer to run.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface AppRunnerServiceArgs {
    serviceName: string;
    imageUri: pulumi.Input<string>;
    port: number;
    /** App Runner sizes, e.g. "1024" (1 vCPU) and "2048" (2 GB). */
    cpu: string;
    memory: string;
    minInstances: number;
    maxInstances: number;
    healthCheckPath: string;
    environment: Record<string, string>;
    tags: Record<string, string>;
}

export class AppRunnerService extends pulumi.ComponentResource {
    public readonly service: aws.apprunner.Service;

    constructor(name: string, args: AppRunnerServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:containers:AppRunnerService", name, {}, opts);
        const parent = { parent: this };

        // App Runner's build service assumes this role to pull from our private ECR repository.
        const access = new aws.iam.Role(`${name}-ecr-access`, {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "build.apprunner.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: args.tags,
        }, parent);
        const accessPolicy = new aws.iam.RolePolicyAttachment(`${name}-ecr-access-policy`, {
            role: access.name,
            policyArn: "arn:aws:iam::aws:policy/service-role/AWSAppRunnerServicePolicyForECRAccess",
        }, parent);

        const scaling = new aws.apprunner.AutoScalingConfigurationVersion(`${name}-scaling`, {
            autoScalingConfigurationName: args.serviceName.slice(0, 32),
            minSize: args.minInstances,
            maxSize: args.maxInstances,
            // Requests one instance handles before App Runner adds another.
            maxConcurrency: 100,
            tags: args.tags,
        }, parent);

        this.service = new aws.apprunner.Service(`${name}`, {
            serviceName: args.serviceName,
            sourceConfiguration: {
                authenticationConfiguration: { accessRoleArn: access.arn },
                // Deploys happen through cloud-engine's plan/approve flow, not on every push.
                autoDeploymentsEnabled: false,
                imageRepository: {
                    imageIdentifier: args.imageUri,
                    imageRepositoryType: "ECR",
                    imageConfiguration: { port: String(args.port), runtimeEnvironmentVariables: args.environment },
                },
            },
            instanceConfiguration: { cpu: args.cpu, memory: args.memory },
            autoScalingConfigurationArn: scaling.arn,
            healthCheckConfiguration: { protocol: "HTTP", path: args.healthCheckPath, interval: 10, timeout: 5, healthyThreshold: 1, unhealthyThreshold: 3 },
            tags: args.tags,
        }, { parent: this, dependsOn: [accessPolicy] });

        this.registerOutputs({ serviceUrl: this.service.serviceUrl });
    }
}
