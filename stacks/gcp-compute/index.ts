// gcp-compute: long-running workers on Compute Engine (Google Cloud's counterpart of
// compute-ec2). VMs have no external IP and no SSH keys: operators connect with
// `gcloud compute ssh --tunnel-through-iap`, authorised by OS Login (IAM).
//
// dev runs one small VM; stage two medium ones; prod keeps two to six n2-standard-2 spread
// over the region's zones. The image is a public image family, so a replacement template
// (and the rolling update it triggers) picks up the latest patched image.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, sizedString, stackReference } from "../shared/context";
import { gcpLabels, gcpName } from "../shared/gcp";
import { GcpInstanceGroup } from "./src/instance-group";

const ctx = loadContext("gcp-compute");
const network = stackReference(ctx, "gcp-network");

const minReplicas = sizedNumber(ctx, "minReplicas", { dev: 1, stage: 1, prod: 2 });
const maxReplicas = sizedNumber(ctx, "maxReplicas", { dev: 1, stage: 3, prod: 6 });
if (maxReplicas < minReplicas) {
    throw new Error(`config maxReplicas (${maxReplicas}) must be at least minReplicas (${minReplicas})`);
}

// The project the provider deploys into (gcp:project, or GOOGLE_PROJECT and friends): the
// VMs' service account gets its roles there.
const project = gcp.config.project;
if (!project) {
    throw new Error("no GCP project: set gcp:project in the deployment's manifest (or GOOGLE_PROJECT)");
}

const workers = new GcpInstanceGroup(resourceName(ctx, "workers"), {
    prefix: gcpName(ctx, "workers", 40),
    serviceAccountId: gcpName(ctx, "vm", 30),
    project,
    networkId: network.requireOutput("networkId") as pulumi.Output<string>,
    subnetSelfLink: network.requireOutput("subnetSelfLink") as pulumi.Output<string>,
    region: network.requireOutput("region") as pulumi.Output<string>,
    machineType: sizedString(ctx, "machineType", { dev: "e2-small", stage: "e2-medium", prod: "n2-standard-2" }),
    sourceImage: ctx.config.get("sourceImage") ?? "debian-cloud/debian-12",
    bootDiskSizeGb: sizedNumber(ctx, "bootDiskSizeGb", { dev: 20, stage: 30, prod: 50 }),
    bootDiskType: ctx.config.get("bootDiskType") ?? "pd-balanced",
    minReplicas,
    maxReplicas,
    startupScript: [
        "#!/bin/bash",
        "set -euo pipefail",
        `echo "ENVIRONMENT=${ctx.environment}" >> /etc/environment`,
        `echo "DEPLOYMENT_ID=${ctx.deploymentId}" >> /etc/environment`,
        "apt-get update && apt-get -y upgrade",
    ].join("\n"),
    labels: gcpLabels(ctx),
});

export const instanceGroupManagerName = workers.manager.name;
export const instanceGroupUrl = workers.manager.instanceGroup;
export const instanceTemplateId = workers.template.id;
export const serviceAccountEmail = workers.serviceAccount.email;
