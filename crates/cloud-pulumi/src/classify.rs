//! Turning how a `pulumi` run ended (exit code, stderr/stdout text, the event stream's summary,
//! whether we stopped it) into an [`EngineError`] a person can act on.
//!
//! Text matters as much as the exit code: CLIs before v3.226 exit 255 for every failure, and even
//! current ones exit 1 for a held lock, a missing config value or a failed update alike. The
//! phrases matched here are the Pulumi CLI's own; the stand-in (`crates/pulumi-standin`) prints
//! the same ones, and the tests below quote real CLI output.

use std::time::Duration;

use super::summary::StreamSummary;
use super::EngineError;

/// Lines of combined output kept for a crash report.
pub(crate) const TAIL_LINES: usize = 20;

/// Which operation ran (it decides between `PreviewFailed` and `UpdateFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Preview,
    Up,
    Destroy,
    /// `stack select`, `config set`, `stack output`, `cancel`, `version`.
    Admin,
}

impl OpKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OpKind::Preview => "preview",
            OpKind::Up => "up",
            OpKind::Destroy => "destroy",
            OpKind::Admin => "admin",
        }
    }
}

/// Why we stopped the process ourselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Cancelled,
    TimedOut(Duration),
}

/// Everything known about a finished run.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOutcome {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The last lines of stdout and stderr in arrival order.
    pub tail: Vec<String>,
    pub summary: Option<StreamSummary>,
}

/// `created by user@host (pid N) at T` from a local-backend lock message.
pub(crate) fn lock_holder(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let i = l.find("created by ")?;
        Some(l[i + "created by ".len()..].trim().to_string())
    })
}

/// Whether the text says the stack is locked by another update (local or cloud backend).
pub(crate) fn is_stack_busy(text: &str) -> bool {
    text.contains("the stack is currently locked by")
        || text.contains("[409] Conflict")
        || text.contains("Another update is currently in progress")
}

/// The key from `… is missing configuration value '<key>'`.
pub(crate) fn missing_config_key(text: &str) -> Option<String> {
    let marker = "is missing configuration value '";
    let i = text.find(marker)? + marker.len();
    let rest = &text[i..];
    Some(rest[..rest.find('\'')?].to_string())
}

pub(crate) fn is_missing_stack(text: &str) -> bool {
    text.contains("no stack named '")
}

pub(crate) fn is_missing_passphrase(text: &str) -> bool {
    text.contains("passphrase must be set with PULUMI_CONFIG_PASSPHRASE")
}

/// The `error: …` lines of the CLI's output, without the prefix.
pub(crate) fn error_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("error: "))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn tail_text(tail: &[String]) -> String {
    let start = tail.len().saturating_sub(TAIL_LINES);
    let text = tail[start..].join("\n");
    if text.trim().is_empty() {
        "(no output)".to_string()
    } else {
        text
    }
}

/// Classify a run that did not simply succeed. Returns `Ok(())` when it did succeed (exit 0,
/// a summary, result not failed/canceled) — including a run that finished on its own before a
/// requested stop took effect. Callers redact the error afterwards.
pub(crate) fn classify(
    op: OpKind,
    stack: &str,
    outcome: &RunOutcome,
    stopped: Option<StopReason>,
) -> Result<(), EngineError> {
    let summary = outcome.summary.as_ref().filter(|s| s.summary.is_some());
    let succeeded = outcome.code == Some(0)
        && (summary.is_some() || op == OpKind::Admin)
        && summary
            .is_none_or(|s| !matches!(s.result().as_deref(), Some("failed") | Some("canceled")) && !s.was_cancelled());
    if succeeded {
        return Ok(());
    }
    match stopped {
        Some(StopReason::TimedOut(after)) => {
            return Err(EngineError::Timeout {
                stack: stack.to_string(),
                after,
            })
        }
        Some(StopReason::Cancelled) => {
            return Err(EngineError::Cancelled {
                stack: stack.to_string(),
            })
        }
        None => {}
    }
    let text = format!("{}\n{}", outcome.stderr, outcome.stdout);
    if is_stack_busy(&text) {
        return Err(EngineError::StackBusy {
            stack: stack.to_string(),
            holder: lock_holder(&text),
        });
    }
    if let Some(key) = missing_config_key(&text) {
        return Err(EngineError::MissingConfig {
            stack: stack.to_string(),
            key,
        });
    }
    if is_missing_passphrase(&text) {
        return Err(EngineError::MissingPassphrase {
            stack: stack.to_string(),
        });
    }
    if is_missing_stack(&text) {
        return Err(EngineError::MissingStack {
            stack: stack.to_string(),
        });
    }
    // A second SIGINT (exit 8) or the engine's own "canceled".
    if outcome.code == Some(8) || summary.is_some_and(|s| s.was_cancelled()) {
        return Err(EngineError::Cancelled {
            stack: stack.to_string(),
        });
    }
    match summary {
        Some(s) => {
            let mut diagnostics = s.error_messages();
            for f in &s.failed {
                diagnostics.push(format!(
                    "{} of {} ({}) failed",
                    f.op,
                    cloud_domain::engine::ResourceStep::name_from_urn(&f.urn),
                    f.resource_type
                ));
            }
            if diagnostics.is_empty() {
                diagnostics = error_lines(&text);
            }
            if diagnostics.is_empty() {
                diagnostics.push(format!(
                    "the engine reported failure (exit code {:?}); last output:\n{}",
                    outcome.code,
                    tail_text(&outcome.tail)
                ));
            }
            let stack = stack.to_string();
            Err(match op {
                OpKind::Preview => EngineError::PreviewFailed { stack, diagnostics },
                _ => EngineError::UpdateFailed { stack, diagnostics },
            })
        }
        None if op == OpKind::Admin => {
            let lines = error_lines(&text);
            let message = if lines.is_empty() {
                tail_text(&outcome.tail)
            } else {
                lines.join("\n")
            };
            Err(EngineError::CommandFailed {
                stack: stack.to_string(),
                code: outcome.code,
                message,
            })
        }
        None => Err(EngineError::Crashed {
            stack: stack.to_string(),
            code: outcome.code,
            tail: if outcome.code == Some(0) {
                format!(
                    "(exited 0 but wrote no summary event — the run's result is unknown)\n{}",
                    tail_text(&outcome.tail)
                )
            } else {
                tail_text(&outcome.tail)
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_stream;

    fn outcome(code: Option<i32>, stderr: &str) -> RunOutcome {
        RunOutcome {
            code,
            stderr: stderr.to_string(),
            tail: stderr.lines().map(str::to_string).collect(),
            ..Default::default()
        }
    }

    fn summary(result: &str, extra: &str) -> StreamSummary {
        let text = format!(
            "{extra}{{\"sequence\":9,\"timestamp\":0,\"summaryEvent\":{{\"maybeCorrupt\":false,\"durationSeconds\":1,\"resourceChanges\":{{}},\"PolicyPacks\":{{}},\"result\":\"{result}\"}}}}\n"
        );
        StreamSummary::from_events(&parse_stream(&text).events)
    }

    const LOCKED: &str = "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///data/.pulumi/locks/organization/p/s/abc.json: created by bot@host1 (pid 4242) at 2026-08-01T10:00:00Z\n";

    #[test]
    fn busy_local_lock_names_the_holder_even_with_exit_255() {
        for code in [1, 255] {
            let e = classify(OpKind::Up, "s", &outcome(Some(code), LOCKED), None).unwrap_err();
            assert_eq!(
                e,
                EngineError::StackBusy {
                    stack: "s".into(),
                    holder: Some("bot@host1 (pid 4242) at 2026-08-01T10:00:00Z".into())
                }
            );
        }
    }

    #[test]
    fn busy_cloud_409() {
        let e = classify(
            OpKind::Up,
            "s",
            &outcome(Some(255), "error: [409] Conflict: Another update is currently in progress.\nTo learn more: https://pulumi.com/…\n"),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e,
            EngineError::StackBusy {
                stack: "s".into(),
                holder: None
            }
        );
    }

    #[test]
    fn missing_stack_config_and_passphrase() {
        let e = classify(
            OpKind::Admin,
            "s",
            &outcome(Some(6), "error: no stack named 'organization/p/s' found\n"),
            None,
        );
        assert_eq!(e.unwrap_err(), EngineError::MissingStack { stack: "s".into() });
        let e = classify(
            OpKind::Preview,
            "s",
            &outcome(
                Some(255),
                "error: validating stack config: Stack 'D1-net-dev' is missing configuration value 'aws:region'\n",
            ),
            None,
        );
        assert_eq!(
            e.unwrap_err(),
            EngineError::MissingConfig {
                stack: "s".into(),
                key: "aws:region".into()
            }
        );
        let e = classify(
            OpKind::Admin,
            "s",
            &outcome(Some(255), "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables\n"),
            None,
        );
        let e = e.unwrap_err();
        assert_eq!(e, EngineError::MissingPassphrase { stack: "s".into() });
        assert!(e.to_string().contains("pulumi.passphrase"), "{e}");
    }

    #[test]
    fn preview_errors_carry_the_diagnostics() {
        let s = summary(
            "failed",
            "{\"sequence\":1,\"timestamp\":0,\"diagnosticEvent\":{\"urn\":\"urn:pulumi:s::p::aws:s3/bucket:Bucket::b\",\"message\":\"bucket name taken\\n\",\"color\":\"never\",\"severity\":\"error\"}}\n",
        );
        let out = RunOutcome {
            code: Some(1),
            summary: Some(s),
            ..Default::default()
        };
        let e = classify(OpKind::Preview, "s", &out, None).unwrap_err();
        assert_eq!(
            e,
            EngineError::PreviewFailed {
                stack: "s".into(),
                diagnostics: vec!["b: bucket name taken".into()]
            }
        );
        let out = RunOutcome { code: Some(1), ..out };
        assert!(matches!(
            classify(OpKind::Up, "s", &out, None),
            Err(EngineError::UpdateFailed { .. })
        ));
    }

    #[test]
    fn crash_without_summary_keeps_the_last_lines() {
        let mut stderr = String::new();
        for i in 0..30 {
            stderr.push_str(&format!("line {i}\n"));
        }
        stderr.push_str("panic: runtime error: invalid memory address\n");
        let e = classify(OpKind::Up, "s", &outcome(Some(255), &stderr), None).unwrap_err();
        let EngineError::Crashed { code, tail, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(code, Some(255));
        assert!(tail.contains("panic: runtime error"));
        assert!(!tail.contains("line 5\n"));
        assert_eq!(tail.lines().count(), TAIL_LINES);
    }

    #[test]
    fn exit_zero_without_a_summary_is_an_error() {
        let e = classify(OpKind::Up, "s", &outcome(Some(0), "all good?\n"), None).unwrap_err();
        let EngineError::Crashed { code, tail, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*code, Some(0));
        assert!(tail.contains("wrote no summary"), "{tail}");
    }

    #[test]
    fn cancellation_and_timeout() {
        let s = summary(
            "failed",
            "{\"sequence\":1,\"timestamp\":0,\"diagnosticEvent\":{\"message\":\"update canceled\",\"color\":\"never\",\"severity\":\"error\"}}\n",
        );
        let out = RunOutcome {
            code: Some(1),
            summary: Some(s),
            ..Default::default()
        };
        assert_eq!(
            classify(OpKind::Up, "s", &out, None).unwrap_err(),
            EngineError::Cancelled { stack: "s".into() }
        );
        assert_eq!(
            classify(OpKind::Up, "s", &outcome(Some(8), ""), None).unwrap_err(),
            EngineError::Cancelled { stack: "s".into() }
        );
        assert_eq!(
            classify(OpKind::Up, "s", &outcome(None, ""), Some(StopReason::Cancelled)).unwrap_err(),
            EngineError::Cancelled { stack: "s".into() }
        );
        let d = Duration::from_secs(3);
        assert_eq!(
            classify(OpKind::Up, "s", &outcome(None, ""), Some(StopReason::TimedOut(d))).unwrap_err(),
            EngineError::Timeout {
                stack: "s".into(),
                after: d
            }
        );
        // Finished on its own before the stop took effect: success.
        let ok = RunOutcome {
            code: Some(0),
            summary: Some(summary("succeeded", "")),
            ..Default::default()
        };
        assert_eq!(classify(OpKind::Up, "s", &ok, Some(StopReason::Cancelled)), Ok(()));
    }
}
