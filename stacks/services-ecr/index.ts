// services-ecr: one private ECR repository per service that services-ecs runs.
// Tags are immutable in prod so an approved plan always deploys the image it named.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, stackReference } from "../shared/context";
import { ServiceRepository } from "./src/service-repository";

const ctx = loadContext("services-ecr");
const security = stackReference(ctx, "security");
const kmsKeyArn = security.requireOutput("kmsKeyArn") as pulumi.Output<string>;

const keepImages = sizedNumber(ctx, "keepImages", { dev: 10, stage: 20, prod: 50 });
const untaggedExpiryDays = ctx.config.getNumber("untaggedExpiryDays") ?? 7;

function repository(service: string): ServiceRepository {
    return new ServiceRepository(resourceName(ctx, service), {
        repositoryName: `${ctx.prefix.toLowerCase()}/${service}`,
        kmsKeyArn,
        immutableTags: ctx.isProd,
        keepTaggedImages: keepImages,
        untaggedExpiryDays,
        forceDelete: !ctx.isProd,
        tags: { ...ctx.tags, service },
    });
}

const api = repository("api");
const worker = repository("worker");

export const apiRepositoryUrl = api.repository.repositoryUrl;
export const apiRepositoryName = api.repository.name;
export const workerRepositoryUrl = worker.repository.repositoryUrl;
export const workerRepositoryName = worker.repository.name;
export const registryId = api.repository.registryId;
