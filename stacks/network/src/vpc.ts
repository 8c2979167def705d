// The VPC component: a VPC spread over N availability zones with a public and a private
// subnet in each, an internet gateway, and NAT gateways for private egress.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { cidrSubnet } from "./cidr";

export interface VpcArgs {
    cidrBlock: string;
    /** How many availability zones to spread subnets over (2 is the minimum an ALB or RDS subnet group accepts). */
    azCount: number;
    /** One NAT gateway per AZ (survives an AZ outage) or a single shared one (cheaper). */
    natPerAz: boolean;
    /** `<deploymentId>-<stack>-<env>`, the prefix of every child name. */
    prefix: string;
    tags: Record<string, string>;
}

export class Vpc extends pulumi.ComponentResource {
    public readonly vpc: aws.ec2.Vpc;
    public readonly publicSubnets: aws.ec2.Subnet[] = [];
    public readonly privateSubnets: aws.ec2.Subnet[] = [];
    public readonly natGateways: aws.ec2.NatGateway[] = [];
    public readonly availabilityZones: pulumi.Output<string[]>;

    constructor(name: string, args: VpcArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:network:Vpc", name, {}, opts);
        const parent = { parent: this };
        const tagged = (suffix: string, extra: Record<string, string> = {}) => ({ ...args.tags, Name: `${args.prefix}-${suffix}`, ...extra });

        // Ask the region which zones are available rather than hard-coding "a", "b", "c".
        const zones = aws.getAvailabilityZonesOutput({ state: "available" }, parent);
        this.availabilityZones = zones.names.apply((names) => {
            if (names.length < args.azCount) {
                throw new Error(`region has ${names.length} available zones, ${args.azCount} requested`);
            }
            return names.slice(0, args.azCount);
        });

        this.vpc = new aws.ec2.Vpc(`${name}`, {
            cidrBlock: args.cidrBlock,
            // Both are needed for private Route53 zones and VPC endpoints to resolve.
            enableDnsHostnames: true,
            enableDnsSupport: true,
            tags: tagged("vpc"),
        }, parent);

        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: this.vpc.id, tags: tagged("igw") }, parent);

        // /20 subnets: public ones take the first 8 slots of the /16, private ones the next 8,
        // so adding an AZ later never renumbers an existing subnet.
        for (let i = 0; i < args.azCount; i++) {
            const az = this.availabilityZones.apply((names) => names[i]);
            this.publicSubnets.push(new aws.ec2.Subnet(`${name}-public-${i}`, {
                vpcId: this.vpc.id,
                cidrBlock: cidrSubnet(args.cidrBlock, 4, i),
                availabilityZone: az,
                mapPublicIpOnLaunch: true,
                tags: tagged(`public-${i}`, { tier: "public", "kubernetes.io/role/elb": "1" }),
            }, parent));
            this.privateSubnets.push(new aws.ec2.Subnet(`${name}-private-${i}`, {
                vpcId: this.vpc.id,
                cidrBlock: cidrSubnet(args.cidrBlock, 4, 8 + i),
                availabilityZone: az,
                tags: tagged(`private-${i}`, { tier: "private", "kubernetes.io/role/internal-elb": "1" }),
            }, parent));
        }

        // NAT gateways live in public subnets; each needs its own Elastic IP.
        const natCount = args.natPerAz ? args.azCount : 1;
        for (let i = 0; i < natCount; i++) {
            const eip = new aws.ec2.Eip(`${name}-nat-eip-${i}`, { domain: "vpc", tags: tagged(`nat-eip-${i}`) }, parent);
            this.natGateways.push(new aws.ec2.NatGateway(`${name}-nat-${i}`, {
                allocationId: eip.id,
                subnetId: this.publicSubnets[i].id,
                tags: tagged(`nat-${i}`),
            }, { parent: this, dependsOn: [igw] }));
        }

        const publicRoutes = new aws.ec2.RouteTable(`${name}-public-rt`, {
            vpcId: this.vpc.id,
            routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
            tags: tagged("public-rt"),
        }, parent);
        this.publicSubnets.forEach((subnet, i) => {
            new aws.ec2.RouteTableAssociation(`${name}-public-rta-${i}`, { subnetId: subnet.id, routeTableId: publicRoutes.id }, parent);
        });

        // One private route table per NAT gateway; with a single NAT every private subnet shares it.
        const privateRoutes = this.natGateways.map((nat, i) => new aws.ec2.RouteTable(`${name}-private-rt-${i}`, {
            vpcId: this.vpc.id,
            routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
            tags: tagged(`private-rt-${i}`),
        }, parent));
        this.privateSubnets.forEach((subnet, i) => {
            new aws.ec2.RouteTableAssociation(`${name}-private-rta-${i}`, {
                subnetId: subnet.id,
                routeTableId: privateRoutes[args.natPerAz ? i : 0].id,
            }, parent);
        });

        this.registerOutputs({ vpcId: this.vpc.id });
    }
}
