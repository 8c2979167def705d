// The user directory: a Cognito user pool and the web app's client.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export type Mfa = "OFF" | "OPTIONAL" | "ON";

export interface UserDirectoryArgs {
    prefix: string;
    mfa: Mfa;
    passwordMinLength: number;
    /** SNS role (from security) Cognito uses to text MFA codes. */
    smsRoleArn: pulumi.Input<string>;
    smsExternalId: pulumi.Input<string>;
    callbackUrls: pulumi.Input<string>[];
    logoutUrls: pulumi.Input<string>[];
    deletionProtection: boolean;
    tags: Record<string, string>;
}

export class UserDirectory extends pulumi.ComponentResource {
    public readonly pool: aws.cognito.UserPool;
    public readonly client: aws.cognito.UserPoolClient;

    constructor(name: string, args: UserDirectoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:authentication:UserDirectory", name, {}, opts);
        const parent = { parent: this };

        this.pool = new aws.cognito.UserPool(`${name}-pool`, {
            name: `${args.prefix}-users`,
            usernameAttributes: ["email"],
            autoVerifiedAttributes: ["email"],
            mfaConfiguration: args.mfa,
            // Authenticator apps work everywhere; SMS is the fallback, via the security stack's role.
            softwareTokenMfaConfiguration: args.mfa === "OFF" ? undefined : { enabled: true },
            smsConfiguration: args.mfa === "OFF" ? undefined : { snsCallerArn: args.smsRoleArn, externalId: args.smsExternalId },
            passwordPolicy: {
                minimumLength: args.passwordMinLength,
                requireLowercase: true,
                requireUppercase: true,
                requireNumbers: true,
                requireSymbols: true,
                temporaryPasswordValidityDays: 3,
            },
            accountRecoverySetting: { recoveryMechanisms: [{ name: "verified_email", priority: 1 }] },
            deletionProtection: args.deletionProtection ? "ACTIVE" : "INACTIVE",
            tags: args.tags,
        }, parent);

        // A public client (no secret): the browser app runs the authorization-code flow with PKCE.
        this.client = new aws.cognito.UserPoolClient(`${name}-web`, {
            name: `${args.prefix}-web`,
            userPoolId: this.pool.id,
            generateSecret: false,
            allowedOauthFlowsUserPoolClient: true,
            allowedOauthFlows: ["code"],
            allowedOauthScopes: ["openid", "email", "profile"],
            supportedIdentityProviders: ["COGNITO"],
            callbackUrls: args.callbackUrls,
            logoutUrls: args.logoutUrls,
            preventUserExistenceErrors: "ENABLED",
            explicitAuthFlows: ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            accessTokenValidity: 60,
            idTokenValidity: 60,
            refreshTokenValidity: 30,
            tokenValidityUnits: { accessToken: "minutes", idToken: "minutes", refreshToken: "days" },
        }, parent);

        this.registerOutputs({ userPoolId: this.pool.id });
    }
}
