// `api.<zone>` for the HTTP API: a regional ACM certificate validated through Route53,
// the API Gateway domain name, the mapping to the stage, and the alias record.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface CustomDomainArgs {
    domainName: pulumi.Input<string>;
    zoneId: pulumi.Input<string>;
    apiId: pulumi.Input<string>;
    stageName: pulumi.Input<string>;
    tags: Record<string, string>;
}

export class CustomDomain extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: CustomDomainArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:api:CustomDomain", name, {}, opts);
        const parent = { parent: this };

        const cert = new aws.acm.Certificate(`${name}-cert`, { domainName: args.domainName, validationMethod: "DNS", tags: args.tags }, parent);
        const option = cert.domainValidationOptions[0];
        const record = new aws.route53.Record(`${name}-cert-validation`, {
            zoneId: args.zoneId,
            name: option.resourceRecordName,
            type: option.resourceRecordType,
            records: [option.resourceRecordValue],
            ttl: 300,
            allowOverwrite: true,
        }, parent);
        // Waits until ACM has issued the certificate: the domain name cannot use it before.
        const validated = new aws.acm.CertificateValidation(`${name}-cert-ready`, {
            certificateArn: cert.arn,
            validationRecordFqdns: [record.fqdn],
        }, parent);

        const domain = new aws.apigatewayv2.DomainName(`${name}`, {
            domainName: args.domainName,
            domainNameConfiguration: { certificateArn: validated.certificateArn, endpointType: "REGIONAL", securityPolicy: "TLS_1_2" },
            tags: args.tags,
        }, parent);
        new aws.apigatewayv2.ApiMapping(`${name}-mapping`, { apiId: args.apiId, domainName: domain.id, stage: args.stageName }, parent);
        new aws.route53.Record(`${name}-alias`, {
            zoneId: args.zoneId,
            name: args.domainName,
            type: "A",
            aliases: [{
                name: domain.domainNameConfiguration.targetDomainName,
                zoneId: domain.domainNameConfiguration.hostedZoneId,
                evaluateTargetHealth: false,
            }],
        }, parent);

        this.url = pulumi.interpolate`https://${domain.domainName}`;
        this.registerOutputs({ url: this.url });
    }
}
