//! Templates: `{{PLACEHOLDER}}` rendering, `cloud stacks new`, and `cloud templates`.
//!
//! Template placeholders are upper-case (`{{STACK_NAME}}`); rendering replaces every one it
//! knows and fails listing every unknown or unset one (file and name). Lower-case `{{…}}` are
//! runtime placeholders of manifests (`{{env}}`, `{{network.vpcId}}`) and pass through untouched.
//!
//! Layout under `templates/`:
//! - `stack/` — a new stack program (`*.template` files; the suffix is dropped when rendering);
//! - `docs/` — a stack's working documents;
//! - any other directory with a `manifest.yaml.template` — a deployment template for
//!   `cloud init --template <name>` (`default`, `minimal`, or your own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fsutil::StagingDir;
use super::names;
use super::problem::{Location, Problem, ProblemKind, Problems};
use super::stack::{self, StackMeta};
use super::workspace::{known_list, Catalog, Workspace};
use cloud_domain::error::UserError;
use cloud_domain::session::StackName;

/// The values `{{…}}` placeholders take.
pub type Values = BTreeMap<String, String>;

/// Placeholders of stack and docs templates.
pub(crate) const STACK_PLACEHOLDERS: &[&str] = &[
    "STACK_NAME",
    "STACK_DESCRIPTION",
    "DEPENDS_ON_YAML",
    "STACK_REFERENCES_TS",
    "VERSION",
    "DATE",
];

/// Placeholders of deployment (manifest) templates.
pub(crate) const MANIFEST_PLACEHOLDERS: &[&str] = &["DEPLOYMENT_ID", "ORG", "PROJECT", "VERSION", "DATE"];

/// The cloud-engine version templates are stamped with.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every `{{NAME}}` (upper-case: letters, digits, `_`) in `text`, in order of appearance.
pub fn placeholders_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        if let Some(j) = after.find("}}") {
            let inner = &after[..j];
            if is_template_name(inner) {
                out.push(inner.to_string());
                rest = &after[j + 2..];
                continue;
            }
        }
        rest = after;
    }
    out
}

fn is_template_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

/// Replace every `{{NAME}}` with its value; `Err` lists every name without a value.
pub fn render(text: &str, values: &Values) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) if is_template_name(&after[..j]) => {
                out.push_str(&rest[..i]);
                let name = &after[..j];
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        if !missing.iter().any(|m| m == name) {
                            missing.push(name.to_string());
                        }
                        out.push_str(&rest[i..i + 4 + j]);
                    }
                }
                rest = &after[j + 2..];
            }
            _ => {
                out.push_str(&rest[..i + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// One file of a template directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// Path relative to the template directory, e.g. `src/outputs.ts.template`.
    pub source: String,
    /// Where it renders to, relative to the destination (`.template` dropped).
    pub dest: String,
}

/// Files of a template directory, sorted. `*.template` files are rendered, others copied.
pub(crate) fn template_files(dir: &Path) -> std::io::Result<Vec<TemplateFile>> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<TemplateFile>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(base.join(rel))?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                walk(base, &child, out)?;
            } else {
                let source = child.to_string_lossy().replace('\\', "/");
                let dest = source.strip_suffix(".template").unwrap_or(&source).to_string();
                out.push(TemplateFile { source, dest });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    Ok(out)
}

/// Render a template directory in memory: `(dest, content)` per file, or every unresolved
/// placeholder as a problem naming the file.
pub(crate) fn render_dir(root: &Path, dir: &Path, values: &Values) -> Result<Vec<(String, String)>, Problems> {
    let mut problems = Problems::default();
    let mut out = Vec::new();
    let files = template_files(dir).map_err(|e| {
        Problems::one(Problem::new(
            ProblemKind::Io,
            Location::file(super::problem::rel(root, dir)),
            format!("cannot read templates: {e}"),
        ))
    })?;
    for f in files {
        let path = dir.join(&f.source);
        let rel = super::problem::rel(root, &path);
        let text = match super::input::read_text(&path, super::input::cap::TEMPLATE) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::new(
                    ProblemKind::Io,
                    Location::file(&rel),
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        if !f.source.ends_with(".template") {
            out.push((f.dest, text));
            continue;
        }
        match render(&text, values) {
            Ok(r) => out.push((f.dest, r)),
            Err(missing) => {
                for name in missing {
                    let line = text
                        .lines()
                        .position(|l| l.contains(&format!("{{{{{name}}}}}")))
                        .map(|l| l + 1);
                    let col = line
                        .and_then(|l| text.lines().nth(l - 1))
                        .and_then(|s| s.find(&format!("{{{{{name}}}}}")))
                        .map(|c| c + 1);
                    problems.push(Problem::new(
                        ProblemKind::Template,
                        Location {
                            file: rel.clone(),
                            line,
                            column: col,
                        },
                        format!(
                            "placeholder `{{{{{name}}}}}` has no value (known: {})",
                            values.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
    }
    problems.into_result()?;
    Ok(out)
}

/// `[network, security]` — a YAML flow list.
pub(crate) fn depends_on_yaml(deps: &[StackName]) -> String {
    format!("[{}]", deps.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", "))
}

/// One `const <camel>Ref = stackReference(ctx, "<dep>");` per dependency (the helper and `ctx`
/// are in scope in the stack template's index.ts); empty without dependencies.
pub(crate) fn stack_references_ts(deps: &[StackName]) -> String {
    deps.iter()
        .map(|d| {
            format!(
                "const {}Ref = stackReference(ctx, \"{d}\");",
                names::camel_case(d.as_str())
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Values for a stack template.
pub(crate) fn stack_values(name: &StackName, description: &str, deps: &[StackName]) -> Values {
    let mut v = Values::new();
    v.insert("STACK_NAME".into(), name.to_string());
    v.insert("STACK_DESCRIPTION".into(), description.to_string());
    v.insert("DEPENDS_ON_YAML".into(), depends_on_yaml(deps));
    v.insert("STACK_REFERENCES_TS".into(), stack_references_ts(deps));
    v.insert("VERSION".into(), VERSION.into());
    v.insert("DATE".into(), today());
    v
}

pub(crate) fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// A description must be one line that is a plain scalar in YAML and a plain string in JSON.
pub(crate) fn check_description(d: &str) -> Result<(), String> {
    let bad = d.trim().is_empty()
        || d.len() > 200
        || d.contains(['\n', '\r', '"', '\\'])
        || d.contains(": ")
        || d.contains(" #")
        || d.ends_with(':')
        || d.starts_with(|c: char| "-?:,[]{}#&*!|>'%@`".contains(c));
    if bad {
        Err(format!(
            "invalid description `{d}`: use one line of at most 200 characters without `\"`, `\\`, `: ` or ` #`, \
             not starting with a YAML indicator (-, [, {{, &, *, !, |, >, ', %, @, `)"
        ))
    } else {
        Ok(())
    }
}

/// What `cloud stacks new` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStackParams {
    pub name: String,
    pub depends_on: Vec<String>,
    pub description: Option<String>,
}

/// Names that are directories of the stacks workspace, not stacks.
const RESERVED: &[&str] = &[
    "node_modules",
    "tools",
    "tests",
    "docs",
    "shared",
    "lib",
    "common",
    "deployment",
];

/// Render `templates/stack` into `stacks/<name>/` atomically: render into a hidden staging
/// directory next to it, check the result as the catalog would, then rename. On any failure
/// nothing is left behind. Returns the new stack's directory.
pub fn new_stack(root: &Path, params: &NewStackParams) -> Result<PathBuf, UserError> {
    let ws = Workspace::new(root);
    let name: StackName = params
        .name
        .parse()
        .map_err(|e: cloud_domain::session::InvalidId| UserError::invalid(e.to_string()))?;
    if RESERVED.contains(&name.as_str()) {
        return Err(UserError::invalid(format!(
            "`{name}` is reserved (a directory of the stacks workspace); choose another name"
        )));
    }
    let dest = ws.stacks_dir().join(name.as_str());
    if dest.exists() {
        return Err(UserError::invalid(format!(
            "stack `{name}` already exists (stacks/{name}); choose another name, or edit the existing stack"
        )));
    }
    let (catalog, _) = Catalog::load_lenient(root);
    let mut deps: Vec<StackName> = Vec::new();
    let mut unknown = Vec::new();
    for d in &params.depends_on {
        let d = d.trim();
        if d.is_empty() {
            continue;
        }
        match d.parse::<StackName>() {
            Ok(n) if catalog.contains(n.as_str()) => {
                if !deps.contains(&n) {
                    deps.push(n)
                }
            }
            _ => unknown.push(d.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(UserError::invalid(format!(
            "unknown dependenc{} {}: not in the catalog (known: {})",
            if unknown.len() == 1 { "y" } else { "ies" },
            unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
            known_list(catalog.stacks.keys().map(|k| k.as_str()))
        )));
    }
    let description = params
        .description
        .clone()
        .unwrap_or_else(|| format!("The {name} stack"));
    check_description(&description).map_err(UserError::invalid)?;
    let tdir = ws.templates_dir().join("stack");
    if !tdir.is_dir() {
        return Err(UserError::invalid(
            "templates/stack does not exist; it holds the files of a new stack (see templates/README.md)",
        ));
    }
    let rendered = render_dir(root, &tdir, &stack_values(&name, &description, &deps)).map_err(UserError::from)?;

    let staging = StagingDir::new(&ws.stacks_dir(), name.as_str())
        .map_err(|e| UserError::failed(format!("cannot create a staging directory in stacks/: {e}")))?;
    for (rel, content) in &rendered {
        let path = staging.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| UserError::failed(format!("cannot write {rel}: {e}")))?;
        }
        std::fs::write(&path, content).map_err(|e| UserError::failed(format!("cannot write {rel}: {e}")))?;
    }
    // Check the result as the catalog will read it.
    let mut problems = Problems::default();
    let meta_text = std::fs::read_to_string(staging.path().join("stack.yaml")).unwrap_or_default();
    let shown = PathBuf::from(format!("templates/stack (rendered for {name})/stack.yaml"));
    match super::yaml::parse_strict::<StackMeta>(&meta_text, &shown) {
        Err(p) => problems.push(p),
        Ok(meta) => {
            if meta.name != name || meta.depends_on != deps {
                problems.push(Problem::new(
                    ProblemKind::Template,
                    Location::file("templates/stack/stack.yaml.template"),
                    "the rendered stack.yaml does not carry the new stack's name and depends_on; use {{STACK_NAME}} and {{DEPENDS_ON_YAML}}",
                ));
            }
        }
    }
    // The staging directory is an implementation detail: name the rendered files as above.
    let staging_rel = super::problem::rel(root, staging.path()).display().to_string();
    let rendered_dir = format!("templates/stack (rendered for {name})");
    for p in stack::check_program_files(root, staging.path()) {
        let message = p.message.replace(&staging_rel, &rendered_dir);
        problems.push(Problem::new(
            p.kind,
            Location::file("templates/stack"),
            format!("the rendered stack is incomplete: {message}"),
        ));
    }
    if !problems.is_empty() {
        return Err(UserError::from(problems));
    }
    staging
        .commit(&dest)
        .map_err(|e| UserError::failed(format!("cannot move the new stack into stacks/{name}: {e}")))?;
    // Registered: the catalog now reads it.
    let (catalog, _) = Catalog::load_lenient(root);
    if !catalog.contains(name.as_str()) {
        return Err(UserError::failed(format!(
            "stacks/{name} was created but the catalog does not read it; run `cloud validate`"
        )));
    }
    Ok(dest)
}

/// What kind of template a directory under `templates/` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TemplateKind {
    /// `templates/stack`: a new stack.
    Stack,
    /// `templates/docs`: a stack's documents.
    Docs,
    /// A directory with `manifest.yaml.template`: a deployment for `cloud init`.
    Deployment,
}

impl TemplateKind {
    pub fn label(self) -> &'static str {
        match self {
            TemplateKind::Stack => "stack",
            TemplateKind::Docs => "docs",
            TemplateKind::Deployment => "deployment",
        }
    }

    pub(crate) fn placeholders(self) -> &'static [&'static str] {
        match self {
            TemplateKind::Stack | TemplateKind::Docs => STACK_PLACEHOLDERS,
            TemplateKind::Deployment => MANIFEST_PLACEHOLDERS,
        }
    }
}

/// A template directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub name: String,
    pub kind: TemplateKind,
    pub dir: PathBuf,
    pub files: Vec<TemplateFile>,
}

/// Every template directory, sorted by name. Directories that are none of the kinds are skipped.
pub fn list_templates(root: &Path) -> Vec<TemplateInfo> {
    let tdir = root.join("templates");
    let Ok(entries) = std::fs::read_dir(&tdir) else {
        return vec![];
    };
    let mut out: Vec<TemplateInfo> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|dir| {
            let name = dir.file_name()?.to_string_lossy().to_string();
            let kind = match name.as_str() {
                "stack" => TemplateKind::Stack,
                "docs" => TemplateKind::Docs,
                _ if dir.join("manifest.yaml.template").is_file() => TemplateKind::Deployment,
                _ => return None,
            };
            let files = template_files(&dir).ok()?;
            Some(TemplateInfo { name, kind, dir, files })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The sample values `cloud templates validate` renders with.
pub(crate) fn sample_values(kind: TemplateKind) -> Values {
    let mut v = match kind {
        TemplateKind::Stack | TemplateKind::Docs => {
            let deps = vec![
                "network".parse().expect("valid"),
                "services-ecs".parse().expect("valid"),
            ];
            stack_values(&"example".parse().expect("valid"), "Example stack", &deps)
        }
        TemplateKind::Deployment => {
            let mut v = Values::new();
            v.insert("DEPLOYMENT_ID".into(), "D000000".into());
            v.insert("ORG".into(), "example-org".into());
            v.insert("PROJECT".into(), "example".into());
            v
        }
    };
    v.insert("VERSION".into(), VERSION.into());
    v.insert("DATE".into(), today());
    v
}

/// Every template renders with the sample values and uses no unknown placeholder; deployment
/// templates also render to a manifest that parses.
pub fn validate_templates(root: &Path) -> Problems {
    let mut problems = Problems::default();
    let templates = list_templates(root);
    if templates.is_empty() {
        problems.push(Problem::new(
            ProblemKind::Template,
            Location::file("templates"),
            "no templates found under templates/",
        ));
    }
    for t in templates {
        let values = sample_values(t.kind);
        match render_dir(root, &t.dir, &values) {
            Err(p) => problems.extend(p),
            Ok(files) => {
                if t.kind == TemplateKind::Deployment {
                    if let Some((_, text)) = files.iter().find(|(d, _)| d == "manifest.yaml") {
                        let shown = PathBuf::from(format!("templates/{}/manifest.yaml.template (rendered)", t.name));
                        if let Err(p) = super::manifest::parse_manifest(text, &shown) {
                            problems.push(p);
                        }
                    }
                }
                if t.kind == TemplateKind::Stack {
                    if let Some((_, text)) = files.iter().find(|(d, _)| d == "stack.yaml") {
                        let shown = PathBuf::from("templates/stack/stack.yaml.template (rendered)");
                        if let Err(p) = super::yaml::parse_strict::<StackMeta>(text, &shown) {
                            problems.push(p);
                        }
                    }
                }
            }
        }
    }
    problems
}

/// A template's files and the placeholders each uses.
pub fn describe_template(root: &Path, name: &str) -> Result<String, UserError> {
    let all = list_templates(root);
    let Some(t) = all.iter().find(|t| t.name == name) else {
        return Err(UserError::invalid(format!(
            "no template `{name}` (known: {}); `cloud templates list` shows them",
            if all.is_empty() {
                "none".into()
            } else {
                all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            }
        )));
    };
    let mut s = format!("template {} ({}) — templates/{}\n", t.name, t.kind.label(), t.name);
    s.push_str(&format!("placeholders: {}\n", t.kind.placeholders().join(", ")));
    for f in &t.files {
        let text = std::fs::read_to_string(t.dir.join(&f.source)).unwrap_or_default();
        let mut used = placeholders_in(&text);
        used.sort();
        used.dedup();
        let uses = if used.is_empty() {
            "-".to_string()
        } else {
            used.join(", ")
        };
        s.push_str(&format!("  {:<40} → {:<32} uses {}\n", f.source, f.dest, uses));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reports_every_unknown_placeholder() {
        let mut v = Values::new();
        v.insert("A".into(), "1".into());
        assert_eq!(render("x{{A}}y{{env}}z{{ A }}", &v).unwrap(), "x1y{{env}}z{{ A }}");
        assert_eq!(
            render("{{B}}{{A}}{{C}}{{B}}", &v).unwrap_err(),
            vec!["B".to_string(), "C".to_string()]
        );
        assert_eq!(placeholders_in("{{A}} {{network.vpcId}} {{B_2}}"), vec!["A", "B_2"]);
    }

    #[test]
    fn stack_references_follow_the_template_contract() {
        let deps: Vec<StackName> = vec!["network".parse().unwrap(), "services-ecs".parse().unwrap()];
        insta::assert_snapshot!(stack_references_ts(&deps), @r#"
        const networkRef = stackReference(ctx, "network");
        const servicesEcsRef = stackReference(ctx, "services-ecs");
        "#);
        assert_eq!(depends_on_yaml(&deps), "[network, services-ecs]");
        assert_eq!(depends_on_yaml(&[]), "[]");
    }

    #[test]
    fn descriptions_stay_plain_scalars() {
        assert!(check_description("PostgreSQL on RDS, with backups").is_ok());
        for bad in ["", "a: b", "say \"hi\"", "- item", "two\nlines", "x #y"] {
            assert!(check_description(bad).is_err(), "{bad}");
        }
    }
}
