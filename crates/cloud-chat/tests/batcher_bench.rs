//! `bench_stream` as a test: a realistic flood must stay within budget, lose nothing and keep
//! chat latency low. Run with `--nocapture` to see the JSON report.

use cloud_chat::batcher::SinkLimits;
use cloud_testkit::batcher_sim::{bench_stream, bench_stream_with, BenchConfig, StreamBench};

fn check(report: &StreamBench) {
    println!("{}", serde_json::to_string_pretty(report).unwrap());
    assert_eq!(report.budget_violations, 0);
    assert_eq!(report.oversize_messages, 0);
    assert_eq!(report.redaction_violations, 0);
    assert!(report.summary_emitted);
    assert!(report.log_messages <= u64::from(report.limits.max_log_messages));
    assert_eq!(report.lines_in_chat + report.lines_only_in_log, report.output_lines);
    if report.lines_only_in_log > 0 {
        assert_eq!(
            report.lines_in_full_log, report.output_lines,
            "the full log holds every line"
        );
    }
    assert!(report.chat_lines_measured > 0);
    assert!(
        report.p95_latency_chat_lines_ms <= 2000,
        "p95 {} ms",
        report.p95_latency_chat_lines_ms
    );
}

#[test]
fn bench_discord_flood_of_5000_lines() {
    let report = bench_stream(5_000, SinkLimits::discord());
    check(&report);
    assert_eq!(report.lines_in, 5_000);
    assert!(report.lines_only_in_log > 0, "5000 lines cannot all fit 40 messages");
}

#[test]
fn bench_slack_flood_of_5000_lines() {
    check(&bench_stream(5_000, SinkLimits::slack()));
}

#[test]
fn bench_a_quiet_session_fits_in_chat() {
    let config = BenchConfig {
        lines: 60,
        stacks: 3,
        ..BenchConfig::new(60)
    };
    let report = bench_stream_with(config, SinkLimits::discord());
    check(&report);
    assert_eq!(report.lines_only_in_log, 0, "a quiet session needs no full log");
    assert_eq!(report.uploads, 0);
}

#[test]
fn bench_report_round_trips_as_json() {
    let report = bench_stream(500, SinkLimits::discord());
    let json = serde_json::to_string(&report).unwrap();
    let back: StreamBench = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert!(json.contains("\"p95_latency_chat_lines_ms\""));
}

/// The headline numbers: 50 000 lines over 8 stacks in 3 simulated minutes (well under a second
/// of real time even in debug builds). `--nocapture` prints the report.
#[test]
fn bench_discord_50000_lines() {
    let report = bench_stream(50_000, SinkLimits::discord());
    check(&report);
    assert_eq!(report.log_messages, 40, "a flood fills what the thread should hold");
    // Beyond what one thread shows, the rest reach people only with the full log attached at
    // the end: counted and timed apart from the chat lines.
    assert!(
        report.output_lines > report.chat_capacity_lines,
        "{}",
        report.chat_capacity_lines
    );
    assert_eq!(report.lost_lines, 0);
    assert!(report.late_lines > 0);
    assert!(report.p95_latency_late_lines_ms > 2000);
    assert!(report.max_latency_late_lines_ms <= report.max_latency_all_lines_ms);
}

#[test]
fn bench_slack_50000_lines() {
    check(&bench_stream(50_000, SinkLimits::slack()));
}

/// A small volume over many stacks: the platform's budget does not bind, so every line must reach
/// chat within the goal (the batcher must not hold lines back behind its own pacing).
#[test]
fn bench_discord_60_lines_over_8_stacks_reach_chat_within_2_s() {
    let report = bench_stream_with(BenchConfig::new(60), SinkLimits::discord());
    check(&report);
    assert!(
        report.output_lines <= report.chat_capacity_lines,
        "{}",
        report.chat_capacity_lines
    );
    assert_eq!(report.late_lines, 0, "a small volume needs no full log");
    assert_eq!(report.lost_lines, 0);
    assert!(
        report.p95_latency_all_lines_ms <= 2000,
        "p95 line → message {} ms, late lines included",
        report.p95_latency_all_lines_ms
    );
}
