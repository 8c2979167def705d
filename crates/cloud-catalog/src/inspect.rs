//! What a stack would declare, without the `pulumi` CLI or cloud credentials: the stacks
//! workspace's offline inspector (`stacks/tools/inspect.ts`, evaluated under Pulumi's mock
//! runtime), or the committed snapshot `stacks/<stack>/inspect/<env>.json` when asked.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::config::{parse_value, Placeholder, Resolver, Segment};
use super::manifest::{ConfigSpec, Deployment, INJECTED_KEYS};
use super::workspace::Catalog;
use cloud_domain::error::UserError;

/// Sample identity used when no deployment is given (the snapshots use the same).
pub(crate) const SAMPLE_DEPLOYMENT: &str = "D000000";
pub(crate) const SAMPLE_ORG: &str = "organization";
pub(crate) const SAMPLE_PROJECT: &str = "ecommerce";

/// What to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectParams {
    pub stack: String,
    pub env: String,
    /// Take id/org/project and the manifest's (non-secret) config from this deployment.
    pub deployment: Option<Deployment>,
    /// Fall back to the committed snapshot when the inspector cannot run.
    pub allow_snapshot: bool,
}

/// Where an inspection came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectSource {
    /// The inspector ran.
    Inspector,
    /// The committed snapshot (deployment D000000, org `organization`, project `ecommerce`).
    Snapshot(PathBuf),
}

/// The inspector's JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub stack: String,
    pub source: InspectSource,
    pub document: Value,
}

impl Inspection {
    /// `resources` of the document.
    pub fn resources(&self) -> &[Value] {
        self.document
            .get("resources")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// Why the inspector could not run (as opposed to: it ran and the program failed).
fn unavailable(root: &Path) -> Option<String> {
    let stacks = root.join("stacks");
    if !stacks.join("tools").join("inspect.ts").is_file() {
        return Some(
            "stacks/tools/inspect.ts does not exist (the offline inspector ships with the stacks workspace)".into(),
        );
    }
    if !stacks.join("node_modules").is_dir() {
        return Some("stacks/node_modules is missing: run `cd stacks && npm ci --ignore-scripts`".into());
    }
    None
}

/// `--config key=value` for the manifest's non-secret values whose placeholders can be resolved
/// offline (`{{<stack>.<output>}}` are left to the inspector's mocked StackReferences).
fn manifest_config_args(catalog: &Catalog, d: &Deployment, stack: &str, env: &str) -> Result<Vec<String>, UserError> {
    let layered = Resolver::new(catalog, d).layered(stack, env).map_err(UserError::from)?;
    let id = d.id().map(|i| i.to_string()).unwrap_or_default();
    let mut args = Vec::new();
    'keys: for (key, lv) in layered {
        if INJECTED_KEYS.contains(&key.as_str()) || key.contains(':') {
            continue;
        }
        let ConfigSpec::Value(v) = &lv.spec else { continue };
        let Ok(segs) = parse_value(v.as_str()) else { continue };
        let mut out = String::new();
        for s in segs {
            match s {
                Segment::Text(t) => out.push_str(&t),
                Segment::Placeholder(Placeholder::DeploymentId) => out.push_str(&id),
                Segment::Placeholder(Placeholder::Env) => out.push_str(env),
                Segment::Placeholder(Placeholder::Org) => out.push_str(&d.manifest.org),
                Segment::Placeholder(Placeholder::Project) => out.push_str(&d.manifest.project),
                Segment::Placeholder(Placeholder::Output { .. }) => continue 'keys,
            }
        }
        args.push("--config".to_string());
        args.push(format!("{key}={out}"));
    }
    Ok(args)
}

fn read_snapshot(root: &Path, stack: &str, env: &str) -> Result<Inspection, UserError> {
    let rel = PathBuf::from("stacks")
        .join(stack)
        .join("inspect")
        .join(format!("{env}.json"));
    let text = crate::input::read_text(&root.join(&rel), crate::input::cap::MANIFEST)
        .map_err(|e| UserError::invalid(format!("no snapshot {}: {e}", rel.display())))?;
    let document: Value = serde_json::from_str(&text).map_err(|e| {
        UserError::invalid(format!(
            "{}:{}:{}: not valid JSON: {e}",
            rel.display(),
            e.line(),
            e.column()
        ))
    })?;
    Ok(Inspection {
        stack: stack.to_string(),
        source: InspectSource::Snapshot(rel),
        document,
    })
}

/// Inspect one stack in one environment: run
/// `npx --no-install tsx tools/inspect.ts --stack S --env E --deployment D --org O --project P
/// [--config k=v]…` in `stacks/`, or (only with `allow_snapshot`) read the snapshot when the
/// inspector cannot run.
pub fn inspect_stack(catalog: &Catalog, params: &InspectParams) -> Result<Inspection, UserError> {
    let root = catalog.root();
    let stack = params.stack.as_str();
    if !catalog.contains(stack) {
        return Err(UserError::invalid(format!(
            "unknown stack `{stack}` (catalog: {})",
            super::workspace::known_list(catalog.stacks.keys().map(|k| k.as_str()))
        )));
    }
    super::names::check_env(&params.env).map_err(UserError::invalid)?;
    if let Some(why) = unavailable(root) {
        if params.allow_snapshot {
            return read_snapshot(root, stack, &params.env);
        }
        return Err(UserError::invalid(format!(
            "cannot run the inspector: {why}; or pass --snapshot to read the committed snapshot \
             stacks/{stack}/inspect/{}.json",
            params.env
        )));
    }
    let (id, org, project, extra) = match &params.deployment {
        Some(d) => (
            d.id()
                .map(|i| i.to_string())
                .unwrap_or_else(|| SAMPLE_DEPLOYMENT.into()),
            d.manifest.org.clone(),
            d.manifest.project.clone(),
            manifest_config_args(catalog, d, stack, &params.env)?,
        ),
        None => (
            SAMPLE_DEPLOYMENT.into(),
            SAMPLE_ORG.into(),
            SAMPLE_PROJECT.into(),
            vec![],
        ),
    };
    let mut cmd = Command::new("npx");
    cmd.current_dir(root.join("stacks"))
        .args([
            "--no-install",
            "tsx",
            "tools/inspect.ts",
            "--stack",
            stack,
            "--env",
            &params.env,
        ])
        .args(["--deployment", &id, "--org", &org, "--project", &project])
        .args(&extra)
        .stdin(std::process::Stdio::null());
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            if params.allow_snapshot {
                return read_snapshot(root, stack, &params.env);
            }
            return Err(UserError::invalid(format!(
                "cannot run `npx` ({e}); install Node.js ≥ 20 and run `cd stacks && npm ci --ignore-scripts`, \
                 or pass --snapshot"
            )));
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(UserError::failed(format!(
            "the inspector failed for {stack} in {} (exit {}):\n{}",
            params.env,
            output
                .status
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "signal".into()),
            tail.join("\n")
        )));
    }
    let document: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| UserError::failed(format!("the inspector printed something that is not JSON: {e}")))?;
    Ok(Inspection {
        stack: stack.to_string(),
        source: InspectSource::Inspector,
        document,
    })
}

/// Inputs worth a glance, in this order, before any other scalar input.
const KEY_INPUTS: &[&str] = &[
    "instanceClass",
    "instanceType",
    "instanceTypes",
    "engine",
    "engineVersion",
    "allocatedStorage",
    "multiAz",
    "cidrBlock",
    "desiredCount",
    "desiredCapacity",
    "minSize",
    "maxSize",
    "cpu",
    "memory",
    "runtime",
    "memorySize",
    "name",
    "domainName",
    "retentionInDays",
];

fn short(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) && a.len() <= 4 => Some(format!(
            "[{}]",
            a.iter().filter_map(short).collect::<Vec<_>>().join(",")
        )),
        Value::Object(o) if o.contains_key("scalingConfig") => None,
        _ => None,
    }
}

/// Up to `max` `key=value` pairs of a resource's inputs: well-known sizing keys first.
pub(crate) fn key_inputs(inputs: &Value, max: usize) -> String {
    let Some(obj) = inputs.as_object() else {
        return String::new();
    };
    let mut keys: Vec<&str> = KEY_INPUTS.iter().copied().filter(|k| obj.contains_key(*k)).collect();
    for k in obj.keys() {
        if !keys.contains(&k.as_str()) && k != "tags" && k != "tagsAll" {
            keys.push(k);
        }
    }
    let mut out = Vec::new();
    for k in keys {
        if out.len() >= max {
            break;
        }
        if let Some(s) = obj.get(k).and_then(short) {
            let s = if s.chars().count() > 40 {
                format!("{}…", s.chars().take(39).collect::<String>())
            } else {
                s
            };
            out.push(format!("{k}={s}"));
        }
    }
    out.join(", ")
}

/// A table: TYPE, NAME, KEY INPUTS; children indented under their component.
pub fn resources_table(resources: &[Value]) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for r in resources {
        let ty = r.get("type").and_then(Value::as_str).unwrap_or("?");
        let name = r.get("name").and_then(Value::as_str).unwrap_or("?");
        let indent = if r.get("parent").is_some_and(|p| !p.is_null()) {
            "  "
        } else {
            ""
        };
        rows.push((
            format!("{indent}{ty}"),
            name.to_string(),
            key_inputs(r.get("inputs").unwrap_or(&Value::Null), 4),
        ));
    }
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(4).max(4);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(4).max(4);
    let mut s = format!("{:<w0$}  {:<w1$}  KEY INPUTS\n", "TYPE", "NAME");
    for (a, b, c) in rows {
        s.push_str(format!("{a:<w0$}  {b:<w1$}  {c}").trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_key_inputs_first() {
        let doc: Value = serde_json::json!([
            {"type": "cloud:db:Database", "name": "D1-db", "parent": null, "custom": false, "inputs": {}},
            {"type": "aws:rds/instance:Instance", "name": "D1-db-instance", "parent": "cloud:db:Database::D1-db", "custom": true,
             "inputs": {"allocatedStorage": 20, "engine": "postgres", "instanceClass": "db.t4g.micro", "multiAz": false, "tags": {"a": "b"}, "zeta": "z"}}
        ]);
        insta::assert_snapshot!(resources_table(doc.as_array().unwrap()), @r"
        TYPE                         NAME            KEY INPUTS
        cloud:db:Database            D1-db
          aws:rds/instance:Instance  D1-db-instance  instanceClass=db.t4g.micro, engine=postgres, allocatedStorage=20, multiAz=false
        ");
    }
}
