// containers-apps: the application image (from containers-images) running on App Runner.
// dev runs one small instance; prod keeps two warm and scales out to ten.
import * as pulumi from "@pulumi/pulumi";
import { loadContext, resourceName, sizedNumber, sizedString, stackReference } from "../shared/context";
import { AppRunnerService } from "./src/app-runner-service";

const ctx = loadContext("containers-apps");
const images = stackReference(ctx, "containers-images");

const app = new AppRunnerService(resourceName(ctx, "app"), {
    // App Runner service names: 4–40 characters.
    serviceName: `${ctx.prefix}-app`.slice(0, 40),
    imageUri: images.requireOutput("imageUri") as pulumi.Output<string>,
    port: ctx.config.getNumber("port") ?? 8080,
    cpu: sizedString(ctx, "cpu", { dev: "256", stage: "1024", prod: "2048" }),
    memory: sizedString(ctx, "memory", { dev: "512", stage: "2048", prod: "4096" }),
    minInstances: sizedNumber(ctx, "minInstances", { dev: 1, stage: 1, prod: 2 }),
    maxInstances: sizedNumber(ctx, "maxInstances", { dev: 1, stage: 3, prod: 10 }),
    healthCheckPath: ctx.config.get("healthCheckPath") ?? "/health",
    environment: { ENVIRONMENT: ctx.environment, DEPLOYMENT_ID: ctx.deploymentId },
    tags: ctx.tags,
});

export const serviceUrl = pulumi.interpolate`https://${app.service.serviceUrl}`;
export const serviceArn = app.service.arn;
