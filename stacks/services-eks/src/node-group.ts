// A managed node group and its IAM role. The role's policies must be attached before
// the group is created, otherwise nodes fail to join the cluster.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface NodeGroupArgs {
    clusterName: pulumi.Input<string>;
    nodeGroupName: string;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    instanceTypes: string[];
    capacityType: "ON_DEMAND" | "SPOT";
    desiredSize: number;
    minSize: number;
    maxSize: number;
    diskSize: number;
    tags: Record<string, string>;
}

const NODE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"];

export class NodeGroup extends pulumi.ComponentResource {
    public readonly nodeGroup: aws.eks.NodeGroup;
    public readonly role: aws.iam.Role;

    constructor(name: string, args: NodeGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:eks:NodeGroup", name, {}, opts);
        const parent = { parent: this };

        this.role = new aws.iam.Role(`${name}-role`, {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: args.tags,
        }, parent);
        const attachments = NODE_POLICIES.map((p) => new aws.iam.RolePolicyAttachment(`${name}-${p}`, {
            role: this.role.name,
            policyArn: `arn:aws:iam::aws:policy/${p}`,
        }, parent));

        this.nodeGroup = new aws.eks.NodeGroup(`${name}`, {
            clusterName: args.clusterName,
            nodeGroupName: args.nodeGroupName,
            nodeRoleArn: this.role.arn,
            subnetIds: args.subnetIds,
            instanceTypes: args.instanceTypes,
            capacityType: args.capacityType,
            diskSize: args.diskSize,
            scalingConfig: { desiredSize: args.desiredSize, minSize: args.minSize, maxSize: args.maxSize },
            // Replace one node at a time during upgrades.
            updateConfig: { maxUnavailable: 1 },
            labels: { "cloud-engine/node-group": args.nodeGroupName },
            tags: args.tags,
        }, {
            parent: this,
            dependsOn: attachments,
            // The cluster autoscaler changes the desired size at run time.
            ignoreChanges: ["scalingConfig.desiredSize"],
        });

        this.registerOutputs({ nodeGroupName: this.nodeGroup.nodeGroupName });
    }
}
