//! Deployment manifests: `deploy/<deployment-id>-<org>-<project>/manifest.yaml`.
//!
//! A manifest names the stacks a deployment runs, their configuration, and its environments.
//! The schema is strict (`deny_unknown_fields`) and documented in `docs/manifests.md`. Checks
//! that need only the manifest live here ([`check_manifest`]); checks against the catalog (unknown
//! stacks, dependencies, placeholders) live in `validate`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::names;
use super::problem::{Location, Problem, ProblemKind, Problems};
use super::stack::{Scalar, ScalarVisitor};
use super::yaml;
use cloud_domain::error::UserError;
use cloud_domain::session::{DeploymentId, FullStackName, StackName};

/// Keys every stack receives from the catalog itself; a manifest may not set them.
pub(crate) const INJECTED_KEYS: [&str; 4] = ["deploymentId", "environment", "org", "project"];

/// A string-keyed mapping that keeps the file's order (so a rewritten manifest reads like the
/// original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Replace in place, or append.
    pub(crate) fn insert(&mut self, key: impl Into<String>, value: V) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(v) => *v = value,
            None => self.0.push((key, value)),
        }
    }
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(e, _)| e == &k) {
                        return Err(de::Error::custom(format!("duplicate entry with key \"{k}\"")));
                    }
                    let v = map.next_value::<V>()?;
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_any(V2(PhantomData))
    }
}

/// One configuration value in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSpec {
    /// `key: value` — a string, number or boolean; may contain `{{…}}` placeholders.
    Value(Scalar),
    /// `key: {secret_env: VAR}` — a secret read from the environment variable `VAR` when the
    /// configuration is resolved.
    SecretEnv(String),
    /// `key: {secret_file: path}` — a secret read from a file (relative to the manifest's
    /// directory; trailing newline trimmed) when the configuration is resolved.
    SecretFile(String),
    /// `key: {secret: "{{stack.output}}"}` — marks a placeholder's value as secret. A literal
    /// secret here is refused by validation: secrets are not stored in manifests.
    Secret(String),
}

const CONFIG_SPEC_EXPECTED: &str = "a string, number or boolean, or one of {secret_env: VAR}, \
    {secret_file: path}, {secret: \"{{stack.output}}\"}";

impl<'de> Deserialize<'de> for ConfigSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConfigSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(CONFIG_SPEC_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigSpec, E> {
                ScalarVisitor.visit_str(v).map(ConfigSpec::Value)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ConfigSpec, E> {
                Ok(ConfigSpec::Value(Scalar(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ConfigSpec, E> {
                ScalarVisitor.visit_bool(v).map(ConfigSpec::Value)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigSpec, E> {
                ScalarVisitor.visit_i64(v).map(ConfigSpec::Value)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigSpec, E> {
                ScalarVisitor.visit_u64(v).map(ConfigSpec::Value)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConfigSpec, E> {
                ScalarVisitor.visit_f64(v).map(ConfigSpec::Value)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigSpec, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    if out.is_some() {
                        return Err(de::Error::custom(format!(
                            "a secret config value has exactly one key; expected {CONFIG_SPEC_EXPECTED}"
                        )));
                    }
                    let v: String = map.next_value()?;
                    out = Some(match k.as_str() {
                        "secret_env" => ConfigSpec::SecretEnv(v),
                        "secret_file" => ConfigSpec::SecretFile(v),
                        "secret" => ConfigSpec::Secret(v),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["secret_env", "secret_file", "secret"],
                            ))
                        }
                    });
                }
                out.ok_or_else(|| de::Error::custom(format!("empty mapping; expected {CONFIG_SPEC_EXPECTED}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ConfigSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (k, v) = match self {
            ConfigSpec::Value(v) => return s.serialize_str(v.as_str()),
            ConfigSpec::SecretEnv(v) => ("secret_env", v),
            ConfigSpec::SecretFile(v) => ("secret_file", v),
            ConfigSpec::Secret(v) => ("secret", v),
        };
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(k, v)?;
        m.end()
    }
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// `environments.<env>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// Default `true`. A disabled environment is kept (with its config) but cannot be deployed.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Third tier: applies to every stack that declares the key (in its stack.yaml `config` or
    /// `required_config`); ignored by stacks that do not.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub config: OrderedMap<ConfigSpec>,
    /// Fourth tier, per stack; may also switch a stack on or off in this environment only.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub stacks: OrderedMap<EnvStackSpec>,
}

/// `environments.<env>.stacks.<stack>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvStackSpec {
    /// Overrides `stacks.<stack>.enabled` in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub config: OrderedMap<ConfigSpec>,
}

/// `stacks.<stack>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    /// Default `true`: listing a stack means deploying it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Second tier: overrides the stack's defaults in every environment.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub config: OrderedMap<ConfigSpec>,
}

impl Default for StackSpec {
    fn default() -> Self {
        StackSpec {
            enabled: true,
            config: OrderedMap::default(),
        }
    }
}

/// The manifest file. See `docs/manifests.md`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `D` + 6 uppercase base36; required in `deploy/`, written by `cloud init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<DeploymentId>,
    pub org: String,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub environments: OrderedMap<EnvironmentSpec>,
    #[serde(default)]
    pub stacks: OrderedMap<StackSpec>,
}

impl Manifest {
    /// Is `stack` deployed in `env`? (`environments.<env>.stacks.<stack>.enabled` wins over
    /// `stacks.<stack>.enabled`; a stack not under `stacks:` is never deployed.)
    pub(crate) fn stack_enabled_in(&self, stack: &str, env: &str) -> bool {
        let Some(spec) = self.stacks.get(stack) else {
            return false;
        };
        self.environments
            .get(env)
            .and_then(|e| e.stacks.get(stack))
            .and_then(|s| s.enabled)
            .unwrap_or(spec.enabled)
    }

    /// Stacks deployed in `env` (or, with `None`, enabled at the top level), in file order.
    pub fn enabled_stacks(&self, env: Option<&str>) -> Vec<&str> {
        self.stacks
            .iter()
            .filter(|(name, spec)| match env {
                Some(e) => self.stack_enabled_in(name, e),
                None => spec.enabled,
            })
            .map(|(n, _)| n)
            .collect()
    }

    pub fn enabled_environments(&self) -> Vec<&str> {
        self.environments
            .iter()
            .filter(|(_, e)| e.enabled)
            .map(|(n, _)| n)
            .collect()
    }
}

/// A manifest loaded from `deploy/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// `deploy/<dir_name>` (absolute).
    pub dir: PathBuf,
    pub dir_name: String,
    /// `deploy/<dir_name>/manifest.yaml`, relative to the workspace root (for messages).
    pub file: PathBuf,
    /// The file's text (for locating keys and for comment-preserving edits).
    pub text: String,
    pub manifest: Manifest,
}

impl Deployment {
    /// The manifest's id, or the directory's prefix when the manifest has none (reported by
    /// validation).
    pub fn id(&self) -> Option<DeploymentId> {
        self.manifest
            .deployment_id
            .clone()
            .or_else(|| self.dir_name.get(..7).and_then(|p| p.parse().ok()))
    }

    /// `D1BRV40` or, without an id, the directory name.
    pub fn label(&self) -> String {
        self.id()
            .map(|i| i.to_string())
            .unwrap_or_else(|| self.dir_name.clone())
    }

    /// The location of a key path in this manifest.
    pub(crate) fn locate(&self, path: &[&str]) -> Location {
        yaml::key_location(&self.file, &self.text, path)
    }

    /// The Pulumi stack for one of this deployment's stacks in `env`.
    pub fn full_stack_name(&self, stack: &StackName, env: &str) -> Option<FullStackName> {
        Some(FullStackName {
            org: self.manifest.org.clone(),
            project: self.manifest.project.clone(),
            deployment: self.id()?,
            stack: stack.clone(),
            env: env.to_string(),
        })
    }

    /// The manifest path (absolute).
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.yaml")
    }
}

/// Parse manifest text (`file` is the path shown in messages).
pub fn parse_manifest(text: &str, file: &Path) -> Result<Manifest, Problem> {
    yaml::parse_strict(text, file)
}

/// Read one deployment directory.
pub(crate) fn load_deployment(root: &Path, dir: &Path) -> Result<Deployment, Problem> {
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let path = dir.join("manifest.yaml");
    let file = super::problem::rel(root, &path);
    let text = super::input::read_text(&path, super::input::cap::MANIFEST).map_err(|e| {
        Problem::new(
            ProblemKind::Io,
            Location::file(&file),
            format!("cannot read the manifest: {e} (every deploy/<id>-<org>-<project>/ needs a manifest.yaml)"),
        )
    })?;
    let manifest = parse_manifest(&text, &file)?;
    Ok(Deployment {
        dir: dir.to_path_buf(),
        dir_name,
        file,
        text,
        manifest,
    })
}

/// `deploy/service/`: the service files of `cloud serve` (systemd unit, container recipe, see
/// docs/operations.md), not a deployment: every scan of `deploy/` skips it.
pub const SERVICE_DIR: &str = "service";

/// Whether directory `deploy/<name>` is a deployment's: not hidden, not [`SERVICE_DIR`].
pub(crate) fn is_deployment_dir(name: &str) -> bool {
    !name.starts_with('.') && name != SERVICE_DIR
}

/// Every deployment under `deploy/` that parses, and the problems of the rest — including
/// checks that need no catalog ([`check_manifest`]) and ids used twice.
pub fn load_deployments(root: &Path) -> (Vec<Deployment>, Problems) {
    let mut problems = Problems::default();
    let mut out = Vec::new();
    let deploy = root.join("deploy");
    let Ok(entries) = std::fs::read_dir(&deploy) else {
        return (out, problems);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !is_deployment_dir(&name) {
            continue;
        }
        match load_deployment(root, &d) {
            Ok(dep) => {
                problems.extend(check_manifest(&dep));
                out.push(dep);
            }
            Err(p) => problems.push(p),
        }
    }
    problems.extend(check_unique_ids(&out));
    (out, problems)
}

/// Two deployment directories with the same id: an error naming both.
pub(crate) fn check_unique_ids(deployments: &[Deployment]) -> Problems {
    let mut problems = Problems::default();
    let mut seen: BTreeMap<String, &Deployment> = BTreeMap::new();
    for d in deployments {
        let Some(id) = d.manifest.deployment_id.as_ref() else {
            continue;
        };
        if let Some(first) = seen.get(id.as_str()) {
            problems.push(Problem::new(
                ProblemKind::DeploymentId,
                d.locate(&["deployment_id"]),
                format!(
                    "deployment id {id} is used by both deploy/{} and deploy/{}; ids must be unique — \
                     give one of them a new id (`cloud init` generates one) and rename its directory",
                    first.dir_name, d.dir_name
                ),
            ));
        } else {
            seen.insert(id.to_string(), d);
        }
    }
    problems
}

/// Checks that need only the manifest: id present and matching the directory, names, config
/// keys, reserved keys, secret forms, per-environment stacks listed under `stacks:`.
pub fn check_manifest(d: &Deployment) -> Problems {
    let mut p = Problems::default();
    let m = &d.manifest;
    let mut name_ok = true;
    if let Err(e) = names::check_org(&m.org) {
        p.push(Problem::new(ProblemKind::Name, d.locate(&["org"]), e));
        name_ok = false;
    }
    if let Err(e) = names::check_project(&m.project) {
        p.push(Problem::new(ProblemKind::Name, d.locate(&["project"]), e));
        name_ok = false;
    }
    match &m.deployment_id {
        None => {
            let hint = d
                .dir_name
                .get(..7)
                .and_then(|s| s.parse::<DeploymentId>().ok())
                .map(|i| format!("add `deployment_id: {i}` (the directory's id)"))
                .unwrap_or_else(|| "add `deployment_id: D…` (`cloud init` generates one)".into());
            p.push(Problem::new(
                ProblemKind::DeploymentId,
                Location::at(&d.file, 1, 1),
                format!("deployment_id is missing; {hint}"),
            ));
        }
        Some(id) if name_ok => {
            let expected = dir_name_for(id, &m.org, &m.project);
            if d.dir_name != expected {
                p.push(Problem::new(
                    ProblemKind::DeploymentId,
                    d.locate(&["deployment_id"]),
                    format!(
                        "the directory deploy/{} does not match the manifest; it must be named \
                         <id>-<org>-<project> = deploy/{expected} (rename it, or fix deployment_id/org/project)",
                        d.dir_name
                    ),
                ));
            }
        }
        Some(_) => {}
    }
    if let Some(desc) = &m.description {
        if let Err(e) = cloud_domain::input::check_text("description", desc, 500, false) {
            p.push(Problem::new(ProblemKind::Schema, d.locate(&["description"]), e));
        }
    }
    for (env, spec) in m.environments.iter() {
        if let Err(e) = names::check_env(env) {
            p.push(Problem::new(ProblemKind::Name, d.locate(&["environments", env]), e));
        }
        check_config_map(d, &spec.config, &["environments", env, "config"], &mut p);
        for (stack, es) in spec.stacks.iter() {
            check_config_map(d, &es.config, &["environments", env, "stacks", stack, "config"], &mut p);
            if !m.stacks.contains_key(stack) {
                p.push(Problem::new(
                    ProblemKind::UnknownStack,
                    d.locate(&["environments", env, "stacks", stack]),
                    format!(
                        "environments.{env}.stacks.{stack}: `{stack}` is not listed under `stacks:`; \
                         add `{stack}: {{enabled: true}}` there (per-environment entries only adjust listed stacks)"
                    ),
                ));
            }
        }
    }
    for (stack, spec) in m.stacks.iter() {
        if let Err(e) = stack.parse::<StackName>() {
            p.push(Problem::new(
                ProblemKind::Name,
                d.locate(&["stacks", stack]),
                e.to_string(),
            ));
        }
        check_config_map(d, &spec.config, &["stacks", stack, "config"], &mut p);
    }
    p
}

fn check_config_map(d: &Deployment, cfg: &OrderedMap<ConfigSpec>, at: &[&str], p: &mut Problems) {
    for (key, value) in cfg.iter() {
        let mut path: Vec<&str> = at.to_vec();
        path.push(key);
        let loc = d.locate(&path);
        if let Err(e) = names::check_config_key(key) {
            p.push(Problem::new(ProblemKind::Config, loc.clone(), e));
        }
        if INJECTED_KEYS.contains(&key) {
            p.push(Problem::new(
                ProblemKind::Config,
                loc.clone(),
                format!(
                    "`{key}` is set by the catalog for every stack (deploymentId, environment, org, \
                     project); remove it from the manifest"
                ),
            ));
        }
        match value {
            ConfigSpec::Secret(v) if !v.contains("{{") => p.push(Problem::new(
                ProblemKind::Config,
                loc.clone(),
                format!(
                    "`{key}` stores a secret in clear in the manifest; use {{secret_env: VAR}} or \
                     {{secret_file: path}} instead (`secret:` only marks a {{{{stack.output}}}} placeholder as secret)"
                ),
            )),
            ConfigSpec::SecretEnv(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => p
                .push(Problem::new(
                    ProblemKind::Config,
                    loc.clone(),
                    format!("`{key}`: secret_env `{v}` is not an environment variable name (letters, digits, `_`)"),
                )),
            ConfigSpec::SecretFile(v) => {
                if let Err(e) = crate::secret_file::check_path(v) {
                    p.push(Problem::new(ProblemKind::Config, loc.clone(), format!("`{key}`: {e}")));
                }
            }
            _ => {}
        }
        // Values reach the engine, chat and the audit log: no control or bidi characters.
        let text = match value {
            ConfigSpec::Value(v) => v.as_str(),
            ConfigSpec::SecretEnv(v) | ConfigSpec::SecretFile(v) | ConfigSpec::Secret(v) => v.as_str(),
        };
        if let Err(e) = cloud_domain::input::check_text(&format!("the value of `{key}`"), text, MAX_VALUE_CHARS, true) {
            p.push(Problem::new(ProblemKind::Config, loc.clone(), e));
        }
    }
}

/// The longest configuration value a manifest may hold (a certificate fits; a file's worth of
/// data does not belong in stack configuration).
pub const MAX_VALUE_CHARS: usize = 64 * 1024;

/// `<id>-<org>-<project>`.
pub(crate) fn dir_name_for(id: &DeploymentId, org: &str, project: &str) -> String {
    format!("{id}-{org}-{project}")
}

/// Find a deployment by id (`D1BRV40`), directory name (`D1BRV40-acme-corp-ecommerce`) or
/// `org/project` (when exactly one deployment has it). Only that deployment needs to parse.
pub fn find_deployment(root: &Path, selector: &str) -> Result<Deployment, UserError> {
    let deploy = root.join("deploy");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&deploy)
        .map_err(|e| UserError::invalid(format!("cannot read {}: {e}; run `cloud init` first", deploy.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let name_of = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    dirs.retain(|d| is_deployment_dir(&name_of(d)));
    let candidates: Vec<&PathBuf> = if let Some((org, project)) = selector.split_once('/') {
        let suffix = format!("-{org}-{project}");
        dirs.iter()
            .filter(|d| name_of(d).len() == 7 + suffix.len() && name_of(d).ends_with(&suffix))
            .collect()
    } else {
        dirs.iter()
            .filter(|d| {
                let n = name_of(d);
                n == selector || (selector.len() == 7 && n.starts_with(&format!("{selector}-")))
            })
            .collect()
    };
    match candidates.as_slice() {
        [one] => load_deployment(root, one).map_err(|p| UserError::from(Problems::one(p))),
        [] => {
            let known: Vec<String> = dirs.iter().map(name_of).filter(|n| !n.starts_with('.')).collect();
            Err(UserError::invalid(format!(
                "no deployment `{selector}` under deploy/ (known: {}); give an id such as D1BRV40, a \
                 directory name, or org/project — `cloud deployments list` shows them",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )))
        }
        many => Err(UserError::invalid(format!(
            "`{selector}` matches several deployments ({}); give the deployment id instead",
            many.iter().map(|p| name_of(p)).collect::<Vec<_>>().join(", ")
        ))),
    }
}
