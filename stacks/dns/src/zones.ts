// The environment's hosted zones: a public zone for names users resolve and a private
// zone, visible only inside the VPC, for service-to-service names.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ZonesArgs {
    /** e.g. `dev.shop.example.com`, or the bare domain in prod. */
    zoneName: string;
    vpcId: pulumi.Input<string>;
    privateZone: boolean;
    /** CA allowed to issue certificates for the zone (CAA record); empty to skip. */
    caaIssuer: string;
    /** Allow destroying the zone with records still in it (never in prod). */
    forceDestroy: boolean;
    tags: Record<string, string>;
}

export class Zones extends pulumi.ComponentResource {
    public readonly publicZone: aws.route53.Zone;
    public readonly privateZone?: aws.route53.Zone;

    constructor(name: string, args: ZonesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:dns:Zones", name, {}, opts);
        const parent = { parent: this };

        this.publicZone = new aws.route53.Zone(`${name}-public`, {
            name: args.zoneName,
            comment: "Managed by cloud-engine",
            forceDestroy: args.forceDestroy,
            tags: args.tags,
        }, parent);

        // Only ACM (Amazon) may issue certificates for this zone: authentication and
        // services-api request theirs from ACM.
        if (args.caaIssuer) {
            new aws.route53.Record(`${name}-caa`, {
                zoneId: this.publicZone.zoneId,
                name: args.zoneName,
                type: "CAA",
                ttl: 3600,
                records: [`0 issue "${args.caaIssuer}"`],
            }, parent);
        }

        if (args.privateZone) {
            this.privateZone = new aws.route53.Zone(`${name}-private`, {
                name: `internal.${args.zoneName}`,
                comment: "VPC-internal names, managed by cloud-engine",
                vpcs: [{ vpcId: args.vpcId }],
                forceDestroy: args.forceDestroy,
                tags: args.tags,
            }, parent);
        }
        this.registerOutputs({ zoneId: this.publicZone.zoneId });
    }
}
