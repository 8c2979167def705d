//! `bench_stream`: how the batcher copes with a realistic flood of engine output, on a simulated
//! clock against a simulated sink that enforces the budget independently.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use cloud_chat::batcher::duration_ms;
use cloud_chat::batcher::{
    BatchInput, Batcher, MessageKey, RenderOp, SessionOutcome, SessionSummary, SinkLimits, StackEvent,
};
use cloud_chat::progress::StackResult;
use cloud_core::engine::{ChangeCounts, Progress, StepOp};
use cloud_domain::session::StackName;

/// The simulated session of a benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Engine output lines (`Progress::Line`) over the whole session.
    pub lines: usize,
    /// Stacks running concurrently (started one second apart).
    pub stacks: usize,
    /// Simulated length of the session, from the first stack start to `SessionFinished`.
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// Resource steps per stack (a started and a done event each; every 4th is a change).
    pub steps_per_stack: u32,
    /// Seed of the arrival-time jitter.
    pub seed: u64,
}

impl BenchConfig {
    /// `lines` over 8 stacks in 3 simulated minutes, 40 steps per stack.
    pub fn new(lines: usize) -> Self {
        BenchConfig {
            lines,
            stacks: 8,
            duration: Duration::from_secs(180),
            steps_per_stack: 40,
            seed: 42,
        }
    }
}

/// What [`bench_stream`] measured. All times are simulated.
///
/// **Latency** of a line is the time from its `push` into the batcher to the emission of the
/// `Post` that shows it in chat (the simulated sink accepts an op the instant it is emitted within
/// budget; network time is not modelled). The `*_chat_lines_ms` figures cover only **engine
/// lines that reached chat** (`chat_lines_measured`); the `*_all_lines_ms` figures cover every
/// delivered engine line, where a line that could not reach chat within
/// [`SinkLimits::max_line_delay`], or arrived after the thread's message cap (a *late* line,
/// `late_lines`), counts with the time the full log was attached. `lost_lines` reached neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamBench {
    pub config: BenchConfig,
    pub limits: SinkLimits,
    /// Engine lines pushed.
    pub lines_in: u64,
    /// Output lines rendered (engine lines + step-change and stack-result lines).
    pub output_lines: u64,
    /// Output lines shown in chat.
    pub lines_in_chat: u64,
    /// Output lines only in the full log.
    pub lines_only_in_log: u64,
    /// Lines in the uploaded full log (0 without an upload); equals `output_lines` when uploaded.
    pub lines_in_full_log: u64,
    /// Every `Post` (log messages, progress messages, notice, summary).
    pub messages_posted: u64,
    pub log_messages: u64,
    pub progress_posts: u64,
    /// Every edit (progress edits and appends to the open line message).
    pub edits: u64,
    /// Edits that appended lines to the open line message.
    pub log_appends: u64,
    pub uploads: u64,
    /// Ops the simulated sink would have rejected for exceeding a budget window. Must be 0.
    pub budget_violations: u64,
    /// Posts or edits longer than `max_message_chars`. Must be 0.
    pub oversize_messages: u64,
    pub redaction_violations: u64,
    /// Engine lines found in chat messages, over which latency is measured.
    pub chat_lines_measured: u64,
    pub p50_latency_chat_lines_ms: u64,
    pub p95_latency_chat_lines_ms: u64,
    pub max_latency_chat_lines_ms: u64,
    /// Engine lines that reached people only through the attached full log: their latency is
    /// the time until that upload.
    #[serde(default)]
    pub late_lines: u64,
    /// Engine lines found neither in chat nor in the attached full log. Must be 0.
    #[serde(default)]
    pub lost_lines: u64,
    /// Line → message latency over **every** engine line that was delivered, late lines
    /// included (a late line counts with the time the full log was attached): the figure that
    /// can fail when the batcher lets lines fall behind.
    #[serde(default)]
    pub p50_latency_all_lines_ms: u64,
    #[serde(default)]
    pub p95_latency_all_lines_ms: u64,
    #[serde(default)]
    pub max_latency_all_lines_ms: u64,
    /// Latency of the late lines only (until the full log was attached), 0 without late lines.
    #[serde(default)]
    pub p50_latency_late_lines_ms: u64,
    #[serde(default)]
    pub p95_latency_late_lines_ms: u64,
    #[serde(default)]
    pub max_latency_late_lines_ms: u64,
    /// About how many output lines one thread can show: `max_log_messages` full messages of this
    /// session's lines (by their mean length in the full log). Computed from the limits and the
    /// lines, not from what the batcher did: a session with more output lines than this cannot
    /// show them all in chat, so some reach people only through the full log.
    #[serde(default)]
    pub chat_capacity_lines: u64,
    /// From `SessionFinished` to the last summary part.
    pub summary_delay_ms: u64,
    /// The summary was posted.
    pub summary_emitted: bool,
    /// Real time the benchmark took.
    pub wall_time_ms: u64,
}

/// Benchmarks `lines` engine lines with [`BenchConfig::new`] against `limits`.
pub fn bench_stream(lines: usize, limits: SinkLimits) -> StreamBench {
    bench_stream_with(BenchConfig::new(lines), limits)
}

/// Benchmarks one simulated session. Deterministic for a given config and limits.
pub fn bench_stream_with(config: BenchConfig, limits: SinkLimits) -> StreamBench {
    let wall = Instant::now();
    let t0 = Instant::now();
    let (events, line_times) = simulated_session(&config);
    let end = t0 + config.duration;

    let mut batcher = Batcher::new(limits.clone()).with_log_filename("bench.log");
    let mut ops: Vec<(Instant, RenderOp)> = Vec::new();
    let mut finished_at = None;
    let mut next = 0;
    let mut guard = 0u64;
    loop {
        guard += 1;
        assert!(guard < 10_000_000, "bench_stream: the batcher does not settle");
        let event_at = if next < events.len() {
            Some(t0 + events[next].0)
        } else if finished_at.is_none() {
            Some(end)
        } else {
            None
        };
        match (batcher.next_deadline(), event_at) {
            (Some(deadline), Some(at)) if deadline <= at => {
                ops.extend(batcher.poll(deadline).into_iter().map(|op| (deadline, op)))
            }
            (Some(deadline), None) => ops.extend(batcher.poll(deadline).into_iter().map(|op| (deadline, op))),
            (_, Some(at)) => {
                if next < events.len() {
                    batcher.push(events[next].1.clone(), at);
                    next += 1;
                } else {
                    batcher.push(BatchInput::SessionFinished(bench_summary()), at);
                    finished_at = Some(at);
                }
                ops.extend(batcher.poll(at).into_iter().map(|op| (at, op)));
            }
            (None, None) => break,
        }
    }

    let sink = SimulatedSink::check(&limits, &ops);
    let mut latencies = chat_line_latencies(&ops, &line_times, t0);
    latencies.sort_unstable();
    let pct = |p: usize| -> u64 { percentile(&latencies, p) };
    let delivery = delivery_latencies(&ops, &line_times, t0);
    let mut all = delivery.latencies;
    all.sort_unstable();
    let mut late = delivery.late_latencies;
    late.sort_unstable();
    let chat_capacity_lines = chat_capacity_lines(&limits, batcher.full_log());
    let stats = batcher.stats().clone();
    let last_summary = ops
        .iter()
        .rev()
        .filter(|(_, op)| matches!(op.key(), Some(MessageKey::Summary(_))))
        .map(|(at, _)| *at)
        .next();
    let lines_in_full_log = ops
        .iter()
        .find_map(|(_, op)| match op {
            RenderOp::Upload { content, .. } => Some(content.lines().count() as u64),
            _ => None,
        })
        .unwrap_or(0);
    StreamBench {
        lines_in: line_times.len() as u64,
        output_lines: stats.lines,
        lines_in_chat: stats.lines_in_chat,
        lines_only_in_log: stats.lines_only_in_log,
        lines_in_full_log,
        messages_posted: sink.posts,
        log_messages: stats.log_messages,
        progress_posts: stats.progress_posts,
        edits: stats.edits,
        log_appends: stats.log_appends,
        uploads: stats.uploads,
        budget_violations: sink.violations,
        oversize_messages: sink.oversize,
        redaction_violations: stats.redaction_violations,
        chat_lines_measured: latencies.len() as u64,
        p50_latency_chat_lines_ms: pct(50),
        p95_latency_chat_lines_ms: pct(95),
        max_latency_chat_lines_ms: latencies.last().map_or(0, |d| d.as_millis() as u64),
        late_lines: delivery.late,
        lost_lines: delivery.lost,
        p50_latency_all_lines_ms: percentile(&all, 50),
        p95_latency_all_lines_ms: percentile(&all, 95),
        max_latency_all_lines_ms: all.last().map_or(0, |d| d.as_millis() as u64),
        p50_latency_late_lines_ms: percentile(&late, 50),
        p95_latency_late_lines_ms: percentile(&late, 95),
        max_latency_late_lines_ms: late.last().map_or(0, |d| d.as_millis() as u64),
        chat_capacity_lines,
        summary_delay_ms: match (finished_at, last_summary) {
            (Some(f), Some(s)) => (s - f).as_millis() as u64,
            _ => 0,
        },
        summary_emitted: batcher.is_done(),
        wall_time_ms: wall.elapsed().as_millis() as u64,
        config,
        limits,
    }
}

fn bench_summary() -> SessionSummary {
    SessionSummary {
        outcome: SessionOutcome::Applied,
        headline: "bench/dev DBENCH0: applied".to_string(),
        details: Vec::new(),
    }
}

/// The input events (offset from the start, sorted) and the push offset of each engine line, by
/// its sequence number (engine lines start with a 6-digit sequence number).
fn simulated_session(config: &BenchConfig) -> (Vec<(Duration, BatchInput)>, Vec<Duration>) {
    const NAMES: [&str; 16] = [
        "network",
        "security",
        "dns",
        "secrets",
        "authentication",
        "storage",
        "database-rds",
        "containers-images",
        "containers-apps",
        "services-ecr",
        "services-ecs",
        "services-eks",
        "services-api",
        "compute-ec2",
        "compute-lambda",
        "monitoring",
    ];
    let stacks: Vec<StackName> = (0..config.stacks.max(1))
        .map(|i| match NAMES.get(i) {
            Some(name) => name.parse().expect("valid stack name"),
            None => format!("stack-{i}").parse().expect("valid stack name"),
        })
        .collect();
    let mut rng = config.seed | 1;
    let mut jitter = move |max_ms: u64| -> u64 {
        // xorshift64: deterministic and dependency-free.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if max_ms == 0 {
            0
        } else {
            rng % max_ms
        }
    };
    let total_ms = config.duration.as_millis() as u64;
    let mut events: Vec<(u64, u64, BatchInput)> = Vec::new(); // (ms, order, input)
    let mut order = 0u64;
    let mut add = |events: &mut Vec<(u64, u64, BatchInput)>, ms: u64, input: BatchInput| {
        events.push((ms, order, input));
        order += 1;
    };
    let n = stacks.len() as u64;
    let start_of = |i: u64| (i * 1000).min(total_ms / 2);
    let end_of = |_i: u64| total_ms.saturating_sub(1000);
    for (i, stack) in stacks.iter().enumerate() {
        let (start, end) = (start_of(i as u64), end_of(i as u64));
        let steps = config.steps_per_stack;
        add(
            &mut events,
            start,
            BatchInput::stack(stack, StackEvent::Started { planned_steps: steps }),
        );
        for s in 0..steps {
            let span = (end - start).max(1);
            let at = start + span * u64::from(s) / u64::from(steps.max(1));
            let urn = format!("urn:pulumi:dev::bench::aws:ec2/subnet:Subnet::{stack}-{s}");
            let op = if s % 4 == 0 { StepOp::Create } else { StepOp::Same };
            let resource_type = "aws:ec2/subnet:Subnet".to_string();
            add(
                &mut events,
                at,
                BatchInput::stack(
                    stack,
                    StackEvent::Progress(Progress::StepStarted {
                        urn: urn.clone(),
                        resource_type: resource_type.clone(),
                        op: op.clone(),
                    }),
                ),
            );
            let done_at = (at + 500 + jitter(3000)).min(end);
            add(
                &mut events,
                done_at,
                BatchInput::stack(
                    stack,
                    StackEvent::Progress(Progress::StepDone { urn, resource_type, op }),
                ),
            );
        }
        let counts = ChangeCounts::from([
            ("create".to_string(), u64::from(steps.div_ceil(4))),
            ("same".to_string(), u64::from(steps - steps.div_ceil(4))),
        ]);
        add(
            &mut events,
            end,
            BatchInput::stack(
                stack,
                StackEvent::Finished {
                    result: StackResult::Applied,
                    counts,
                },
            ),
        );
    }
    let mut line_times = Vec::with_capacity(config.lines);
    for seq in 0..config.lines as u64 {
        let i = seq % n;
        let (start, end) = (start_of(i), end_of(i));
        let span = end - start;
        // Evenly spread per stack, jittered by up to 200 ms, kept inside the stack's run.
        let base = start + span * (seq / n) / (config.lines as u64 / n).max(1);
        let at = (base + jitter(200)).clamp(start, end.saturating_sub(1).max(start));
        let stack = &stacks[i as usize];
        let text = format!(
            "{seq:06} aws:ec2/subnet:Subnet {stack}-subnet-{} creating... ({}s)",
            seq % 97,
            (at - start) / 1000
        );
        add(&mut events, at, BatchInput::line(stack, text));
        line_times.push(Duration::from_millis(at));
    }
    events.sort_by_key(|(ms, order, _)| (*ms, *order));
    // Per stack, events must stay in order (a stack's lines are pushed in sequence order).
    let events = events
        .into_iter()
        .map(|(ms, _, input)| (Duration::from_millis(ms), input))
        .collect();
    (events, line_times)
}

/// An independent model of the platform: counts ops over budget and oversize messages.
struct SimulatedSink {
    posts: u64,
    violations: u64,
    oversize: u64,
}

impl SimulatedSink {
    fn check(limits: &SinkLimits, ops: &[(Instant, RenderOp)]) -> Self {
        let mut buckets: BTreeMap<&str, Vec<Instant>> = BTreeMap::new();
        let mut sink = SimulatedSink {
            posts: 0,
            violations: 0,
            oversize: 0,
        };
        let shared = matches!(limits.edits, cloud_chat::batcher::EditBudget::SharedWithMessages);
        for (at, op) in ops {
            let (bucket, budget) = match op {
                RenderOp::Edit { .. } if !shared => ("edits", limits.edit_budget()),
                _ => ("messages", limits.messages),
            };
            if let RenderOp::Post { .. } = op {
                sink.posts += 1;
            }
            if !matches!(op, RenderOp::Upload { .. })
                && cloud_chat::batcher::chat_len(op.text()) > limits.max_message_chars
            {
                sink.oversize += 1;
            }
            let times = buckets.entry(bucket).or_default();
            let in_window = times.iter().filter(|t| *at - **t < budget.window).count();
            if in_window >= budget.ops as usize {
                sink.violations += 1;
            }
            times.push(*at);
        }
        sink
    }
}

/// `max_log_messages` messages' worth of lines of the mean length in `full_log` (each line costs its
/// length plus a newline within the text between a message's fences).
fn chat_capacity_lines(limits: &SinkLimits, full_log: &str) -> u64 {
    let (lines, chars) = full_log.lines().fold((0usize, 0usize), |(n, c), line| {
        (n + 1, c + cloud_chat::batcher::chat_len(line))
    });
    if lines == 0 {
        return 0;
    }
    let content = limits.max_message_chars.saturating_sub(
        cloud_chat::batcher::chat_len(cloud_chat::batcher::FENCE_OPEN)
            + cloud_chat::batcher::chat_len(cloud_chat::batcher::FENCE_CLOSE),
    );
    let mean = chars.div_ceil(lines) + 1;
    (u64::from(limits.max_log_messages) * (content / mean) as u64).max(1)
}

/// The `p`-th percentile (nearest rank) of sorted durations, in ms; 0 when empty.
fn percentile(sorted: &[Duration], p: usize) -> u64 {
    if sorted.is_empty() {
        0
    } else {
        sorted[((sorted.len() * p).div_ceil(100)).saturating_sub(1)].as_millis() as u64
    }
}

/// The engine-line sequence number of a rendered `[stack] 000123 …` line.
fn line_seq(line: &str) -> Option<usize> {
    let (_, text) = line.strip_prefix('[')?.split_once("] ")?;
    let digits = text.get(..6).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
    digits.parse().ok()
}

/// When each engine line reached people: its first chat message, else the attached full log.
struct Delivery {
    /// One per delivered line.
    latencies: Vec<Duration>,
    /// Delivered only by the full log.
    late: u64,
    /// One per line delivered only by the full log.
    late_latencies: Vec<Duration>,
    /// Never delivered.
    lost: u64,
}

fn delivery_latencies(ops: &[(Instant, RenderOp)], line_times: &[Duration], t0: Instant) -> Delivery {
    let mut delivered: Vec<Option<(Instant, bool)>> = vec![None; line_times.len()]; // (at, by upload)
    for (at, op) in ops {
        let (text, by_upload) = match op {
            RenderOp::Post {
                key: MessageKey::Log(_),
                text,
            }
            | RenderOp::Edit {
                key: MessageKey::Log(_),
                text,
            } => (text.as_str(), false),
            RenderOp::Upload { content, .. } => (content.as_str(), true),
            _ => continue,
        };
        for seq in text.lines().filter_map(line_seq) {
            if let Some(slot @ None) = delivered.get_mut(seq) {
                *slot = Some((*at, by_upload));
            }
        }
    }
    let mut out = Delivery {
        latencies: Vec::with_capacity(line_times.len()),
        late: 0,
        late_latencies: Vec::new(),
        lost: 0,
    };
    for (pushed, d) in line_times.iter().zip(delivered) {
        match d {
            Some((at, by_upload)) => {
                let latency = at - (t0 + *pushed);
                if by_upload {
                    out.late += 1;
                    out.late_latencies.push(latency);
                }
                out.latencies.push(latency);
            }
            None => out.lost += 1,
        }
    }
    out
}

/// Latency of every engine line (recognised by its 6-digit sequence number) shown in chat.
fn chat_line_latencies(ops: &[(Instant, RenderOp)], line_times: &[Duration], t0: Instant) -> Vec<Duration> {
    let mut out = Vec::new();
    // A line appears with the first post or append that carries it.
    let mut seen = vec![false; line_times.len()];
    for (at, op) in ops {
        let (RenderOp::Post {
            key: MessageKey::Log(_),
            text,
        }
        | RenderOp::Edit {
            key: MessageKey::Log(_),
            text,
        }) = op
        else {
            continue;
        };
        for seq in text.lines().filter_map(line_seq) {
            if let (Some(pushed), Some(false)) = (line_times.get(seq), seen.get(seq).copied()) {
                seen[seq] = true;
                out.push(*at - (t0 + *pushed));
            }
        }
    }
    out
}
