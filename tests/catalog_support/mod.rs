//! A throwaway workspace for catalog tests: the 16 stacks of the design (metadata close to the
//! real ones, tiny programs), the repository's deployment templates, a small stack template,
//! and the sample deployment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use std::process::{Command, Output};

use cloud_domain::error::{ExitCode, UserError};

/// Run the `cloud` binary in `dir` (also its workspace) with a clean configuration environment.
/// Logs are off so stderr holds only the error a user would read.
pub fn cloud_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloud"))
        .args(args)
        .current_dir(dir)
        .env("CLOUD_WORKSPACE", dir)
        .env("CLOUD_LOG", "off")
        .env_remove("CLOUD_CONFIG")
        .env_remove("CLOUD_DATA_DIR")
        .env_remove("CLOUD_DATABASE_URL")
        .output()
        .expect("the cloud binary runs")
}

pub const STACKS: &[(&str, &[&str], &str, &str)] = &[
    // name, depends_on, extra stack.yaml lines (config/required), outputs
    ("network", &[], "config: {cidrBlock: \"10.0.0.0/16\", azCount: auto}", "[vpcId, privateSubnetIds]"),
    ("security", &["network"], "config: {appPort: 8080}", "[kmsKeyArn, appSecurityGroupId]"),
    ("dns", &["network"], "required_config: [domainName]\nconfig: {privateZone: true}", "[zoneId, zoneName]"),
    ("secrets", &["security"], "config: {dbUsername: app_admin}", "[dbCredentialsSecretArn]"),
    ("authentication", &["security", "dns"], "config: {mfa: auto}", "[userPoolId]"),
    ("storage", &["security"], "config: {logRetentionDays: auto}", "[assetsBucketName]"),
    ("database-rds", &["network", "security", "secrets"], "config: {engineVersion: \"16.3\", instanceClass: auto, allocatedStorage: auto, multiAz: auto, backupRetentionDays: auto, dbName: app}", "[dbEndpoint, dbPort]"),
    ("containers-images", &["security"], "config: {imageTag: \"0.7.0\"}", "[imageUri, imageTag]"),
    ("containers-apps", &["containers-images"], "config: {cpu: auto}", "[serviceUrl]"),
    ("services-ecr", &["security"], "config: {keepImages: auto}", "[apiRepositoryUrl]"),
    ("services-ecs", &["network", "security", "services-ecr"], "config: {imageTag: latest, cpu: auto, memory: auto, desiredCount: auto, maxCount: auto, logRetentionDays: auto}", "[clusterName, albDnsName]"),
    ("services-eks", &["network", "security"], "config: {nodeInstanceType: auto, nodeDesiredSize: auto}", "[clusterName]"),
    ("services-api", &["network", "dns", "authentication", "services-ecs"], "config: {subdomain: api, logRetentionDays: auto}", "[apiUrl]"),
    ("compute-ec2", &["network", "security"], "config: {instanceType: auto}", "[autoScalingGroupName]"),
    ("compute-lambda", &["network", "security", "secrets"], "config: {memorySize: auto, logRetentionDays: auto}", "[functionName]"),
    ("monitoring", &["network", "database-rds", "services-ecs", "services-api"], "config: {alarmEmail: \"\"}", "[alarmTopicArn]"),
];

/// A throwaway workspace: the small one built here, or a copy of the repository's
/// ([`cloud_testkit::workspace::TempWorkspace`]).
pub struct Ws {
    dir: Dir,
}

enum Dir {
    Temp(tempfile::TempDir),
    Repo(cloud_testkit::workspace::TempWorkspace),
}

impl From<cloud_testkit::workspace::TempWorkspace> for Ws {
    fn from(ws: cloud_testkit::workspace::TempWorkspace) -> Ws {
        Ws { dir: Dir::Repo(ws) }
    }
}

impl Ws {
    pub fn root(&self) -> &Path {
        match &self.dir {
            Dir::Temp(dir) => dir.path(),
            Dir::Repo(ws) => ws.root(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Run `cloud <args…>` — the real binary, as a user would, with this workspace as
    /// `CLOUD_WORKSPACE` and current directory and no configuration file: Ok(stdout) on exit 0,
    /// otherwise the error the binary printed (`error: …` on stderr) with its exit code.
    pub fn cloud(&self, args: &[&str]) -> Result<String, UserError> {
        let out = cloud_in(self.root(), args);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let code = match out.status.code() {
            Some(0) => return Ok(stdout),
            Some(1) => ExitCode::Failed,
            Some(2) => ExitCode::Invalid,
            Some(3) => ExitCode::Denied,
            other => panic!("cloud {args:?} ended with {other:?}: {stderr}"),
        };
        assert!(
            !stderr.contains("For more information, try '--help'"),
            "bad test command {args:?}: {stderr}"
        );
        let message = stderr
            .strip_prefix("error: ")
            .unwrap_or_else(|| panic!("cloud {args:?}: stderr is not one error: {stderr}"));
        // The troubleshooting pointer under a coded error is not part of the message.
        let message = message
            .split("\n  see: docs/troubleshooting.md#")
            .next()
            .unwrap_or(message);
        Err(UserError {
            code,
            message: message.strip_suffix('\n').unwrap_or(message).to_string(),
            error_code: None,
        })
    }

    /// Every file under the workspace (relative, sorted), for "nothing was written" checks.
    pub fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().to_string());
                }
            }
        }
        let mut v = Vec::new();
        walk(self.root(), self.root(), &mut v);
        v.sort();
        v
    }

    pub fn add_stack(&self, name: &str, deps: &[&str], extra: &str, outputs: &str) {
        let dir = format!("stacks/{name}");
        self.write(
            &format!("{dir}/stack.yaml"),
            &format!(
                "name: {name}\ndescription: The {name} stack\ndepends_on: [{}]\n{extra}\noutputs: {outputs}\n",
                deps.join(", ")
            ),
        );
        self.write(
            &format!("{dir}/index.ts"),
            &format!("export const stack = \"{name}\";\n"),
        );
        self.write(
            &format!("{dir}/Pulumi.yaml"),
            &format!("name: {name}\nruntime: nodejs\nmain: index.ts\n"),
        );
        self.write(&format!("{dir}/package.json"), "{}\n");
        self.write(&format!("{dir}/src/lib.ts"), "export {};\n");
    }
}

fn repo(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The 16 stacks, templates, no deployments.
pub fn empty_workspace() -> Ws {
    let ws = Ws {
        dir: Dir::Temp(tempfile::tempdir().unwrap()),
    };
    for (name, deps, extra, outputs) in STACKS {
        ws.add_stack(name, deps, extra, outputs);
    }
    ws.write(
        "templates/default/manifest.yaml.template",
        &repo("templates/default/manifest.yaml.template"),
    );
    ws.write(
        "templates/minimal/manifest.yaml.template",
        &repo("templates/minimal/manifest.yaml.template"),
    );
    // A small stack template following the stacks engineer's contract (templates/README.md).
    ws.write("templates/stack/stack.yaml.template", "name: {{STACK_NAME}}\ndescription: {{STACK_DESCRIPTION}}\ndepends_on: {{DEPENDS_ON_YAML}}\nrequired_config: []\nconfig:\n  retentionDays: auto\noutputs: [exampleLogGroupName]\n");
    ws.write("templates/stack/index.ts.template", "// {{STACK_NAME}}: {{STACK_DESCRIPTION}} ({{VERSION}}, {{DATE}})\nconst ctx = loadContext(\"{{STACK_NAME}}\");\n{{STACK_REFERENCES_TS}}\n");
    ws.write(
        "templates/stack/Pulumi.yaml.template",
        "name: {{STACK_NAME}}\nruntime: nodejs\nmain: index.ts\ndescription: {{STACK_DESCRIPTION}}\n",
    );
    ws.write(
        "templates/stack/package.json.template",
        "{\"name\": \"@cloud-engine/stack-{{STACK_NAME}}\", \"version\": \"{{VERSION}}\"}\n",
    );
    ws.write(
        "templates/stack/src/outputs.ts.template",
        "// outputs of {{STACK_NAME}}\n",
    );
    ws.write("templates/stack/tsconfig.json.template", "{}\n");
    ws.write("templates/docs/Stack_History.md.template", "# {{STACK_NAME}} history\n");
    std::fs::create_dir_all(ws.path("deploy")).unwrap();
    ws
}

/// [`empty_workspace`] plus the repository's sample deployment D1BRV40-acme-corp-ecommerce.
pub fn sample_workspace() -> Ws {
    let ws = empty_workspace();
    ws.write(SAMPLE, &repo(SAMPLE));
    ws
}

pub const SAMPLE: &str = "deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml";

/// A minimal valid manifest at `deploy/<id>-acme-corp-shop/manifest.yaml` with `body` appended
/// after the header keys.
pub fn write_manifest(ws: &Ws, id: &str, body: &str) -> String {
    let rel = format!("deploy/{id}-acme-corp-shop/manifest.yaml");
    ws.write(
        &rel,
        &format!("deployment_id: {id}\norg: acme-corp\nproject: shop\n{body}"),
    );
    rel
}
