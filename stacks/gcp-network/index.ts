// gcp-network: the VPC network every other gcp-* stack builds on (Google Cloud's
// counterpart of the network stack).
//
// A VPC network is global and a subnet regional, so there is no per-zone layout to size:
// zones share the subnet. Environments differ in egress and observability instead: dev and
// stage use Cloud NAT with Google-allocated addresses; prod reserves two static NAT
// addresses (stable egress for partners' allow-lists), more ports per VM, and records VPC
// flow logs.
import { loadContext, resourceName, sizedBoolean, sizedNumber } from "../shared/context";
import { gcpLabels, gcpName } from "../shared/gcp";
import { GcpNat } from "./src/nat";
import { GcpVpc } from "./src/vpc";

const ctx = loadContext("gcp-network");
const labels = gcpLabels(ctx);

const subnetCidrValue = ctx.config.get("subnetCidr") ?? "10.20.0.0/20";
const privateServicesCidr = ctx.config.get("privateServicesCidr") ?? "10.21.0.0/16";
if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(privateServicesCidr)) {
    throw new Error(`config privateServicesCidr must be an IPv4 CIDR block, got '${privateServicesCidr}'`);
}

const vpc = new GcpVpc(resourceName(ctx, "vpc"), {
    prefix: gcpName(ctx, "vpc", 50),
    subnetCidr: subnetCidrValue,
    privateServicesCidr,
    flowLogSampling: sizedBoolean(ctx, "flowLogs", { dev: false, stage: false, prod: true })
        ? ctx.config.getNumber("flowLogSampling") ?? 0.5
        : undefined,
    labels,
});

const nat = new GcpNat(resourceName(ctx, "nat"), {
    prefix: gcpName(ctx, "nat", 50),
    networkId: vpc.network.id,
    subnetId: vpc.subnet.id,
    region: vpc.subnet.region,
    addresses: sizedNumber(ctx, "natAddresses", { dev: 0, stage: 0, prod: 2 }),
    minPortsPerVm: ctx.isProd ? 128 : 64,
    labels,
});

// Read by gcp-compute and gcp-database.
export const networkId = vpc.network.id;
export const networkName = vpc.network.name;
export const networkSelfLink = vpc.network.selfLink;
export const subnetId = vpc.subnet.id;
export const subnetSelfLink = vpc.subnet.selfLink;
export const subnetCidr = vpc.subnet.ipCidrRange;
export const region = vpc.subnet.region;
export const routerName = nat.router.name;
export const privateServicesRangeName = vpc.privateServicesRange.name;
