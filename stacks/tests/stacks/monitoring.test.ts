import assert from "node:assert/strict";
import { count, describeStack, ofType, only } from "../harness";

const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";

describeStack("monitoring", {
    dev(doc) {
        assert.equal(count(doc, ALARM), 7);
        const topicArn = doc.outputs.alarmTopicArn;
        for (const a of ofType(doc, ALARM)) assert.deepEqual(a.inputs.alarmActions, [topicArn]);
        const dbCpu = ofType(doc, ALARM).find((a) => a.name.endsWith("db-cpu"));
        assert.deepEqual(dbCpu?.inputs.dimensions, { DBInstanceIdentifier: "d000000-database-rds-dev" }, "watches the database-rds instance");
        assert.equal(count(doc, "aws:sns/topicSubscription:TopicSubscription"), 0, "no e-mail by default");
        const body = JSON.parse(String(only(doc, "aws:cloudwatch/dashboard:Dashboard").inputs.dashboardBody));
        const nat = body.widgets.find((w: { properties: { title?: string } }) => w.properties.title === "NAT port allocation errors");
        assert.equal(nat.properties.metrics.length, 1);
    },
    prod(doc) {
        const body = JSON.parse(String(only(doc, "aws:cloudwatch/dashboard:Dashboard").inputs.dashboardBody));
        const nat = body.widgets.find((w: { properties: { title?: string } }) => w.properties.title === "NAT port allocation errors");
        assert.equal(nat.properties.metrics.length, 3, "one line per prod NAT gateway");
        const storage = ofType(doc, ALARM).find((a) => a.name.endsWith("db-free-storage"));
        assert.equal(storage?.inputs.threshold, 10 * 1024 ** 3);
    },
});
