// compute-ec2: long-running workers on plain EC2 (batch jobs, legacy daemons).
// Instances have no SSH key and no public IP: operators use Session Manager through the
// security stack's instance profile.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, sizedString, stackReference } from "../shared/context";
import { InstanceGroup } from "./src/instance-group";

const ctx = loadContext("compute-ec2");
const network = stackReference(ctx, "network");
const security = stackReference(ctx, "security");

// The AMI id comes from AWS's public SSM parameter, so every update picks up the latest
// patched Amazon Linux 2023 image (and rolls instances through instance refresh).
const ami = aws.ssm.getParameterOutput({
    name: ctx.config.get("amiParameter") ?? "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
});

const workers = new InstanceGroup(resourceName(ctx, "workers"), {
    groupName: `${ctx.prefix}-workers`,
    amiId: ami.value,
    instanceType: sizedString(ctx, "instanceType", { dev: "t3.micro", stage: "t3.medium", prod: "m6i.large" }),
    rootVolumeSize: sizedNumber(ctx, "rootVolumeSize", { dev: 20, stage: 30, prod: 50 }),
    kmsKeyArn: security.requireOutput("kmsKeyArn") as pulumi.Output<string>,
    instanceProfileName: security.requireOutput("ec2InstanceProfileName") as pulumi.Output<string>,
    securityGroupId: security.requireOutput("appSecurityGroupId") as pulumi.Output<string>,
    subnetIds: network.requireOutput("privateSubnetIds") as pulumi.Output<string[]>,
    minSize: sizedNumber(ctx, "minSize", { dev: 1, stage: 1, prod: 2 }),
    maxSize: sizedNumber(ctx, "maxSize", { dev: 1, stage: 3, prod: 6 }),
    desiredCapacity: sizedNumber(ctx, "desiredCapacity", { dev: 1, stage: 2, prod: 3 }),
    detailedMonitoring: ctx.isProd,
    userData: [
        "#!/bin/bash",
        "set -euo pipefail",
        `echo "ENVIRONMENT=${ctx.environment}" >> /etc/environment`,
        `echo "DEPLOYMENT_ID=${ctx.deploymentId}" >> /etc/environment`,
        "dnf -y update --security",
    ].join("\n"),
    tags: ctx.tags,
});

export const autoScalingGroupName = workers.group.name;
export const launchTemplateId = workers.launchTemplate.id;
