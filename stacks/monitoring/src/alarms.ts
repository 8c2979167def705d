// CloudWatch metric alarms, one small helper per alarm so each states its metric,
// threshold and why it pages.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface AlarmSpec {
    suffix: string;
    description: string;
    namespace: string;
    metricName: string;
    dimensions: Record<string, pulumi.Input<string>>;
    statistic: "Average" | "Sum" | "Minimum" | "Maximum";
    comparison: "GreaterThanThreshold" | "LessThanThreshold" | "GreaterThanOrEqualToThreshold";
    threshold: number;
    periodSeconds?: number;
    evaluationPeriods?: number;
}

export interface AlarmsArgs {
    prefix: string;
    topicArn: pulumi.Input<string>;
    alarms: AlarmSpec[];
    tags: Record<string, string>;
}

export class Alarms extends pulumi.ComponentResource {
    public readonly alarms: aws.cloudwatch.MetricAlarm[];

    constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cloud:monitoring:Alarms", name, {}, opts);
        this.alarms = args.alarms.map((a) => new aws.cloudwatch.MetricAlarm(`${name}-${a.suffix}`, {
            name: `${args.prefix}-${a.suffix}`,
            alarmDescription: a.description,
            namespace: a.namespace,
            metricName: a.metricName,
            dimensions: a.dimensions,
            statistic: a.statistic,
            comparisonOperator: a.comparison,
            threshold: a.threshold,
            period: a.periodSeconds ?? 300,
            evaluationPeriods: a.evaluationPeriods ?? 2,
            // No data (e.g. no traffic at night) is not an incident.
            treatMissingData: "notBreaching",
            alarmActions: [args.topicArn],
            okActions: [args.topicArn],
            tags: args.tags,
        }, { parent: this }));
        this.registerOutputs({});
    }
}
