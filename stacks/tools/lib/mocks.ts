// Plausible cloud answers for Pulumi's mock runtime: the state a provider would
// return for a new resource, and the results of the provider functions (data
// sources) the programs call. Values are derived from resource names with a hash,
// so every evaluation of the same program gives the same document.
import { createHash } from "node:crypto";

export const REGION = "us-east-1";
export const ACCOUNT_ID = "123456789012";
/** The Google Cloud project and region the gcp-* stacks run against (gcp:project, gcp:region). */
export const GCP_PROJECT = "cloud-engine-mock";
export const GCP_REGION = "us-central1";
export const GCP_PROJECT_NUMBER = "123456789012";

/** Deterministic lowercase hex derived from the given parts. */
export function hex(len: number, ...parts: string[]): string {
    return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, len);
}

/** `aws:ec2/vpc:Vpc` → `{ module: "ec2", kind: "Vpc" }`. */
function splitType(type: string): { pkg: string; module: string; kind: string } {
    const [pkg, mod = "", kind = ""] = type.split(":");
    return { pkg, module: mod.split("/")[0], kind };
}

/** Physical-id prefixes EC2 uses, so ids look like the real ones. */
const EC2_ID_PREFIX: Record<string, string> = {
    Vpc: "vpc",
    Subnet: "subnet",
    InternetGateway: "igw",
    NatGateway: "nat",
    Eip: "eipalloc",
    RouteTable: "rtb",
    RouteTableAssociation: "rtbassoc",
    SecurityGroup: "sg",
    LaunchTemplate: "lt",
    FlowLog: "fl",
    Route: "r",
};

type State = Record<string, unknown>;

/** The id and state the provider would report after creating the resource. */
export function mockResource(type: string, name: string, inputs: State): { id: string; state: State } {
    const { pkg, module, kind } = splitType(type);
    if (pkg === "gcp") return mockGcpResource(type, name, inputs);
    if (type === "random:index/randomPassword:RandomPassword") {
        return { id: "none", state: { ...inputs, result: `mock-${hex(Number(inputs.length ?? 16), type, name)}` } };
    }
    if (pkg !== "aws") {
        // Component resources and anything else: no provider, echo the inputs.
        return { id: `${name}-id`, state: { ...inputs } };
    }
    const h = hex(17, type, name);
    const physicalName = (inputs.name as string | undefined) ?? `${name}-${h.slice(0, 7)}`;
    let id = module === "ec2" && EC2_ID_PREFIX[kind] ? `${EC2_ID_PREFIX[kind]}-${h}` : physicalName;
    const arnService = module === "lb" ? "elasticloadbalancing" : module === "cloudwatch" ? "logs" : module;
    let arn = `arn:aws:${arnService}:${REGION}:${ACCOUNT_ID}:${kind.toLowerCase()}/${physicalName}`;
    const state: State = { ...inputs, name: physicalName, tagsAll: inputs.tags };
    switch (type) {
        case "aws:kms/key:Key":
            id = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(12, 15)}-a${h.slice(15, 17)}0-${hex(12, name)}`;
            arn = `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${id}`;
            state.keyId = id;
            break;
        case "aws:iam/role:Role":
        case "aws:iam/instanceProfile:InstanceProfile":
        case "aws:iam/policy:Policy":
            arn = `arn:aws:iam::${ACCOUNT_ID}:${kind === "Role" ? "role" : kind === "Policy" ? "policy" : "instance-profile"}/${physicalName}`;
            state.uniqueId = `AROA${hex(17, name).toUpperCase()}`;
            break;
        case "aws:route53/zone:Zone":
            id = `Z${hex(20, name).toUpperCase()}`;
            arn = `arn:aws:route53:::hostedzone/${id}`;
            state.zoneId = id;
            state.nameServers = [1, 2, 3, 4].map((i) => `ns-${parseInt(hex(3, name, `${i}`), 16) % 2048}.awsdns-${10 + i}.net`);
            break;
        case "aws:route53/record:Record":
            id = `${inputs.zoneId}_${inputs.name}_${inputs.type}`;
            state.fqdn = inputs.name;
            break;
        case "aws:acm/certificate:Certificate":
            arn = `arn:aws:acm:${REGION}:${ACCOUNT_ID}:certificate/${h}`;
            id = arn;
            state.domainValidationOptions = [
                {
                    domainName: inputs.domainName,
                    resourceRecordName: `_${hex(32, name, "rr")}.${inputs.domainName}.`,
                    resourceRecordType: "CNAME",
                    resourceRecordValue: `_${hex(32, name, "rv")}.acm-validations.aws.`,
                },
            ];
            break;
        case "aws:secretsmanager/secret:Secret":
            arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:${physicalName}-${h.slice(0, 6)}`;
            id = arn;
            break;
        case "aws:rds/instance:Instance": {
            const ident = (inputs.identifier as string | undefined) ?? physicalName;
            const address = `${ident}.c${hex(11, name)}.${REGION}.rds.amazonaws.com`;
            const port = (inputs.port as number | undefined) ?? 5432;
            id = ident;
            arn = `arn:aws:rds:${REGION}:${ACCOUNT_ID}:db:${ident}`;
            Object.assign(state, { identifier: ident, address, port, endpoint: `${address}:${port}`, resourceId: `db-${hex(26, name).toUpperCase()}` });
            break;
        }
        case "aws:lb/loadBalancer:LoadBalancer":
            arn = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT_ID}:loadbalancer/app/${physicalName}/${h.slice(0, 16)}`;
            id = arn;
            Object.assign(state, {
                dnsName: `${physicalName}-${parseInt(h.slice(0, 8), 16)}.${REGION}.elb.amazonaws.com`,
                zoneId: "Z35SXDOTRQ7X7K",
                arnSuffix: `app/${physicalName}/${h.slice(0, 16)}`,
            });
            break;
        case "aws:lb/targetGroup:TargetGroup":
            arn = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT_ID}:targetgroup/${physicalName}/${h.slice(0, 16)}`;
            id = arn;
            state.arnSuffix = `targetgroup/${physicalName}/${h.slice(0, 16)}`;
            break;
        case "aws:lb/listener:Listener":
            arn = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT_ID}:listener/app/${name}/${h.slice(0, 16)}/${hex(16, name, "l")}`;
            id = arn;
            break;
        case "aws:ecr/repository:Repository":
            state.repositoryUrl = `${ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com/${physicalName}`;
            state.registryId = ACCOUNT_ID;
            arn = `arn:aws:ecr:${REGION}:${ACCOUNT_ID}:repository/${physicalName}`;
            break;
        case "aws:ecs/cluster:Cluster":
            arn = `arn:aws:ecs:${REGION}:${ACCOUNT_ID}:cluster/${physicalName}`;
            id = arn;
            break;
        case "aws:ecs/service:Service":
            arn = `arn:aws:ecs:${REGION}:${ACCOUNT_ID}:service/${physicalName}`;
            id = arn;
            break;
        case "aws:ecs/taskDefinition:TaskDefinition":
            arn = `arn:aws:ecs:${REGION}:${ACCOUNT_ID}:task-definition/${inputs.family}:1`;
            id = inputs.family as string;
            state.revision = 1;
            state.arnWithoutRevision = `arn:aws:ecs:${REGION}:${ACCOUNT_ID}:task-definition/${inputs.family}`;
            break;
        case "aws:eks/cluster:Cluster":
            Object.assign(state, {
                endpoint: `https://${hex(32, name).toUpperCase()}.gr7.${REGION}.eks.amazonaws.com`,
                identities: [{ oidcs: [{ issuer: `https://oidc.eks.${REGION}.amazonaws.com/id/${hex(32, name, "oidc").toUpperCase()}` }] }],
                certificateAuthority: { data: Buffer.from(`mock-ca-${name}`).toString("base64") },
                platformVersion: "eks.1",
                status: "ACTIVE",
            });
            arn = `arn:aws:eks:${REGION}:${ACCOUNT_ID}:cluster/${physicalName}`;
            break;
        case "aws:apigatewayv2/api:Api":
            id = h.slice(0, 10);
            state.apiEndpoint = `https://${id}.execute-api.${REGION}.amazonaws.com`;
            state.executionArn = `arn:aws:execute-api:${REGION}:${ACCOUNT_ID}:${id}`;
            break;
        case "aws:apigatewayv2/stage:Stage":
            state.invokeUrl = `https://${inputs.apiId}.execute-api.${REGION}.amazonaws.com/${inputs.name === "$default" ? "" : inputs.name}`;
            break;
        case "aws:apigatewayv2/domainName:DomainName":
            id = inputs.domainName as string;
            state.domainNameConfiguration = {
                ...(inputs.domainNameConfiguration as State),
                targetDomainName: `d-${h.slice(0, 10)}.execute-api.${REGION}.amazonaws.com`,
                hostedZoneId: "Z1UJRXOUMOOFQ8",
            };
            break;
        case "aws:cognito/userPool:UserPool":
            id = `${REGION}_${hex(9, name).toUpperCase()}`;
            arn = `arn:aws:cognito-idp:${REGION}:${ACCOUNT_ID}:userpool/${id}`;
            state.endpoint = `cognito-idp.${REGION}.amazonaws.com/${id}`;
            break;
        case "aws:cognito/userPoolClient:UserPoolClient":
            id = hex(26, name);
            break;
        case "aws:cognito/userPoolDomain:UserPoolDomain":
            state.cloudfrontDistribution = `d${hex(13, name)}.cloudfront.net`;
            state.cloudfrontDistributionZoneId = "Z2FDTNDATAQYW2";
            break;
        case "aws:apprunner/service:Service":
            arn = `arn:aws:apprunner:${REGION}:${ACCOUNT_ID}:service/${inputs.serviceName}/${h}`;
            id = arn;
            state.serviceUrl = `${hex(10, name)}.${REGION}.awsapprunner.com`;
            state.serviceId = h;
            break;
        case "aws:lambda/function:Function":
            arn = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${physicalName}`;
            state.invokeArn = `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn}/invocations`;
            break;
        case "aws:sns/topic:Topic":
            arn = `arn:aws:sns:${REGION}:${ACCOUNT_ID}:${physicalName}`;
            id = arn;
            break;
        case "aws:cloudwatch/logGroup:LogGroup":
            arn = `arn:aws:logs:${REGION}:${ACCOUNT_ID}:log-group:${physicalName}`;
            break;
        case "aws:s3/bucket:Bucket": {
            const bucket = (inputs.bucket as string | undefined) ?? `${name}-${h.slice(0, 7)}`;
            id = bucket;
            arn = `arn:aws:s3:::${bucket}`;
            Object.assign(state, { bucket, bucketDomainName: `${bucket}.s3.amazonaws.com`, bucketRegionalDomainName: `${bucket}.s3.${REGION}.amazonaws.com` });
            break;
        }
        case "aws:autoscaling/group:Group":
            arn = `arn:aws:autoscaling:${REGION}:${ACCOUNT_ID}:autoScalingGroup:${hex(8, name)}:autoScalingGroupName/${physicalName}`;
            break;
        case "aws:ec2/launchTemplate:LaunchTemplate":
            state.latestVersion = 1;
            state.defaultVersion = 1;
            break;
        case "aws:ec2/eip:Eip":
            state.publicIp = `3.${parseInt(h.slice(0, 2), 16)}.${parseInt(h.slice(2, 4), 16)}.${parseInt(h.slice(4, 6), 16)}`;
            state.allocationId = id;
            break;
        case "aws:ssm/parameter:Parameter":
            arn = `arn:aws:ssm:${REGION}:${ACCOUNT_ID}:parameter${inputs.name}`;
            break;
    }
    state.id = id;
    state.arn = arn;
    return { id, state };
}

/** Compute Engine collections: global ones live under `projects/<p>/global/`, regional ones
 *  under `projects/<p>/regions/<r>/`. */
const GCE_GLOBAL: Record<string, string> = {
    Network: "networks",
    Firewall: "firewalls",
    GlobalAddress: "addresses",
    HealthCheck: "healthChecks",
    InstanceTemplate: "instanceTemplates",
};
const GCE_REGIONAL: Record<string, string> = {
    Subnetwork: "subnetworks",
    Router: "routers",
    Address: "addresses",
    RegionInstanceGroupManager: "instanceGroupManagers",
    RegionAutoscaler: "autoscalers",
};
const GCE_API = "https://www.googleapis.com/compute/v1/";

/** A decimal id of `len` digits derived from parts, like the numeric ids Google Cloud assigns. */
function numericId(len: number, ...parts: string[]): string {
    const digits = BigInt(`0x${hex(32, ...parts)}`).toString().slice(-len).padStart(len, "0");
    return digits.replace(/^0/, "1");
}

/** The id and state the Google provider would report (ids, self links, computed fields). */
function mockGcpResource(type: string, name: string, inputs: State): { id: string; state: State } {
    const { module, kind } = splitType(type);
    const project = (inputs.project as string | undefined) ?? GCP_PROJECT;
    const region = (inputs.region as string | undefined) ?? GCP_REGION;
    const h = hex(17, type, name);
    const physicalName = (inputs.name as string | undefined)
        ?? (inputs.namePrefix !== undefined
            // The provider appends a 26-digit creation timestamp and counter to a name prefix.
            ? `${inputs.namePrefix}20260101000000${numericId(12, name)}`
            : `${name.toLowerCase()}-${h.slice(0, 7)}`);
    const state: State = { ...inputs, name: physicalName, project, effectiveLabels: inputs.labels, pulumiLabels: inputs.labels };
    let id = physicalName;
    if (module === "compute" && (GCE_GLOBAL[kind] || GCE_REGIONAL[kind])) {
        id = GCE_GLOBAL[kind]
            ? `projects/${project}/global/${GCE_GLOBAL[kind]}/${physicalName}`
            : `projects/${project}/regions/${region}/${GCE_REGIONAL[kind]}/${physicalName}`;
        state.selfLink = `${GCE_API}${id}`;
        if (GCE_REGIONAL[kind]) state.region = region;
        if (kind !== "RegionAutoscaler") state.creationTimestamp = "2026-01-01T00:00:00.000-08:00";
    }
    const octet = (i: number) => parseInt(h.slice(2 * i, 2 * i + 2), 16);
    switch (type) {
        case "gcp:compute/network:Network":
            state.numericId = numericId(19, name);
            state.gatewayIpv4 = "";
            break;
        case "gcp:compute/subnetwork:Subnetwork":
            state.gatewayAddress = String(inputs.ipCidrRange ?? "10.0.0.0/20").replace(/\.0\/\d+$/, ".1");
            state.subnetworkId = Number(numericId(15, name));
            break;
        case "gcp:compute/address:Address":
            state.address = `34.${octet(0)}.${octet(1)}.${octet(2)}`;
            break;
        case "gcp:compute/routerNat:RouterNat":
            id = `${project}/${region}/${inputs.router}/${physicalName}`;
            state.region = region;
            break;
        case "gcp:compute/instanceTemplate:InstanceTemplate":
            state.selfLinkUnique = `${state.selfLink}?uniqueId=${numericId(19, name)}`;
            state.metadataFingerprint = h.slice(0, 12);
            break;
        case "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager":
            state.instanceGroup = `${GCE_API}projects/${project}/regions/${region}/instanceGroups/${physicalName}`;
            state.fingerprint = h.slice(0, 12);
            break;
        case "gcp:serviceaccount/account:Account": {
            const email = `${inputs.accountId}@${project}.iam.gserviceaccount.com`;
            id = `projects/${project}/serviceAccounts/${email}`;
            Object.assign(state, { email, name: id, member: `serviceAccount:${email}`, uniqueId: numericId(21, name) });
            break;
        }
        case "gcp:projects/iAMMember:IAMMember":
            id = `${project}/${inputs.role}/${inputs.member}`;
            state.etag = `BwY${hex(9, name)}`;
            break;
        case "gcp:servicenetworking/connection:Connection":
            id = `${inputs.network}:${inputs.service}`;
            state.peering = "servicenetworking-googleapis-com";
            break;
        case "gcp:sql/databaseInstance:DatabaseInstance": {
            const privateIp = `10.21.${octet(0) % 16}.${2 + (octet(1) % 250)}`;
            Object.assign(state, {
                region,
                connectionName: `${project}:${region}:${physicalName}`,
                privateIpAddress: privateIp,
                firstIpAddress: privateIp,
                ipAddresses: [{ ipAddress: privateIp, type: "PRIVATE" }],
                selfLink: `https://sqladmin.googleapis.com/sql/v1beta4/projects/${project}/instances/${physicalName}`,
                serviceAccountEmailAddress: `p${GCP_PROJECT_NUMBER}-${hex(6, name)}@gcp-sa-cloud-sql.iam.gserviceaccount.com`,
                dnsName: `${hex(12, name)}.${hex(6, name, "dns")}.${region}.sql.goog.`,
            });
            break;
        }
        case "gcp:sql/database:Database":
            id = `projects/${project}/instances/${inputs.instance}/databases/${physicalName}`;
            state.selfLink = `https://sqladmin.googleapis.com/sql/v1beta4/${id}`;
            break;
        case "gcp:sql/user:User":
            id = `${physicalName}//${inputs.instance}`;
            break;
        case "gcp:secretmanager/secret:Secret":
            id = `projects/${project}/secrets/${inputs.secretId}`;
            state.name = `projects/${GCP_PROJECT_NUMBER}/secrets/${inputs.secretId}`;
            break;
        case "gcp:secretmanager/secretVersion:SecretVersion":
            id = `${String(inputs.secret).replace(`projects/${project}/`, `projects/${GCP_PROJECT_NUMBER}/`)}/versions/1`;
            Object.assign(state, { name: id, version: "1", enabled: true });
            break;
        case "gcp:storage/bucket:Bucket":
            Object.assign(state, {
                url: `gs://${physicalName}`,
                selfLink: `https://www.googleapis.com/storage/v1/b/${physicalName}`,
                projectNumber: Number(GCP_PROJECT_NUMBER),
            });
            break;
    }
    state.id = id;
    return { id, state };
}

/** Results of the provider functions the programs use. Anything else is an error, so a
 *  program cannot quietly depend on an unmocked lookup. */
export function mockCall(token: string, inputs: State): State {
    switch (token) {
        case "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
                id: REGION,
                names: ["a", "b", "c", "d"].map((z) => `${REGION}${z}`),
                zoneIds: [1, 2, 4, 6].map((n) => `use1-az${n}`),
                groupNames: [REGION],
            };
        case "aws:index/getRegion:getRegion":
            return { id: REGION, name: REGION, region: REGION, endpoint: `ec2.${REGION}.amazonaws.com`, description: "US East (N. Virginia)" };
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { id: ACCOUNT_ID, accountId: ACCOUNT_ID, arn: `arn:aws:iam::${ACCOUNT_ID}:user/cloud-engine`, userId: "AIDAEXAMPLE" };
        case "aws:index/getPartition:getPartition":
            return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
        case "aws:secretsmanager/getRandomPassword:getRandomPassword":
            return { ...inputs, id: "mock", randomPassword: `mock-${hex(24, JSON.stringify(inputs))}` };
        case "aws:secretsmanager/getSecretVersion:getSecretVersion":
            return {
                ...inputs,
                id: `${inputs.secretId}|AWSCURRENT`,
                arn: inputs.secretId,
                versionId: hex(32, String(inputs.secretId)),
                secretString: JSON.stringify({ username: "app_admin", password: `mock-${hex(24, String(inputs.secretId))}` }),
            };
        case "aws:ssm/getParameter:getParameter":
            return { ...inputs, id: inputs.name, type: "String", value: `ami-0${hex(16, String(inputs.name))}`, version: 1 };
        default:
            throw new Error(`no mock for provider function '${token}' (add it to stacks/tools/lib/mocks.ts)`);
    }
}
