// The deployment's customer-managed KMS key. Secrets, RDS storage, ECR images, S3 objects
// and EKS secrets are encrypted with it, so access to data can be revoked in one place.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface EncryptionArgs {
    prefix: string;
    /** Days a scheduled deletion waits (7–30): short in dev, the maximum in prod. */
    deletionWindowDays: number;
    tags: Record<string, string>;
}

export class Encryption extends pulumi.ComponentResource {
    public readonly key: aws.kms.Key;
    public readonly alias: aws.kms.Alias;

    constructor(name: string, args: EncryptionArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:security:Encryption", name, {}, opts);
        this.key = new aws.kms.Key(`${name}-key`, {
            description: `cloud-engine data key for ${args.prefix}`,
            // Yearly automatic rotation keeps old ciphertexts readable and is free.
            enableKeyRotation: true,
            deletionWindowInDays: args.deletionWindowDays,
            tags: args.tags,
        }, { parent: this });
        this.alias = new aws.kms.Alias(`${name}-alias`, {
            name: `alias/cloud-engine/${args.prefix}`,
            targetKeyId: this.key.keyId,
        }, { parent: this });
        this.registerOutputs({ keyArn: this.key.arn });
    }
}
