// IAM roles shared by several stacks. Each one trusts exactly one AWS service and gets
// AWS-managed policies, so a stack that needs more permissions adds its own role.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface RolesArgs {
    prefix: string;
    tags: Record<string, string>;
}

function trust(service: string, condition?: Record<string, unknown>): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole", ...(condition ? { Condition: condition } : {}) }],
    });
}

export class SharedRoles extends pulumi.ComponentResource {
    public readonly ecsTaskExecution: aws.iam.Role;
    public readonly ec2InstanceProfile: aws.iam.InstanceProfile;
    public readonly cognitoSms: aws.iam.Role;
    /** Cognito passes this id when assuming the SMS role, so only our user pools can use it. */
    public readonly cognitoSmsExternalId: string;

    constructor(name: string, args: RolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:security:SharedRoles", name, {}, opts);
        const parent = { parent: this };

        // ECS agent: pulls images from ECR and writes container logs.
        this.ecsTaskExecution = new aws.iam.Role(`${name}-ecs-exec`, {
            assumeRolePolicy: trust("ecs-tasks.amazonaws.com"),
            tags: args.tags,
        }, parent);
        new aws.iam.RolePolicyAttachment(`${name}-ecs-exec-policy`, {
            role: this.ecsTaskExecution.name,
            policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        }, parent);

        // EC2 instances: Session Manager instead of SSH keys and open port 22.
        const ec2 = new aws.iam.Role(`${name}-ec2`, { assumeRolePolicy: trust("ec2.amazonaws.com"), tags: args.tags }, parent);
        new aws.iam.RolePolicyAttachment(`${name}-ec2-ssm`, {
            role: ec2.name,
            policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        }, parent);
        this.ec2InstanceProfile = new aws.iam.InstanceProfile(`${name}-ec2`, { role: ec2.name, tags: args.tags }, parent);

        // Cognito sends MFA and verification SMS through SNS with this role.
        this.cognitoSmsExternalId = `${args.prefix}-cognito-sms`;
        this.cognitoSms = new aws.iam.Role(`${name}-cognito-sms`, {
            assumeRolePolicy: trust("cognito-idp.amazonaws.com", { StringEquals: { "sts:ExternalId": this.cognitoSmsExternalId } }),
            tags: args.tags,
        }, parent);
        new aws.iam.RolePolicy(`${name}-cognito-sms-publish`, {
            role: this.cognitoSms.id,
            policy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Action: "sns:Publish", Resource: "*" }],
            }),
        }, parent);

        this.registerOutputs({});
    }
}
