//! The output batcher as users meet it: small sessions played on a simulated clock, read back as
//! transcripts (`t=… POST key` + text). Snapshots live in `tests/snapshots/`.

mod batcher_support;

use std::time::Duration;

use batcher_support::{budget_violations, chat_lines, stack, tiny_limits, uploads, Sim};
use cloud_chat::batcher::{
    BatchInput, Batcher, MessageKey, RenderOp, SessionOutcome, SessionSummary, SinkLimits, StackEvent,
};
use cloud_chat::StackResult;
use cloud_core::engine::{ChangeCounts, Progress, StepOp};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn started(name: &str, planned: u32) -> BatchInput {
    BatchInput::stack(&stack(name), StackEvent::Started { planned_steps: planned })
}

fn step(name: &str, resource: &str, resource_type: &str, op: StepOp, done: bool) -> BatchInput {
    let urn = format!("urn:pulumi:dev::shop::{resource_type}::{resource}");
    let p = if done {
        Progress::StepDone {
            urn,
            resource_type: resource_type.into(),
            op,
        }
    } else {
        Progress::StepStarted {
            urn,
            resource_type: resource_type.into(),
            op,
        }
    };
    BatchInput::stack(&stack(name), StackEvent::Progress(p))
}

fn finished(name: &str, result: StackResult, counts: &[(&str, u64)]) -> BatchInput {
    let counts: ChangeCounts = counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    BatchInput::stack(&stack(name), StackEvent::Finished { result, counts })
}

fn session_finished(outcome: SessionOutcome, headline: &str) -> BatchInput {
    BatchInput::SessionFinished(SessionSummary {
        outcome,
        headline: headline.into(),
        details: vec![],
    })
}

#[test]
fn a_small_deploy_reads_well_in_a_discord_thread() {
    let mut sim = Sim::new(Batcher::new(SinkLimits::discord()).with_log_filename("session-0b6a3c1e.log"));
    let vpc = "aws:ec2/vpc:Vpc";
    let subnet = "aws:ec2/subnet:Subnet";
    let zone = "aws:route53/zone:Zone";
    sim.push_after(ms(0), started("network", 3));
    sim.push_after(ms(50), step("network", "vpc", vpc, StepOp::Create, false));
    sim.push_after(ms(1200), step("network", "vpc", vpc, StepOp::Create, true));
    sim.push_after(ms(100), step("network", "public-a", subnet, StepOp::Create, false));
    sim.push_after(ms(10), step("network", "private-a", subnet, StepOp::Same, false));
    sim.push_after(ms(10), step("network", "private-a", subnet, StepOp::Same, true));
    sim.push_after(ms(300), started("dns", 1));
    sim.push_after(
        ms(20),
        BatchInput::line(&stack("dns"), "warning: zone shop.internal has no records yet"),
    );
    sim.push_after(ms(2500), step("network", "public-a", subnet, StepOp::Create, true));
    sim.push_after(
        ms(10),
        finished("network", StackResult::Applied, &[("create", 2), ("same", 1)]),
    );
    sim.push_after(ms(400), step("dns", "zone", zone, StepOp::Update, false));
    sim.push_after(ms(6000), step("dns", "zone", zone, StepOp::Update, true));
    sim.push_after(ms(10), finished("dns", StackResult::Applied, &[("update", 1)]));
    sim.push_after(
        ms(100),
        session_finished(SessionOutcome::Applied, "shop/dev D1BRV40: applied in 11s"),
    );
    sim.drain();

    assert!(uploads(&sim.ops).is_empty(), "a small session needs no attachment");
    assert!(budget_violations(sim.batcher.limits(), &sim.ops).is_empty());
    insta::assert_snapshot!("small_deploy_discord", sim.transcript());
}

#[test]
fn lines_wait_up_to_the_linger_to_share_one_message() {
    let mut sim = Sim::new(Batcher::new(SinkLimits::discord()));
    let net = stack("network");
    sim.push_after(ms(0), started("network", 10));
    for i in 0..3 {
        sim.push_after(ms(100), BatchInput::line(&net, format!("line {i}")));
    }
    sim.advance_to(ms(5000));
    let logs: Vec<_> = sim
        .ops
        .iter()
        .filter(|(_, op)| matches!(op.key(), Some(MessageKey::Log(_))))
        .collect();
    assert_eq!(logs.len(), 1, "{}", sim.transcript());
    // The first line arrived at 100 ms; the message goes when it has waited the 1 s linger.
    assert_eq!(logs[0].0, ms(1100));
    assert_eq!(
        logs[0].1.text(),
        "```\n[network] line 0\n[network] line 1\n[network] line 2\n```"
    );
}

#[test]
fn a_flood_spills_into_an_attached_full_log_and_the_summary_says_so() {
    let mut sim = Sim::new(Batcher::new(tiny_limits()).with_log_filename("session.log"));
    let net = stack("network");
    sim.push_after(ms(0), started("network", 40));
    for i in 0..40 {
        sim.push_after(ms(25), BatchInput::line(&net, format!("creating subnet {i:02}")));
    }
    sim.push_after(ms(10), finished("network", StackResult::Applied, &[("create", 40)]));
    sim.push_after(
        ms(10),
        session_finished(SessionOutcome::Applied, "shop/dev D1BRV40: applied"),
    );
    sim.drain();

    let logs = uploads(&sim.ops);
    assert_eq!(logs.len(), 1);
    let mut expected: Vec<String> = (0..40).map(|i| format!("[network] creating subnet {i:02}")).collect();
    expected.push("[network] applied: 40 created".into());
    assert_eq!(logs[0], expected, "the full log holds every line, in order");
    assert!(chat_lines(&sim.ops).len() < expected.len());
    assert!(budget_violations(sim.batcher.limits(), &sim.ops).is_empty());
    insta::assert_snapshot!("flood_tiny_limits", sim.transcript());
}

#[test]
fn an_overlong_line_is_split_across_messages_never_dropped() {
    let mut sim = Sim::new(Batcher::new(SinkLimits::discord()));
    let long: String = (0..4500).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    sim.push_after(ms(0), BatchInput::line(&stack("storage"), long.clone()));
    sim.push_after(ms(0), BatchInput::line(&stack("storage"), "after the long one"));
    sim.push_after(ms(10), session_finished(SessionOutcome::Applied, "done"));
    sim.drain();

    let posts: Vec<&str> = sim
        .ops
        .iter()
        .filter(|(_, op)| matches!(op.key(), Some(MessageKey::Log(_))))
        .map(|(_, op)| op.text())
        .collect();
    // Three pieces go out at once (the line is already a full message's worth); the next line
    // arrived after that poll and gets its own message.
    assert_eq!(posts.len(), 4);
    assert!(posts.iter().all(|p| p.chars().count() <= 2000));
    assert!(posts[1].starts_with("```\n[storage]↪"));
    assert_eq!(
        chat_lines(&sim.ops),
        vec![format!("[storage] {long}"), "[storage] after the long one".to_string()]
    );
    assert!(uploads(&sim.ops).is_empty());
}

#[test]
fn a_secret_that_slipped_past_upstream_redaction_is_masked_and_counted() {
    let batcher = Batcher::new(SinkLimits::slack()).with_secrets(["hunter2-db-password"]);
    let mut sim = Sim::new(batcher);
    let db = stack("database-rds");
    sim.push_after(ms(0), started("database-rds", 1));
    sim.push_after(
        ms(10),
        BatchInput::line(&db, "connecting with password hunter2-db-password"),
    );
    sim.push_after(
        ms(10),
        session_finished(
            SessionOutcome::Failed,
            "shop/dev D1BRV40: failed (hunter2-db-password rejected)",
        ),
    );
    sim.drain();

    assert!(sim.ops.iter().all(|(_, op)| !op.text().contains("hunter2")));
    assert_eq!(
        chat_lines(&sim.ops),
        vec!["[database-rds] connecting with password [secret]"]
    );
    // One in the line, one in the orchestrator's headline.
    assert_eq!(sim.batcher.stats().redaction_violations, 2);
}

#[test]
fn progress_stays_fresh_while_lines_flood_a_discord_thread() {
    let limits = SinkLimits::discord();
    let mut sim = Sim::new(Batcher::new(limits.clone()));
    let net = stack("network");
    sim.push_after(ms(0), started("network", 600));
    for i in 0..600 {
        let name = format!("sg-{i}");
        sim.push_after(
            ms(50),
            step(
                "network",
                &name,
                "aws:ec2/securityGroup:SecurityGroup",
                StepOp::Create,
                true,
            ),
        );
        sim.push_after(ms(50), BatchInput::line(&net, format!("rule {i} applied")));
    }
    let edits: Vec<Duration> = sim
        .ops
        .iter()
        .filter(|(_, op)| {
            matches!(
                op,
                RenderOp::Edit {
                    key: MessageKey::Progress(_),
                    ..
                }
            )
        })
        .map(|(at, _)| *at)
        .collect();
    let line_ops = sim
        .ops
        .iter()
        .filter(|(_, op)| matches!(op.key(), Some(MessageKey::Log(_))))
        .count();
    assert!(!edits.is_empty());
    let longest_gap = edits.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    // Lines win the budget, but a progress text older than `progress_stale_after` jumps the
    // queue as soon as the (shared) budget has room: at most one window later.
    assert!(
        longest_gap <= limits.progress_stale_after + limits.messages.window,
        "{longest_gap:?}"
    );
    assert!(budget_violations(&limits, &sim.ops).is_empty());
    assert!(
        line_ops > 2 * edits.len(),
        "lines keep priority: {line_ops} line posts/appends vs {} progress edits",
        edits.len()
    );
}

#[test]
fn slack_edits_have_their_own_budget() {
    let limits = SinkLimits::slack();
    let mut sim = Sim::new(Batcher::new(limits.clone()));
    sim.push_after(ms(0), started("network", 2));
    sim.push_after(ms(0), started("dns", 2));
    sim.advance_to(ms(10_000));
    sim.push_after(ms(0), finished("network", StackResult::Applied, &[("create", 2)]));
    sim.push_after(ms(0), finished("dns", StackResult::Skipped, &[]));
    // Both progress edits go out at once: Slack's `chat.update` budget is separate from posts,
    // while the two result lines share one message a linger later.
    let at_10s: Vec<String> = sim
        .ops
        .iter()
        .filter(|(at, _)| *at == ms(10_000))
        .map(|(_, op)| format!("{op:?}"))
        .collect();
    assert_eq!(at_10s.len(), 2, "{at_10s:#?}");
    assert!(at_10s.iter().all(|op| op.starts_with("Edit")));
    assert!(budget_violations(&limits, &sim.ops).is_empty());
}

#[test]
fn the_summary_is_split_when_it_exceeds_a_message() {
    let mut sim = Sim::new(Batcher::new(tiny_limits()));
    let details: Vec<String> = (0..8)
        .map(|i| format!("detail line number {i} with a few words"))
        .collect();
    sim.push_after(
        ms(0),
        BatchInput::SessionFinished(SessionSummary {
            outcome: SessionOutcome::Failed,
            headline: "shop/prod D1BRV40: failed".into(),
            details,
        }),
    );
    sim.drain();
    let parts: Vec<&RenderOp> = sim.ops.iter().map(|(_, op)| op).collect();
    assert!(parts.len() >= 3);
    for (i, op) in parts.iter().enumerate() {
        assert_eq!(op.key(), Some(&MessageKey::Summary(i as u32)));
        assert!(op.text().chars().count() <= 100);
    }
    assert!(sim.batcher.is_done());
}
