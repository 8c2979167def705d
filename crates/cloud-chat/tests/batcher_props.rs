//! Properties of the output batcher over random sessions, limits and timings.
//!
//! Each session is a random script of stack events separated by random gaps (often 0, so floods
//! happen), played on a simulated clock; the ops it produces are checked by the harness in
//! `batcher_support`, independently of the batcher's own bookkeeping.

mod batcher_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use batcher_support::{budget_violations, chat_lines, is_subsequence, oversize, stack, tiny_limits, uploads, Sim};
use cloud_chat::batcher::{
    BatchInput, Batcher, EditBudget, MessageKey, RateBudget, RenderOp, SessionOutcome, SessionSummary, SinkLimits,
    StackEvent, MAX_CHAT_PIECES_PER_LINE,
};
use cloud_chat::StackResult;
use cloud_core::engine::{ChangeCounts, Progress, StepOp};
use proptest::prelude::*;

const STACKS: [&str; 3] = ["network", "dns", "database-rds"];

#[derive(Debug, Clone)]
enum Action {
    Start {
        stack: usize,
        planned: u32,
    },
    /// `secret`: index of a secret value placed, space-separated, inside the text.
    Line {
        stack: usize,
        text: String,
        secret: Option<usize>,
    },
    StepStarted {
        stack: usize,
        n: u32,
    },
    StepDone {
        stack: usize,
        n: u32,
        change: bool,
    },
    StepFailed {
        stack: usize,
        n: u32,
    },
    Finish {
        stack: usize,
        result: StackResult,
        created: u64,
    },
}

#[derive(Debug, Clone)]
struct Script {
    limits: SinkLimits,
    /// Uppercase only: the text alphabet has no uppercase letters, so a secret occurs exactly
    /// where the script put it.
    secrets: Vec<String>,
    steps: Vec<(Duration, Action)>,
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9 :/._-]{0,60}",
        2 => "[a-z `]{0,30}",
        1 => "[a-zé🚀\n ]{0,40}",
        1 => "[a-z ]{70,250}",
        1 => "[a-z ]{1900,3200}",
        1 => "[a-z]{0,30}",
    ]
}

fn action_strategy() -> impl Strategy<Value = Action> {
    let s = 0..STACKS.len();
    prop_oneof![
        1 => (s.clone(), 0..40u32).prop_map(|(stack, planned)| Action::Start { stack, planned }),
        8 => (s.clone(), text_strategy(), prop::option::weighted(0.1, 0..2usize))
            .prop_map(|(stack, text, secret)| Action::Line { stack, text, secret }),
        2 => (s.clone(), 0..20u32).prop_map(|(stack, n)| Action::StepStarted { stack, n }),
        2 => (s.clone(), 0..20u32, any::<bool>())
            .prop_map(|(stack, n, change)| Action::StepDone { stack, n, change }),
        1 => (s.clone(), 0..20u32).prop_map(|(stack, n)| Action::StepFailed { stack, n }),
        1 => (s, prop_oneof![Just(StackResult::Applied), Just(StackResult::Failed), Just(StackResult::Skipped)], 0..5u64)
            .prop_map(|(stack, result, created)| Action::Finish { stack, result, created }),
    ]
}

fn gap_strategy() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => Just(0u64),
        3 => 0..100u64,
        3 => 0..3_000u64,
        1 => 0..20_000u64,
    ]
    .prop_map(Duration::from_millis)
}

fn limits_strategy() -> impl Strategy<Value = SinkLimits> {
    // The last variant has a scarce edit budget of its own, so appends often give way to posts.
    let scarce_edits = SinkLimits {
        name: "scarce-edits".to_string(),
        edits: EditBudget::Own(RateBudget::new(1, Duration::from_secs(5))),
        max_log_messages: 3,
        ..tiny_limits()
    };
    prop_oneof![
        Just(SinkLimits::discord()),
        Just(SinkLimits::slack()),
        Just(tiny_limits()),
        Just(scarce_edits)
    ]
}

fn script_strategy() -> impl Strategy<Value = Script> {
    (
        limits_strategy(),
        prop::collection::vec("[A-Z]{8,12}", 2),
        prop::collection::vec((gap_strategy(), action_strategy()), 0..120),
    )
        .prop_map(|(limits, secrets, steps)| Script { limits, secrets, steps })
}

fn urn(stack: &str, n: u32) -> String {
    format!("urn:pulumi:dev::shop::aws:s3/bucket:Bucket::{stack}-b{n}")
}

const TYPE: &str = "aws:s3/bucket:Bucket";

/// What one session produced, plus what a reader should find.
struct Outcome {
    script: Script,
    sim: Sim,
    /// Every output line in order, as the full log must hold it.
    expected: Vec<String>,
    /// Stacks that got a start or progress event (they deserve a progress message).
    started: BTreeSet<String>,
    secrets_placed: u64,
    /// When `SessionFinished` was pushed (simulated time).
    finished_at: Duration,
}

fn play(script: Script) -> Outcome {
    let batcher = Batcher::new(script.limits.clone()).with_secrets(script.secrets.clone());
    let mut sim = Sim::new(batcher);
    let mut expected = Vec::new();
    let mut started = BTreeSet::new();
    let mut secrets_placed = 0;
    for (gap, action) in &script.steps {
        let name = |i: usize| STACKS[i];
        let (i, event) = match action.clone() {
            Action::Start { stack, planned } => {
                started.insert(name(stack).to_string());
                (stack, StackEvent::Started { planned_steps: planned })
            }
            Action::Line { stack, text, secret } => {
                started.insert(name(stack).to_string());
                let (text, shown) = match secret {
                    Some(k) => {
                        secrets_placed += 1;
                        (format!("{text} {} x", script.secrets[k]), format!("{text} [secret] x"))
                    }
                    None => (text.clone(), text),
                };
                expected.extend(shown.split('\n').map(|l| format!("[{}] {l}", name(stack))));
                (stack, StackEvent::Progress(Progress::Line(text)))
            }
            Action::StepStarted { stack, n } => {
                started.insert(name(stack).to_string());
                let p = Progress::StepStarted {
                    urn: urn(name(stack), n),
                    resource_type: TYPE.into(),
                    op: StepOp::Create,
                };
                (stack, StackEvent::Progress(p))
            }
            Action::StepDone { stack, n, change } => {
                started.insert(name(stack).to_string());
                let op = if change { StepOp::Update } else { StepOp::Same };
                if change {
                    expected.push(format!("[{}] ~ {TYPE} {}-b{n} updated", name(stack), name(stack)));
                }
                let p = Progress::StepDone {
                    urn: urn(name(stack), n),
                    resource_type: TYPE.into(),
                    op,
                };
                (stack, StackEvent::Progress(p))
            }
            Action::StepFailed { stack, n } => {
                started.insert(name(stack).to_string());
                expected.push(format!("[{}] ✗ {TYPE} {}-b{n} create failed", name(stack), name(stack)));
                let p = Progress::StepFailed {
                    urn: urn(name(stack), n),
                    resource_type: TYPE.into(),
                    op: StepOp::Create,
                };
                (stack, StackEvent::Progress(p))
            }
            Action::Finish { stack, result, created } => {
                let counts = if created > 0 {
                    format!("{created} created")
                } else {
                    "no changes".to_string()
                };
                expected.push(match result {
                    StackResult::Skipped => format!("[{}] skipped", name(stack)),
                    _ => format!("[{}] {}: {counts}", name(stack), result.as_str()),
                });
                let counts = ChangeCounts::from([("create".to_string(), created)]);
                (stack, StackEvent::Finished { result, counts })
            }
        };
        sim.push_after(*gap, BatchInput::stack(&stack(STACKS[i]), event));
    }
    let summary = SessionSummary {
        outcome: SessionOutcome::Applied,
        headline: "shop/dev DTEST01: applied".to_string(),
        details: vec!["see the thread above".to_string()],
    };
    sim.push_after(Duration::from_millis(10), BatchInput::SessionFinished(summary));
    let finished_at = sim.now;
    sim.drain();
    Outcome {
        script,
        sim,
        expected,
        started,
        secrets_placed,
        finished_at,
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Chat shows each line at most once, in order (a subsequence of all lines); whenever a line
    /// is missing from chat, exactly one full log is attached and it holds every line, in order.
    #[test]
    fn every_line_delivered_exactly_once_in_order(script in script_strategy()) {
        let out = play(script);
        let chat = chat_lines(&out.sim.ops);
        prop_assert!(is_subsequence(&chat, &out.expected),
            "chat is not an in-order subsequence of the lines\nchat: {chat:#?}\nexpected: {:#?}", out.expected);
        let logs = uploads(&out.sim.ops);
        if chat.len() == out.expected.len() {
            prop_assert!(logs.is_empty(), "a full log was attached although chat has every line");
        } else {
            prop_assert_eq!(logs.len(), 1, "lines missing from chat but no single full log");
            prop_assert_eq!(&logs[0], &out.expected);
        }
        // Per stack too (implied by the global order, checked for the record).
        for name in STACKS {
            let prefix = format!("[{name}] ");
            let mine = |v: &[String]| v.iter().filter(|l| l.starts_with(&prefix)).cloned().collect::<Vec<_>>();
            prop_assert!(is_subsequence(&mine(&chat), &mine(&out.expected)));
        }
        let stats = out.sim.batcher.stats();
        prop_assert_eq!(stats.lines as usize, out.expected.len());
        prop_assert_eq!(stats.lines_in_chat as usize, chat.len());
        prop_assert_eq!((stats.lines_in_chat + stats.lines_only_in_log) as usize, out.expected.len());
    }

    /// No posted or edited message exceeds the sink's size limit.
    #[test]
    fn no_message_over_the_limit(script in script_strategy()) {
        let out = play(script);
        let over = oversize(&out.script.limits, &out.sim.ops);
        prop_assert!(over.is_empty(), "{over:#?}");
        // Nor more line messages than the thread should hold (a split line already begun may
        // finish in up to MAX_CHAT_PIECES_PER_LINE - 1 more).
        let posted = out.sim.ops.iter()
            .filter(|(_, op)| matches!(op, RenderOp::Post { key: MessageKey::Log(_), .. }))
            .count();
        let cap = out.script.limits.max_log_messages as usize + MAX_CHAT_PIECES_PER_LINE - 1;
        prop_assert!(posted <= cap, "{posted} line messages");
    }

    /// No window of the budget's length ever holds more ops than the budget allows.
    #[test]
    fn never_more_ops_in_a_window_than_the_budget(script in script_strategy()) {
        let out = play(script);
        let violations = budget_violations(&out.script.limits, &out.sim.ops);
        prop_assert!(violations.is_empty(), "{violations:#?}\n{}", out.sim.transcript());
    }

    /// Each stack that ran has exactly one progress message; every progress edit goes to a
    /// posted progress message. Line messages are only edited to append lines, and only while
    /// they are the thread's last message.
    #[test]
    fn one_live_progress_message_per_stack(script in script_strategy()) {
        let out = play(script);
        let mut posted: BTreeMap<String, usize> = BTreeMap::new();
        let mut last_post: Option<&MessageKey> = None;
        let mut log_texts: BTreeMap<u32, &str> = BTreeMap::new();
        for (_, op) in &out.sim.ops {
            match op {
                RenderOp::Post { key, text } => {
                    if let MessageKey::Progress(s) = key {
                        *posted.entry(s.to_string()).or_default() += 1;
                    }
                    if let MessageKey::Log(n) = key {
                        log_texts.insert(*n, text);
                    }
                    last_post = Some(key);
                }
                RenderOp::Edit { key: MessageKey::Progress(s), .. } => {
                    prop_assert!(posted.contains_key(s.as_str()), "edit of {s} before its post");
                }
                RenderOp::Edit { key: MessageKey::Log(n), text } => {
                    prop_assert_eq!(last_post, Some(&MessageKey::Log(*n)), "append to a message that is not the last");
                    let before = log_texts[n].strip_suffix("\n```").unwrap();
                    prop_assert!(text.starts_with(&format!("{before}\n")), "an edit of a line message must only append");
                    log_texts.insert(*n, text);
                }
                RenderOp::Edit { key, .. } => {
                    return Err(TestCaseError::fail(format!("edit of {key}")));
                }
                RenderOp::Upload { .. } => {}
            }
        }
        prop_assert!(posted.values().all(|n| *n == 1), "{posted:?}");
        let with_message: BTreeSet<String> = posted.keys().cloned().collect();
        prop_assert_eq!(with_message, out.started);
    }

    /// Progress messages are edited on a throttle: two shows of one stack's progress less than
    /// `progress_interval` apart only when the later one is urgent — the stack finished (its
    /// final mark) or the session did.
    #[test]
    fn progress_edits_are_throttled(script in script_strategy()) {
        let out = play(script);
        let interval = out.script.limits.progress_interval;
        let mut shown_at: BTreeMap<String, Duration> = BTreeMap::new();
        for (at, op) in &out.sim.ops {
            let Some(MessageKey::Progress(s)) = op.key() else { continue };
            if let Some(prev) = shown_at.get(s.as_str()) {
                let urgent = *at >= out.finished_at || ["  ✓ ", "  ✗ ", "  – "].iter().any(|m| op.text().contains(m));
                prop_assert!(*at - *prev >= interval || urgent,
                    "{s} edited {:?} after its last show (interval {interval:?}): {}", *at - *prev, op.text());
            }
            shown_at.insert(s.to_string(), *at);
        }
    }

    /// After SessionFinished the summary is always posted, last, and the batcher goes idle; the
    /// final progress texts are shown before it.
    #[test]
    fn final_summary_always_emitted_last(script in script_strategy()) {
        let out = play(script);
        prop_assert!(out.sim.batcher.is_done());
        prop_assert!(out.sim.batcher.next_deadline().is_none());
        let ops: Vec<&RenderOp> = out.sim.ops.iter().map(|(_, op)| op).collect();
        let first_summary = ops.iter().position(|op| matches!(op.key(), Some(MessageKey::Summary(_))));
        let first_summary = first_summary.expect("a summary");
        for (i, op) in ops[first_summary..].iter().enumerate() {
            prop_assert_eq!(op.key(), Some(&MessageKey::Summary(i as u32)));
        }
        prop_assert!(ops[first_summary].text().contains("shop/dev DTEST01: applied"));
        // The last text shown for each progress message is its final state.
        let mut last_text: BTreeMap<String, String> = BTreeMap::new();
        for op in &ops {
            if let (Some(MessageKey::Progress(s)), RenderOp::Post { text, .. } | RenderOp::Edit { text, .. }) = (op.key(), op) {
                last_text.insert(s.to_string(), text.clone());
            }
        }
        for (name, text) in last_text {
            prop_assert!(text.starts_with(&format!("{name}  ")), "{text}");
        }
    }

    /// No op ever carries a secret value; every secret that reached the batcher is counted.
    #[test]
    fn secrets_never_appear_in_any_op(script in script_strategy()) {
        let out = play(script);
        for (_, op) in &out.sim.ops {
            for secret in &out.script.secrets {
                prop_assert!(!op.text().contains(secret.as_str()), "{secret} leaked in {op:?}");
            }
        }
        prop_assert_eq!(out.sim.batcher.stats().redaction_violations, out.secrets_placed);
    }
}

/// The generator is only useful if it reaches the interesting paths: splitting, skip markers,
/// the message cap, the full-log upload, secrets and multi-part ops in one poll.
#[test]
fn generator_reaches_overflow_splitting_and_secrets() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut uploads_seen, mut continued, mut markers, mut notices, mut secrets) = (0, 0, 0, 0, 0);
    for _ in 0..150 {
        let script = script_strategy().new_tree(&mut runner).unwrap().current();
        let out = play(script);
        let texts: Vec<&str> = out.sim.ops.iter().map(|(_, op)| op.text()).collect();
        uploads_seen += usize::from(!uploads(&out.sim.ops).is_empty());
        continued += usize::from(texts.iter().any(|t| t.contains("]↪")));
        markers += usize::from(texts.iter().any(|t| t.contains("only in the full log")));
        notices += usize::from(
            out.sim
                .ops
                .iter()
                .any(|(_, op)| op.key() == Some(&MessageKey::OverflowNotice)),
        );
        secrets += usize::from(out.secrets_placed > 0);
    }
    eprintln!("uploads {uploads_seen}, continued {continued}, markers {markers}, notices {notices}, secrets {secrets}");
    let no_upload = 150 - uploads_seen;
    for (what, n) in [
        ("uploads", uploads_seen),
        ("no overflow", no_upload),
        ("continuations", continued),
        ("markers", markers),
        ("notices", notices),
        ("secrets", secrets),
    ] {
        assert!(n >= 5, "only {n} of 150 sessions exercise {what}");
    }
}
