// Egress for VMs without external IPs: a Cloud Router and a Cloud NAT gateway on the
// subnet. With `addresses` > 0 the NAT uses that many reserved static IPs (so partners can
// allow-list the deployment's egress); with 0 Google allocates ephemeral ones.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface GcpNatArgs {
    /** Physical name prefix (lowercase). */
    prefix: string;
    networkId: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
    region: pulumi.Input<string>;
    /** Reserved static external IPs for the NAT; 0 = auto-allocated. */
    addresses: number;
    /** Minimum source ports per VM (more = more concurrent connections per VM). */
    minPortsPerVm: number;
    labels: Record<string, string>;
}

export class GcpNat extends pulumi.ComponentResource {
    public readonly router: gcp.compute.Router;
    public readonly nat: gcp.compute.RouterNat;
    public readonly addresses: gcp.compute.Address[];

    constructor(name: string, args: GcpNatArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:network:GcpNat", name, {}, opts);
        const parent = { parent: this };

        this.router = new gcp.compute.Router(`${name}-router`, {
            name: `${args.prefix}-router`,
            network: args.networkId,
            region: args.region,
            bgp: { asn: 64514 },
        }, parent);

        this.addresses = [];
        for (let i = 0; i < args.addresses; i++) {
            this.addresses.push(new gcp.compute.Address(`${name}-ip-${i + 1}`, {
                name: `${args.prefix}-ip-${i + 1}`,
                region: args.region,
                addressType: "EXTERNAL",
                networkTier: "PREMIUM",
                description: "Cloud NAT egress address",
                labels: args.labels,
            }, parent));
        }

        this.nat = new gcp.compute.RouterNat(`${name}`, {
            name: args.prefix,
            router: this.router.name,
            region: args.region,
            natIpAllocateOption: this.addresses.length > 0 ? "MANUAL_ONLY" : "AUTO_ONLY",
            natIps: this.addresses.length > 0 ? this.addresses.map((a) => a.selfLink) : undefined,
            sourceSubnetworkIpRangesToNat: "LIST_OF_SUBNETWORKS",
            subnetworks: [{ name: args.subnetId, sourceIpRangesToNats: ["ALL_IP_RANGES"] }],
            minPortsPerVm: args.minPortsPerVm,
            // Errors only: translation failures (port exhaustion) are what someone acts on.
            logConfig: { enable: true, filter: "ERRORS_ONLY" },
        }, parent);

        this.registerOutputs({ natName: this.nat.name });
    }
}
