//! One stack program's metadata: `stacks/<name>/stack.yaml`, plus the checks on its program
//! files (`index.ts`, `Pulumi.yaml`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::problem::{Location, Problem, ProblemKind};
use super::yaml;
use cloud_domain::session::{Provider, StackName};

/// A scalar configuration value (string, number or boolean), kept as the text Pulumi is given.
/// `engineVersion: 16.3` and `engineVersion: "16.3"` both become `16.3`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scalar(pub String);

impl Scalar {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

pub(crate) struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// `stacks/<name>/stack.yaml`, written by the stack's author:
///
/// ```yaml
/// name: database-rds
/// description: PostgreSQL on RDS
/// depends_on: [network, security, secrets]
/// required_config: []
/// config: {engineVersion: "16.3"}   # defaults: the first configuration tier
/// outputs: [dbEndpoint, dbPort, dbName, dbSecurityGroupId]
/// provider: aws                     # or gcp; default aws
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StackMeta {
    /// Must equal the directory name.
    pub name: StackName,
    /// One line for `cloud stacks list`.
    pub description: String,
    /// Stacks that must be deployed before this one (their outputs may be referenced).
    #[serde(default)]
    pub depends_on: Vec<StackName>,
    /// Keys that must have a value after every configuration tier is applied.
    #[serde(default)]
    pub required_config: Vec<String>,
    /// Defaults: the first configuration tier.
    #[serde(default)]
    pub config: BTreeMap<String, Scalar>,
    /// Outputs the program exports; `{{<stack>.<output>}}` may only name these.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// The cloud the program targets (`aws` or `gcp`; default `aws`): only projects of this
    /// provider deploy it.
    #[serde(default)]
    pub provider: Provider,
}

impl StackMeta {
    /// Keys this stack reads: its defaults and its required keys.
    pub(crate) fn declares_key(&self, key: &str) -> bool {
        self.config.contains_key(key) || self.required_config.iter().any(|k| k == key)
    }

    pub(crate) fn declares_output(&self, output: &str) -> bool {
        self.outputs.iter().any(|o| o == output)
    }
}

/// A stack in the catalog: its metadata and where its program lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackDef {
    pub meta: StackMeta,
    /// Absolute program directory `…/stacks/<name>`.
    pub dir: PathBuf,
}

/// Read and check one stack directory. Metadata problems make the stack unusable (`Err`); program
/// file problems are returned beside a usable definition so a manifest naming the stack does not
/// also get an "unknown stack" error.
pub(crate) fn load_stack_dir(root: &Path, dir: &Path) -> Result<(StackDef, Vec<Problem>), Vec<Problem>> {
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let meta_path = dir.join("stack.yaml");
    let meta_rel = super::problem::rel(root, &meta_path);
    let text = super::input::read_text(&meta_path, super::input::cap::STACK_META).map_err(|e| {
        vec![Problem::new(
            ProblemKind::Io,
            Location::file(&meta_rel),
            format!("cannot read stack metadata: {e}"),
        )]
    })?;
    let meta: StackMeta = yaml::parse_strict(&text, &meta_rel).map_err(|p| vec![p])?;
    let mut meta_problems = Vec::new();
    if meta.name.as_str() != dir_name {
        meta_problems.push(Problem::new(
            ProblemKind::Name,
            yaml::key_location(&meta_rel, &text, &["name"]),
            format!(
                "stack.yaml says `name: {}` but the directory is `stacks/{dir_name}`; they must match \
                 (rename one of them)",
                meta.name
            ),
        ));
    }
    for key in meta.config.keys().chain(meta.required_config.iter()) {
        if let Err(e) = super::names::check_config_key(key) {
            meta_problems.push(Problem::new(
                ProblemKind::Config,
                yaml::key_location(&meta_rel, &text, &["config", key]),
                e,
            ));
        }
    }
    if meta.depends_on.iter().any(|d| d == &meta.name) {
        meta_problems.push(Problem::new(
            ProblemKind::Cycle,
            yaml::key_location(&meta_rel, &text, &["depends_on"]),
            format!("stack `{}` depends on itself; remove it from depends_on", meta.name),
        ));
    }
    if !meta_problems.is_empty() && meta.name.as_str() != dir_name {
        return Err(meta_problems);
    }
    let mut problems = meta_problems;
    problems.extend(check_program_files(root, dir));
    Ok((
        StackDef {
            meta,
            dir: dir.to_path_buf(),
        },
        problems,
    ))
}

/// The parts of `Pulumi.yaml` we check. Other fields are Pulumi's business and pass through.
#[derive(Debug, Deserialize)]
struct PulumiYaml {
    #[serde(default)]
    runtime: Option<serde_yaml::Value>,
    #[serde(default)]
    main: Option<String>,
}

/// `index.ts` exists; `Pulumi.yaml` exists, parses, says `runtime: nodejs` and `main: index.ts`
/// (or no `main`, which means the directory's `index.ts`).
pub(crate) fn check_program_files(root: &Path, dir: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    let rel_dir = super::problem::rel(root, dir);
    if !dir.join("index.ts").is_file() {
        problems.push(Problem::new(
            ProblemKind::StackFiles,
            Location::file(rel_dir.join("index.ts")),
            format!(
                "stack program is missing: {}/index.ts does not exist; every stack's entry point is \
                 index.ts (create it, or `cloud stacks new` to start from the template)",
                rel_dir.display()
            ),
        ));
    }
    let py = dir.join("Pulumi.yaml");
    let py_rel = rel_dir.join("Pulumi.yaml");
    match super::input::read_text(&py, super::input::cap::STACK_META) {
        Err(_) => problems.push(Problem::new(
            ProblemKind::StackFiles,
            Location::file(&py_rel),
            format!(
                "{} does not exist; every stack needs a Pulumi.yaml with `runtime: nodejs` and \
                 `main: index.ts`",
                py_rel.display()
            ),
        )),
        Ok(text) => match yaml::parse_strict::<PulumiYaml>(&text, &py_rel) {
            Err(p) => problems.push(p),
            Ok(p) => {
                let runtime = match &p.runtime {
                    Some(serde_yaml::Value::String(s)) => Some(s.clone()),
                    Some(serde_yaml::Value::Mapping(m)) => m.get("name").and_then(|v| v.as_str()).map(str::to_string),
                    _ => None,
                };
                if runtime.as_deref() != Some("nodejs") {
                    problems.push(Problem::new(
                        ProblemKind::StackFiles,
                        yaml::key_location(&py_rel, &text, &["runtime"]),
                        format!(
                            "{}: runtime is {}; stacks are TypeScript programs: set `runtime: nodejs`",
                            py_rel.display(),
                            runtime.map(|r| format!("`{r}`")).unwrap_or_else(|| "missing".into())
                        ),
                    ));
                }
                if let Some(main) = &p.main {
                    let m = main.trim().trim_start_matches("./");
                    if m != "index.ts" {
                        problems.push(Problem::new(
                            ProblemKind::StackFiles,
                            yaml::key_location(&py_rel, &text, &["main"]),
                            format!(
                                "`main: {main}` must point at index.ts (the catalog hashes, inspects \
                                 and runs index.ts); set `main: index.ts` or remove `main`"
                            ),
                        ));
                    }
                }
            }
        },
    }
    problems
}
