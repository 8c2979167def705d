// The hosted sign-in UI's domain: `auth.<zone>` with an ACM certificate validated through
// Route53, or Cognito's own `<prefix>.auth.<region>.amazoncognito.com` domain.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface HostedDomainArgs {
    userPoolId: pulumi.Input<string>;
    /** The prefix of Cognito's own domain when there is no custom domain. */
    prefix: string;
    /** Custom domain settings, or undefined to use Cognito's domain. */
    custom?: { zoneId: pulumi.Input<string>; zoneName: pulumi.Input<string> };
    tags: Record<string, string>;
}

export class HostedDomain extends pulumi.ComponentResource {
    /** The sign-in domain users see. */
    public readonly domain: pulumi.Output<string>;

    constructor(name: string, args: HostedDomainArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:authentication:HostedDomain", name, {}, opts);
        const parent = { parent: this };

        if (!args.custom) {
            const d = new aws.cognito.UserPoolDomain(`${name}`, { domain: args.prefix.toLowerCase(), userPoolId: args.userPoolId }, parent);
            this.domain = pulumi.interpolate`${d.domain}.auth.${aws.getRegionOutput({}, parent).region}.amazoncognito.com`;
            this.registerOutputs({ domain: this.domain });
            return;
        }

        const { zoneId, zoneName } = args.custom;
        const fqdn = pulumi.interpolate`auth.${zoneName}`;
        // Cognito serves custom domains through CloudFront, which only accepts
        // certificates from us-east-1 (the stacks' default region).
        const cert = new aws.acm.Certificate(`${name}-cert`, {
            domainName: fqdn,
            validationMethod: "DNS",
            tags: args.tags,
        }, parent);
        const option = cert.domainValidationOptions[0];
        const validationRecord = new aws.route53.Record(`${name}-cert-validation`, {
            zoneId,
            name: option.resourceRecordName,
            type: option.resourceRecordType,
            records: [option.resourceRecordValue],
            ttl: 300,
            allowOverwrite: true,
        }, parent);
        const validation = new aws.acm.CertificateValidation(`${name}-cert-ready`, {
            certificateArn: cert.arn,
            validationRecordFqdns: [validationRecord.fqdn],
        }, parent);

        // Note: Cognito requires the parent domain (the zone apex) to resolve before it
        // accepts a custom domain; services-api's records satisfy that in a full deployment.
        const domain = new aws.cognito.UserPoolDomain(`${name}`, {
            domain: fqdn,
            certificateArn: validation.certificateArn,
            userPoolId: args.userPoolId,
        }, parent);
        new aws.route53.Record(`${name}-alias`, {
            zoneId,
            name: fqdn,
            type: "A",
            aliases: [{ name: domain.cloudfrontDistribution, zoneId: domain.cloudfrontDistributionZoneId, evaluateTargetHealth: false }],
        }, parent);
        this.domain = domain.domain;
        this.registerOutputs({ domain: this.domain });
    }
}
