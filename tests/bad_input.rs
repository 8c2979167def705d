//! The bad-input corpus: every case in `tests/bad_input/corpus.yaml` — typed at the CLI, sent
//! through the chat actions every bot calls, written into a manifest or a configuration file —
//! must end in one clear error (the expected exit code, the expected words, a single `error:`,
//! no control or bidi character echoed raw, no panic) and leave the store exactly as it was
//! (sessions and their states, the audit log's length and head).
//!
//! The corpus is data: add a case there, not here. Its header documents the fields.

#[path = "support/cli.rs"]
mod cli;

use std::collections::BTreeMap;
use std::path::PathBuf;

use cli::{Cli, Run};
use cloud::App;
use cloud_chat::actions;
use cloud_chat::service::Core;
use cloud_chat::Actor;
use cloud_core::store::{SessionFilter, Store};
use serde::Deserialize;

const CORPUS: &str = "tests/bad_input/corpus.yaml";
const SAMPLE: &str = "deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Front {
    Cli,
    Manifest,
    Config,
    Chat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    front: Front,
    /// The command line after `cloud` (manifest: default `plan ecommerce dev`; config: `list`).
    #[serde(default)]
    args: Vec<String>,
    /// Extra environment variables for this run.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// manifest: `[find, replace]` edits applied to the sample manifest.
    #[serde(default)]
    replace: Vec<(String, String)>,
    /// manifest: text appended to the sample manifest.
    #[serde(default)]
    append: Option<String>,
    /// Extra files written into the workspace for this case (path relative to it → content).
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// config: the whole configuration file.
    #[serde(default)]
    config: Option<String>,
    /// chat: the action and its arguments.
    #[serde(default)]
    chat: Option<ChatCall>,
    /// Exit code (chat: 2 = ⚠️ invalid, 3 = 🚫 denied).
    code: i32,
    /// A fragment the error must contain.
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatCall {
    action: String,
    #[serde(default)]
    args: Vec<Option<String>>,
    /// The acting chat user (default: a Slack admin of this world).
    #[serde(default)]
    user: Option<String>,
}

/// What must not change: every session with its state, the projects and their environments,
/// and the audit log's length and head.
async fn snapshot(store: &Store) -> String {
    let sessions = store.sessions(&SessionFilter::default()).await.unwrap();
    let projects = store.projects().await.unwrap();
    let audit = store.audit_entries(None).await.unwrap();
    format!(
        "{:?} | {:?} | audit {} {:?}",
        sessions.iter().map(|s| (s.id.short(), s.state)).collect::<Vec<_>>(),
        projects
            .iter()
            .map(|p| (&p.name, &p.org, &p.environments))
            .collect::<Vec<_>>(),
        audit.len(),
        audit.last().map(|a| a.hash.clone())
    )
}

struct World {
    cli: Cli,
    ws: PathBuf,
    sample: String,
    /// A named pipe: `{fifo}` in a case's args (a reader that opens it would block forever).
    fifo: PathBuf,
    /// The planned session's short id: `{session}` in a case's args.
    session: String,
}

impl World {
    fn new() -> World {
        let mut cli = Cli::new();
        let ws = cli.path("ws");
        std::fs::create_dir_all(ws.join("deploy/D1BRV40-acme-corp-ecommerce")).unwrap();
        for dir in ["stacks", "templates"] {
            std::os::unix::fs::symlink(cli::repo().join(dir), ws.join(dir)).unwrap();
        }
        let sample = std::fs::read_to_string(cli::repo().join(SAMPLE)).unwrap();
        std::fs::write(ws.join(SAMPLE), &sample).unwrap();
        cli.set("CLOUD_WORKSPACE", &ws.display().to_string());
        cli.set("CLOUD_ADMINS", "slack:UADMIN001");
        cli.set("CLOUD_LOG", "off");
        let fifo = cli.path("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        World {
            cli,
            ws,
            sample,
            fifo,
            session: String::new(),
        }
    }

    /// The configuration the binary would load, for the in-process chat core.
    fn config(&self) -> cloud_core::config::Config {
        let env: BTreeMap<String, String> = self.cli.env.iter().cloned().collect();
        let overrides = cloud_core::config::Overrides {
            config: Some(self.cli.path("none.yaml")),
            data_dir: None,
        };
        std::fs::write(self.cli.path("none.yaml"), "").unwrap();
        cloud_core::config::Config::load_with_env(&overrides, &env).unwrap()
    }

    fn run(&self, case: &Case) -> Run {
        let mut args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace("{fifo}", &self.fifo.display().to_string())
                    .replace("{session}", &self.session)
            })
            .collect();
        match case.front {
            Front::Manifest => {
                let mut text = self.sample.clone();
                for (find, with) in &case.replace {
                    assert!(
                        text.contains(find.as_str()),
                        "{}: `{find}` is not in the sample manifest",
                        case.id
                    );
                    text = text.replacen(find.as_str(), with, 1);
                }
                if let Some(extra) = &case.append {
                    text.push_str(extra);
                }
                std::fs::write(self.ws.join(SAMPLE), text).unwrap();
                if args.is_empty() {
                    args = vec!["plan".into(), "ecommerce".into(), "dev".into()];
                }
            }
            Front::Config => {
                let path = self.cli.path("case.yaml");
                std::fs::write(&path, case.config.as_deref().unwrap_or("")).unwrap();
                let mut with = vec!["--config".to_string(), path.display().to_string()];
                with.extend(if args.is_empty() {
                    vec!["list".to_string()]
                } else {
                    args
                });
                args = with;
            }
            Front::Cli | Front::Chat => {}
        }
        for (rel, content) in &case.files {
            let p = self.ws.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let extra: Vec<(&str, &str)> = case.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let run = self.cli.run_with(&argv, &extra);
        // Put the workspace back for the next case.
        std::fs::write(self.ws.join(SAMPLE), &self.sample).unwrap();
        for rel in case.files.keys() {
            let p = self.ws.join(rel);
            let _ = std::fs::remove_file(&p);
            if let Some(parent) = p
                .parent()
                .filter(|d| d.starts_with(self.ws.join("deploy")) && *d != self.ws.join("deploy"))
            {
                if parent.file_name().is_some_and(|n| n != "D1BRV40-acme-corp-ecommerce") {
                    let _ = std::fs::remove_dir_all(parent);
                }
            }
        }
        run
    }
}

/// The error text a chat action answered with (an `Ok` is a failure of the case).
async fn chat(core: &std::sync::Arc<Core>, call: &ChatCall) -> Result<String, String> {
    let user = call.user.as_deref().unwrap_or("slack:UADMIN001");
    let actor = Actor::from(
        user.parse::<cloud_domain::session::Principal>()
            .map_err(|e| format!("⚠️ {e}"))?,
    );
    let a = |i: usize| call.args.get(i).cloned().flatten();
    let s = |i: usize| a(i).unwrap_or_default();
    // Every action answers with one reply; a refusal is a reply too (`is_refusal`).
    let reply = match call.action.as_str() {
        "deploy" => actions::deploy(core, &actor, &s(0), &s(1), a(2).as_deref()).await,
        "status" => actions::status(core, &actor, a(0).as_deref()).await,
        "logs" => actions::logs(core, &actor, &s(0)).await,
        "button" => actions::click(core, &actor, &s(0), &[]).await,
        "admin_cancel" => actions::admin_cancel(core, &actor, &s(0), &s(1)).await,
        "revoke" => actions::revoke(core, &actor, &s(0), &s(1)).await,
        "quota" => actions::quota(core, &actor, &s(0)).await,
        "set_quota" => {
            let limit: f64 = s(2).parse().map_err(|_| "⚠️ not a number".to_string())?;
            actions::set_quota(core, &actor, &s(0), &s(1), limit).await
        }
        "create_project" => {
            let environments: Vec<String> = a(2).into_iter().collect();
            actions::create_project(core, &actor, &s(0), &s(1), &environments).await
        }
        "grant" => {
            let user: cloud_domain::session::Principal = s(0).parse().map_err(|e| format!("⚠️ {e}"))?;
            let role = actions::parse_role(&s(2)).map_err(|r| r.text())?;
            let duration = a(4)
                .as_deref()
                .map(actions::parse_duration)
                .transpose()
                .map_err(|r| r.text())?;
            actions::grant(
                core,
                &actor,
                actions::GrantParams {
                    user,
                    project: &s(1),
                    role,
                    env: a(3).as_deref(),
                    duration,
                    reason: &s(5),
                },
            )
            .await
        }
        other => panic!("unknown chat action `{other}` in the corpus"),
    };
    if reply.is_refusal() {
        Err(reply.text())
    } else {
        Ok(reply.text())
    }
}

fn has_raw_control(text: &str) -> Option<char> {
    text.chars().find(|&c| cloud_domain::input::is_forbidden_char(c, true))
}

#[test]
fn every_bad_input_gets_one_clear_error_and_changes_nothing() {
    let text = std::fs::read_to_string(cli::repo().join(CORPUS)).unwrap();
    let cases: Vec<Case> = serde_yaml::from_str(&text).unwrap();
    assert!(cases.len() >= 500, "the corpus has {} cases", cases.len());
    let mut ids = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(ids.insert(c.id.clone()), "case id {} is used twice", c.id);
    }

    let mut world = World::new();
    // Something to lose: a planned session and its audit rows.
    world
        .cli
        .run(&["plan", "ecommerce", "dev", "--stacks", "network"])
        .expect_code(0);
    world.session = world.cli.sessions()[0].0.clone();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt
        .block_on(App::from_config(
            world.config(),
            "cli:alice".parse().unwrap(),
            Default::default(),
            cloud_core::policy::system_clock(),
        ))
        .unwrap();
    let store = app.store.clone();
    let core = {
        let _in_runtime = rt.enter();
        Core::new(app.config, app.store, app.orchestrator)
    };
    let seeded = rt.block_on(snapshot(&store));
    assert!(seeded.contains("PlanReady"), "{seeded}");

    let mut failures = Vec::new();
    let mut fronts: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        *fronts.entry(format!("{:?}", case.front)).or_default() += 1;
        let before = rt.block_on(snapshot(&store));
        let problem = match &case.front {
            Front::Chat => {
                let call = case
                    .chat
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: chat case without `chat`", case.id));
                match rt.block_on(chat(&core, call)) {
                    Ok(ok) => Some(format!("succeeded: {ok}")),
                    Err(text) => {
                        let mark = match case.code {
                            3 => "🚫",
                            _ => "⚠️",
                        };
                        if !text.starts_with(mark) {
                            Some(format!("expected a {mark} reply, got: {text}"))
                        } else if !text.contains(&case.message) {
                            Some(format!("expected `{}` in: {text}", case.message))
                        } else {
                            has_raw_control(&text).map(|c| format!("echoes {c:?} raw: {text}"))
                        }
                    }
                }
            }
            _ => {
                let run = world.run(case);
                let err = &run.stderr;
                if run.code != Some(case.code) {
                    Some(format!(
                        "exit {:?} (expected {}): {err}{}",
                        run.code, case.code, run.stdout
                    ))
                } else if !err.starts_with("error: ") || err.matches("error: ").count() != 1 {
                    Some(format!("expected one `error:` message: {err}"))
                } else if !err.contains(&case.message) {
                    Some(format!("expected `{}` in: {err}", case.message))
                } else {
                    has_raw_control(&run.all().replace('\n', "")).map(|c| format!("echoes {c:?} raw: {err}"))
                }
            }
        };
        let after = rt.block_on(snapshot(&store));
        let problem = problem
            .or_else(|| (after != before).then(|| format!("the store changed:\n  before {before}\n  after  {after}")));
        if let Some(p) = problem {
            failures.push(format!("{} ({:?}): {p}", case.id, case.front));
        }
    }
    eprintln!(
        "bad-input corpus: {} cases {fronts:?}, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
