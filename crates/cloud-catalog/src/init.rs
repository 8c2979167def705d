//! `cloud init`: a new deployment directory from a manifest template, atomically.
//!
//! Decisions:
//! - The deployment id is generated (unique across `deploy/`) unless `--id` is given.
//! - A second deployment of the same org/project is refused unless `--id` is given: a
//!   deliberate second instance must be asked for by naming its id.
//! - The rendered manifest is validated against the catalog before anything is written; the
//!   directory is written as a hidden staging directory and renamed into place, so a failure
//!   leaves nothing behind.

use std::path::{Path, PathBuf};

use super::fsutil::StagingDir;
use super::manifest::{self, dir_name_for, Deployment};
use super::names;
use super::problem::{Location, Problem, ProblemKind, Problems};
use super::template::{self, Values};
use super::validate;
use super::workspace::Catalog;
use cloud_domain::error::UserError;
use cloud_domain::session::DeploymentId;

/// What `cloud init` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitParams {
    pub org: String,
    pub project: String,
    /// A directory under `templates/` holding `manifest.yaml.template` (`default`, `minimal`, …).
    pub template: String,
    pub id: Option<String>,
}

/// Ids used under `deploy/` (from directory names: the first 7 characters), and directories by
/// org/project suffix.
fn existing_dirs(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("deploy")) else {
        return vec![];
    };
    let mut v: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| crate::manifest::is_deployment_dir(n))
        .collect();
    v.sort();
    v
}

fn id_in_use(dirs: &[String], id: &str) -> Option<String> {
    dirs.iter()
        .find(|d| d.starts_with(&format!("{id}-")) || d.as_str() == id)
        .cloned()
}

/// Create `deploy/<id>-<org>-<project>/manifest.yaml`; returns the new deployment.
pub fn init_deployment(root: &Path, params: &InitParams) -> Result<Deployment, UserError> {
    names::check_org(&params.org).map_err(UserError::invalid)?;
    names::check_project(&params.project).map_err(UserError::invalid)?;
    let tdir = root.join("templates").join(&params.template);
    let tfile = tdir.join("manifest.yaml.template");
    if params.template.contains(['/', '\\']) || params.template.starts_with('.') || !tfile.is_file() {
        let known: Vec<String> = template::list_templates(root)
            .into_iter()
            .filter(|t| t.kind == template::TemplateKind::Deployment)
            .map(|t| t.name)
            .collect();
        return Err(UserError::invalid(format!(
            "no deployment template `{}` (templates/{}/manifest.yaml.template); known: {}",
            params.template,
            params.template,
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )));
    }
    let dirs = existing_dirs(root);
    let suffix = format!("-{}-{}", params.org, params.project);
    let same_project: Vec<&String> = dirs
        .iter()
        .filter(|d| d.len() == 7 + suffix.len() && d.ends_with(&suffix))
        .collect();
    let id = match &params.id {
        Some(given) => {
            let id: DeploymentId = given
                .parse()
                .map_err(|e: cloud_domain::session::InvalidId| UserError::invalid(e.to_string()))?;
            if let Some(d) = id_in_use(&dirs, id.as_str()) {
                return Err(UserError::invalid(format!(
                    "deployment id {id} is already used by deploy/{d}; choose another id or omit --id to generate one"
                )));
            }
            id
        }
        None => {
            if let Some(existing) = same_project.first() {
                return Err(UserError::invalid(format!(
                    "{}/{} already has a deployment: deploy/{existing}; use it, or pass --id D… to create a \
                     second instance deliberately",
                    params.org, params.project
                )));
            }
            loop {
                let id = DeploymentId::generate();
                if id_in_use(&dirs, id.as_str()).is_none() {
                    break id;
                }
            }
        }
    };
    let dir_name = dir_name_for(&id, &params.org, &params.project);
    let mut values = Values::new();
    values.insert("DEPLOYMENT_ID".into(), id.to_string());
    values.insert("ORG".into(), params.org.clone());
    values.insert("PROJECT".into(), params.project.clone());
    values.insert("VERSION".into(), template::VERSION.into());
    values.insert("DATE".into(), template::today());
    let raw = crate::input::read_text(&tfile, crate::input::cap::TEMPLATE)
        .map_err(|e| UserError::failed(format!("cannot read {}: {e}", tfile.display())))?;
    let rel_t = format!("templates/{}/manifest.yaml.template", params.template);
    let mut text = template::render(&raw, &values).map_err(|missing| {
        UserError::from(Problems(
            missing
                .into_iter()
                .map(|m| {
                    Problem::new(
                        ProblemKind::Template,
                        Location::file(&rel_t),
                        format!("placeholder `{{{{{m}}}}}` has no value (known: DEPLOYMENT_ID, ORG, PROJECT, VERSION, DATE)"),
                    )
                })
                .collect(),
        ))
    })?;
    let file = Path::new("deploy").join(&dir_name).join("manifest.yaml");
    // Problems of the rendered text are the template's: name it (lines match the template's).
    let rendered = PathBuf::from(format!("{rel_t} (rendered)"));
    let parsed = manifest::parse_manifest(&text, &rendered).map_err(|p| {
        let mut e = UserError::from(Problems::one(p));
        e.message = format!(
            "template `{}` does not give a valid deployment; nothing was written:
{}",
            params.template, e.message
        );
        e
    })?;
    match &parsed.deployment_id {
        // Generated when absent: written back as the first key after the header comments.
        None => text = insert_deployment_id(&text, &id),
        Some(t) if t != &id => {
            return Err(UserError::invalid(format!(
                "{rel_t} hard-codes deployment_id {t}; use `deployment_id: {{{{DEPLOYMENT_ID}}}}` or leave it out"
            )))
        }
        Some(_) => {}
    }
    let manifest = manifest::parse_manifest(&text, &file).map_err(|p| UserError::from(Problems::one(p)))?;
    if manifest.org != params.org || manifest.project != params.project {
        return Err(UserError::invalid(format!(
            "{rel_t} must set `org: {{{{ORG}}}}` and `project: {{{{PROJECT}}}}` (it rendered org `{}`, project `{}`)",
            manifest.org, manifest.project
        )));
    }
    let dir = root.join("deploy").join(&dir_name);
    let deployment = Deployment {
        dir: dir.clone(),
        dir_name: dir_name.clone(),
        file,
        text: text.clone(),
        manifest,
    };
    let catalog = Catalog::load(root).map_err(|p| {
        let mut e = UserError::from(p);
        e.message = format!(
            "the stack catalog has problems; fix them first (`cloud validate`):\n{}",
            e.message
        );
        e
    })?;
    let problems = validate::check_deployment(&catalog, &deployment).sorted();
    if !problems.is_empty() {
        let mut e = UserError::from(problems);
        e.message = format!(
            "template `{}` does not give a valid deployment; nothing was written:\n{}",
            params.template, e.message
        );
        return Err(e);
    }
    let staging = StagingDir::new(&root.join("deploy"), &dir_name)
        .map_err(|e| UserError::failed(format!("cannot create a staging directory in deploy/: {e}")))?;
    std::fs::write(staging.path().join("manifest.yaml"), &text)
        .map_err(|e| UserError::failed(format!("cannot write the manifest: {e}")))?;
    staging
        .commit(&dir)
        .map_err(|e| UserError::failed(format!("cannot create deploy/{dir_name}: {e}")))?;
    Ok(deployment)
}

/// Insert `deployment_id: <id>` before the first non-comment line.
fn insert_deployment_id(text: &str, id: &DeploymentId) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if !done && !t.is_empty() && !t.starts_with('#') && t != "---" {
            out.push_str(&format!("deployment_id: {id}\n"));
            done = true;
        }
        out.push_str(line);
    }
    if !done {
        out.push_str(&format!("deployment_id: {id}\n"));
    }
    out
}
