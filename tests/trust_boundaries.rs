//! The trust boundaries through every front end (issue 16): races between people acting on one
//! session, the permission matrix over Discord, Slack and the CLI with an API token (the table
//! is `support/permission_table.rs`; the API's is `api_permissions.rs`), and impersonation
//! attempts on each.
//!
//! One store and one bot per front end, many cases each.

mod support {
    pub mod cli;
    pub mod permission_table;
    pub mod slack_world;
}
#[path = "support/discord.rs"]
mod discord;

use std::process::Stdio;

use cloud_core::policy::Role;
use cloud_core::store::SessionRecord;
use cloud_domain::session::Principal;
use cloud_testkit::fake_discord::FakeUser;
use discord::DiscordTester;
use serde_json::Value;
use support::cli::Cli;
use support::permission_table::{cells, Verdicts, HOLDERS};
use support::slack_world::SlackWorld;

/// What a refusal for permissions says on every front end (docs/access.md).
const DENIED: &str = "you need `";
/// A digest that is no plan's: an allowed approval is refused after the gate, never applied.
const WRONG_DIGEST: &str = "0123456789abcdef";

fn role_of(name: &str) -> Role {
    name.parse().expect("a role")
}

// ---------------------------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------------------------

/// bob and carol click Approve on alice's stage plan at the same moment: one approval wins and
/// starts the apply; the other gets one ephemeral answer naming the winner by mention — the same
/// words as the CLI's — and no second message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_click_approve_at_once_and_the_loser_is_told_once_who_won() {
    let mut t = DiscordTester::new().await;
    t.hold_updates();
    t.start_bot().await;
    let alice = t.user("alice");
    let bob = t.user("bob");
    let carol = t.user("carol");
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    t.grant(&bob, "ecommerce", "stage", Role::Approve, None).await;
    t.grant(&carol, "ecommerce", "stage", Role::Approve, None).await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "stage", "network").await;

    // Both clicks are on their way before the bot answers either.
    let by_bob = t.click(&bob, lobby.id, "approve");
    let by_carol = t.click(&carol, lobby.id, "approve");
    let bob_reads = t.reply_to(&by_bob).await;
    let carol_reads = t.reply_to(&by_carol).await;

    let answers = [(&bob, &by_bob, bob_reads), (&carol, &by_carol, carol_reads)];
    let won: Vec<&FakeUser> = answers
        .iter()
        .filter(|(_, _, m)| m.content.contains("Approved"))
        .map(|(u, _, _)| *u)
        .collect();
    assert_eq!(won.len(), 1, "exactly one approval wins\n{}", t.transcript());
    let winner = won[0];
    let (_, lost_click, lost) = answers.iter().find(|(u, _, _)| u.id != winner.id).unwrap();
    assert!(lost.is_ephemeral());
    // The apply is held at the stand-in's gate: the session is APPROVED or already APPLYING.
    let said = |state: &str| {
        format!(
            "⚠️ session {short} was already approved by <@{}> and is {state}; nothing left to approve",
            winner.id
        )
    };
    assert!(
        lost.content == said("APPROVED") || lost.content == said("APPLYING"),
        "{}",
        lost.content
    );
    let messages_for_loser = t
        .fake
        .state()
        .messages
        .values()
        .filter(|m| m.interaction == Some(lost_click.id))
        .count();
    assert_eq!(messages_for_loser, 1, "one message for the loser\n{}", t.transcript());
    let approvals = t.core().store().approvals(session_id(&t, &short).await).await.unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0].approver, DiscordTester::principal(winner));

    t.open_gate();
    t.lobby_state(lobby.id, "APPLIED").await;
    t.finish().await;
}

async fn session_id(t: &DiscordTester, short: &str) -> cloud_domain::session::SessionId {
    t.core().store().find_session(short).await.unwrap().id
}

/// Two `cloud approve` processes for one stage plan: one approves and applies, the other exits 2
/// with the sentence chat shows (people as `cli:name` outside chat).
#[test]
fn two_cloud_approve_processes_one_wins_and_the_other_exits_2_saying_who() {
    let c = Cli::new();
    let opened = c.run_with(
        &["deploy", "ecommerce", "stage", "--stacks", "network"],
        &[("CLOUD_USER", "alice")],
    );
    opened.expect_code(0);
    let short = c.sessions()[0].0.clone();

    let approve = |who: &str| {
        let mut cmd = c.command(&["approve", &short], &[("CLOUD_USER", who)]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("cloud runs")
    };
    // Both processes start before either can finish.
    let racers = [("bob", approve("bob")), ("carol", approve("carol"))];
    let outcomes: Vec<(&str, std::process::Output)> = racers
        .into_iter()
        .map(|(who, child)| (who, child.wait_with_output().unwrap()))
        .collect();
    let winners: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| o.status.code() == Some(0))
        .map(|(w, _)| *w)
        .collect();
    let report = || {
        outcomes
            .iter()
            .map(|(w, o)| {
                format!(
                    "{w}: {:?}\n{}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(winners.len(), 1, "{}", report());
    let (_, lost) = outcomes.iter().find(|(w, _)| *w != winners[0]).unwrap();
    assert_eq!(lost.status.code(), Some(2), "{}", report());
    let stderr = String::from_utf8_lossy(&lost.stderr);
    let said = |state: &str| {
        format!(
            "session {short} was already approved by cli:{} and is {state}; nothing left to approve",
            winners[0]
        )
    };
    assert!(
        ["APPROVED", "APPLYING", "APPLIED"]
            .iter()
            .any(|state| stderr.contains(&said(state))),
        "{}",
        report()
    );
    assert_eq!(stderr.matches("nothing left to approve").count(), 1, "{}", report());
    assert_eq!(c.sessions()[0], (short, "APPLIED".to_string()));
}

// ---------------------------------------------------------------------------------------------
// The permission matrix
// ---------------------------------------------------------------------------------------------

/// One planned session per environment, opened by someone outside the matrix (the cells approve
/// and cancel someone else's session).
async fn opener_sessions(orch: &cloud_core::orchestrator::Orchestrator, opener: &Principal) -> Vec<SessionRecord> {
    let mut out = vec![];
    for env in support::permission_table::ENVS {
        let s = orch
            .start_session(opener, "ecommerce", env, Some(&["network".parse().unwrap()]))
            .await
            .unwrap();
        let s = orch.plan(s.id, opener).await.unwrap();
        assert_eq!(
            s.state,
            cloud_domain::session::SessionState::PlanReady,
            "{:?}",
            s.reason
        );
        out.push(s);
    }
    out
}

fn session_in<'a>(sessions: &'a [SessionRecord], env: &str) -> &'a SessionRecord {
    sessions.iter().find(|s| s.env == env).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_command_and_environment_is_enforced_on_discord() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    // Everyone moderates the server, so Discord offers them the admin commands: what they may do
    // is the bot's grants' business alone.
    let mut users = std::collections::BTreeMap::new();
    for who in HOLDERS {
        let user = t.moderator(who.name);
        if let Some(role) = who.role {
            t.grant(&user, "ecommerce", who.env, role_of(role), None).await;
        }
        users.insert(who.name, user);
    }
    let target = t.user("target");
    let opener = t.user("opener");
    t.grant(&opener, "ecommerce", "*", Role::Deploy, None).await;
    let core = t.core();
    let sessions = opener_sessions(core.orchestrator(), &DiscordTester::principal(&opener)).await;

    let mut verdicts = Verdicts::default();
    for (who, command, env) in cells() {
        let user = users[who.name].clone();
        let short = session_in(&sessions, env).id.short();
        let target_id = target.id.to_string();
        let options: Vec<(&str, Value)> = match command.name {
            "deploy" => text_options(&[("project", "ecommerce"), ("env", env), ("stacks", "network")]),
            "approve" => text_options(&[("session", &short), ("digest", WRONG_DIGEST)]),
            "cancel" => text_options(&[("session", &short), ("reason", "matrix")]),
            "grant" => text_options(&[
                ("user", &target_id),
                ("project", "ecommerce"),
                ("role", "read"),
                ("env", env),
                ("duration", "1h"),
                ("reason", "matrix"),
            ]),
            "quota set" => {
                let mut o = text_options(&[("project", "ecommerce"), ("key", "vm")]);
                o.push(("limit", Value::from(5.0)));
                o
            }
            other => unreachable!("{other}"),
        };
        let name = match command.name {
            "quota set" => "cloud-set-quota",
            other => Box::leak(format!("cloud-{other}").into_boxed_str()),
        };
        let asked = t.fake.slash(&user, t.channel, name, &options);
        let reply = t.reply_to(&asked).await;
        verdicts.check(
            "Discord",
            &who,
            &command,
            env,
            reply.content.contains(DENIED),
            &reply.content,
        );
    }
    verdicts.assert_all("Discord");

    // Four-eyes across the front end: the requester's own Approve click is refused in stage.
    let approver = users["approver"].clone();
    t.grant(&approver, "ecommerce", "stage", Role::Approve, None).await;
    let own = core
        .orchestrator()
        .start_session(
            &DiscordTester::principal(&approver),
            "ecommerce",
            "stage",
            Some(&["network".parse().unwrap()]),
        )
        .await
        .unwrap();
    let own = core
        .orchestrator()
        .plan(own.id, &DiscordTester::principal(&approver))
        .await
        .unwrap();
    let asked = t.slash(&approver, "cloud-approve", &[("session", &own.id.short())]);
    let reply = t.reply_to(&asked).await;
    assert!(reply.content.starts_with("🚫"), "{}", reply.content);
    assert!(reply.content.contains("four-eyes"), "{}", reply.content);
    assert!(core.store().approvals(own.id).await.unwrap().is_empty());
    t.finish().await;
}

fn text_options<'a>(options: &[(&'a str, &str)]) -> Vec<(&'a str, Value)> {
    options
        .iter()
        .map(|(k, v)| (*k, Value::String(v.to_string())))
        .collect()
}

/// Slack member ids of the matrix's holders.
fn slack_id(name: &str) -> String {
    format!("U0{}", name.to_ascii_uppercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_command_and_environment_is_enforced_on_slack() {
    let slack = SlackWorld::http().await;
    for who in HOLDERS {
        if let Some(role) = who.role {
            slack
                .grant(&slack_id(who.name), "ecommerce", who.env, role_of(role))
                .await;
        }
    }
    let opener = Principal::new(cloud_domain::session::Platform::Slack, "U0OPENER".to_string());
    slack.grant_principal(&opener, "ecommerce", "*", Role::Deploy).await;
    let sessions = opener_sessions(&slack.app.orchestrator, &opener).await;

    let mut verdicts = Verdicts::default();
    for (who, command, env) in cells() {
        let short = session_in(&sessions, env).id.short();
        let (name, text) = match command.name {
            "deploy" => ("/cloud-deploy", format!("ecommerce {env} network")),
            "approve" => ("/cloud-approve", format!("{short} {WRONG_DIGEST}")),
            "cancel" => ("/cloud-cancel", format!("{short} matrix")),
            "grant" => ("/cloud-grant", format!("<@U0TARGET> ecommerce read {env} 1h matrix")),
            "quota set" => ("/cloud-set-quota", "ecommerce vm 5".to_string()),
            other => unreachable!("{other}"),
        };
        let ack = slack.slash(&slack_id(who.name), name, &text).await;
        assert_eq!(ack.status, 200, "{name} {text}: {:?}", ack.body);
        let answer = ack.text();
        verdicts.check("Slack", &who, &command, env, answer.contains(DENIED), &answer);
    }
    verdicts.assert_all("Slack");

    // A request that claims to be the project's admin but is not signed by Slack: 401, and
    // nothing is changed.
    let quotas_before = slack.app.store.quotas("ecommerce").await.unwrap();
    let cloud_testkit::fake_slack::Transport::Http(app) = slack.transport.clone() else {
        unreachable!()
    };
    let ack = slack
        .fake
        .slash_with_headers(&app, &slack_id("admin"), "/cloud-set-quota", "ecommerce vm 999", &[])
        .await;
    assert_eq!(ack.status, 401, "{:?}", ack.body);
    assert_eq!(slack.app.store.quotas("ecommerce").await.unwrap(), quotas_before);
    slack.shutdown().await;
}

#[test]
fn every_role_command_and_environment_is_enforced_on_the_cli_with_an_api_token() {
    let c = Cli::strict();
    for who in HOLDERS {
        if let Some(role) = who.role {
            let mut args = vec![
                "grant",
                who.name,
                "ecommerce",
                role,
                "--for",
                "1d",
                "--reason",
                "matrix",
            ];
            if who.env != "*" {
                args.extend(["--env", who.env]);
            }
            c.run(&args).expect_code(0);
        }
    }
    c.run(&[
        "grant",
        "opener",
        "ecommerce",
        "deploy",
        "--for",
        "1d",
        "--reason",
        "matrix",
    ])
    .expect_code(0);
    let mut sessions = std::collections::BTreeMap::new();
    for env in support::permission_table::ENVS {
        c.as_user("opener", &["deploy", "ecommerce", env, "--stacks", "network"])
            .expect_code(0);
        sessions.insert(env, c.sessions()[0].0.clone());
    }

    let mut verdicts = Verdicts::default();
    for (who, command, env) in cells() {
        let short = sessions[env].as_str();
        let args: Vec<&str> = match command.name {
            "deploy" => vec!["deploy", "ecommerce", env, "--stacks", "network"],
            "approve" => vec!["approve", short, "--digest", WRONG_DIGEST, "--no-apply"],
            "cancel" => vec!["cancel", short, "--reason", "matrix"],
            "grant" => vec![
                "grant",
                "target",
                "ecommerce",
                "read",
                "--env",
                env,
                "--for",
                "1h",
                "--reason",
                "matrix",
            ],
            "quota set" => vec!["quota", "set", "ecommerce", "vm", "5"],
            other => unreachable!("{other}"),
        };
        let run = c.as_user(who.name, &args);
        // Exit 3 is a refusal for permissions (docs/cli.md), and says what is missing.
        let refused = run.code == Some(3);
        if refused {
            assert!(run.stderr.contains(DENIED), "{args:?} as {}: {}", who.name, run.stderr);
        }
        verdicts.check("CLI", &who, &command, env, refused, &run.all());
    }
    verdicts.assert_all("CLI");

    // Impersonation on a shared store: naming someone else with --as or CLOUD_USER is refused
    // (exit 2), with or without a token of one's own, and changes nothing.
    let quota_before = c.run(&["quota", "show", "ecommerce"]);
    quota_before.expect_code(0);
    let nobody = c.token_for("nobody");
    for (what, args, extra) in [
        (
            "--as",
            vec!["--as", "admin", "quota", "set", "ecommerce", "vm", "999"],
            vec![],
        ),
        (
            "CLOUD_USER",
            vec!["quota", "set", "ecommerce", "vm", "999"],
            vec![("CLOUD_USER", "admin")],
        ),
        (
            "--as with a token",
            vec!["--as", "admin", "quota", "set", "ecommerce", "vm", "999"],
            vec![("CLOUD_TOKEN", nobody.as_str())],
        ),
    ] {
        let run = c.run_with(&args, &extra);
        assert_eq!(run.code, Some(2), "{what}: {}", run.all());
    }
    let quota_after = c.run(&["quota", "show", "ecommerce"]);
    assert_eq!(quota_after.stdout, quota_before.stdout);
}

// ---------------------------------------------------------------------------------------------
// Secrets never on a command line
// ---------------------------------------------------------------------------------------------

/// Every process's command line right now: (pid, argv joined by spaces). Processes that end
/// while being read are skipped.
fn command_lines() -> Vec<(u32, Vec<u8>)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok().map(|c| (pid, c)))
        .collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A deploy whose stack configuration holds a secret (`{secret_env: …}`, read from the bot's
/// environment at plan time): while the stand-in holds the update mid-step, no process on the
/// machine has the secret on its command line, and the engine child does not have it in its
/// environment either (docs/security.md: secret values reach the engine on stdin). Every engine
/// invocation of the whole run — the short `config set --secret <key>` included — is recorded by
/// a wrapper around the stand-in: none has the value among its arguments.
#[test]
fn a_secret_config_value_never_appears_on_any_command_line_during_a_deploy() {
    let mut c = Cli::new();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let secret = format!("tb-secret-{}-{nonce}", std::process::id());
    c.run(&[
        "stacks",
        "update",
        "D1BRV40",
        "network",
        "--secret-env",
        "cidrBlock=NET_CIDR",
    ])
    .expect_code(0);
    let argv_log = c.path("engine-argv.log");
    let wrapper = support::cli::script(
        &c.path("pulumi-wrapper"),
        &format!(
            "printf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            argv_log.display(),
            support::cli::standin().display()
        ),
    );
    c.set("CLOUD_PULUMI_BINARY", &wrapper.display().to_string());
    let gate = c.path("gate");
    let mut deploy = c.spawn(
        &["deploy", "ecommerce", "dev", "--approve", "--stacks", "network"],
        &[
            ("NET_CIDR", secret.as_str()),
            ("PULUMI_STANDIN_APPLY_GATE", &gate.display().to_string()),
        ],
    );
    let id = deploy
        .wait_line("the plan", |l| l.starts_with("Session "))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    deploy.wait_line("network's update", |l| l == "network: applying");
    let mut logs = c.spawn(&["logs", &id, "--follow"], &[]);
    logs.wait_line("the first resource step of network's update", |l| {
        l.starts_with("[network] create aws:") && l.ends_with(" ...")
    });

    // Held mid-operation: look at every process.
    let lines = command_lines();
    let on_argv: Vec<String> = lines
        .iter()
        .filter(|(_, c)| holds(c, &secret))
        .map(|(pid, c)| format!("{pid}: {}", String::from_utf8_lossy(c).replace('\0', " ")))
        .collect();
    assert!(on_argv.is_empty(), "the secret is on a command line: {on_argv:?}");
    let engines: Vec<u32> = lines
        .iter()
        .filter(|(_, c)| holds(c, "pulumi-standin") && holds(c, "up"))
        .map(|(pid, _)| *pid)
        .collect();
    assert!(!engines.is_empty(), "the held update is among the processes looked at");
    for pid in &engines {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !holds(&environ, &secret),
            "the engine child {pid} has the secret in its environment"
        );
    }
    drop(logs);

    std::fs::write(&gate, "").unwrap();
    let status = deploy.child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(
        argv.lines().any(|l| l.starts_with("config set --secret cidrBlock")),
        "the secret was written with `config set --secret` (value on stdin):\n{argv}"
    );
    assert!(
        !argv.contains(&secret),
        "an engine invocation had the secret on argv:\n{argv}"
    );
    // Nor does any output of the run show it.
    let logs = c.run(&["logs", &id]);
    logs.expect_code(0);
    assert!(!logs.all().contains(&secret), "{}", logs.all());
}

// ---------------------------------------------------------------------------------------------
// One stack's secret in another stack's output
// ---------------------------------------------------------------------------------------------

/// RFC 4648 base64 (standard alphabet, padded).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// network's configuration holds a secret; dns, deployed in the same session, echoes that value
/// in its resource inputs and stack outputs (plain, base64 and URL-encoded), next to a marker
/// that is no secret. Redaction is per session: the lobby, the thread, the attached full log and
/// `cloud logs` show the marker (the echo reaches them) but never the secret in any form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_of_one_stack_echoed_by_another_never_reaches_chat_or_the_logs() {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let secret = format!("tb/cross+secret={nonce}");
    let forms = [secret.clone(), base64(secret.as_bytes()), url_encoded(&secret)];
    const MARKER: &str = "echo-marker-7f3a";
    let echo = format!("{MARKER} {} {} {}", forms[0], forms[1], forms[2]);

    let mut t = DiscordTester::new().await;
    let root = t.workspace.root().to_path_buf();
    let manifest = root.join("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("cidrBlock: \"10.10.0.0/16\""), "{text}");
    std::fs::write(
        &manifest,
        text.replace(
            "cidrBlock: \"10.10.0.0/16\"",
            "cidrBlock: {secret_env: TB_CROSS_SECRET}",
        ),
    )
    .unwrap();
    let snapshot = root.join("stacks/dns/inspect/dev.json");
    let mut program: Value = serde_json::from_str(&std::fs::read_to_string(&snapshot).unwrap()).unwrap();
    // Resource names reach every progress line; inputs and outputs reach the plan and state.
    for (i, resource) in program["resources"].as_array_mut().unwrap().iter_mut().enumerate() {
        if resource["custom"] == true {
            resource["name"] = Value::String(format!("{}-{i}", echo.replace(' ', "-")));
            resource["inputs"]["comment"] = Value::String(echo.clone());
        }
    }
    program["outputs"]["zoneName"] = Value::String(echo.clone());
    program["outputs"]["echo"] = Value::String(echo.clone());
    std::fs::write(&snapshot, serde_json::to_string_pretty(&program).unwrap()).unwrap();
    // `secret_env` is read from the bot's environment; this variable is this test's alone.
    std::env::set_var("TB_CROSS_SECRET", &secret);
    t.start_bot().await;

    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Approve, None).await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "dev", "network,dns").await;
    t.press(&alice, lobby.id, "approve").await;
    let thread = t.thread(lobby.id).await;
    t.wait_message(thread, "the summary", |m| m.content.contains("applied in"))
        .await;
    t.lobby_state(lobby.id, "APPLIED").await;

    let logs = std::process::Command::new(env!("CARGO_BIN_EXE_cloud"))
        .args(["logs", &short])
        .env("CLOUD_CONFIG", t.config_path())
        .env("CLOUD_LOCAL_CLI_ADMIN", "true")
        .env("CLOUD_WORKSPACE", &root)
        .output()
        .unwrap();
    assert!(logs.status.success(), "{}", String::from_utf8_lossy(&logs.stderr));
    let mut seen: Vec<(String, String)> =
        vec![("cloud logs".into(), String::from_utf8_lossy(&logs.stdout).into_owned())];
    {
        let st = t.fake.state();
        for m in st.messages.values() {
            seen.push((format!("message {}", m.id), m.text()));
            seen.push((format!("message {} (raw)", m.id), format!("{:?}", m.embeds)));
            for f in &m.files {
                seen.push((
                    format!("file {} of message {}", f.filename, m.id),
                    String::from_utf8_lossy(&f.content).into_owned(),
                ));
            }
        }
    }
    let leaks: Vec<String> = seen
        .iter()
        .flat_map(|(what, text)| {
            forms
                .iter()
                .filter(|form| text.contains(form.as_str()))
                .map(move |form| format!("{what} holds {form}"))
        })
        .collect();
    assert!(leaks.is_empty(), "{leaks:?}\n{}", t.transcript());
    let echoed: Vec<&str> = seen
        .iter()
        .filter(|(_, text)| text.contains(MARKER))
        .map(|(what, _)| what.as_str())
        .collect();
    assert!(
        echoed.contains(&"cloud logs"),
        "the echo reaches `cloud logs` (so a leak would show): {echoed:?}"
    );
    t.finish().await;
}
