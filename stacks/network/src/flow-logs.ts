// VPC flow logs to CloudWatch Logs: an audit trail of accepted and rejected traffic,
// enabled in prod where incident review needs it and the ingest cost is justified.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface FlowLogsArgs {
    vpcId: pulumi.Input<string>;
    retentionDays: number;
    prefix: string;
    tags: Record<string, string>;
}

export class FlowLogs extends pulumi.ComponentResource {
    public readonly logGroup: aws.cloudwatch.LogGroup;

    constructor(name: string, args: FlowLogsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:network:FlowLogs", name, {}, opts);
        const parent = { parent: this };

        this.logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
            name: `/cloud-engine/${args.prefix}/vpc-flow-logs`,
            retentionInDays: args.retentionDays,
            tags: args.tags,
        }, parent);

        // The VPC flow-logs service assumes this role to write into the log group.
        const role = new aws.iam.Role(`${name}-role`, {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "vpc-flow-logs.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: args.tags,
        }, parent);
        new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.id,
            policy: this.logGroup.arn.apply((arn) => JSON.stringify({
                Version: "2012-10-17",
                Statement: [{
                    Effect: "Allow",
                    Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    Resource: [arn, `${arn}:*`],
                }],
            })),
        }, parent);

        new aws.ec2.FlowLog(`${name}`, {
            vpcId: args.vpcId,
            trafficType: "ALL",
            logDestinationType: "cloud-watch-logs",
            logDestination: this.logGroup.arn,
            iamRoleArn: role.arn,
            tags: args.tags,
        }, parent);

        this.registerOutputs({});
    }
}
