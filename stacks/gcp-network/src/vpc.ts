// A custom-mode VPC network with one regional subnet, a firewall rule for traffic inside
// the subnet, and private services access: the reserved range Google's service producers
// (Cloud SQL) peer into, so databases get private IPs in this network.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface GcpVpcArgs {
    /** Physical name prefix (lowercase), e.g. `d1brv40-gcp-network-dev`. */
    prefix: string;
    subnetCidr: string;
    /** The private services range, e.g. `10.21.0.0/16`. */
    privateServicesCidr: string;
    /** VPC flow logs on the subnet, with this sampling rate; undefined = off. */
    flowLogSampling?: number;
    labels: Record<string, string>;
}

export class GcpVpc extends pulumi.ComponentResource {
    public readonly network: gcp.compute.Network;
    public readonly subnet: gcp.compute.Subnetwork;
    public readonly privateServicesRange: gcp.compute.GlobalAddress;

    constructor(name: string, args: GcpVpcArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:network:GcpVpc", name, {}, opts);
        const parent = { parent: this };

        // Custom mode: auto mode would create a subnet in every region with fixed ranges
        // that collide with peered networks.
        this.network = new gcp.compute.Network(`${name}`, {
            name: args.prefix,
            autoCreateSubnetworks: false,
            routingMode: "REGIONAL",
            description: "cloud-engine deployment network",
        }, parent);

        this.subnet = new gcp.compute.Subnetwork(`${name}-subnet`, {
            name: `${args.prefix}-subnet`,
            network: this.network.id,
            ipCidrRange: args.subnetCidr,
            // VMs without external IPs still reach Google APIs (Cloud Storage, Secret Manager).
            privateIpGoogleAccess: true,
            logConfig: args.flowLogSampling === undefined ? undefined : {
                aggregationInterval: "INTERVAL_5_SEC",
                flowSampling: args.flowLogSampling,
                metadata: "INCLUDE_ALL_METADATA",
            },
        }, parent);

        // The default network's implied rules are gone in a custom network: allow what the
        // subnet's own workloads say to each other, nothing from outside.
        new gcp.compute.Firewall(`${name}-allow-internal`, {
            name: `${args.prefix}-allow-internal`,
            network: this.network.id,
            direction: "INGRESS",
            priority: 1000,
            sourceRanges: [args.subnetCidr],
            allows: [{ protocol: "tcp" }, { protocol: "udp" }, { protocol: "icmp" }],
            description: "Traffic between workloads of the deployment's subnet",
        }, parent);

        const [address, prefixLength] = args.privateServicesCidr.split("/");
        this.privateServicesRange = new gcp.compute.GlobalAddress(`${name}-private-services`, {
            name: `${args.prefix}-private-services`,
            purpose: "VPC_PEERING",
            addressType: "INTERNAL",
            address,
            prefixLength: Number(prefixLength),
            network: this.network.id,
            labels: args.labels,
        }, parent);
        new gcp.servicenetworking.Connection(`${name}-private-services`, {
            network: this.network.id,
            service: "servicenetworking.googleapis.com",
            reservedPeeringRanges: [this.privateServicesRange.name],
        }, parent);

        this.registerOutputs({ networkId: this.network.id });
    }
}
