//! Performance probes behind `cloud bench`: how fast the event parser is, and how long an event
//! takes from the engine writing it to a [`Progress`] message leaving the tailer.
//!
//! Goals: ≥ 200 000 events/s parsed on one core; p95 ≤ 50 ms from write to progress.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use cloud_core::engine::Progress;
use cloud_pulumi::events::{parse_stream, Tailer, DEFAULT_POLL_INTERVAL};
use cloud_pulumi::pulumi::progress_for;
use cloud_pulumi::redact::Redactor;

/// Result of [`bench_parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParseBench {
    pub events: usize,
    pub bytes: usize,
    pub elapsed: Duration,
    pub events_per_sec: f64,
    pub mib_per_sec: f64,
}

/// Result of [`bench_tail_latency`].
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyBench {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// A realistic stream of about `n_events` events, one per line: a prelude, then for each
/// resource a `resourcePreEvent` and a `resOutputsEvent` with inputs/outputs like an AWS
/// resource's, a diagnostic every 25 resources, a summary and a cancel.
pub fn synthetic_stream(n_events: usize) -> String {
    let mut out = String::with_capacity(n_events * 900);
    let mut seq = 0i64;
    fn push_event(out: &mut String, seq: &mut i64, kind: &str, payload: serde_json::Value) {
        let mut m = serde_json::Map::new();
        m.insert("sequence".into(), json!(*seq));
        m.insert("timestamp".into(), json!(1_760_000_000 + *seq / 100));
        m.insert(kind.into(), payload);
        out.push_str(&serde_json::to_string(&m).unwrap());
        out.push('\n');
        *seq += 1;
    }
    macro_rules! push {
        ($out:expr, $kind:expr, $payload:expr) => {
            push_event($out, &mut seq, $kind, $payload)
        };
    }
    push!(
        &mut out,
        "preludeEvent",
        json!({"config": {"aws:region": "eu-west-1", "db:password": "[secret]"}})
    );
    let types = [
        "aws:ec2/subnet:Subnet",
        "aws:s3/bucket:Bucket",
        "aws:iam/role:Role",
        "aws:ec2/securityGroup:SecurityGroup",
    ];
    let mut i = 0usize;
    while (seq as usize) + 2 < n_events.max(3) {
        let ty = types[i % types.len()];
        let name = format!("res-{i}");
        let urn = format!("urn:pulumi:D1BRV40-network-dev::ecommerce::{ty}::{name}");
        let inputs = json!({"cidrBlock": format!("10.0.{}.0/24", i % 256), "vpcId": "vpc-0a1b2c3d4e5f", "tags": {"Name": name, "deployment": "D1BRV40", "env": "dev"}, "mapPublicIpOnLaunch": false});
        let state = |outputs: serde_json::Value| json!({"type": ty, "urn": urn, "custom": true, "id": format!("subnet-{i:08x}"), "parent": "urn:pulumi:D1BRV40-network-dev::ecommerce::pulumi:pulumi:Stack::ecommerce-D1BRV40-network-dev", "inputs": inputs, "outputs": outputs, "provider": "urn:pulumi:D1BRV40-network-dev::ecommerce::pulumi:providers:aws::default_6_0_0::04da6b54"});
        let meta = |outputs| json!({"op": "create", "urn": urn, "type": ty, "old": null, "new": state(outputs), "detailedDiff": null, "logical": true, "provider": "urn:pulumi:D1BRV40-network-dev::ecommerce::pulumi:providers:aws::default_6_0_0::04da6b54"});
        push!(&mut out, "resourcePreEvent", json!({"metadata": meta(json!({}))}));
        if (seq as usize) + 2 >= n_events {
            break;
        }
        push!(
            &mut out,
            "resOutputsEvent",
            json!({"metadata": meta(json!({"arn": format!("arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-{i:08x}"), "availabilityZone": "eu-west-1a"}))})
        );
        if i % 25 == 24 && (seq as usize) + 2 < n_events {
            push!(
                &mut out,
                "diagnosticEvent",
                json!({"urn": urn, "prefix": "warning: ", "message": "deprecated argument used\n", "color": "never", "severity": "warning"})
            );
        }
        i += 1;
    }
    push!(
        &mut out,
        "summaryEvent",
        json!({"maybeCorrupt": false, "durationSeconds": 42, "resourceChanges": {"create": i}, "PolicyPacks": {}})
    );
    push!(&mut out, "cancelEvent", json!({}));
    out
}

/// Parse a synthetic stream of `n_events` in memory and time the parser (single thread).
pub fn bench_parse(n_events: usize) -> ParseBench {
    let stream = synthetic_stream(n_events);
    let start = Instant::now();
    let parsed = parse_stream(&stream);
    let elapsed = start.elapsed();
    let secs = elapsed.as_secs_f64().max(1e-9);
    ParseBench {
        events: parsed.events.len(),
        bytes: stream.len(),
        elapsed,
        events_per_sec: parsed.events.len() as f64 / secs,
        mib_per_sec: stream.len() as f64 / secs / (1024.0 * 1024.0),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Write `n` events to a file one by one (2 ms apart, like a busy engine) while a [`Tailer`] with
/// the default poll interval turns them into [`Progress`]; measure write → progress per event.
pub async fn bench_tail_latency(n: usize) -> LatencyBench {
    let dir = std::env::temp_dir().join(format!(
        "cloud-engine-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path: PathBuf = dir.join("events.jsonl");
    let stream = synthetic_stream(n + 2);
    // Only step events produce StepStarted/StepDone; measure those.
    let lines: Vec<String> = stream.lines().map(|l| format!("{l}\n")).collect();

    let exited = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Progress, Instant)>();
    let mut tailer = Tailer::new(&path, exited.clone()).with_poll_interval(DEFAULT_POLL_INTERVAL);
    let reader = tokio::spawn(async move {
        let redactor = Redactor::new();
        let mut done = HashSet::new();
        while let Some(ev) = tailer.next().await {
            if let Some(p) = progress_for(&ev, &redactor, &mut done) {
                let _ = tx.send((p, Instant::now()));
            }
        }
    });

    let writer_path = path.clone();
    let writer = tokio::spawn(async move {
        let mut f = std::fs::File::create(&writer_path).expect("event file");
        let mut written = Vec::with_capacity(lines.len());
        for line in &lines {
            f.write_all(line.as_bytes()).expect("write");
            f.flush().expect("flush");
            written.push(Instant::now());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        written
    });
    let written = writer.await.expect("writer");
    exited.cancel();
    reader.await.expect("reader");

    // Events 1..=n are steps (pre/outputs alternate), each yields exactly one progress message,
    // in order; diagnostics yield lines. Pair progress messages with the event that caused them
    // by position among the events that produce progress.
    let parsed = parse_stream(&stream);
    let redactor = Redactor::new();
    let mut done = HashSet::new();
    let producing: Vec<usize> = parsed
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| progress_for(e, &redactor, &mut done).is_some())
        .map(|(i, _)| i)
        .collect();
    let mut lat = vec![];
    let mut k = 0;
    while let Ok((_p, at)) = rx.try_recv() {
        if let Some(&idx) = producing.get(k) {
            lat.push(at.saturating_duration_since(written[idx]).as_secs_f64() * 1000.0);
        }
        k += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    LatencyBench {
        samples: lat.len(),
        p50_ms: percentile(&lat, 0.50),
        p95_ms: percentile(&lat, 0.95),
        max_ms: lat.last().copied().unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_streams_are_valid_and_sized() {
        let s = synthetic_stream(1000);
        let parsed = parse_stream(&s);
        assert!(parsed.skipped.is_empty() && parsed.truncated.is_none());
        assert_eq!(parsed.events.len(), 1000);
        assert!(parsed.events.last().unwrap().is_cancel());
    }

    #[test]
    fn parse_bench_reports_a_rate() {
        let b = bench_parse(2000);
        assert_eq!(b.events, 2000);
        assert!(b.events_per_sec > 0.0);
        let build = if cfg!(debug_assertions) { "debug" } else { "release" };
        eprintln!(
            "parse ({build} build): {:.0} events/s, {:.1} MiB/s",
            b.events_per_sec, b.mib_per_sec
        );
    }

    /// `cargo test --release --lib engine::bench -- --ignored --nocapture`: a larger, steadier run.
    #[test]
    #[ignore]
    fn parse_bench_large() {
        let _warm = bench_parse(5_000);
        for _ in 0..3 {
            let b = bench_parse(100_000);
            let build = if cfg!(debug_assertions) { "debug" } else { "release" };
            eprintln!(
                "parse 100k ({build} build): {:.0} events/s, {:.1} MiB/s, {} bytes/event",
                b.events_per_sec,
                b.mib_per_sec,
                b.bytes / b.events
            );
        }
    }

    #[tokio::test]
    async fn tail_latency_is_measured() {
        let b = bench_tail_latency(200).await;
        assert!(b.samples >= 190, "{b:?}");
        eprintln!("tail latency: {b:?}");
        assert!(b.p95_ms <= 50.0, "{b:?}");
    }
}
