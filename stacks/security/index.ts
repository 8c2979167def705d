// security: the encryption key, security groups and IAM roles the other stacks share.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { Encryption } from "./src/encryption";
import { SharedRoles } from "./src/roles";
import { SecurityGroups } from "./src/security-groups";

const ctx = loadContext("security");
const network = stackReference(ctx, "network");

const encryption = new Encryption(resourceName(ctx, "kms"), {
    prefix: ctx.prefix,
    deletionWindowDays: sizedNumber(ctx, "kmsDeletionWindowDays", { dev: 7, stage: 14, prod: 30 }),
    tags: ctx.tags,
});

const port = ctx.config.getNumber("appPort") ?? 8080;
const groups = new SecurityGroups(resourceName(ctx, "sg"), {
    vpcId: network.requireOutput("vpcId") as pulumi.Output<string>,
    vpcCidrBlock: network.requireOutput("vpcCidrBlock") as pulumi.Output<string>,
    appPort: port,
    prefix: ctx.prefix,
    tags: ctx.tags,
});

const roles = new SharedRoles(resourceName(ctx, "roles"), { prefix: ctx.prefix, tags: ctx.tags });

export const kmsKeyArn = encryption.key.arn;
export const kmsKeyId = encryption.key.keyId;
export const albSecurityGroupId = groups.alb.id;
export const appSecurityGroupId = groups.app.id;
/** The port application targets listen on (the app security group admits it from the ALB). */
export const appPort = port;
export const ecsTaskExecutionRoleArn = roles.ecsTaskExecution.arn;
export const ec2InstanceProfileName = roles.ec2InstanceProfile.name;
export const cognitoSmsRoleArn = roles.cognitoSms.arn;
export const cognitoSmsExternalId = roles.cognitoSmsExternalId;
