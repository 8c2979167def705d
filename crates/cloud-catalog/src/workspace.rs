//! The workspace (a directory holding `stacks/`, `deploy/` and `templates/`) and the stack
//! catalog loaded from it, plus the content hashes that go into a plan's digest.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::problem::{Location, Problem, ProblemKind, Problems};
use super::stack::{self, StackDef};
use cloud_domain::engine::ConfigValue;
use cloud_domain::session::StackName;

/// Paths inside a workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub(crate) fn new(root: impl Into<PathBuf>) -> Self {
        Workspace { root: root.into() }
    }
    pub(crate) fn stacks_dir(&self) -> PathBuf {
        self.root.join("stacks")
    }
    pub(crate) fn templates_dir(&self) -> PathBuf {
        self.root.join("templates")
    }
    /// `path` relative to the root, for messages.
    pub(crate) fn rel(&self, path: &Path) -> PathBuf {
        super::problem::rel(&self.root, path)
    }
}

/// Directories under `stacks/` that are never stacks: shared tooling and npm's.
const NOT_STACKS: &[&str] = &["node_modules", "tools", "tests", "docs", "shared", "lib", "common"];

/// Every stack under `stacks/`, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub workspace: Workspace,
    pub stacks: BTreeMap<StackName, StackDef>,
    /// Directories with a `stack.yaml` that could not be read: reported once, and not repeated
    /// as "unknown stack" wherever they are named.
    pub broken: std::collections::BTreeSet<String>,
}

impl Catalog {
    /// Load every `stacks/*/stack.yaml`; any problem is an error.
    pub fn load(root: &Path) -> Result<Catalog, Problems> {
        let (catalog, problems) = Catalog::load_lenient(root);
        problems.into_result()?;
        Ok(catalog)
    }

    /// Load what can be loaded and report the rest. A stack whose `stack.yaml` is unusable is
    /// left out; a stack with incomplete program files stays in (with its problems reported).
    ///
    /// A directory under `stacks/` is a stack when it has a `stack.yaml`; one that has an
    /// `index.ts` or `Pulumi.yaml` but no `stack.yaml` is reported. Hidden directories (such as a
    /// `cloud stacks new` in progress) and tooling (`node_modules`, `tools`) are skipped.
    pub fn load_lenient(root: &Path) -> (Catalog, Problems) {
        let ws = Workspace::new(root);
        let mut stacks = BTreeMap::new();
        let mut broken = std::collections::BTreeSet::new();
        let mut problems = Problems::default();
        let dir = ws.stacks_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(Problem::new(
                    ProblemKind::Io,
                    Location::file("stacks"),
                    format!("cannot read the stacks directory {}: {e}", dir.display()),
                ));
                return (
                    Catalog {
                        workspace: ws,
                        stacks,
                        broken,
                    },
                    problems,
                );
            }
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
            if name.starts_with('.') || NOT_STACKS.contains(&name.as_str()) {
                continue;
            }
            if !d.join("stack.yaml").is_file() {
                if d.join("index.ts").is_file() || d.join("Pulumi.yaml").is_file() {
                    problems.push(Problem::new(
                        ProblemKind::StackFiles,
                        Location::file(ws.rel(&d.join("stack.yaml"))),
                        format!(
                            "stacks/{name} looks like a stack but has no stack.yaml; add one \
                             (name, description, depends_on, required_config, config, outputs)"
                        ),
                    ));
                }
                continue;
            }
            match stack::load_stack_dir(root, &d) {
                Ok((def, ps)) => {
                    problems.0.extend(ps);
                    stacks.insert(def.meta.name.clone(), def);
                }
                Err(ps) => {
                    problems.0.extend(ps);
                    broken.insert(name);
                }
            }
        }
        // Dependencies must name catalog stacks.
        for def in stacks.values() {
            for dep in &def.meta.depends_on {
                if !stacks.contains_key(dep) && !broken.contains(dep.as_str()) {
                    let file = ws.rel(&def.dir.join("stack.yaml"));
                    let text = std::fs::read_to_string(def.dir.join("stack.yaml")).unwrap_or_default();
                    problems.push(Problem::new(
                        ProblemKind::UnknownStack,
                        super::yaml::key_location(&file, &text, &["depends_on"]),
                        format!(
                            "stack `{}` depends on `{dep}`, which is not in the catalog (known: {})",
                            def.meta.name,
                            known_list(stacks.keys().map(|k| k.as_str()))
                        ),
                    ));
                }
            }
        }
        (
            Catalog {
                workspace: ws,
                stacks,
                broken,
            },
            problems,
        )
    }

    pub(crate) fn root(&self) -> &Path {
        &self.workspace.root
    }

    pub fn get(&self, name: &str) -> Option<&StackDef> {
        self.stacks.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every stack, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &StackDef> {
        self.stacks.values()
    }

    /// Content hash of a stack's program (see [`content_hash`]).
    pub fn content_hash(&self, name: &str) -> io::Result<String> {
        let def = self
            .get(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no stack `{name}`")))?;
        content_hash(&def.dir)
    }
}

/// `a, b, c` — for "known: …" hints.
pub(crate) fn known_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// Files of a program directory that go into its content hash: `index.ts`, `Pulumi.yaml`,
/// `package.json`, `tsconfig.json`, everything under `src/`, and everything under the sibling
/// `../shared/` that every program imports (`stacks/shared/context.ts`) — never `node_modules/`,
/// `docs/`, `inspect/`. Relative paths with `/` separators, sorted.
pub fn program_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut files = Vec::new();
    for top in ["index.ts", "Pulumi.yaml", "package.json", "tsconfig.json"] {
        if dir.join(top).is_file() {
            files.push(top.to_string());
        }
    }
    fn walk(base: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(base.join(rel))?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().to_string();
            if name == "node_modules" {
                continue;
            }
            let child = format!("{rel}/{name}");
            let ft = e.file_type()?;
            if ft.is_dir() {
                walk(base, &child, out)?;
            } else if ft.is_file() || (ft.is_symlink() && base.join(&child).is_file()) {
                out.push(child);
            }
        }
        Ok(())
    }
    if dir.join("src").is_dir() {
        walk(dir, "src", &mut files)?;
    }
    if dir.join("../shared").is_dir() {
        walk(dir, "../shared", &mut files)?;
    }
    files.sort();
    Ok(files)
}

/// sha256 (hex) over a program's files: for each file in [`program_files`] order, its relative
/// path, a NUL, its length (u64 LE) and its bytes — so moving content between files changes the
/// hash. Part of the plan digest: any edit to the program invalidates an approval.
pub fn content_hash(dir: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    for f in program_files(dir)? {
        let bytes = std::fs::read(dir.join(&f))?;
        h.update(f.as_bytes());
        h.update([0u8]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex::encode(h.finalize()))
}

/// sha256 (hex) over resolved configuration, independent of order: sorted by key, each entry
/// hashed as key, secret flag, and the value — or, for secrets, the sha256 of the value, so the
/// digest changes when a secret changes without the secret ever being part of anything shown.
pub fn config_hash(config: &[ConfigValue]) -> String {
    let mut entries: Vec<&ConfigValue> = config.iter().collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let mut h = Sha256::new();
    for c in entries {
        h.update(c.key.as_bytes());
        h.update([0u8]);
        if c.secret {
            h.update(b"secret\0");
            h.update(Sha256::digest(c.value.as_bytes()));
        } else {
            h.update(b"plain\0");
            h.update((c.value.len() as u64).to_le_bytes());
            h.update(c.value.as_bytes());
        }
        h.update([0xffu8]);
    }
    hex::encode(h.finalize())
}
