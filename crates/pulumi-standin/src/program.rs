//! What the program declares *for this configuration*: the stand-in's stand-in for running the
//! program, as `pulumi preview` and `pulumi up` do.
//!
//! The stacks' own offline inspector (`stacks/tools/inspect.ts`, which evaluates the real
//! TypeScript program under Pulumi's mock runtime and prints the resources it declares — the same
//! tool `cloud stacks inspect` runs) is the program's evaluator; the stand-in does not read
//! TypeScript itself. In order:
//!
//! 1. `PULUMI_STANDIN_RESOURCES` names a resources JSON: that is the program (tests use it).
//! 2. The committed snapshot `<program>/inspect/<env>.json` *is* the evaluation of the program for
//!    the configuration it records (the stacks' test suite fails when a snapshot is stale): when
//!    the stack's configuration equals it, the snapshot is used as is. The deployment id is
//!    substituted afterwards (names and tags carry it; ids are opaque and all the same length)
//!    and the org is not compared (it only names StackReferences, which the stand-in does not
//!    resolve).
//! 3. Otherwise the inspector evaluates the program with the stack's configuration — secret
//!    values are passed as `[secret]`, so they never reach a command line — and the result is
//!    cached under `stacks/node_modules/.cache/pulumi-standin/`, keyed by a hash of everything
//!    the evaluation reads (the program's files, the shared code, the inspector and its mocks,
//!    the lockfile, the upstream snapshots its StackReferences answer from, and the
//!    configuration). Concurrent stand-ins wait for one evaluation instead of repeating it
//!    (`flock`).
//! 4. When the inspector cannot run (no `node`, no `stacks/node_modules`), the snapshot is used
//!    with a warning diagnostic naming the configuration it does not reflect.
//!
//! Why not a second TypeScript reader in Rust, or a generated "template" of the resources with
//! config placeholders: a config value changes resources in ways only the program knows (a CIDR
//! becomes subnet CIDRs, a count becomes resources), so only running the program is right, and
//! the inspector already runs it faithfully. The price is a few seconds of `node` the first time
//! a configuration is seen, once per machine.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Context, Result};

/// The deployment id, org and project of every committed snapshot.
pub const SNAPSHOT_DEPLOYMENT: &str = "D000000";
pub const SNAPSHOT_ORG: &str = "organization";

/// How long one evaluation of a program may take.
const EVALUATION_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the resources JSON for this run comes from.
#[derive(Debug)]
pub struct Located {
    pub path: PathBuf,
    /// Warnings to show as diagnostics (the snapshot stood in for a configuration it does not
    /// reflect).
    pub warnings: Vec<String>,
}

/// Why a program could not be evaluated: shown as the preview's error, like a program crash.
#[derive(Debug)]
pub struct ProgramError(pub String);

/// The stack's configuration as the program sees it: keys of the project's namespace without
/// the namespace, secrets as `[secret]`.
pub type ProgramConfig = BTreeMap<String, String>;

/// The stacks workspace that holds the inspector: the program directory's parent with
/// `tools/inspect.ts`.
fn stacks_root(program_dir: &Path) -> Option<PathBuf> {
    let root = program_dir.parent()?;
    root.join("tools")
        .join("inspect.ts")
        .is_file()
        .then(|| root.to_path_buf())
}

/// Why the inspector cannot run here, if it cannot.
fn unavailable(root: &Path) -> Option<String> {
    if !root.join("node_modules").is_dir() {
        return Some(format!(
            "{} is missing: run `cd {} && npm ci --ignore-scripts`",
            root.join("node_modules").display(),
            root.display()
        ));
    }
    if find_on_path("node").is_none() {
        return Some("`node` is not on PATH".into());
    }
    None
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// `config` of a snapshot, as strings.
fn snapshot_config(doc: &Value) -> ProgramConfig {
    doc.get("config")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The keys whose values differ, ignoring the deployment id and the org (see the module docs).
fn differing(a: &ProgramConfig, b: &ProgramConfig) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| !matches!(k.as_str(), "deploymentId" | "org"))
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Find (or make) the resources JSON the program declares for `config` in `env`.
pub fn locate(
    knob: Option<&Path>,
    program_dir: &Path,
    stack_name: &str,
    env: &str,
    config: &ProgramConfig,
) -> Result<std::result::Result<Located, ProgramError>> {
    if let Some(path) = knob {
        return Ok(Ok(Located {
            path: path.to_path_buf(),
            warnings: vec![],
        }));
    }
    let snapshot = program_dir.join("inspect").join(format!("{env}.json"));
    let snapshot_doc: Option<Value> = std::fs::read_to_string(&snapshot)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let differ = snapshot_doc
        .as_ref()
        .map(|doc| differing(&snapshot_config(doc), config));
    if differ.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Ok(Located {
            path: snapshot,
            warnings: vec![],
        }));
    }
    let root = stacks_root(program_dir);
    let why_not = match &root {
        None => Some(format!(
            "no offline inspector (tools/inspect.ts) beside {}",
            program_dir.display()
        )),
        Some(root) => unavailable(root),
    };
    match (why_not, root) {
        (None, Some(root)) => evaluate(&root, program_dir, stack_name, env, config)
            .map(|r| r.map(|path| Located { path, warnings: vec![] })),
        (why, _) => {
            let why = why.unwrap_or_default();
            match differ {
                Some(keys) => Ok(Ok(Located {
                    path: snapshot.clone(),
                    warnings: vec![format!(
                        "the pulumi stand-in could not run the program ({why}); its resources are the recorded snapshot {}, which does not reflect the configuration of {}",
                        snapshot.display(),
                        keys.join(", ")
                    )],
                })),
                // No snapshot either: resources::load names the missing file.
                None => Ok(Ok(Located {
                    path: snapshot,
                    warnings: vec![],
                })),
            }
        }
    }
}

/// Every file under `dir` (sorted, relative), skipping the directories named in `skip`.
fn files_under(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name();
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                if !skip.iter().any(|s| name == *s) {
                    files_under(&path, skip, out);
                }
            }
            Ok(_) => out.push(path),
            Err(_) => {}
        }
    }
}

/// The cache key: everything the evaluation reads, and the configuration. That is the stacks
/// workspace minus what cannot matter: this program's files (not its snapshots or docs), the
/// other programs' snapshots for this environment (the mocked StackReferences answer from
/// them) but not their code, the shared code and the inspector (every directory that is not a
/// stack, except `tests`), and the files at the root (package and TypeScript settings, the
/// lockfile).
fn cache_key(root: &Path, program_dir: &Path, env: &str, config: &ProgramConfig) -> String {
    let mut h = Sha256::new();
    h.update(b"pulumi-standin program evaluation v1\0");
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(root)
        .map(|e| e.flatten().collect())
        .unwrap_or_default();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name();
        if !path.is_dir() {
            files.push(path);
        } else if name == "node_modules" || name == "tests" {
            continue;
        } else if path == program_dir || Some(name.as_os_str()) == program_dir.file_name() {
            files_under(&path, &["inspect", "node_modules", "docs"], &mut files);
        } else if path.join("stack.yaml").is_file() {
            let snapshot = path.join("inspect").join(format!("{env}.json"));
            if snapshot.is_file() {
                files.push(snapshot);
            }
        } else {
            files_under(&path, &["node_modules"], &mut files);
        }
    }
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_string_lossy().into_owned();
        let bytes = std::fs::read(&f).unwrap_or_default();
        for part in [rel.as_bytes(), &bytes] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    h.update(env.as_bytes());
    for (k, v) in config {
        for part in [k.as_bytes(), v.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    hex::encode(&h.finalize()[..16])
}

/// An exclusive `flock` on a file, released when dropped (or when the process dies).
struct FileLock(std::fs::File);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .context(|| format!("opening {}", path.display()))?;
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock(2) on a descriptor we own; blocks until the lock is ours.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context(|| format!("locking {}", path.display()));
            }
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Evaluate the program with the inspector (or take the cached evaluation).
fn evaluate(
    root: &Path,
    program_dir: &Path,
    stack_name: &str,
    env: &str,
    config: &ProgramConfig,
) -> Result<std::result::Result<PathBuf, ProgramError>> {
    // Evaluated with the snapshots' identity; the deployment id is substituted when loaded.
    let mut normalized = config.clone();
    normalized.insert("deploymentId".into(), SNAPSHOT_DEPLOYMENT.into());
    normalized.insert("org".into(), SNAPSHOT_ORG.into());
    let project = normalized.get("project").cloned().unwrap_or_default();
    let key = cache_key(root, program_dir, env, &normalized);
    let dir = root.join("node_modules").join(".cache").join("pulumi-standin");
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let cached = dir.join(format!("{stack_name}-{env}-{key}.json"));
    if cached.is_file() {
        return Ok(Ok(cached));
    }
    let _lock = FileLock::acquire(&dir.join(format!("{stack_name}-{env}-{key}.lock")))?;
    if cached.is_file() {
        // Another stand-in evaluated it while we waited.
        return Ok(Ok(cached));
    }
    let mut args: Vec<String> = [
        "--import",
        "tsx",
        "tools/inspect.ts",
        "--stack",
        stack_name,
        "--env",
        env,
        "--deployment",
        SNAPSHOT_DEPLOYMENT,
        "--org",
        SNAPSHOT_ORG,
        "--project",
        &project,
        "--no-stack-defaults",
        "--dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(program_dir.display().to_string());
    for (k, v) in &normalized {
        if !matches!(k.as_str(), "deploymentId" | "org" | "project" | "environment") {
            args.push("--config".into());
            args.push(format!("{k}={v}"));
        }
    }
    let mut child = Command::new("node")
        .args(&args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| "starting node for the program".into())?;
    // Read both pipes while it runs (a full pipe would stall it).
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + EVALUATION_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().context(|| "waiting for node".into())? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let failed = |why: String| {
        let tail: Vec<&str> = err
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Ok(Err(ProgramError(format!(
            "Running program '{}' failed with an unhandled exception:\n{why}\n{}",
            program_dir.display(),
            tail.join("\n")
        ))))
    };
    match status {
        None => return failed(format!("the program did not finish within {EVALUATION_TIMEOUT:?}")),
        Some(s) if !s.success() => return failed(format!("the program exited with {s}")),
        Some(_) => {}
    }
    let doc: Value = match serde_json::from_str(&out) {
        Ok(doc) => doc,
        Err(e) => return failed(format!("the program's declarations are not JSON: {e}")),
    };
    let tmp = cached.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_string_pretty(&doc).unwrap_or_default())
        .context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &cached).context(|| format!("renaming {}", tmp.display()))?;
    Ok(Ok(cached))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> ProgramConfig {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_deployment_id_and_org_do_not_make_a_configuration_different() {
        let snapshot = cfg(&[
            ("deploymentId", "D000000"),
            ("org", "organization"),
            ("cidrBlock", "10.0.0.0/16"),
        ]);
        let same = cfg(&[
            ("deploymentId", "D1BRV40"),
            ("org", "acme-corp"),
            ("cidrBlock", "10.0.0.0/16"),
        ]);
        assert!(differing(&snapshot, &same).is_empty());
        let other = cfg(&[
            ("deploymentId", "D1BRV40"),
            ("cidrBlock", "10.1.0.0/16"),
            ("extra", "x"),
        ]);
        assert_eq!(differing(&snapshot, &other), ["cidrBlock", "extra"]);
    }

    #[test]
    fn the_cache_key_follows_what_the_evaluation_reads_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        for stack in ["network", "dns"] {
            write(&format!("{stack}/stack.yaml"), "name: x\n");
            write(&format!("{stack}/index.ts"), "// program\n");
            write(&format!("{stack}/inspect/dev.json"), "{}");
        }
        write("shared/context.ts", "// shared\n");
        write("tools/inspect.ts", "// inspector\n");
        write("package-lock.json", "{}");
        let program = root.join("dns");
        let config = cfg(&[("caaIssuer", "amazon.com")]);
        let key = || cache_key(root, &program, "dev", &config);
        let first = key();
        // Not read by the evaluation: another program's code, this program's own snapshot, tests.
        write("network/index.ts", "// changed\n");
        write("dns/inspect/dev.json", "{\"changed\": true}");
        write("tests/stacks.test.ts", "// a test\n");
        assert_eq!(key(), first);
        // Read by it: shared code, an upstream snapshot, the program, the configuration.
        for (rel, text) in [
            ("shared/context.ts", "// shared, changed\n"),
            ("network/inspect/dev.json", "{\"vpcId\": 1}"),
            ("dns/index.ts", "// program, changed\n"),
        ] {
            let before = key();
            write(rel, text);
            assert_ne!(key(), before, "{rel}");
        }
        assert_ne!(
            cache_key(root, &program, "dev", &cfg(&[("caaIssuer", "letsencrypt.org")])),
            key()
        );
    }

    #[test]
    fn a_snapshot_that_matches_the_configuration_is_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("network");
        std::fs::create_dir_all(program.join("inspect")).unwrap();
        std::fs::write(
            program.join("inspect/dev.json"),
            r#"{"config": {"deploymentId": "D000000", "org": "organization", "azCount": 2}, "resources": []}"#,
        )
        .unwrap();
        let config = cfg(&[("deploymentId", "D1BRV40"), ("org", "acme-corp"), ("azCount", "2")]);
        let found = locate(None, &program, "network", "dev", &config).unwrap().unwrap();
        assert_eq!(found.path, program.join("inspect/dev.json"));
        assert!(found.warnings.is_empty());
        // Another value, and no inspector to run the program: the snapshot, with a warning.
        let changed = cfg(&[("deploymentId", "D1BRV40"), ("azCount", "3")]);
        let found = locate(None, &program, "network", "dev", &changed).unwrap().unwrap();
        assert_eq!(found.path, program.join("inspect/dev.json"));
        assert!(
            found.warnings[0].contains("does not reflect the configuration of azCount"),
            "{:?}",
            found.warnings
        );
    }
}
