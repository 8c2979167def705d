// A group of identical VMs: a service account with only the roles to ship logs and
// metrics, an instance template (shielded VM, no external IP, OS Login, boot disk size and
// type), a regional managed instance group that spreads the VMs over the region's zones,
// recreates unhealthy ones and rolls them when the template changes, an autoscaler on CPU,
// and the firewall rules that let Google's health checkers and IAP (operators' SSH) in.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface GcpInstanceGroupArgs {
    /** Physical name prefix (lowercase, at most 40 characters), e.g. `d1brv40-gcp-compute-dev-workers`. */
    prefix: string;
    /** Service account id (6–30 lowercase characters). */
    serviceAccountId: string;
    /** The GCP project IAM roles are granted in. */
    project: string;
    networkId: pulumi.Input<string>;
    subnetSelfLink: pulumi.Input<string>;
    region: pulumi.Input<string>;
    machineType: string;
    sourceImage: string;
    bootDiskSizeGb: number;
    bootDiskType: string;
    minReplicas: number;
    maxReplicas: number;
    startupScript: string;
    labels: Record<string, string>;
}

/** Where Google Cloud health checks and IAP TCP forwarding connect from (documented ranges). */
const HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"];
const IAP_RANGE = "35.235.240.0/20";
/** Autohealing probes sshd: every image runs it, so a VM that stops answering is broken. */
const HEALTH_PORT = 22;

export class GcpInstanceGroup extends pulumi.ComponentResource {
    public readonly serviceAccount: gcp.serviceaccount.Account;
    public readonly template: gcp.compute.InstanceTemplate;
    public readonly manager: gcp.compute.RegionInstanceGroupManager;

    constructor(name: string, args: GcpInstanceGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:compute:GcpInstanceGroup", name, {}, opts);
        const parent = { parent: this };
        // Network tag the firewall rules below target; only this group's VMs carry it.
        const networkTag = args.prefix;

        this.serviceAccount = new gcp.serviceaccount.Account(`${name}-sa`, {
            accountId: args.serviceAccountId,
            displayName: `cloud-engine ${args.prefix}`,
            description: "Identity of the instance group's VMs: log and metric writer only",
        }, parent);
        for (const role of ["roles/logging.logWriter", "roles/monitoring.metricWriter"]) {
            new gcp.projects.IAMMember(`${name}-sa-${role.split("/")[1].replace(".", "-").toLowerCase()}`, {
                project: args.project,
                role,
                member: this.serviceAccount.member,
            }, parent);
        }

        new gcp.compute.Firewall(`${name}-allow-health-checks`, {
            name: `${args.prefix}-allow-hc`,
            network: args.networkId,
            direction: "INGRESS",
            sourceRanges: HEALTH_CHECK_RANGES,
            targetTags: [networkTag],
            allows: [{ protocol: "tcp", ports: [String(HEALTH_PORT)] }],
            description: "Google Cloud health checkers to the instance group (autohealing)",
        }, parent);
        new gcp.compute.Firewall(`${name}-allow-iap-ssh`, {
            name: `${args.prefix}-allow-iap`,
            network: args.networkId,
            direction: "INGRESS",
            sourceRanges: [IAP_RANGE],
            targetTags: [networkTag],
            allows: [{ protocol: "tcp", ports: ["22"] }],
            description: "SSH through Identity-Aware Proxy TCP forwarding only (no external IPs)",
        }, parent);

        this.template = new gcp.compute.InstanceTemplate(`${name}-template`, {
            // A template cannot be changed in place: a new one (new name) replaces it and
            // the group rolls onto it.
            namePrefix: `${args.prefix}-`,
            machineType: args.machineType,
            region: args.region,
            disks: [{
                boot: true,
                autoDelete: true,
                sourceImage: args.sourceImage,
                diskSizeGb: args.bootDiskSizeGb,
                diskType: args.bootDiskType,
                labels: args.labels,
            }],
            // No accessConfigs: no external IP; egress goes through the network's Cloud NAT.
            networkInterfaces: [{ subnetwork: args.subnetSelfLink }],
            serviceAccount: { email: this.serviceAccount.email, scopes: ["cloud-platform"] },
            shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
            metadata: {
                // IAM decides who may log in; project-wide SSH keys do not apply.
                "enable-oslogin": "TRUE",
                "block-project-ssh-keys": "TRUE",
            },
            metadataStartupScript: args.startupScript,
            tags: [networkTag],
            labels: args.labels,
        }, parent);

        const health = new gcp.compute.HealthCheck(`${name}-health`, {
            name: `${args.prefix}-health`,
            checkIntervalSec: 10,
            timeoutSec: 5,
            healthyThreshold: 2,
            unhealthyThreshold: 3,
            tcpHealthCheck: { port: HEALTH_PORT },
        }, parent);

        this.manager = new gcp.compute.RegionInstanceGroupManager(`${name}`, {
            name: args.prefix,
            baseInstanceName: args.prefix,
            region: args.region,
            versions: [{ name: "primary", instanceTemplate: this.template.selfLinkUnique }],
            // Spread evenly over the region's zones so losing one zone loses a third.
            distributionPolicyTargetShape: "EVEN",
            autoHealingPolicies: { healthCheck: health.id, initialDelaySec: 300 },
            // Roll VMs onto a new template by surging new ones first (a regional group needs
            // a surge of at least one VM per zone, i.e. 3), never dropping below capacity.
            updatePolicy: {
                type: "PROACTIVE",
                minimalAction: "REPLACE",
                maxSurgeFixed: 3,
                maxUnavailableFixed: 0,
                instanceRedistributionType: "PROACTIVE",
            },
            // The autoscaler owns the size.
            waitForInstances: false,
        }, { parent: this, ignoreChanges: ["targetSize"] });

        new gcp.compute.RegionAutoscaler(`${name}-autoscaler`, {
            name: `${args.prefix}-autoscaler`,
            region: args.region,
            target: this.manager.id,
            autoscalingPolicy: {
                minReplicas: args.minReplicas,
                maxReplicas: args.maxReplicas,
                cooldownPeriod: 120,
                cpuUtilization: { target: 0.6 },
            },
        }, parent);

        this.registerOutputs({ instanceGroup: this.manager.instanceGroup });
    }
}
