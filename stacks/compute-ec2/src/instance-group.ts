// A group of identical instances: a launch template (AMI, size, IMDSv2, encrypted disk,
// instance profile) and an auto scaling group that keeps them running across AZs and
// replaces them gradually when the template changes.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface InstanceGroupArgs {
    groupName: string;
    amiId: pulumi.Input<string>;
    instanceType: string;
    rootVolumeSize: number;
    kmsKeyArn: pulumi.Input<string>;
    instanceProfileName: pulumi.Input<string>;
    securityGroupId: pulumi.Input<string>;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    minSize: number;
    maxSize: number;
    desiredCapacity: number;
    detailedMonitoring: boolean;
    userData: string;
    tags: Record<string, string>;
}

export class InstanceGroup extends pulumi.ComponentResource {
    public readonly launchTemplate: aws.ec2.LaunchTemplate;
    public readonly group: aws.autoscaling.Group;

    constructor(name: string, args: InstanceGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:compute:InstanceGroup", name, {}, opts);
        const parent = { parent: this };

        this.launchTemplate = new aws.ec2.LaunchTemplate(`${name}-lt`, {
            namePrefix: `${args.groupName}-`,
            imageId: args.amiId,
            instanceType: args.instanceType,
            iamInstanceProfile: { name: args.instanceProfileName },
            vpcSecurityGroupIds: [args.securityGroupId],
            // IMDSv2 only: blocks the SSRF-to-credentials path of IMDSv1.
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            blockDeviceMappings: [{
                deviceName: "/dev/xvda",
                ebs: { volumeSize: args.rootVolumeSize, volumeType: "gp3", encrypted: "true", kmsKeyId: args.kmsKeyArn, deleteOnTermination: "true" },
            }],
            monitoring: { enabled: args.detailedMonitoring },
            userData: Buffer.from(args.userData).toString("base64"),
            // Instances and their volumes carry the deployment's tags too (cost allocation).
            tagSpecifications: [
                { resourceType: "instance", tags: { ...args.tags, Name: args.groupName } },
                { resourceType: "volume", tags: args.tags },
            ],
            updateDefaultVersion: true,
            tags: args.tags,
        }, parent);

        this.group = new aws.autoscaling.Group(`${name}`, {
            name: args.groupName,
            vpcZoneIdentifiers: args.subnetIds,
            minSize: args.minSize,
            maxSize: args.maxSize,
            desiredCapacity: args.desiredCapacity,
            launchTemplate: { id: this.launchTemplate.id, version: "$Latest" },
            healthCheckType: "EC2",
            healthCheckGracePeriod: 120,
            // Roll instances when the launch template changes, keeping 90% in service.
            instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: 90 } },
            tags: Object.entries(args.tags).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
        }, { parent: this, ignoreChanges: ["desiredCapacity"] });

        new aws.autoscaling.Policy(`${name}-cpu`, {
            autoscalingGroupName: this.group.name,
            policyType: "TargetTrackingScaling",
            targetTrackingConfiguration: {
                predefinedMetricSpecification: { predefinedMetricType: "ASGAverageCPUUtilization" },
                targetValue: 60,
            },
        }, parent);

        this.registerOutputs({ groupName: this.group.name });
    }
}
