// compute-lambda: an event-driven worker on Lambda inside the VPC (so it can reach the
// database), reading the application signing key from Secrets Manager at run time.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { VpcFunction } from "./src/vpc-function";

const ctx = loadContext("compute-lambda");
const network = stackReference(ctx, "network");
const security = stackReference(ctx, "security");
const secrets = stackReference(ctx, "secrets");

const appSecretArn = secrets.requireOutput("appSecretArn") as pulumi.Output<string>;

// Graviton (arm64) is ~20% cheaper per GB-second for the same code.
const architecture = ctx.config.get("architecture") ?? "arm64";
if (architecture !== "arm64" && architecture !== "x86_64") {
    throw new Error(`config architecture must be arm64 or x86_64, got '${architecture}'`);
}

// A placeholder handler: CI replaces the code package; the infrastructure is what matters here.
const handlerSource = `exports.handler = async (event) => {
  console.log(JSON.stringify({ msg: "event received", records: (event.Records || []).length }));
  return { ok: true };
};
`;

const worker = new VpcFunction(resourceName(ctx, "worker"), {
    functionName: `${ctx.prefix}-worker`,
    runtime: ctx.config.get("runtime") ?? "nodejs20.x",
    architecture,
    memorySize: sizedNumber(ctx, "memorySize", { dev: 128, stage: 256, prod: 512 }),
    timeout: ctx.config.getNumber("timeout") ?? 15,
    reservedConcurrency: sizedNumber(ctx, "reservedConcurrency", { dev: -1, stage: -1, prod: 50 }),
    code: new pulumi.asset.AssetArchive({ "index.js": new pulumi.asset.StringAsset(handlerSource) }),
    handler: "index.handler",
    subnetIds: network.requireOutput("privateSubnetIds") as pulumi.Output<string[]>,
    securityGroupId: security.requireOutput("appSecurityGroupId") as pulumi.Output<string>,
    kmsKeyArn: security.requireOutput("kmsKeyArn") as pulumi.Output<string>,
    secretArns: [appSecretArn],
    environment: { ENVIRONMENT: ctx.environment, APP_SECRET_ARN: appSecretArn },
    logRetentionDays: sizedNumber(ctx, "logRetentionDays", { dev: 7, stage: 30, prod: 90 }),
    tags: ctx.tags,
});

export const functionName = worker.fn.name;
export const functionArn = worker.fn.arn;
