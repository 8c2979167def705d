// A Cloud SQL for PostgreSQL instance reachable only on a private IP in the deployment's
// network (through its private services range), refusing unencrypted connections, with a
// database, a built-in user whose password is generated once and kept in Secret Manager,
// backups, and a maintenance window.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface CloudSqlPostgresArgs {
    /** Instance name (lowercase; Cloud SQL keeps a deleted name reserved for a week). */
    instanceName: string;
    /** Secret Manager secret id for the user's password. */
    passwordSecretId: string;
    networkId: pulumi.Input<string>;
    /** The network's private services range (the peering Cloud SQL takes its IP from). */
    privateServicesRangeName: pulumi.Input<string>;
    region: pulumi.Input<string>;
    databaseVersion: string;
    tier: string;
    diskSizeGb: number;
    maxDiskSizeGb: number;
    highAvailability: boolean;
    /** Daily backups kept (also the point-in-time recovery window, capped at 7 days). */
    backupRetentionDays: number;
    dbName: string;
    dbUser: string;
    /** prod: deletion protection (Pulumi and API), point-in-time recovery, query insights. */
    production: boolean;
    labels: Record<string, string>;
}

export class CloudSqlPostgres extends pulumi.ComponentResource {
    public readonly instance: gcp.sql.DatabaseInstance;
    public readonly database: gcp.sql.Database;
    public readonly user: gcp.sql.User;
    public readonly passwordSecret: gcp.secretmanager.Secret;

    constructor(name: string, args: CloudSqlPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:database:CloudSqlPostgres", name, {}, opts);
        const parent = { parent: this };

        this.instance = new gcp.sql.DatabaseInstance(`${name}`, {
            name: args.instanceName,
            databaseVersion: args.databaseVersion,
            region: args.region,
            // Pulumi refuses to delete a protected instance; outside prod, `destroy` must work.
            deletionProtection: args.production,
            settings: {
                tier: args.tier,
                edition: "ENTERPRISE",
                availabilityType: args.highAvailability ? "REGIONAL" : "ZONAL",
                diskType: "PD_SSD",
                diskSize: args.diskSizeGb,
                // Grow the disk instead of paging someone at 100% full.
                diskAutoresize: true,
                diskAutoresizeLimit: args.maxDiskSizeGb,
                deletionProtectionEnabled: args.production,
                ipConfiguration: {
                    ipv4Enabled: false,
                    privateNetwork: args.networkId,
                    allocatedIpRange: args.privateServicesRangeName,
                    sslMode: "ENCRYPTED_ONLY",
                },
                backupConfiguration: {
                    enabled: true,
                    startTime: "03:00",
                    pointInTimeRecoveryEnabled: args.production,
                    transactionLogRetentionDays: args.production ? Math.min(7, args.backupRetentionDays) : undefined,
                    backupRetentionSettings: { retainedBackups: args.backupRetentionDays, retentionUnit: "COUNT" },
                },
                maintenanceWindow: { day: 7, hour: 4, updateTrack: "stable" },
                databaseFlags: [
                    // Log slow statements so performance problems show up in Cloud Logging.
                    { name: "log_min_duration_statement", value: args.production ? "1000" : "250" },
                    { name: "log_connections", value: "on" },
                ],
                insightsConfig: args.production
                    ? { queryInsightsEnabled: true, recordApplicationTags: true, recordClientAddress: false }
                    : undefined,
                userLabels: args.labels,
            },
        }, parent);

        this.database = new gcp.sql.Database(`${name}-db`, {
            name: args.dbName,
            instance: this.instance.name,
        }, parent);

        // Generated once and kept in Pulumi state as a secret; a new value only when this
        // resource is replaced.
        const password = new random.RandomPassword(`${name}-password`, {
            length: 32,
            special: true,
            // Characters that survive connection strings and shells unquoted.
            overrideSpecial: "-_.~",
            minLower: 1,
            minUpper: 1,
            minNumeric: 1,
        }, parent);

        this.user = new gcp.sql.User(`${name}-user`, {
            name: args.dbUser,
            instance: this.instance.name,
            password: password.result,
        }, parent);

        // Applications read the password from Secret Manager; it is never a stack output.
        this.passwordSecret = new gcp.secretmanager.Secret(`${name}-password-secret`, {
            secretId: args.passwordSecretId,
            replication: { auto: {} },
            labels: args.labels,
        }, parent);
        new gcp.secretmanager.SecretVersion(`${name}-password-version`, {
            secret: this.passwordSecret.id,
            secretData: pulumi.secret(password.result),
        }, parent);

        this.registerOutputs({ connectionName: this.instance.connectionName });
    }
}
