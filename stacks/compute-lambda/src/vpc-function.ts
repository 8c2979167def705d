// A Lambda function attached to the VPC's private subnets, with a least-privilege role
// and a log group created up front so its retention is ours, not "never expire".
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface VpcFunctionArgs {
    functionName: string;
    runtime: string;
    architecture: "arm64" | "x86_64";
    memorySize: number;
    timeout: number;
    /** -1 leaves concurrency unreserved. */
    reservedConcurrency: number;
    code: pulumi.asset.AssetArchive;
    handler: string;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    securityGroupId: pulumi.Input<string>;
    kmsKeyArn: pulumi.Input<string>;
    /** Secrets the function may read at run time. */
    secretArns: pulumi.Input<string>[];
    environment: Record<string, pulumi.Input<string>>;
    logRetentionDays: number;
    tags: Record<string, string>;
}

export class VpcFunction extends pulumi.ComponentResource {
    public readonly fn: aws.lambda.Function;

    constructor(name: string, args: VpcFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:lambda:VpcFunction", name, {}, opts);
        const parent = { parent: this };

        const role = new aws.iam.Role(`${name}-role`, {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: args.tags,
        }, parent);
        // VPC access covers the network interfaces Lambda creates in our subnets (and logs).
        const vpcAccess = new aws.iam.RolePolicyAttachment(`${name}-vpc-access`, {
            role: role.name,
            policyArn: "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
        }, parent);
        const secretsAccess = new aws.iam.RolePolicy(`${name}-secrets`, {
            role: role.id,
            policy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [
                    { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: args.secretArns },
                    { Effect: "Allow", Action: ["kms:Decrypt"], Resource: [args.kmsKeyArn] },
                ],
            }),
        }, parent);

        const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, {
            name: `/aws/lambda/${args.functionName}`,
            retentionInDays: args.logRetentionDays,
            tags: args.tags,
        }, parent);

        this.fn = new aws.lambda.Function(`${name}`, {
            name: args.functionName,
            role: role.arn,
            runtime: args.runtime,
            architectures: [args.architecture],
            handler: args.handler,
            code: args.code,
            memorySize: args.memorySize,
            timeout: args.timeout,
            reservedConcurrentExecutions: args.reservedConcurrency,
            vpcConfig: { subnetIds: args.subnetIds, securityGroupIds: [args.securityGroupId] },
            environment: { variables: args.environment },
            kmsKeyArn: args.kmsKeyArn,
            loggingConfig: { logFormat: "JSON", logGroup: logs.name },
            tracingConfig: { mode: "Active" },
            tags: args.tags,
        }, { parent: this, dependsOn: [vpcAccess, secretsAccess, logs] });

        this.registerOutputs({ functionArn: this.fn.arn });
    }
}
