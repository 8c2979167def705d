// The SNS topic every alarm notifies, with an optional e-mail subscription (which the
// recipient must confirm; chat integrations subscribe to the same topic).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface AlarmTopicArgs {
    topicName: string;
    email: string;
    tags: Record<string, string>;
}

export class AlarmTopic extends pulumi.ComponentResource {
    public readonly topic: aws.sns.Topic;

    constructor(name: string, args: AlarmTopicArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:monitoring:AlarmTopic", name, {}, opts);
        this.topic = new aws.sns.Topic(`${name}`, {
            name: args.topicName,
            // AWS-managed key: CloudWatch can publish to it without a custom key policy.
            kmsMasterKeyId: "alias/aws/sns",
            tags: args.tags,
        }, { parent: this });
        if (args.email) {
            new aws.sns.TopicSubscription(`${name}-email`, { topic: this.topic.arn, protocol: "email", endpoint: args.email }, { parent: this });
        }
        this.registerOutputs({ topicArn: this.topic.arn });
    }
}
