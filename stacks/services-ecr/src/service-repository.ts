// An ECR repository with scan-on-push, KMS encryption and a lifecycle policy that keeps
// the registry from growing without bound.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ServiceRepositoryArgs {
    repositoryName: string;
    kmsKeyArn: pulumi.Input<string>;
    /** Immutable tags in prod: a tag always names the image that was tested. */
    immutableTags: boolean;
    keepTaggedImages: number;
    untaggedExpiryDays: number;
    /** Delete the repository even with images in it (never in prod). */
    forceDelete: boolean;
    tags: Record<string, string>;
}

/** The lifecycle policy document: expire untagged images, keep the newest N tagged ones. */
export function lifecyclePolicy(keepTagged: number, untaggedDays: number): string {
    return JSON.stringify({
        rules: [
            {
                rulePriority: 1,
                description: `Expire untagged images after ${untaggedDays} days`,
                selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: untaggedDays },
                action: { type: "expire" },
            },
            {
                rulePriority: 2,
                description: `Keep the newest ${keepTagged} tagged images`,
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keepTagged },
                action: { type: "expire" },
            },
        ],
    });
}

export class ServiceRepository extends pulumi.ComponentResource {
    public readonly repository: aws.ecr.Repository;

    constructor(name: string, args: ServiceRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:ecr:ServiceRepository", name, {}, opts);
        this.repository = new aws.ecr.Repository(`${name}`, {
            name: args.repositoryName,
            imageTagMutability: args.immutableTags ? "IMMUTABLE" : "MUTABLE",
            imageScanningConfiguration: { scanOnPush: true },
            encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: args.kmsKeyArn }],
            forceDelete: args.forceDelete,
            tags: args.tags,
        }, { parent: this });
        new aws.ecr.LifecyclePolicy(`${name}-lifecycle`, {
            repository: this.repository.name,
            policy: lifecyclePolicy(args.keepTaggedImages, args.untaggedExpiryDays),
        }, { parent: this });
        this.registerOutputs({ repositoryUrl: this.repository.repositoryUrl });
    }
}
