// secrets: generated credentials stored in Secrets Manager, encrypted with the
// deployment's KMS key. Consumers read them by ARN at deploy time (database-rds) or at
// run time (compute-lambda), so no plaintext value is ever a stack output.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { GeneratedSecret } from "./src/generated-secret";

const ctx = loadContext("secrets");
const security = stackReference(ctx, "security");
const kmsKeyArn = security.requireOutput("kmsKeyArn") as pulumi.Output<string>;

const recoveryWindowDays = sizedNumber(ctx, "recoveryWindowDays", { dev: 0, stage: 7, prod: 30 });
const passwordLength = ctx.config.getNumber("passwordLength") ?? 32;
const dbUsername = ctx.config.get("dbUsername") ?? "app_admin";

const db = new GeneratedSecret(resourceName(ctx, "db-credentials"), {
    secretName: `cloud-engine/${ctx.prefix}/db-credentials`,
    description: "Master credentials of the PostgreSQL database (database-rds)",
    kmsKeyArn,
    recoveryWindowDays,
    passwordLength,
    render: (password) => JSON.stringify({ username: dbUsername, password }),
    tags: ctx.tags,
});

const app = new GeneratedSecret(resourceName(ctx, "app-signing-key"), {
    secretName: `cloud-engine/${ctx.prefix}/app-signing-key`,
    description: "Key the application signs session tokens with",
    kmsKeyArn,
    recoveryWindowDays,
    passwordLength: 64,
    render: (password) => password,
    tags: ctx.tags,
});

export const dbCredentialsSecretArn = db.secret.arn;
export const dbCredentialsSecretName = db.secret.name;
export const appSecretArn = app.secret.arn;
