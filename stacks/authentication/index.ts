// authentication: the Cognito user pool that signs users in to the shop and issues the
// JWTs services-api verifies.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedBoolean, sizedString, stackReference } from "../shared/context";
import { HostedDomain } from "./src/hosted-domain";
import { Mfa, UserDirectory } from "./src/user-directory";

const ctx = loadContext("authentication");
const security = stackReference(ctx, "security");
const dns = stackReference(ctx, "dns");
const zoneName = dns.requireOutput("zoneName") as pulumi.Output<string>;

// Optional MFA in stage lets testers skip it; prod requires it.
const mfa = sizedString(ctx, "mfa", { dev: "OFF", stage: "OPTIONAL", prod: "ON" });
if (!["OFF", "OPTIONAL", "ON"].includes(mfa)) throw new Error(`config mfa must be OFF, OPTIONAL, ON or auto, got '${mfa}'`);
const callbackPath = ctx.config.get("callbackPath") ?? "/auth/callback";

const directory = new UserDirectory(resourceName(ctx, "users"), {
    prefix: ctx.prefix,
    mfa: mfa as Mfa,
    passwordMinLength: ctx.config.getNumber("passwordMinLength") ?? 12,
    smsRoleArn: security.requireOutput("cognitoSmsRoleArn") as pulumi.Output<string>,
    smsExternalId: security.requireOutput("cognitoSmsExternalId") as pulumi.Output<string>,
    callbackUrls: [pulumi.interpolate`https://app.${zoneName}${callbackPath}`],
    logoutUrls: [pulumi.interpolate`https://app.${zoneName}/`],
    deletionProtection: ctx.isProd,
    tags: ctx.tags,
});

const customDomain = sizedBoolean(ctx, "customDomain", { dev: false, stage: false, prod: true });
const hosted = new HostedDomain(resourceName(ctx, "domain"), {
    userPoolId: directory.pool.id,
    prefix: ctx.prefix,
    custom: customDomain ? { zoneId: dns.requireOutput("zoneId") as pulumi.Output<string>, zoneName } : undefined,
    tags: ctx.tags,
});

export const userPoolId = directory.pool.id;
export const userPoolArn = directory.pool.arn;
export const userPoolClientId = directory.client.id;
/** `cognito-idp.<region>.amazonaws.com/<pool id>`: the JWT issuer without its scheme. */
export const userPoolEndpoint = directory.pool.endpoint;
export const authDomain = hosted.domain;
