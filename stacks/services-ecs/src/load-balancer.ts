// The public application load balancer in front of the service, with an IP target group
// (Fargate tasks register by IP) and an HTTP listener.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface LoadBalancerArgs {
    /** Short physical-name prefix: ALB and target group names are limited to 32 characters. */
    shortName: string;
    vpcId: pulumi.Input<string>;
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    securityGroupId: pulumi.Input<string>;
    targetPort: pulumi.Input<number>;
    healthCheckPath: string;
    deletionProtection: boolean;
    tags: Record<string, string>;
}

export class LoadBalancer extends pulumi.ComponentResource {
    public readonly alb: aws.lb.LoadBalancer;
    public readonly targetGroup: aws.lb.TargetGroup;
    public readonly listener: aws.lb.Listener;

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:ecs:LoadBalancer", name, {}, opts);
        const parent = { parent: this };

        this.alb = new aws.lb.LoadBalancer(`${name}`, {
            name: `${args.shortName}-alb`,
            loadBalancerType: "application",
            internal: false,
            subnets: args.subnetIds,
            securityGroups: [args.securityGroupId],
            enableDeletionProtection: args.deletionProtection,
            dropInvalidHeaderFields: true,
            idleTimeout: 60,
            tags: args.tags,
        }, parent);

        this.targetGroup = new aws.lb.TargetGroup(`${name}-tg`, {
            name: `${args.shortName}-tg`,
            vpcId: args.vpcId,
            port: args.targetPort,
            protocol: "HTTP",
            targetType: "ip",
            // Short drain: the API's requests are brief, and deploys should not wait 5 minutes.
            deregistrationDelay: 30,
            healthCheck: { path: args.healthCheckPath, matcher: "200-299", interval: 15, healthyThreshold: 2, unhealthyThreshold: 3 },
            tags: args.tags,
        }, parent);

        // HTTP only: TLS terminates at services-api's custom domain, which reaches this
        // listener privately through its VPC link.
        this.listener = new aws.lb.Listener(`${name}-http`, {
            loadBalancerArn: this.alb.arn,
            port: 80,
            protocol: "HTTP",
            defaultActions: [{ type: "forward", targetGroupArn: this.targetGroup.arn }],
            tags: args.tags,
        }, parent);

        this.registerOutputs({ dnsName: this.alb.dnsName });
    }
}
