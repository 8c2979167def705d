// The EKS control plane: its IAM role, the cluster in the VPC's subnets, Kubernetes
// secrets envelope-encrypted with the deployment's KMS key, and control-plane logs.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ClusterArgs {
    clusterName: string;
    version: string;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** Extra security group for the control plane's network interfaces. */
    securityGroupId: pulumi.Input<string>;
    kmsKeyArn: pulumi.Input<string>;
    logTypes: string[];
    tags: Record<string, string>;
}

export class EksCluster extends pulumi.ComponentResource {
    public readonly cluster: aws.eks.Cluster;

    constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:eks:Cluster", name, {}, opts);
        const parent = { parent: this };

        const role = new aws.iam.Role(`${name}-role`, {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "eks.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: args.tags,
        }, parent);
        const policy = new aws.iam.RolePolicyAttachment(`${name}-role-policy`, {
            role: role.name,
            policyArn: "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
        }, parent);

        this.cluster = new aws.eks.Cluster(`${name}`, {
            name: args.clusterName,
            version: args.version,
            roleArn: role.arn,
            vpcConfig: {
                subnetIds: args.subnetIds,
                securityGroupIds: [args.securityGroupId],
                // Nodes reach the API privately; operators and the bot reach it publicly.
                endpointPrivateAccess: true,
                endpointPublicAccess: true,
            },
            // Access entries (IAM-native) rather than the aws-auth ConfigMap.
            accessConfig: { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: true },
            encryptionConfig: { provider: { keyArn: args.kmsKeyArn }, resources: ["secrets"] },
            enabledClusterLogTypes: args.logTypes,
            tags: args.tags,
        }, { parent: this, dependsOn: [policy] });

        this.registerOutputs({ endpoint: this.cluster.endpoint });
    }
}
