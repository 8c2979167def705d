//! Changing a manifest from the CLI while keeping the file as people wrote it.
//!
//! Each edit is made twice: on the typed [`Manifest`] (the expected result) and as a small text
//! edit of the file (replace one value, insert one `key: value`, remove one entry), which keeps
//! comments, order and style. The text edit is kept only if it parses to exactly the expected
//! manifest; otherwise the file is rewritten from the typed manifest (its top comment block
//! kept, other comments lost) and the outcome says so. Either way the result is validated
//! against the catalog and refused if it adds problems, and written atomically.

use std::collections::BTreeSet;

use super::fsutil::write_atomic;
use super::manifest::{self, ConfigSpec, Deployment, EnvStackSpec, EnvironmentSpec, Manifest, OrderedMap, StackSpec};
use super::names;
use super::stack::Scalar;
use super::validate;
use super::workspace::Catalog;
use super::yaml::locate_key_exact;
use cloud_domain::error::UserError;

/// Whether the file's comments survived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    /// A targeted text edit: everything else in the file is unchanged.
    Preserved,
    /// Rewritten from the parsed manifest: the top comment block is kept, other comments are lost.
    Rewritten,
    /// Nothing to change.
    Unchanged,
}

/// A manifest edit ready to be written.
#[derive(Debug, Clone)]
pub struct Edit {
    pub deployment: Deployment,
    pub text: String,
    pub manifest: Manifest,
    pub outcome: EditOutcome,
}

impl Edit {
    /// Write the new manifest (atomically). Nothing is written for [`EditOutcome::Unchanged`].
    pub fn write(&self) -> Result<(), UserError> {
        if self.outcome == EditOutcome::Unchanged {
            return Ok(());
        }
        write_atomic(&self.deployment.manifest_path(), &self.text)
            .map_err(|e| UserError::failed(format!("cannot write {}: {e}", self.deployment.file.display())))
    }

    /// `(comments kept)` or `(rewritten; comments other than the header were lost)`.
    pub fn note(&self) -> &'static str {
        match self.outcome {
            EditOutcome::Preserved => "comments and layout kept",
            EditOutcome::Rewritten => {
                "file rewritten from the parsed manifest; comments other than the header were lost"
            }
            EditOutcome::Unchanged => "nothing changed",
        }
    }
}

// ---------- text primitives ----------

fn lines_of(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_string).collect()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// A YAML scalar safe in block and flow context.
pub(crate) fn yaml_scalar(v: &str) -> String {
    let plain = serde_yaml::to_string(v).unwrap_or_default().trim_end().to_string();
    if plain.contains(['\n', ',', '[', ']', '{', '}', '#']) || plain.contains(": ") || plain.is_empty() {
        serde_json::to_string(v).unwrap_or_default()
    } else {
        plain
    }
}

fn spec_yaml(spec: &ConfigSpec) -> String {
    match spec {
        ConfigSpec::Value(v) => yaml_scalar(v.as_str()),
        ConfigSpec::SecretEnv(v) => format!("{{secret_env: {}}}", yaml_scalar(v)),
        ConfigSpec::SecretFile(v) => format!("{{secret_file: {}}}", yaml_scalar(v)),
        ConfigSpec::Secret(v) => format!("{{secret: {}}}", yaml_scalar(v)),
    }
}

/// Byte offset of the `:` ending the key that starts at `col` (0-based) on `line`.
fn colon_after(line: &str, col: usize) -> Option<usize> {
    line[col..].find(':').map(|c| col + c)
}

/// Replace the scalar value of the key at `path` (which must exist).
fn replace_value(text: &str, path: &[&str], value: &str) -> Option<String> {
    let (l, c) = locate_key_exact(text, path)?;
    let mut lines = lines_of(text);
    let line = &lines[l - 1];
    let col = c - 1;
    let in_flow = line[..col].trim_end().ends_with(['{', ',']);
    let colon = colon_after(line, col)?;
    let vstart = colon + 1 + (line[colon + 1..].len() - line[colon + 1..].trim_start().len());
    let rest = &line[vstart..];
    if rest.starts_with(['{', '[']) {
        return None;
    }
    let vend = if in_flow {
        vstart + rest.find([',', '}'])?
    } else if rest.starts_with(['"', '\'']) {
        // a quoted scalar: up to the closing quote
        let q = rest.as_bytes()[0] as char;
        vstart + 1 + rest[1..].find(q)? + 1
    } else {
        vstart + rest.find(" #").unwrap_or(rest.len())
    };
    if !in_flow && rest.trim().is_empty() {
        return None; // a block mapping/sequence value, not a scalar
    }
    let old = line[vstart..vend].trim_end();
    let new_line = format!("{}{}{}", &line[..vstart], value, &line[vstart + old.len()..]);
    lines[l - 1] = new_line;
    Some(lines.join("\n"))
}

/// Insert `key: value` as the last entry of the mapping at `parent` (which must exist).
fn insert_key(text: &str, parent: &[&str], key: &str, value: &str) -> Option<String> {
    let mut lines = lines_of(text);
    if parent.is_empty() {
        let mut t = text.to_string();
        if !t.ends_with('\n') {
            t.push('\n');
        }
        t.push_str(&format!("{key}: {value}\n"));
        return Some(t);
    }
    let (l, c) = locate_key_exact(text, parent)?;
    let line = lines[l - 1].clone();
    let colon = colon_after(&line, c - 1)?;
    let rest = line[colon + 1..].trim_start();
    if rest.starts_with('{') {
        // Flow mapping on this line: insert before its matching brace.
        let open = colon + 1 + (line[colon + 1..].len() - rest.len());
        let mut depth = 0i32;
        let mut close = None;
        for (i, ch) in line[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close?;
        let inner = line[open + 1..close].trim();
        let new_line = if inner.is_empty() {
            format!("{}{{{key}: {value}}}{}", &line[..open], &line[close + 1..])
        } else {
            let before = line[..close].trim_end();
            format!("{before}, {key}: {value}{}", &line[close..])
        };
        lines[l - 1] = new_line;
        return Some(lines.join("\n"));
    }
    if !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    let pind = indent_of(&line);
    let mut last = l - 1;
    let mut child_indent = None;
    for (j, lj) in lines.iter().enumerate().skip(l) {
        if !is_content(lj) {
            continue;
        }
        if indent_of(lj) <= pind {
            break;
        }
        child_indent.get_or_insert(indent_of(lj));
        last = j;
    }
    let ind = child_indent.unwrap_or(pind + 2);
    lines.insert(last + 1, format!("{}{key}: {value}", " ".repeat(ind)));
    Some(lines.join("\n"))
}

/// Set `path` to `value`, creating missing mappings on the way (as one flow mapping).
fn set_path(text: &str, path: &[&str], value: &str) -> Option<String> {
    if locate_key_exact(text, path).is_some() {
        return replace_value(text, path, value);
    }
    let mut k = path.len() - 1;
    while k > 0 && locate_key_exact(text, &path[..k]).is_none() {
        k -= 1;
    }
    // path[..k] exists; build path[k+1..] around the value.
    let mut nested = value.to_string();
    for seg in path[k + 1..].iter().rev() {
        nested = format!("{{{seg}: {nested}}}");
    }
    insert_key(text, &path[..k], path[k], &nested)
}

/// Remove the block-style entry at `path` (its line and everything indented under it).
fn remove_key(text: &str, path: &[&str]) -> Option<String> {
    let (l, c) = locate_key_exact(text, path)?;
    let mut lines = lines_of(text);
    let line = &lines[l - 1];
    if indent_of(line) != c - 1 {
        let new_line = remove_flow_entry(line, c - 1)?;
        lines[l - 1] = new_line;
        return Some(lines.join("\n"));
    }
    let ind = c - 1;
    let mut last = l - 1;
    for (j, lj) in lines.iter().enumerate().skip(l) {
        if !is_content(lj) {
            continue;
        }
        if indent_of(lj) <= ind {
            break;
        }
        last = j;
    }
    lines.drain(l - 1..=last);
    Some(lines.join("\n"))
}

/// Remove the `key: value` entry starting at byte `start` of a one-line flow mapping, with its
/// separating comma.
fn remove_flow_entry(line: &str, start: usize) -> Option<String> {
    let colon = colon_after(line, start)?;
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut end = None;
    for (i, ch) in line[colon + 1..].char_indices() {
        let i = colon + 1 + i;
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') if depth > 0 => depth -= 1,
            (None, '}' | ']' | ',') => {
                end = Some((i, ch));
                break;
            }
            _ => {}
        }
    }
    let (end, stop) = end?;
    if stop == ',' {
        let after = end + 1 + (line[end + 1..].len() - line[end + 1..].trim_start().len());
        return Some(format!("{}{}", &line[..start], &line[after..]));
    }
    let before = line[..start].trim_end();
    if let Some(b) = before.strip_suffix(',') {
        Some(format!("{}{}", b, &line[end..]))
    } else {
        Some(format!("{}{}", &line[..start], &line[end..]))
    }
}

// ---------- the edit machinery ----------

fn header_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        } else {
            break;
        }
    }
    out
}

fn finish(catalog: &Catalog, d: &Deployment, expected: Manifest, attempt: Option<String>) -> Result<Edit, UserError> {
    if expected == d.manifest {
        return Ok(Edit {
            deployment: d.clone(),
            text: d.text.clone(),
            manifest: expected,
            outcome: EditOutcome::Unchanged,
        });
    }
    let (text, outcome) = match attempt {
        Some(t) if manifest::parse_manifest(&t, &d.file).ok().as_ref() == Some(&expected) => {
            (t, EditOutcome::Preserved)
        }
        _ => {
            let body = serde_yaml::to_string(&expected)
                .map_err(|e| UserError::failed(format!("cannot serialize the manifest: {e}")))?;
            (format!("{}{}", header_comments(&d.text), body), EditOutcome::Rewritten)
        }
    };
    let new = Deployment {
        text: text.clone(),
        manifest: expected.clone(),
        ..d.clone()
    };
    let before: BTreeSet<String> = validate::check_deployment(catalog, d)
        .iter()
        .map(|p| p.message.clone())
        .collect();
    let added: Vec<String> = validate::check_deployment(catalog, &new)
        .sorted()
        .iter()
        .filter(|p| !before.contains(&p.message))
        .map(|p| p.to_string())
        .collect();
    if !added.is_empty() {
        return Err(UserError::invalid(format!(
            "refusing the change to {}: it would make the deployment invalid:\n{}",
            d.file.display(),
            added.join("\n")
        )));
    }
    Ok(Edit {
        deployment: d.clone(),
        text,
        manifest: expected,
        outcome,
    })
}

/// `cloud environments enable|disable`: adds the environment if the manifest lacks it.
pub fn set_environment_enabled(catalog: &Catalog, d: &Deployment, env: &str, enabled: bool) -> Result<Edit, UserError> {
    names::check_env(env).map_err(UserError::invalid)?;
    let mut m = d.manifest.clone();
    let v = if enabled { "true" } else { "false" };
    let attempt = match m.environments.get_mut(env) {
        Some(e) => {
            e.enabled = enabled;
            set_path(&d.text, &["environments", env, "enabled"], v)
        }
        None => {
            m.environments.insert(
                env,
                EnvironmentSpec {
                    enabled,
                    config: OrderedMap::default(),
                    stacks: OrderedMap::default(),
                },
            );
            set_path(&d.text, &["environments", env], &format!("{{enabled: {v}}}"))
        }
    };
    finish(catalog, d, m, attempt)
}

/// `cloud stacks register`: enable a catalog stack in a deployment (adding it if absent).
pub fn register_stack(catalog: &Catalog, d: &Deployment, stack: &str) -> Result<Edit, UserError> {
    if !catalog.contains(stack) {
        return Err(UserError::invalid(format!(
            "unknown stack `{stack}` (catalog: {}); `cloud stacks list` shows them",
            super::workspace::known_list(catalog.stacks.keys().map(|k| k.as_str()))
        )));
    }
    let mut m = d.manifest.clone();
    let attempt = match m.stacks.get_mut(stack) {
        Some(s) => {
            s.enabled = true;
            set_path(&d.text, &["stacks", stack, "enabled"], "true")
        }
        None => {
            m.stacks.insert(stack, StackSpec::default());
            set_path(&d.text, &["stacks", stack], "{enabled: true}")
        }
    };
    finish(catalog, d, m, attempt)
}

/// `cloud stacks unregister`: remove a stack from a deployment (and its per-environment
/// entries). Refused while an enabled stack depends on it.
pub fn unregister_stack(catalog: &Catalog, d: &Deployment, stack: &str) -> Result<Edit, UserError> {
    let m0 = &d.manifest;
    if !m0.stacks.contains_key(stack) {
        return Err(UserError::invalid(format!(
            "stack `{stack}` is not in {}; nothing to unregister",
            d.file.display()
        )));
    }
    let mut envs: Vec<Option<&str>> = vec![None];
    envs.extend(m0.environments.keys().map(Some));
    let mut dependents = BTreeSet::new();
    for env in envs {
        for other in m0.enabled_stacks(env) {
            if other != stack
                && catalog
                    .get(other)
                    .is_some_and(|def| def.meta.depends_on.iter().any(|dep| dep.as_str() == stack))
            {
                dependents.insert(other.to_string());
            }
        }
    }
    if !dependents.is_empty() {
        let list: Vec<String> = dependents.into_iter().collect();
        return Err(UserError::invalid(format!(
            "cannot unregister `{stack}`: enabled stack{} {} depend{} on it; unregister or disable {} first",
            if list.len() == 1 { "" } else { "s" },
            list.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
            if list.len() == 1 { "s" } else { "" },
            if list.len() == 1 { "it" } else { "them" },
        )));
    }
    let mut m = m0.clone();
    m.stacks.remove(stack);
    let mut text = remove_key(&d.text, &["stacks", stack]);
    for (env, spec) in m.environments.0.iter_mut() {
        if spec.stacks.remove(stack).is_some() {
            text = text.and_then(|t| remove_key(&t, &["environments", env, "stacks", stack]));
        }
    }
    finish(catalog, d, m, text)
}

/// One `--set`/`--secret-env`/`--unset` of `cloud stacks update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    Set(String, ConfigSpec),
    Unset(String),
}

/// Parse `key=value`.
pub(crate) fn parse_assignment(s: &str) -> Result<(String, String), UserError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| UserError::invalid(format!("`{s}` is not key=value (e.g. --set instanceType=t3.small)")))?;
    let k = k.trim().to_string();
    names::check_config_key(&k).map_err(UserError::invalid)?;
    Ok((k, v.to_string()))
}

impl ConfigChange {
    pub fn set(s: &str) -> Result<Self, UserError> {
        let (k, v) = parse_assignment(s)?;
        Ok(ConfigChange::Set(k, ConfigSpec::Value(Scalar(v))))
    }
    pub fn secret_env(s: &str) -> Result<Self, UserError> {
        let (k, v) = parse_assignment(s)?;
        Ok(ConfigChange::Set(k, ConfigSpec::SecretEnv(v)))
    }
    pub fn secret_file(s: &str) -> Result<Self, UserError> {
        let (k, v) = parse_assignment(s)?;
        Ok(ConfigChange::Set(k, ConfigSpec::SecretFile(v)))
    }
}

/// `cloud stacks update`: change a stack's config in a deployment, for every environment
/// (`stacks.<stack>.config`) or one (`environments.<env>.stacks.<stack>.config`).
pub fn update_stack_config(
    catalog: &Catalog,
    d: &Deployment,
    stack: &str,
    env: Option<&str>,
    changes: &[ConfigChange],
) -> Result<Edit, UserError> {
    if !d.manifest.stacks.contains_key(stack) {
        return Err(UserError::invalid(format!(
            "stack `{stack}` is not in {}; `cloud stacks register {} {stack}` first",
            d.file.display(),
            d.label()
        )));
    }
    if let Some(e) = env {
        names::check_env(e).map_err(UserError::invalid)?;
        if !d.manifest.environments.contains_key(e) {
            return Err(UserError::invalid(format!(
                "environment `{e}` is not in {}; `cloud environments enable` adds it",
                d.file.display()
            )));
        }
    }
    let mut m = d.manifest.clone();
    let mut text = Some(d.text.clone());
    let base: Vec<&str> = match env {
        None => vec!["stacks", stack, "config"],
        Some(e) => vec!["environments", e, "stacks", stack, "config"],
    };
    for change in changes {
        let cfg = match env {
            None => &mut m.stacks.get_mut(stack).expect("checked").config,
            Some(e) => {
                let es = m.environments.get_mut(e).expect("checked");
                if !es.stacks.contains_key(stack) {
                    es.stacks.insert(stack, EnvStackSpec::default());
                }
                &mut es.stacks.get_mut(stack).expect("inserted").config
            }
        };
        match change {
            ConfigChange::Set(k, spec) => {
                let mut path = base.clone();
                path.push(k);
                let value = spec_yaml(spec);
                let was_scalar = matches!(cfg.get(k), None | Some(ConfigSpec::Value(_)));
                cfg.insert(k.clone(), spec.clone());
                text = text.and_then(|t| {
                    if was_scalar || locate_key_exact(&t, &path).is_none() {
                        set_path(&t, &path, &value)
                    } else {
                        None
                    }
                });
            }
            ConfigChange::Unset(k) => {
                if cfg.remove(k).is_none() {
                    return Err(UserError::invalid(format!(
                        "`{k}` is not set for `{stack}` there; nothing to unset"
                    )));
                }
                let mut path = base.clone();
                path.push(k);
                text = text.and_then(|t| remove_key(&t, &path));
            }
        }
    }
    finish(catalog, d, m, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# header\norg: acme\nenvironments:\n  dev: {enabled: true, config: {a: b}}\n  prod:\n    enabled: false # later\nstacks:\n  network:\n    config:\n      cidr: \"10.0.0.0/16\" # main\n  security: {enabled: true}\n# trailing\n";

    #[test]
    fn text_edits_keep_comments() {
        let t = set_path(DOC, &["environments", "prod", "enabled"], "true").unwrap();
        assert!(t.contains("    enabled: true # later\n"), "{t}");
        let t = set_path(DOC, &["environments", "dev", "enabled"], "false").unwrap();
        assert!(t.contains("  dev: {enabled: false, config: {a: b}}"), "{t}");
        let t = set_path(DOC, &["stacks", "network", "config", "cidr"], "\"10.1.0.0/16\"").unwrap();
        assert!(t.contains("      cidr: \"10.1.0.0/16\" # main"), "{t}");
        let t = set_path(DOC, &["stacks", "dns"], "{enabled: true}").unwrap();
        assert!(
            t.contains("  security: {enabled: true}\n  dns: {enabled: true}\n# trailing"),
            "{t}"
        );
        let t = set_path(DOC, &["stacks", "security", "config", "x"], "1").unwrap();
        assert!(t.contains("  security: {enabled: true, config: {x: 1}}"), "{t}");
        let t = set_path(DOC, &["environments", "dev", "config", "c"], "d").unwrap();
        assert!(t.contains("config: {a: b, c: d}}"), "{t}");
        let t = remove_key(DOC, &["stacks", "network"]).unwrap();
        assert!(t.contains("stacks:\n  security: {enabled: true}\n# trailing"), "{t}");
        let t = remove_key(DOC, &["environments", "dev", "config"]).unwrap();
        assert!(t.contains("  dev: {enabled: true}\n"), "{t}");
        let t = remove_key(DOC, &["environments", "dev", "enabled"]).unwrap();
        assert!(t.contains("  dev: {config: {a: b}}\n"), "{t}");
        let t = remove_key(DOC, &["environments", "dev", "config", "a"]).unwrap();
        assert!(t.contains("  dev: {enabled: true, config: {}}\n"), "{t}");
    }

    #[test]
    fn scalars_are_quoted_when_needed() {
        assert_eq!(yaml_scalar("t3.small"), "t3.small");
        assert_eq!(yaml_scalar("true"), "'true'");
        assert_eq!(yaml_scalar("a,b"), "\"a,b\"");
        assert_eq!(yaml_scalar(""), "''");
    }
}
