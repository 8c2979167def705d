//! One handler per command (`cmd_<verb>`): resolve the backend, project, stack and secrets, check
//! the preconditions in the order the real CLI does, then act.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::args::{
    ApplyArgs, CancelArgs, ConfigGetArgs, ConfigSetAllArgs, ConfigSetArgs, EngineArgs, StackExportArgs, StackOutputArgs,
};
use crate::backend::{Backend, CheckpointFile, StackRef, VERSION};
use crate::engine::{self, Run};
use crate::error::{Result, StandinError};
use crate::events::{SECRET_SIG, SECRET_SIG_KEY};
use crate::knobs::Knobs;
use crate::lock;
use crate::operation::Operation;
use crate::output;
use crate::plan;
use crate::program;
use crate::project::{looks_like_secret, ConfigValue, Project, StackConfig};
use crate::resources;
use crate::secrets::{passphrase_from_env, Crypter};

/// The real CLI's text when a non-interactive run lacks `--yes`.
const NEED_YES: &str = "--yes must be passed in to proceed when running in non-interactive mode";

/// What every command starts from: the working directory.
pub struct Ctx {
    pub cwd: PathBuf,
}

impl Ctx {
    fn project(&self) -> Result<Project> {
        Project::discover(&self.cwd)
    }

    /// The stack named by `--stack` (or positionally), else the selected one.
    fn stack(&self, backend: &Backend, project: &Project, name: Option<&str>) -> Result<StackRef> {
        match name {
            Some(name) => StackRef::parse(name, project),
            None => match backend.selected(&project.name) {
                Some(name) => StackRef::parse(&name, project),
                None => Err(StandinError::failed(
                    "no stack selected; please use `pulumi stack select` or `pulumi stack init` to choose one",
                )),
            },
        }
    }
}

fn stack_config(project: &Project, stack: &StackRef, override_path: Option<&Path>) -> Result<StackConfig> {
    let path = override_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| project.stack_config_path(&stack.name));
    StackConfig::load(path)
}

/// The stack's crypter: needs the passphrase, and the salt from the config file or checkpoint.
fn crypter(config: &StackConfig, checkpoint: &CheckpointFile) -> Result<Crypter> {
    let passphrase = passphrase_from_env()?;
    let salt = config
        .encryption_salt()
        .map(String::from)
        .or_else(|| {
            checkpoint
                .secrets_providers()?
                .pointer("/state/salt")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .ok_or_else(|| StandinError::failed("the stack has no encryptionsalt; recreate it with `pulumi stack init`"))?;
    Crypter::open(&passphrase, &salt)
}

pub fn cmd_version() -> Result<()> {
    println!("{VERSION}");
    Ok(())
}

/// `whoami`: on the local backend the user is the OS user (as with the real CLI); without a
/// backend there is no login (exit 3, the real CLI's message).
pub fn cmd_whoami(args: &crate::args::WhoamiArgs) -> Result<()> {
    let backend = Backend::from_env()?;
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    if args.json {
        let doc = serde_json::json!({"user": user, "organizations": [], "url": backend.url});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else if args.verbose {
        println!("User: {user}\nOrganizations: \nBackend URL: {}", backend.url);
    } else {
        println!("{user}");
    }
    Ok(())
}

/// `stack init` and `stack select --create` of a missing stack.
fn create_stack(backend: &Backend, project: &Project, stack: &StackRef) -> Result<()> {
    if backend.exists(stack) {
        return Err(StandinError::failed(format!(
            "could not create stack: stack '{}' already exists",
            stack.fully_qualified()
        )));
    }
    let passphrase = passphrase_from_env()?;
    let mut config = stack_config(project, stack, None)?;
    let salt = match config.encryption_salt() {
        // A leftover Pulumi.<stack>.yaml keeps its salt, if the passphrase matches it.
        Some(salt) => {
            Crypter::open(&passphrase, salt)?;
            salt.to_string()
        }
        None => {
            let (salt, _) = Crypter::create(&passphrase);
            config.set_encryption_salt(&salt);
            config.save()?;
            salt
        }
    };
    backend.create(stack, &salt)?;
    eprintln!("Created stack '{}'", stack.name);
    Ok(())
}

pub fn cmd_stack_init(ctx: &Ctx, name: Option<&str>) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let name = name.ok_or_else(|| StandinError::usage("a stack name is required (non-interactive mode)"))?;
    let stack = StackRef::parse(name, &project)?;
    create_stack(&backend, &project, &stack)?;
    backend.select(&stack)
}

pub fn cmd_stack_select(ctx: &Ctx, name: Option<&str>, create: bool) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let name = name.ok_or_else(|| StandinError::usage("a stack name is required (non-interactive mode)"))?;
    let stack = StackRef::parse(name, &project)?;
    if !backend.exists(&stack) {
        if !create {
            return Err(StandinError::StackNotFound(name.to_string()));
        }
        create_stack(&backend, &project, &stack)?;
    }
    backend.select(&stack)
}

pub fn cmd_stack_output(ctx: &Ctx, args: &StackOutputArgs) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref())?;
    let checkpoint = backend.load(&stack)?;
    let root = resources::root_urn(&stack);
    let outputs: Map<String, Value> = checkpoint
        .resources()
        .iter()
        .find(|r| r.urn == root)
        .map(|r| r.outputs.clone())
        .unwrap_or_default();
    let outputs = if args.show_secrets {
        let config = stack_config(&project, &stack, None)?;
        let crypter = crypter(&config, &checkpoint)?;
        reveal(&Value::Object(outputs), &crypter)?
    } else {
        output::mask_output(&Value::Object(outputs))
    };
    match &args.property {
        Some(p) => {
            let value = outputs
                .get(p)
                .ok_or_else(|| StandinError::failed(format!("current stack does not have output property '{p}'")))?;
            match (args.json, value) {
                (false, Value::String(s)) => println!("{s}"),
                _ => println!("{}", output::to_json_sorted(value)),
            }
        }
        None if args.json => println!("{}", output::to_json_sorted(&outputs)),
        None => {
            let map = outputs.as_object().cloned().unwrap_or_default();
            println!("Current stack outputs ({}):", map.len());
            if map.is_empty() {
                println!("    No output values currently in this stack");
            } else {
                let width = map.keys().map(String::len).max().unwrap_or(6).max(6);
                println!("    {:<width$}  VALUE", "OUTPUT");
                for (k, v) in &map {
                    let shown = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    println!("    {k:<width$}  {shown}");
                }
            }
        }
    }
    Ok(())
}

/// `stack export`: the checkpoint's latest deployment as `{"version": 3, "deployment": …}`. Takes
/// no lock (the real CLI does not either), so it works on a stack a dead process left locked.
pub fn cmd_stack_export(ctx: &Ctx, args: &StackExportArgs) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref())?;
    let checkpoint = backend.load(&stack)?;
    let deployment = serde_json::to_value(&checkpoint.checkpoint.latest)
        .map_err(|e| StandinError::failed(format!("encoding the deployment: {e}")))?;
    let doc = serde_json::json!({"version": 3, "deployment": deployment});
    let text = output::to_json_4(&doc);
    match &args.file {
        Some(path) => std::fs::write(path, format!("{text}\n"))
            .map_err(|e| StandinError::failed(format!("could not write {}: {e}", path.display()))),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Decrypt secret objects back into their values (`--show-secrets`).
fn reveal(value: &Value, crypter: &Crypter) -> Result<Value> {
    Ok(match value {
        Value::Object(m) if m.get(SECRET_SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG) => {
            let cipher = m.get("ciphertext").and_then(Value::as_str).unwrap_or_default();
            let plain = crypter.decrypt(cipher)?;
            serde_json::from_str(&plain).unwrap_or(Value::String(plain))
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), reveal(v, crypter)?)))
                .collect::<Result<_>>()?,
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| reveal(v, crypter)).collect::<Result<_>>()?),
        other => other.clone(),
    })
}

pub fn cmd_config_set(ctx: &Ctx, args: &ConfigSetArgs) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref())?;
    let checkpoint = backend.load(&stack)?;
    let key = project.qualify_key(&args.key)?;
    let value = match &args.value {
        Some(v) => v.clone(),
        // The real CLI reads the value from stdin when it is not a terminal; on a terminal it
        // would prompt, which a non-interactive run cannot.
        None if stdin_is_terminal() => {
            return Err(StandinError::failed(
                "config value must be specified in non-interactive mode",
            ))
        }
        None => {
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .map_err(|e| StandinError::failed(format!("reading the value from stdin: {e}")))?;
            // cmdutil.RemoveTrailingNewline: one `\n` (and on Windows only, a `\r` before it).
            buf.strip_suffix('\n').unwrap_or(&buf).to_string()
        }
    };
    let mut config = stack_config(&project, &stack, args.config_file.as_deref())?;
    let stored = if args.secret {
        ConfigValue::Secure(crypter(&config, &checkpoint)?.encrypt(&value))
    } else {
        if !args.plaintext && looks_like_secret(&key, &value) {
            return Err(StandinError::failed(
                "value looks like a secret; rerun with --secret to mark it as such, or --plaintext if you \
                 meant to leave it as plaintext",
            ));
        }
        ConfigValue::Plain(value)
    };
    config.set(&key, stored);
    config.save()
}

/// Whether standard input is a terminal (then `config set` without a value cannot read it).
fn stdin_is_terminal() -> bool {
    // SAFETY: isatty(2) on fd 0 only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

/// `key=value` as `pulumi config set-all` splits it: at the first `=`, or, when the pair starts
/// with a quote, at the first `<quote>=` (so a quoted key may contain `=`).
fn parse_key_value_pair(pair: &str) -> Result<(String, String)> {
    let malformed = || StandinError::failed("config value must be in the form [key]=[value]");
    let (key, value) = match pair.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let rest = &pair[1..];
            rest.split_once(&format!("{q}=")).ok_or_else(malformed)?
        }
        Some(_) => pair.split_once('=').ok_or_else(malformed)?,
        None => return Err(malformed()),
    };
    Ok((key.to_string(), value.to_string()))
}

/// `config set-all --plaintext k=v … --secret k=v …`: every value in one write of the stack's
/// config file — plaintext pairs first, then secrets, each in the order given. No "looks like a
/// secret" check: every pair says what it is.
pub fn cmd_config_set_all(ctx: &Ctx, args: &ConfigSetAllArgs) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref())?;
    let checkpoint = backend.load(&stack)?;
    let mut config = stack_config(&project, &stack, args.config_file.as_deref())?;
    let qualify = |raw: &str| -> Result<String> {
        if args.path && raw.contains(['.', '[']) {
            return Err(StandinError::failed(format!(
                "invalid configuration key: the pulumi stand-in does not support --path keys ('{raw}')"
            )));
        }
        project
            .qualify_key(raw)
            .map_err(|e| StandinError::failed(format!("invalid configuration key: {e}")))
    };
    for pair in &args.plaintext {
        let (key, value) = parse_key_value_pair(pair)?;
        config.set(&qualify(&key)?, ConfigValue::Plain(value));
    }
    if !args.secret.is_empty() {
        let crypter = crypter(&config, &checkpoint)?;
        for pair in &args.secret {
            let (key, value) = parse_key_value_pair(pair)?;
            config.set(&qualify(&key)?, ConfigValue::Secure(crypter.encrypt(&value)));
        }
    }
    config.save()
}

pub fn cmd_config_get(ctx: &Ctx, args: &ConfigGetArgs) -> Result<()> {
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref())?;
    let checkpoint = backend.load(&stack)?;
    let key = project.qualify_key(&args.key)?;
    let config = stack_config(&project, &stack, args.config_file.as_deref())?;
    let value = match config.get(&key) {
        None => {
            return Err(StandinError::failed(format!(
                "configuration key '{key}' not found for stack '{}'",
                stack.name
            )))
        }
        Some(ConfigValue::Plain(v)) => v,
        Some(ConfigValue::Secure(c)) => crypter(&config, &checkpoint)?.decrypt(&c)?,
    };
    if args.json {
        println!(
            "{}",
            output::to_json_sorted(&serde_json::json!({"value": value, "secret": false}))
        );
    } else {
        println!("{value}");
    }
    Ok(())
}

pub fn cmd_cancel(ctx: &Ctx, args: &CancelArgs) -> Result<()> {
    if !args.yes {
        return Err(StandinError::usage(NEED_YES));
    }
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref().or(args.name.as_deref()))?;
    backend.load(&stack)?;
    lock::break_locks(&backend, &stack)?;
    println!("The currently running update for '{}' has been canceled!", stack.name);
    Ok(())
}

/// `up`, `destroy`, `refresh`: the non-interactive confirmation rules.
pub fn check_apply_flags(args: &ApplyArgs) -> Result<()> {
    if args.preview_only {
        if args.skip_preview {
            return Err(StandinError::usage(
                "--skip-preview and --preview-only cannot be used together",
            ));
        }
        return Ok(());
    }
    match (args.yes, args.skip_preview) {
        (true, true) => Ok(()),
        (false, false) => Err(StandinError::usage(
            "--yes or --skip-preview must be passed in to proceed when running in non-interactive mode",
        )),
        (false, true) => Err(StandinError::usage(NEED_YES)),
        (true, false) => Err(StandinError::usage(
            "--skip-preview must be passed in to proceed when running in non-interactive mode (the stand-in \
             does not run the preview that plain `up --yes` runs first and that restarts the event log)",
        )),
    }
}

pub fn cmd_engine(ctx: &Ctx, operation: Operation, args: &EngineArgs, preview_only: bool) -> Result<()> {
    let knobs = Knobs::from_env()?;
    let backend = Backend::from_env()?;
    let project = ctx.project()?;
    let stack = ctx.stack(&backend, &project, args.stack.as_deref())?;
    let checkpoint = backend.load(&stack)?;
    let config = stack_config(&project, &stack, args.config_file.as_deref())?;
    let crypter = crypter(&config, &checkpoint)?;
    let mut program_error: Option<String> = None;
    let mut warnings: Vec<String> = Vec::new();

    let (steps, stack_outputs) = match operation {
        Operation::Preview | Operation::Up => {
            let env = config
                .plain_value(&project.qualify_key("environment")?, Some(&crypter))?
                .unwrap_or_else(|| stack.name.rsplit('-').next().unwrap_or(&stack.name).to_string());
            let deployment_id = config.plain_value(&project.qualify_key("deploymentId")?, Some(&crypter))?;
            // What the program sees: its namespace's keys, secrets never in the clear.
            let namespace = format!("{}:", project.name);
            let program_config: program::ProgramConfig = config
                .entries()
                .into_iter()
                .filter_map(|(k, v)| {
                    let key = k.strip_prefix(&namespace)?.to_string();
                    let value = match v {
                        ConfigValue::Plain(s) => s,
                        ConfigValue::Secure(_) => "[secret]".to_string(),
                    };
                    Some((key, value))
                })
                .collect();
            let stack_name = project
                .program_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let located = program::locate(
                knobs.resources_file.as_deref(),
                &project.program_dir,
                &stack_name,
                &env,
                &program_config,
            )?;
            let located = match located {
                Ok(located) => located,
                Err(program::ProgramError(message)) => {
                    program_error = Some(message);
                    program::Located {
                        path: resources::resources_path(None, &project.program_dir, &env),
                        warnings: vec![],
                    }
                }
            };
            warnings = located.warnings;
            let program = if program_error.is_some() {
                resources::Program::empty()
            } else {
                resources::load(&located.path, &stack, deployment_id.as_deref())?
            };
            for key in &program.required_config {
                if config.get(&project.qualify_key(key)?).is_none() {
                    return Err(StandinError::failed(format!(
                        "validating stack config: Stack '{}' is missing configuration value '{key}'",
                        stack.name
                    )));
                }
            }
            (
                plan::plan_update(&stack, &program, checkpoint.resources()),
                program.outputs.clone(),
            )
        }
        Operation::Destroy => (plan::plan_destroy(checkpoint.resources()), Map::new()),
        Operation::Refresh => (plan::plan_refresh(checkpoint.resources()), Map::new()),
    };
    engine::run(Run {
        operation,
        planning: operation == Operation::Preview || preview_only,
        stack,
        backend,
        checkpoint,
        steps,
        config: config.masked(),
        stack_outputs,
        crypter,
        knobs,
        event_log: args.event_log.clone(),
        json: args.json,
        expect_no_changes: args.expect_no_changes,
        suppress_outputs: args.suppress_outputs,
        program_error,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_key_value_pair;

    #[test]
    fn set_all_pairs_split_like_pulumi() {
        let ok = |p: &str| parse_key_value_pair(p).unwrap();
        assert_eq!(ok("aws:region=eu-west-1"), ("aws:region".into(), "eu-west-1".into()));
        assert_eq!(ok("k=a=b"), ("k".into(), "a=b".into()), "split at the first `=`");
        assert_eq!(ok("k="), ("k".into(), String::new()));
        assert_eq!(ok("k=-1"), ("k".into(), "-1".into()));
        assert_eq!(ok("\"a=b\"=c"), ("a=b".into(), "c".into()), "a quoted key may hold `=`");
        assert_eq!(ok("'x'=y"), ("x".into(), "y".into()));
        for bad in ["novalue", "", "\"unclosed=1"] {
            let e = parse_key_value_pair(bad).unwrap_err().to_string();
            assert_eq!(e, "config value must be in the form [key]=[value]", "{bad:?}");
        }
    }
}
