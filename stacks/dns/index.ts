// dns: the environment's public and private hosted zones.
//
// prod owns the bare domain; other environments get `<env>.<domain>`, so one domain
// serves every environment and dev records can never shadow prod ones. The parent
// domain must delegate to the nameServers output (an NS record the operator adds once).
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, stackReference } from "../shared/context";
import { Zones } from "./src/zones";

const ctx = loadContext("dns");
const network = stackReference(ctx, "network");

const domainName = ctx.config.require("domainName");
const name = ctx.isProd ? domainName : `${ctx.environment}.${domainName}`;

const zones = new Zones(resourceName(ctx, "zones"), {
    zoneName: name,
    vpcId: network.requireOutput("vpcId") as pulumi.Output<string>,
    privateZone: ctx.config.getBoolean("privateZone") ?? true,
    caaIssuer: ctx.config.get("caaIssuer") ?? "amazon.com",
    forceDestroy: !ctx.isProd,
    tags: ctx.tags,
});

export const zoneId = zones.publicZone.zoneId;
export const zoneName = zones.publicZone.name;
export const nameServers = zones.publicZone.nameServers;
export const privateZoneId = zones.privateZone ? zones.privateZone.zoneId : "";
export const privateZoneName = zones.privateZone ? zones.privateZone.name : "";
