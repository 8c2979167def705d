// A PostgreSQL instance on RDS in the private subnets, reachable only from the
// application security group, encrypted with the deployment's KMS key.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface PostgresArgs {
    /** Lowercase identifier prefix (RDS identifiers are lowercase). */
    identifier: string;
    vpcId: pulumi.Input<string>;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** Security group whose members may connect (the application tier). */
    clientSecurityGroupId: pulumi.Input<string>;
    kmsKeyArn: pulumi.Input<string>;
    engineVersion: string;
    instanceClass: string;
    allocatedStorage: number;
    maxAllocatedStorage: number;
    multiAz: boolean;
    backupRetentionDays: number;
    dbName: string;
    port: number;
    username: pulumi.Input<string>;
    password: pulumi.Input<string>;
    /** prod: deletion protection, a final snapshot, changes in the maintenance window. */
    production: boolean;
    performanceInsights: boolean;
    tags: Record<string, string>;
}

export class Postgres extends pulumi.ComponentResource {
    public readonly instance: aws.rds.Instance;
    public readonly securityGroup: aws.ec2.SecurityGroup;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:database:Postgres", name, {}, opts);
        const parent = { parent: this };

        this.securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            vpcId: args.vpcId,
            description: "PostgreSQL: connections from the application tier only",
            tags: { ...args.tags, Name: `${args.identifier}-sg` },
        }, parent);
        new aws.vpc.SecurityGroupIngressRule(`${name}-sg-in`, {
            securityGroupId: this.securityGroup.id,
            referencedSecurityGroupId: args.clientSecurityGroupId,
            ipProtocol: "tcp",
            fromPort: args.port,
            toPort: args.port,
            description: "PostgreSQL from the application tier",
            tags: args.tags,
        }, parent);

        const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, {
            name: `${args.identifier}-subnets`,
            subnetIds: args.subnetIds,
            description: "Private subnets of the deployment's VPC",
            tags: args.tags,
        }, parent);

        const major = args.engineVersion.split(".")[0];
        const parameters = new aws.rds.ParameterGroup(`${name}-params`, {
            name: `${args.identifier}-pg${major}`,
            family: `postgres${major}`,
            description: `cloud-engine settings for PostgreSQL ${major}`,
            parameters: [
                // Refuse unencrypted client connections.
                { name: "rds.force_ssl", value: "1" },
                // Log slow statements so performance problems show up in CloudWatch.
                { name: "log_min_duration_statement", value: args.production ? "1000" : "250" },
                { name: "log_connections", value: "1" },
            ],
            tags: args.tags,
        }, parent);

        this.instance = new aws.rds.Instance(`${name}`, {
            identifier: args.identifier,
            engine: "postgres",
            engineVersion: args.engineVersion,
            instanceClass: args.instanceClass,
            allocatedStorage: args.allocatedStorage,
            // Storage autoscaling up to this size instead of paging someone at 100% full.
            maxAllocatedStorage: args.maxAllocatedStorage,
            storageType: "gp3",
            storageEncrypted: true,
            kmsKeyId: args.kmsKeyArn,
            dbName: args.dbName,
            port: args.port,
            username: args.username,
            password: args.password,
            multiAz: args.multiAz,
            dbSubnetGroupName: subnets.name,
            parameterGroupName: parameters.name,
            vpcSecurityGroupIds: [this.securityGroup.id],
            publiclyAccessible: false,
            backupRetentionPeriod: args.backupRetentionDays,
            backupWindow: "03:00-04:00",
            maintenanceWindow: "sun:04:30-sun:05:30",
            autoMinorVersionUpgrade: true,
            copyTagsToSnapshot: true,
            performanceInsightsEnabled: args.performanceInsights,
            deletionProtection: args.production,
            skipFinalSnapshot: !args.production,
            finalSnapshotIdentifier: args.production ? `${args.identifier}-final` : undefined,
            // Outside prod, apply changes now rather than at the next maintenance window.
            applyImmediately: !args.production,
            tags: args.tags,
        }, parent);

        this.registerOutputs({ endpoint: this.instance.address });
    }
}
