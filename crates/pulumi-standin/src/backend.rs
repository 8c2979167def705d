//! The local ("diy") backend: `PULUMI_BACKEND_URL=file:///abs/dir`, with the same layout as the
//! real one — `.pulumi/meta.yaml`, `.pulumi/stacks/<project>/<stack>.json` checkpoints and
//! `.pulumi/locks/organization/<project>/<stack>/<uuid>.json` locks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Context, Result, StandinError};
use crate::project::Project;

/// The version the stand-in reports (`pulumi version`, checkpoint manifests).
pub const VERSION: &str = "v3.226.0";

/// The literal organisation every local-backend stack belongs to.
pub const LOCAL_ORG: &str = "organization";

/// A stack of the current project: `organization/<project>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRef {
    pub project: String,
    pub name: String,
}

impl StackRef {
    /// Parse `<stack>`, `organization/<stack>` or `organization/<project>/<stack>` the way the
    /// local backend does. The project must be the one in `Pulumi.yaml`.
    pub fn parse(input: &str, project: &Project) -> Result<StackRef> {
        if input.is_empty() {
            return Err(StandinError::failed("stack name must not be empty"));
        }
        let parts: Vec<&str> = input.split('/').collect();
        let (org, proj, name) = match parts.as_slice() {
            [name] => (LOCAL_ORG, project.name.as_str(), *name),
            [org, name] => (*org, project.name.as_str(), *name),
            [org, proj, name] => (*org, *proj, *name),
            _ => {
                return Err(StandinError::failed(format!(
                    "could not parse stack reference '{input}': a stack name may only contain \
                     alphanumeric, hyphens, underscores, or periods"
                )))
            }
        };
        if org != LOCAL_ORG {
            return Err(StandinError::failed("organization name must be 'organization'"));
        }
        validate_name(name)?;
        if proj != project.name {
            return Err(StandinError::failed(format!(
                "provided project name \"{proj}\" doesn't match Pulumi.yaml"
            )));
        }
        Ok(StackRef {
            project: proj.to_string(),
            name: name.to_string(),
        })
    }

    pub fn fully_qualified(&self) -> String {
        format!("{LOCAL_ORG}/{}/{}", self.project, self.name)
    }
}

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StandinError::failed(
            "a stack name may only contain alphanumeric, hyphens, underscores, or periods",
        ))
    }
}

/// A resource as the checkpoint stores it (Pulumi's `ResourceV3` subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub urn: String,
    pub custom: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub inputs: Map<String, Value>,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent: String,
    /// `<provider urn>::<provider id>`, empty for components, providers and the root stack.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
}

/// An operation that started but did not finish (the process died): `creating`, `updating`, ...
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOperation {
    pub resource: ResourceState,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub time: String,
    pub magic: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub manifest: Manifest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_providers: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_operations: Vec<PendingOperation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub stack: String,
    #[serde(default)]
    pub latest: Option<Deployment>,
}

/// The file `.pulumi/stacks/<project>/<stack>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointFile {
    pub version: u32,
    pub checkpoint: Checkpoint,
}

impl CheckpointFile {
    pub fn resources(&self) -> &[ResourceState] {
        self.checkpoint
            .latest
            .as_ref()
            .map(|d| d.resources.as_slice())
            .unwrap_or(&[])
    }

    pub fn pending_operations(&self) -> &[PendingOperation] {
        self.checkpoint
            .latest
            .as_ref()
            .map(|d| d.pending_operations.as_slice())
            .unwrap_or(&[])
    }

    pub fn secrets_providers(&self) -> Option<&Value> {
        self.checkpoint
            .latest
            .as_ref()
            .and_then(|d| d.secrets_providers.as_ref())
    }

    /// Replace the resources and pending operations, stamping a fresh manifest.
    pub fn set_state(&mut self, resources: Vec<ResourceState>, pending: Vec<PendingOperation>) {
        let secrets_providers = self.secrets_providers().cloned();
        self.checkpoint.latest = Some(Deployment {
            manifest: Manifest {
                time: chrono::Utc::now().to_rfc3339(),
                magic: String::new(),
                version: VERSION.to_string(),
            },
            secrets_providers,
            resources,
            pending_operations: pending,
        });
    }
}

/// The backend directory named by `PULUMI_BACKEND_URL`.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The URL as given (used verbatim in lock error messages).
    pub url: String,
    pub root: PathBuf,
}

impl Backend {
    /// Read `PULUMI_BACKEND_URL`. Only `file:///<absolute dir>` is supported.
    pub fn from_env() -> Result<Backend> {
        let url = match std::env::var("PULUMI_BACKEND_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                return Err(StandinError::Auth(
                    "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions \
                     (the pulumi stand-in supports only PULUMI_BACKEND_URL=file:///<absolute dir>)"
                        .into(),
                ))
            }
        };
        let path = url
            .strip_prefix("file://")
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| p.starts_with('/'));
        let Some(path) = path else {
            return Err(StandinError::failed(format!(
                "the pulumi stand-in supports only the local backend PULUMI_BACKEND_URL=file:///<absolute dir>, \
                 not '{url}'"
            )));
        };
        let root = PathBuf::from(if path.is_empty() { "/" } else { path });
        Ok(Backend {
            url: url.trim_end_matches('/').to_string(),
            root,
        })
    }

    fn bookkeeping(&self) -> PathBuf {
        self.root.join(".pulumi")
    }

    pub fn checkpoint_path(&self, stack: &StackRef) -> PathBuf {
        self.bookkeeping()
            .join("stacks")
            .join(&stack.project)
            .join(format!("{}.json", stack.name))
    }

    pub fn lock_dir(&self, stack: &StackRef) -> PathBuf {
        self.bookkeeping()
            .join("locks")
            .join(LOCAL_ORG)
            .join(&stack.project)
            .join(&stack.name)
    }

    /// The URL of a file under the backend, as lock error messages show it.
    pub fn url_of(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        format!("{}/{}", self.url, rel.display())
    }

    pub fn exists(&self, stack: &StackRef) -> bool {
        self.checkpoint_path(stack).is_file()
    }

    /// Create the checkpoint of a new, empty stack.
    pub fn create(&self, stack: &StackRef, encryption_salt: &str) -> Result<CheckpointFile> {
        if self.exists(stack) {
            return Err(StandinError::failed(format!(
                "could not create stack: stack '{}' already exists",
                stack.fully_qualified()
            )));
        }
        let meta = self.bookkeeping().join("meta.yaml");
        if !meta.exists() {
            std::fs::create_dir_all(self.bookkeeping()).context(|| format!("creating {}", self.root.display()))?;
            std::fs::write(&meta, "version: 1\n").context(|| format!("writing {}", meta.display()))?;
        }
        let mut file = CheckpointFile {
            version: 3,
            checkpoint: Checkpoint {
                stack: stack.fully_qualified(),
                latest: None,
            },
        };
        file.set_state(Vec::new(), Vec::new());
        if let Some(d) = file.checkpoint.latest.as_mut() {
            d.secrets_providers = Some(serde_json::json!({"type": "passphrase", "state": {"salt": encryption_salt}}));
        }
        self.save(stack, &file)?;
        Ok(file)
    }

    pub fn load(&self, stack: &StackRef) -> Result<CheckpointFile> {
        let path = self.checkpoint_path(stack);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StandinError::StackNotFound(stack.name.clone()))
            }
            Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text).context(|| format!("could not read checkpoint {}", path.display()))
    }

    /// Write the checkpoint atomically (temp file + rename), so a crash never leaves half a file.
    pub fn save(&self, stack: &StackRef, file: &CheckpointFile) -> Result<()> {
        let path = self.checkpoint_path(stack);
        let dir = path.parent().expect("checkpoint path has a parent");
        // Saved after every step: create the directory only the first time (a mkdir per step is
        // a syscall per step for nothing).
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(file).context(|| "encoding checkpoint".into())?;
        std::fs::write(&tmp, text).context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).context(|| format!("renaming {}", tmp.display()))
    }

    /// Remember the selected stack of a project (what `pulumi stack select` does).
    pub fn select(&self, stack: &StackRef) -> Result<()> {
        let path = self.selection_path(&stack.project);
        std::fs::create_dir_all(path.parent().expect("has parent")).context(|| "creating selection dir".into())?;
        std::fs::write(&path, &stack.name).context(|| format!("writing {}", path.display()))
    }

    pub fn selected(&self, project: &str) -> Option<String> {
        std::fs::read_to_string(self.selection_path(project))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn selection_path(&self, project: &str) -> PathBuf {
        self.bookkeeping().join("standin").join("selected").join(project)
    }
}
