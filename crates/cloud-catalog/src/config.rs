//! Configuration tiers and runtime placeholders: what each stack is given.
//!
//! Tiers, each overriding the one before:
//! 1. the stack's defaults (`stacks/<stack>/stack.yaml` `config`);
//! 2. the manifest's `stacks.<stack>.config`;
//! 3. the manifest's `environments.<env>.config` — only keys the stack declares (in its defaults
//!    or `required_config`), so one `instanceType` can size every stack that has one;
//! 4. the manifest's `environments.<env>.stacks.<stack>.config`.
//!
//! Then `{{…}}` placeholders in values are replaced: `{{deployment.id}}`, `{{env}}`, `{{org}}`,
//! `{{project}}`, and `{{<stack>.<output>}}` — an output of an upstream stack, looked up through
//! an [`OutputLookup`] the orchestrator supplies at plan/apply time. Finally the catalog adds
//! `deploymentId`, `environment`, `org` and `project` to every stack.

use std::collections::BTreeMap;
use std::fmt;

use super::graph::DependencyGraph;
use super::manifest::{ConfigSpec, Deployment, INJECTED_KEYS};
use super::problem::{Location, Problem, ProblemKind, Problems};
use super::stack::StackDef;
use super::workspace::Catalog;
use cloud_domain::engine::ConfigValue;
use cloud_domain::session::StackName;

/// A resolved configuration value: exactly what the engine takes.
pub(crate) type ResolvedConfig = ConfigValue;

/// One `{{…}}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `{{deployment.id}}`
    DeploymentId,
    /// `{{env}}`
    Env,
    /// `{{org}}`
    Org,
    /// `{{project}}`
    Project,
    /// `{{<stack>.<output>}}`
    Output { stack: StackName, output: String },
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::DeploymentId => f.write_str("{{deployment.id}}"),
            Placeholder::Env => f.write_str("{{env}}"),
            Placeholder::Org => f.write_str("{{org}}"),
            Placeholder::Project => f.write_str("{{project}}"),
            Placeholder::Output { stack, output } => write!(f, "{{{{{stack}.{output}}}}}"),
        }
    }
}

const PLACEHOLDER_FORMS: &str = "{{deployment.id}}, {{env}}, {{org}}, {{project}} or {{<stack>.<output>}}";

/// A piece of a value: literal text or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Placeholder(Placeholder),
}

/// Split a value into text and placeholders; every malformed placeholder is reported.
pub fn parse_value(value: &str) -> Result<Vec<Segment>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Segment::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            errors.push(format!("`{}` has no closing `}}}}`", &rest[start..]));
            rest = "";
            break;
        };
        let inner = after[..end].trim();
        match parse_placeholder(inner) {
            Ok(p) => out.push(Segment::Placeholder(p)),
            Err(e) => errors.push(e),
        }
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest.to_string()));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn parse_placeholder(inner: &str) -> Result<Placeholder, String> {
    match inner {
        "deployment.id" => return Ok(Placeholder::DeploymentId),
        "env" => return Ok(Placeholder::Env),
        "org" => return Ok(Placeholder::Org),
        "project" => return Ok(Placeholder::Project),
        _ => {}
    }
    if let Some(var) = inner.strip_prefix("env:") {
        return Err(format!(
            "`{{{{{inner}}}}}`: environment variables are read only for secrets — write the value as \
             {{secret_env: {}}}",
            var.trim()
        ));
    }
    if let Some((stack, output)) = inner.split_once('.') {
        let out_ok = !output.is_empty()
            && output.as_bytes()[0].is_ascii_alphabetic()
            && output.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if let (Ok(stack), true) = (stack.parse::<StackName>(), out_ok) {
            if stack.as_str() != "deployment" {
                return Ok(Placeholder::Output {
                    stack,
                    output: output.to_string(),
                });
            }
        }
    }
    Err(format!(
        "unknown placeholder `{{{{{inner}}}}}`; use {PLACEHOLDER_FORMS}"
    ))
}

/// An upstream output value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputValue {
    pub value: String,
    pub secret: bool,
}

impl OutputValue {
    /// From `pulumi stack output --json`: strings as-is, anything else as compact JSON.
    pub fn from_json(v: &serde_json::Value, secret: bool) -> Self {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        OutputValue { value, secret }
    }
}

/// Where upstream outputs come from (the orchestrator, reading `stack output` of stacks already
/// applied). `None` means "not available" and fails resolution for that stack.
pub trait OutputLookup {
    fn output(&self, stack: &StackName, output: &str) -> Option<OutputValue>;
}

impl<F: Fn(&StackName, &str) -> Option<OutputValue>> OutputLookup for F {
    fn output(&self, stack: &StackName, output: &str) -> Option<OutputValue> {
        self(stack, output)
    }
}

/// No outputs available (e.g. before anything is applied).
pub(crate) struct NoOutputs;

impl OutputLookup for NoOutputs {
    fn output(&self, _: &StackName, _: &str) -> Option<OutputValue> {
        None
    }
}

/// Where a value came from: the tier, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub tier: &'static str,
    pub location: Location,
}

/// One key after the tiers were applied, before placeholders and secrets are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayeredValue {
    pub spec: ConfigSpec,
    pub source: Source,
}

/// Reads an environment variable (for `{secret_env: VAR}`); injectable for tests.
type EnvVarFn<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Resolves configuration for the stacks of one deployment.
pub struct Resolver<'a> {
    pub catalog: &'a Catalog,
    pub deployment: &'a Deployment,
    outputs: &'a dyn OutputLookup,
    env_var: EnvVarFn<'a>,
    /// Where `{secret_file: …}` may read: the configured secrets directory, by default the
    /// manifest's own directory (see [`crate::secret_file::read`]).
    secrets_dir: Option<std::path::PathBuf>,
}

impl<'a> Resolver<'a> {
    /// Outputs unavailable; secrets from the process environment.
    pub fn new(catalog: &'a Catalog, deployment: &'a Deployment) -> Self {
        Resolver {
            catalog,
            deployment,
            outputs: &NoOutputs,
            env_var: Box::new(|v| std::env::var(v).ok()),
            secrets_dir: None,
        }
    }

    pub fn with_outputs(mut self, outputs: &'a dyn OutputLookup) -> Self {
        self.outputs = outputs;
        self
    }

    /// Confine `{secret_file: …}` to `dir` (the `secrets_dir` setting) instead of the manifest's
    /// directory.
    pub fn with_secrets_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.secrets_dir = dir;
        self
    }

    /// Where `{secret_env: VAR}` values come from (tests inject a map).
    pub fn with_env_vars(mut self, f: impl Fn(&str) -> Option<String> + 'a) -> Self {
        self.env_var = Box::new(f);
        self
    }

    fn stack_def(&self, stack: &str) -> Result<&'a StackDef, Problems> {
        self.catalog.get(stack).ok_or_else(|| {
            Problems::one(Problem::new(
                ProblemKind::UnknownStack,
                self.deployment.locate(&["stacks", stack]),
                format!("stack `{stack}` is not in the catalog"),
            ))
        })
    }

    /// Tiers 1–4 for `stack` in `env`, by key. Manifest keys the stack does not declare are
    /// reported (namespaced keys such as `aws:region` are always allowed).
    pub(crate) fn layered(&self, stack: &str, env: &str) -> Result<BTreeMap<String, LayeredValue>, Problems> {
        let def = self.stack_def(stack)?;
        let d = self.deployment;
        let m = &d.manifest;
        let mut problems = Problems::default();
        let mut out: BTreeMap<String, LayeredValue> = BTreeMap::new();
        let stack_yaml = self.catalog.workspace.rel(&def.dir.join("stack.yaml"));
        for (k, v) in &def.meta.config {
            out.insert(
                k.clone(),
                LayeredValue {
                    spec: ConfigSpec::Value(v.clone()),
                    source: Source {
                        tier: "stack default",
                        location: Location::file(&stack_yaml),
                    },
                },
            );
        }
        let mut apply = |cfg: &super::manifest::OrderedMap<ConfigSpec>,
                         path: &[&str],
                         tier: &'static str,
                         only_declared: bool| {
            for (k, v) in cfg.iter() {
                let mut p: Vec<&str> = path.to_vec();
                p.push(k);
                let declared = def.meta.declares_key(k) || k.contains(':');
                if !declared {
                    if only_declared {
                        continue;
                    }
                    problems.push(Problem::new(
                        ProblemKind::Config,
                        d.locate(&p),
                        format!(
                            "stack `{stack}` does not declare config key `{k}` (declared: {}); fix \
                             the key, or declare it in stacks/{stack}/stack.yaml (config with a default, or required_config)",
                            declared_keys(def)
                        ),
                    ));
                    continue;
                }
                out.insert(
                    k.to_string(),
                    LayeredValue {
                        spec: v.clone(),
                        source: Source {
                            tier,
                            location: d.locate(&p),
                        },
                    },
                );
            }
        };
        if let Some(s) = m.stacks.get(stack) {
            apply(&s.config, &["stacks", stack, "config"], "manifest stack config", false);
        }
        if let Some(e) = m.environments.get(env) {
            apply(&e.config, &["environments", env, "config"], "environment config", true);
            if let Some(es) = e.stacks.get(stack) {
                apply(
                    &es.config,
                    &["environments", env, "stacks", stack, "config"],
                    "environment stack config",
                    false,
                );
            }
        }
        for key in &def.meta.required_config {
            let missing = match out.get(key) {
                None => true,
                Some(LayeredValue {
                    spec: ConfigSpec::Value(v),
                    ..
                }) => v.as_str().trim().is_empty(),
                Some(_) => false,
            };
            if missing {
                problems.push(Problem::new(
                    ProblemKind::Config,
                    d.locate(&["stacks", stack]),
                    format!(
                        "stack `{stack}` requires config `{key}` in {env}, but no tier sets it; set it \
                         under stacks.{stack}.config or environments.{env}.stacks.{stack}.config in {}",
                        d.file.display()
                    ),
                ));
            }
        }
        problems.into_result()?;
        Ok(out)
    }

    /// Check a stack's configuration without reading secrets or outputs: tiers, required keys,
    /// placeholder syntax, and that every `{{<stack>.<output>}}` names a declared output of an
    /// upstream stack (in `graph`, the deployment's graph for `env`).
    pub(crate) fn check(&self, stack: &str, env: &str, graph: &DependencyGraph) -> Problems {
        let layered = match self.layered(stack, env) {
            Ok(l) => l,
            Err(p) => return p,
        };
        let mut problems = Problems::default();
        let upstream = graph.upstream_closure(stack);
        for (key, lv) in &layered {
            let text = match &lv.spec {
                ConfigSpec::Value(v) => v.as_str(),
                ConfigSpec::Secret(v) => v.as_str(),
                _ => continue,
            };
            match parse_value(text) {
                Err(errs) => {
                    for e in errs {
                        problems.push(Problem::new(
                            ProblemKind::Placeholder,
                            lv.source.location.clone(),
                            format!("stack `{stack}` config `{key}` ({}): {e}", lv.source.tier),
                        ));
                    }
                }
                Ok(segs) => {
                    for seg in segs {
                        let Segment::Placeholder(Placeholder::Output { stack: up, output }) = seg else {
                            continue;
                        };
                        let msg = if !upstream.contains(&up) {
                            Some(format!(
                                "`{{{{{up}.{output}}}}}`: `{up}` is not upstream of `{stack}` in {env} \
                                 (upstream: {}); only outputs of stacks `{stack}` depends on can be used",
                                if upstream.is_empty() {
                                    "none".to_string()
                                } else {
                                    upstream.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                                }
                            ))
                        } else {
                            match self.catalog.get(up.as_str()) {
                                Some(updef) if !updef.meta.declares_output(&output) => Some(format!(
                                    "`{{{{{up}.{output}}}}}`: stack `{up}` has no output `{output}` \
                                     (its outputs: {})",
                                    if updef.meta.outputs.is_empty() {
                                        "none".into()
                                    } else {
                                        updef.meta.outputs.join(", ")
                                    }
                                )),
                                _ => None,
                            }
                        };
                        if let Some(msg) = msg {
                            problems.push(Problem::new(
                                ProblemKind::Placeholder,
                                lv.source.location.clone(),
                                format!("stack `{stack}` config `{key}`: {msg}"),
                            ));
                        }
                    }
                }
            }
        }
        problems
    }

    /// The configuration `stack` gets in `env`: every tier, placeholders replaced, secrets read,
    /// plus the injected keys; sorted by key. A value is secret when it is declared secret or
    /// takes any secret upstream output.
    pub fn resolve(&self, stack: &str, env: &str) -> Result<Vec<ResolvedConfig>, Problems> {
        let layered = self.layered(stack, env)?;
        let d = self.deployment;
        let m = &d.manifest;
        let id = d.id().map(|i| i.to_string()).unwrap_or_default();
        let mut problems = Problems::default();
        let mut out: BTreeMap<String, ResolvedConfig> = BTreeMap::new();
        for (key, lv) in layered {
            let fail = |msg: String| {
                Problem::new(
                    ProblemKind::Config,
                    lv.source.location.clone(),
                    format!("stack `{stack}` config `{key}`: {msg}"),
                )
            };
            let (template, mut secret) = match &lv.spec {
                ConfigSpec::Value(v) => (v.as_str().to_string(), false),
                ConfigSpec::Secret(v) => (v.clone(), true),
                ConfigSpec::SecretEnv(var) => match (self.env_var)(var) {
                    Some(v) => {
                        out.insert(
                            key.clone(),
                            ConfigValue {
                                key: key.clone(),
                                value: v,
                                secret: true,
                            },
                        );
                        continue;
                    }
                    None => {
                        problems.push(fail(format!(
                            "environment variable `{var}` is not set; export it before planning"
                        )));
                        continue;
                    }
                },
                ConfigSpec::SecretFile(path) => {
                    let base = self.secrets_dir.as_deref().unwrap_or(&d.dir);
                    match crate::secret_file::read(base, path) {
                        Ok(v) => {
                            out.insert(
                                key.clone(),
                                ConfigValue {
                                    key: key.clone(),
                                    value: v,
                                    secret: true,
                                },
                            );
                        }
                        Err(e) => problems.push(fail(e)),
                    }
                    continue;
                }
            };
            let segs = match parse_value(&template) {
                Ok(s) => s,
                Err(errs) => {
                    for e in errs {
                        problems.push(Problem::new(
                            ProblemKind::Placeholder,
                            lv.source.location.clone(),
                            format!("stack `{stack}` config `{key}`: {e}"),
                        ));
                    }
                    continue;
                }
            };
            let mut value = String::new();
            let mut ok = true;
            for seg in segs {
                match seg {
                    Segment::Text(t) => value.push_str(&t),
                    Segment::Placeholder(Placeholder::DeploymentId) => value.push_str(&id),
                    Segment::Placeholder(Placeholder::Env) => value.push_str(env),
                    Segment::Placeholder(Placeholder::Org) => value.push_str(&m.org),
                    Segment::Placeholder(Placeholder::Project) => value.push_str(&m.project),
                    Segment::Placeholder(Placeholder::Output { stack: up, output }) => {
                        match self.outputs.output(&up, &output) {
                            Some(v) => {
                                value.push_str(&v.value);
                                secret |= v.secret;
                            }
                            None => {
                                ok = false;
                                problems.push(Problem::new(
                                    ProblemKind::Placeholder,
                                    lv.source.location.clone(),
                                    format!(
                                        "stack `{stack}` config `{key}`: `{{{{{up}.{output}}}}}` is not available \
                                     yet — `{up}` must be applied in {env} (with output `{output}`) before `{stack}`"
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
            if ok {
                out.insert(key.clone(), ConfigValue { key, value, secret });
            }
        }
        problems.into_result()?;
        for (k, v) in INJECTED_KEYS
            .iter()
            .zip([id.as_str(), env, m.org.as_str(), m.project.as_str()])
        {
            out.insert(
                k.to_string(),
                ConfigValue {
                    key: k.to_string(),
                    value: v.to_string(),
                    secret: false,
                },
            );
        }
        Ok(out.into_values().collect())
    }
}

fn declared_keys(def: &StackDef) -> String {
    let mut keys: Vec<&str> = def.meta.config.keys().map(|k| k.as_str()).collect();
    keys.extend(def.meta.required_config.iter().map(|k| k.as_str()));
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_parse() {
        let segs = parse_value("arn:{{ deployment.id }}-{{env}}/{{network.vpcId}}").unwrap();
        assert_eq!(segs.len(), 6);
        assert_eq!(
            segs[5],
            Segment::Placeholder(Placeholder::Output {
                stack: "network".parse().unwrap(),
                output: "vpcId".into()
            })
        );
        assert_eq!(parse_value("plain").unwrap(), vec![Segment::Text("plain".into())]);
        let errs = parse_value("{{nope}} {{env:X}} {{deployment.name}} {{open").unwrap_err();
        insta::assert_debug_snapshot!(errs, @r#"
        [
            "unknown placeholder `{{nope}}`; use {{deployment.id}}, {{env}}, {{org}}, {{project}} or {{<stack>.<output>}}",
            "`{{env:X}}`: environment variables are read only for secrets — write the value as {secret_env: X}",
            "unknown placeholder `{{deployment.name}}`; use {{deployment.id}}, {{env}}, {{org}}, {{project}} or {{<stack>.<output>}}",
            "`{{open` has no closing `}}`",
        ]
        "#);
    }
}
