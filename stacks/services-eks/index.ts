// services-eks: a Kubernetes cluster for workloads that outgrow ECS.
//
// dev runs a single Spot t3.medium node; prod three on-demand m6i.xlarge nodes across
// the AZs, scaling to nine, with every control-plane log type enabled.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, sizedString, stackReference } from "../shared/context";
import { EksCluster } from "./src/cluster";
import { NodeGroup } from "./src/node-group";

const ctx = loadContext("services-eks");
const network = stackReference(ctx, "network");
const security = stackReference(ctx, "security");

const privateSubnetIds = network.requireOutput("privateSubnetIds") as pulumi.Output<string[]>;

const eks = new EksCluster(resourceName(ctx, "cluster"), {
    clusterName: ctx.prefix,
    version: ctx.config.get("kubernetesVersion") ?? "1.31",
    subnetIds: privateSubnetIds,
    securityGroupId: security.requireOutput("appSecurityGroupId") as pulumi.Output<string>,
    kmsKeyArn: security.requireOutput("kmsKeyArn") as pulumi.Output<string>,
    logTypes: ctx.isProd ? ["api", "audit", "authenticator", "controllerManager", "scheduler"] : ["api", "audit"],
    tags: ctx.tags,
});

const capacityType = sizedString(ctx, "nodeCapacityType", { dev: "SPOT", stage: "ON_DEMAND", prod: "ON_DEMAND" });
if (capacityType !== "ON_DEMAND" && capacityType !== "SPOT") {
    throw new Error(`config nodeCapacityType must be ON_DEMAND, SPOT or auto, got '${capacityType}'`);
}

const nodes = new NodeGroup(resourceName(ctx, "nodes"), {
    clusterName: eks.cluster.name,
    nodeGroupName: `${ctx.prefix}-nodes`,
    subnetIds: privateSubnetIds,
    instanceTypes: [sizedString(ctx, "nodeInstanceType", { dev: "t3.medium", stage: "m6i.large", prod: "m6i.xlarge" })],
    capacityType,
    desiredSize: sizedNumber(ctx, "nodeDesiredSize", { dev: 1, stage: 2, prod: 3 }),
    minSize: sizedNumber(ctx, "nodeMinSize", { dev: 1, stage: 2, prod: 3 }),
    maxSize: sizedNumber(ctx, "nodeMaxSize", { dev: 2, stage: 4, prod: 9 }),
    diskSize: ctx.config.getNumber("nodeDiskSize") ?? 50,
    tags: ctx.tags,
});

export const clusterName = eks.cluster.name;
export const clusterArn = eks.cluster.arn;
export const clusterEndpoint = eks.cluster.endpoint;
export const clusterCertificateAuthority = eks.cluster.certificateAuthority.data;
export const oidcIssuerUrl = eks.cluster.identities[0].oidcs[0].issuer;
export const nodeGroupName = nodes.nodeGroup.nodeGroupName;
