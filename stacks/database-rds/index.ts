// database-rds: the shop's PostgreSQL database.
//
// dev runs a burstable single-AZ instance with one day of backups; prod a memory-optimised
// Multi-AZ instance with 30 days of backups, deletion protection and a final snapshot.
// The master password is read from the secrets stack's Secrets Manager secret at deploy
// time, so it is never in config or in a stack output.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedBoolean, sizedNumber, sizedString, stackReference } from "../shared/context";
import { Postgres } from "./src/postgres";

const ctx = loadContext("database-rds");
const network = stackReference(ctx, "network");
const security = stackReference(ctx, "security");
const secrets = stackReference(ctx, "secrets");

const credentials = aws.secretsmanager
    .getSecretVersionOutput({ secretId: secrets.requireOutput("dbCredentialsSecretArn") as pulumi.Output<string> })
    .apply((v) => JSON.parse(v.secretString) as { username: string; password: string });

const dbNameValue = ctx.config.get("dbName") ?? "app";
const portValue = ctx.config.getNumber("port") ?? 5432;

const db = new Postgres(resourceName(ctx, "postgres"), {
    identifier: ctx.prefix.toLowerCase(),
    vpcId: network.requireOutput("vpcId") as pulumi.Output<string>,
    subnetIds: network.requireOutput("privateSubnetIds") as pulumi.Output<string[]>,
    clientSecurityGroupId: security.requireOutput("appSecurityGroupId") as pulumi.Output<string>,
    kmsKeyArn: security.requireOutput("kmsKeyArn") as pulumi.Output<string>,
    engineVersion: ctx.config.get("engineVersion") ?? "16.3",
    instanceClass: sizedString(ctx, "instanceClass", { dev: "db.t4g.micro", stage: "db.t4g.medium", prod: "db.r6g.large" }),
    allocatedStorage: sizedNumber(ctx, "allocatedStorage", { dev: 20, stage: 50, prod: 100 }),
    maxAllocatedStorage: sizedNumber(ctx, "maxAllocatedStorage", { dev: 50, stage: 200, prod: 1000 }),
    multiAz: sizedBoolean(ctx, "multiAz", { dev: false, stage: false, prod: true }),
    backupRetentionDays: sizedNumber(ctx, "backupRetentionDays", { dev: 1, stage: 7, prod: 30 }),
    dbName: dbNameValue,
    port: portValue,
    username: pulumi.unsecret(credentials.apply((c) => c.username)),
    password: pulumi.secret(credentials.apply((c) => c.password)),
    production: ctx.isProd,
    // Performance Insights in prod only: it is not offered on the smallest classes.
    performanceInsights: ctx.isProd,
    tags: ctx.tags,
});

/** Host name of the instance (the port is dbPort). */
export const dbEndpoint = db.instance.address;
export const dbPort = db.instance.port;
export const dbName = dbNameValue;
export const dbSecurityGroupId = db.securityGroup.id;
export const dbInstanceIdentifier = db.instance.identifier;
