// Security groups for the two tiers every service stack uses: the public load balancer
// and the application behind it. Rules are separate resources (not inline blocks) so
// other stacks can add their own rules to these groups without Pulumi fighting over them.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface SecurityGroupsArgs {
    vpcId: pulumi.Input<string>;
    vpcCidrBlock: pulumi.Input<string>;
    appPort: number;
    prefix: string;
    tags: Record<string, string>;
}

export class SecurityGroups extends pulumi.ComponentResource {
    public readonly alb: aws.ec2.SecurityGroup;
    public readonly app: aws.ec2.SecurityGroup;

    constructor(name: string, args: SecurityGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:security:SecurityGroups", name, {}, opts);
        const parent = { parent: this };
        const tagged = (suffix: string) => ({ ...args.tags, Name: `${args.prefix}-${suffix}` });

        this.alb = new aws.ec2.SecurityGroup(`${name}-alb`, {
            vpcId: args.vpcId,
            description: "Public load balancer: HTTP and HTTPS from anywhere",
            tags: tagged("alb"),
        }, parent);
        for (const port of [80, 443]) {
            new aws.vpc.SecurityGroupIngressRule(`${name}-alb-in-${port}`, {
                securityGroupId: this.alb.id,
                cidrIpv4: "0.0.0.0/0",
                ipProtocol: "tcp",
                fromPort: port,
                toPort: port,
                description: `HTTP${port === 443 ? "S" : ""} from the internet`,
                tags: tagged(`alb-in-${port}`),
            }, parent);
        }
        // The load balancer only ever talks to targets inside the VPC.
        new aws.vpc.SecurityGroupEgressRule(`${name}-alb-out`, {
            securityGroupId: this.alb.id,
            cidrIpv4: args.vpcCidrBlock,
            ipProtocol: "tcp",
            fromPort: args.appPort,
            toPort: args.appPort,
            description: "To application targets",
            tags: tagged("alb-out"),
        }, parent);

        this.app = new aws.ec2.SecurityGroup(`${name}-app`, {
            vpcId: args.vpcId,
            description: "Application tier: traffic from the load balancer only",
            tags: tagged("app"),
        }, parent);
        new aws.vpc.SecurityGroupIngressRule(`${name}-app-in`, {
            securityGroupId: this.app.id,
            referencedSecurityGroupId: this.alb.id,
            ipProtocol: "tcp",
            fromPort: args.appPort,
            toPort: args.appPort,
            description: "From the load balancer",
            tags: tagged("app-in"),
        }, parent);
        // Tasks pull images, call AWS APIs and third parties through the NAT gateways.
        new aws.vpc.SecurityGroupEgressRule(`${name}-app-out`, {
            securityGroupId: this.app.id,
            cidrIpv4: "0.0.0.0/0",
            ipProtocol: "-1",
            description: "Anywhere, through NAT",
            tags: tagged("app-out"),
        }, parent);

        this.registerOutputs({ albId: this.alb.id, appId: this.app.id });
    }
}
