// network: the VPC every other stack builds on.
//
// dev and stage spread over two AZs behind a single NAT gateway (the cheapest layout
// an ALB and an RDS subnet group accept); prod spreads over three AZs with a NAT
// gateway per AZ so losing a zone does not cut the others' egress, and records flow logs.
import { loadContext, namedTags, resourceName, sizedBoolean, sizedNumber, sizedString } from "../shared/context";
import { FlowLogs } from "./src/flow-logs";
import { Vpc } from "./src/vpc";

const ctx = loadContext("network");

const natGateways = sizedString(ctx, "natGateways", { dev: "single", stage: "single", prod: "per-az" });
if (natGateways !== "single" && natGateways !== "per-az") {
    throw new Error(`config natGateways must be 'single', 'per-az' or 'auto', got '${natGateways}'`);
}

const network = new Vpc(resourceName(ctx, "vpc"), {
    cidrBlock: ctx.config.get("cidrBlock") ?? "10.0.0.0/16",
    azCount: sizedNumber(ctx, "azCount", { dev: 2, stage: 2, prod: 3 }),
    natPerAz: natGateways === "per-az",
    prefix: ctx.prefix,
    tags: ctx.tags,
});

if (sizedBoolean(ctx, "flowLogs", { dev: false, stage: false, prod: true })) {
    new FlowLogs(resourceName(ctx, "flow-logs"), {
        vpcId: network.vpc.id,
        retentionDays: ctx.config.getNumber("flowLogRetentionDays") ?? 30,
        prefix: ctx.prefix,
        tags: namedTags(ctx, "flow-logs"),
    });
}

// Read by security, dns, database-rds, services-*, compute-* and monitoring.
export const vpcId = network.vpc.id;
export const vpcCidrBlock = network.vpc.cidrBlock;
export const availabilityZones = network.availabilityZones;
export const publicSubnetIds = network.publicSubnets.map((s) => s.id);
export const privateSubnetIds = network.privateSubnets.map((s) => s.id);
export const natGatewayIds = network.natGateways.map((n) => n.id);
