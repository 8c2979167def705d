// containers-images: the application image's repository and the tag this environment
// deploys. containers-apps runs imageUri.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { BuildMetadata } from "./src/build-metadata";
import { ImageRepository } from "./src/image-repository";

const ctx = loadContext("containers-images");
const security = stackReference(ctx, "security");

const imageName = ctx.config.get("imageName") ?? "app";
const tag = ctx.config.get("imageTag") ?? "0.7.0";

const repo = new ImageRepository(resourceName(ctx, imageName), {
    repositoryName: `${ctx.prefix.toLowerCase()}/${imageName}`,
    kmsKeyArn: security.requireOutput("kmsKeyArn") as pulumi.Output<string>,
    immutableTags: ctx.isProd,
    keepTaggedImages: sizedNumber(ctx, "keepTaggedImages", { dev: 10, stage: 20, prod: 50 }),
    untaggedExpiryDays: ctx.config.getNumber("untaggedExpiryDays") ?? 14,
    forceDelete: !ctx.isProd,
    tags: ctx.tags,
});

const uri = pulumi.interpolate`${repo.repository.repositoryUrl}:${tag}`;
new BuildMetadata(resourceName(ctx, "build"), {
    path: `/cloud-engine/${ctx.prefix}/${imageName}`,
    values: { tag, uri },
    tags: ctx.tags,
});

export const imageRepositoryUrl = repo.repository.repositoryUrl;
export const imageRepositoryName = repo.repository.name;
export const imageTag = tag;
export const imageUri = uri;
