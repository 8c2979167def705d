// Build metadata: which image tag this environment runs, published as SSM parameters so
// CI, operators and other stacks can look it up without reading Pulumi state.
// (Images are built and pushed by CI; this stack never runs docker.)
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface BuildMetadataArgs {
    /** SSM path prefix, e.g. `/cloud-engine/D1BRV40-containers-images-dev/app`. */
    path: string;
    values: Record<string, pulumi.Input<string>>;
    tags: Record<string, string>;
}

export class BuildMetadata extends pulumi.ComponentResource {
    constructor(name: string, args: BuildMetadataArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:containers:BuildMetadata", name, {}, opts);
        for (const [key, value] of Object.entries(args.values)) {
            new aws.ssm.Parameter(`${name}-${key}`, {
                name: `${args.path}/${key}`,
                type: "String",
                value,
                description: `Image ${key} for this environment (written by cloud-engine)`,
                tags: args.tags,
            }, { parent: this });
        }
        this.registerOutputs({});
    }
}
