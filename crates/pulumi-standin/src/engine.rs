//! The engine: runs the planned steps of a preview, update, destroy or refresh, writing the event
//! stream as it goes, persisting the checkpoint after every step (so a crash leaves partial
//! state and a pending operation, like the real thing), and applying the test knobs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::backend::{Backend, CheckpointFile, PendingOperation, ResourceState, StackRef};
use crate::error::{exit, Result, StandinError};
use crate::events::{step_meta, Diagnostic, EventSink, Severity, Summary, SECRET_SIG, SECRET_SIG_KEY};
use crate::knobs::Knobs;
use crate::lock::StackLock;
use crate::operation::Operation;
use crate::output;
use crate::plan::{Class, Step, StepOp};
use crate::secrets::Crypter;
use crate::signals;

/// Everything one engine run needs, resolved by the command layer.
pub struct Run {
    pub operation: Operation,
    /// `preview`, or `--preview-only`: planning events, no lock, nothing persisted.
    pub planning: bool,
    pub stack: StackRef,
    pub backend: Backend,
    pub checkpoint: CheckpointFile,
    pub steps: Vec<Step>,
    /// Prelude/preview-document config, secrets already masked.
    pub config: Map<String, Value>,
    /// Stack outputs the program declares (update and preview only).
    pub stack_outputs: Map<String, Value>,
    pub crypter: Crypter,
    pub knobs: Knobs,
    pub event_log: Option<PathBuf>,
    pub json: bool,
    pub expect_no_changes: bool,
    pub suppress_outputs: bool,
    /// The program failed (it could not be evaluated): the preview or update fails with this
    /// error diagnostic, like a program that throws.
    pub program_error: Option<String>,
    /// Warnings about the program, shown as diagnostics after the prelude.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    Canceled,
}

/// The state being built while steps run; persisted after each one.
struct State {
    resources: Vec<ResourceState>,
    pending: Vec<PendingOperation>,
}

impl State {
    fn position(&self, urn: &str, deleted: bool) -> Option<usize> {
        self.resources.iter().position(|r| r.urn == urn && r.delete == deleted)
    }

    /// Apply a finished step.
    fn apply(&mut self, step: &Step, result: Option<&ResourceState>) {
        match step.op {
            StepOp::Same | StepOp::Update | StepOp::Create => {
                let new = result.expect("same/update/create have a result").clone();
                match self.position(&step.urn, false) {
                    Some(i) => self.resources[i] = new,
                    None => self.resources.push(new),
                }
            }
            StepOp::CreateReplacement => {
                let new = result.expect("create-replacement has a result").clone();
                match self.position(&step.urn, false) {
                    Some(i) => {
                        self.resources[i].delete = true;
                        self.resources.insert(i, new);
                    }
                    None => self.resources.push(new),
                }
            }
            StepOp::Delete | StepOp::DeleteReplaced => {
                let deleted = step.op == StepOp::DeleteReplaced;
                if let Some(i) = self
                    .position(&step.urn, deleted)
                    .or_else(|| self.position(&step.urn, !deleted))
                {
                    self.resources.remove(i);
                }
            }
            StepOp::Replace | StepOp::Refresh => {}
        }
    }
}

fn pending_kind(op: StepOp) -> Option<&'static str> {
    match op {
        StepOp::Create | StepOp::CreateReplacement => Some("creating"),
        StepOp::Update => Some("updating"),
        StepOp::Delete | StepOp::DeleteReplaced => Some("deleting"),
        StepOp::Same | StepOp::Replace | StepOp::Refresh => None,
    }
}

pub fn run(mut run: Run) -> Result<()> {
    let started = Instant::now();
    // The lock comes first: a locked stack fails before the event log even exists.
    let lock = if run.planning {
        None
    } else {
        Some(StackLock::acquire(&run.backend, &run.stack)?)
    };
    let json_events = run.json && run.operation != Operation::Preview;
    let human = !run.json;
    let sink = Arc::new(Mutex::new(EventSink::open(run.event_log.as_deref(), json_events)?));
    let counts: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    {
        let counts = counts.clone();
        let is_preview = run.planning;
        signals::watch(signals::Watch {
            sink: sink.clone(),
            summary: Arc::new(move || Summary {
                duration_seconds: started.elapsed().as_secs(),
                changes: counts.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                is_preview,
                result: "canceled",
            }),
            is_preview,
        });
    }
    let emit = |f: &mut dyn FnMut(&mut EventSink)| f(&mut sink.lock().unwrap_or_else(|e| e.into_inner()));

    if human {
        println!(
            "{} ({}):\n",
            output::heading(run.operation, run.planning),
            run.stack.name
        );
    }
    emit(&mut |s| s.prelude(&run.config));

    if let Some(hold) = run.knobs.hold_lock {
        signals::wait_for_cancel(Some(hold));
    }

    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let diag = |d: Diagnostic, diagnostics: &mut Vec<Diagnostic>| {
        emit(&mut |s| s.diagnostic(&d));
        if human {
            output::print_diagnostic(&d);
        }
        diagnostics.push(d);
    };

    let mut state = State {
        resources: run.checkpoint.resources().to_vec(),
        pending: Vec::new(),
    };
    let leftovers = run.checkpoint.pending_operations().to_vec();
    if !leftovers.is_empty() && run.operation == Operation::Up {
        let list: Vec<String> = leftovers
            .iter()
            .map(|p| format!("  * {}, interrupted while {}", p.resource.urn, p.kind))
            .collect();
        diag(
            Diagnostic {
                urn: None,
                severity: Severity::Warning,
                message: format!(
                    "Attempting to deploy or update resources with {} pending operations from previous \
                     deployment.\n{}\nThese resources are in an unknown state because the Pulumi CLI was \
                     interrupted while waiting for changes to these resources to complete.",
                    leftovers.len(),
                    list.join("\n")
                ),
            },
            &mut diagnostics,
        );
    } else if !run.planning {
        state.pending = leftovers;
    }
    let persist = |state: &State, run: &mut Run| -> Result<()> {
        if run.planning {
            return Ok(());
        }
        run.checkpoint.set_state(state.resources.clone(), state.pending.clone());
        run.backend.save(&run.stack, &run.checkpoint)
    };

    let steps = std::mem::take(&mut run.steps);
    let mut shown: Vec<(Step, Option<ResourceState>)> = Vec::new(); // for the preview document
    let mut outcome = Outcome::Succeeded;
    let mut counted = 0usize;
    let mut deferred_root: Option<(Step, Option<ResourceState>)> = None;

    for message in std::mem::take(&mut run.warnings) {
        diag(
            Diagnostic {
                urn: Some(crate::resources::root_urn(&run.stack)),
                severity: Severity::Warning,
                message,
            },
            &mut diagnostics,
        );
    }
    let failure = match (run.operation, run.program_error.clone(), run.knobs.preview_fail.clone()) {
        (_, Some(message), _) => Some(message),
        (Operation::Preview, None, Some(message)) => Some(message),
        _ => None,
    };
    if let Some(message) = failure {
        if let Some(root) = steps.iter().find(|s| s.class == Class::Root) {
            emit(&mut |s| {
                s.resource_pre(
                    step_meta(root, root.old.as_ref(), root.new.as_ref(), root.op.as_str()),
                    true,
                )
            });
        }
        diag(
            Diagnostic {
                urn: Some(crate::resources::root_urn(&run.stack)),
                severity: Severity::Error,
                message,
            },
            &mut diagnostics,
        );
        outcome = Outcome::Failed;
    }

    // PULUMI_STANDIN_OP_DELAY_MS: a fixed duration per operation, whatever the resource count
    // (benchmarks of the orchestrator's waves). A cancel cuts it short.
    if !run.knobs.op_delay.is_zero() {
        signals::wait_for_cancel(Some(run.knobs.op_delay));
    }

    let mut replacements: BTreeMap<String, ResourceState> = BTreeMap::new();
    for step in steps.iter() {
        if outcome != Outcome::Succeeded {
            break;
        }
        if signals::cancel_requested() {
            outcome = Outcome::Canceled;
            break;
        }
        let knob_counted = step.knob_counted();
        let pending = (!run.planning).then(|| pending_kind(step.op)).flatten();
        if let Some(kind) = pending {
            let resource = step.new.clone().or_else(|| step.old.clone()).expect("step has a state");
            state.pending.push(PendingOperation {
                resource,
                kind: kind.into(),
            });
            persist(&state, &mut run)?;
        }
        let planning = run.planning;
        emit(&mut |s| {
            s.resource_pre(
                step_meta(step, step.old.as_ref(), step.new.as_ref(), step.op.as_str()),
                planning,
            )
        });
        if knob_counted && !run.planning && run.knobs.crash_at == Some(counted) {
            crash(counted);
        }
        if knob_counted && !run.planning && run.knobs.disk_full_at == Some(counted + 1) {
            disk_full(counted + 1);
        }
        if let Some(gate) = run
            .knobs
            .apply_gate
            .as_deref()
            .filter(|_| knob_counted && !run.planning && counted == 0)
            .filter(|_| {
                run.knobs.apply_gate_stacks.as_ref().is_none_or(|stacks| {
                    let name = &run.stack.name;
                    stacks.iter().any(|s| name == s || name.contains(&format!("-{s}-")))
                })
            })
        {
            wait_at_gate(gate);
        }
        if !run.knobs.delay.is_zero() && step.class != Class::Root {
            std::thread::sleep(run.knobs.delay);
        }
        if !run.planning && !run.knobs.apply_delay.is_zero() && step.class != Class::Root {
            std::thread::sleep(run.knobs.apply_delay);
        }
        if knob_counted {
            counted += 1;
        }
        if pending.is_some() {
            state.pending.pop();
        }
        if knob_counted && !run.planning && run.knobs.fail_at == Some(counted) {
            let meta = step_meta(step, step.old.as_ref(), step.new.as_ref(), step.op.as_str());
            emit(&mut |s| s.res_op_failed(meta.clone(), 0, 1));
            diag(
                Diagnostic {
                    urn: Some(step.urn.clone()),
                    severity: Severity::Error,
                    message: format!(
                        "{} {} failed: simulated provider error (PULUMI_STANDIN_FAIL_AT={counted})",
                        output::verb_ing(step.op),
                        step.urn
                    ),
                },
                &mut diagnostics,
            );
            persist(&state, &mut run)?;
            outcome = Outcome::Failed;
            break;
        }
        let result = match step.op {
            // The logical replace shows the state its create-replacement produced.
            StepOp::Replace => replacements
                .get(&step.urn)
                .cloned()
                .or_else(|| step_result(step, run.planning)),
            _ => step_result(step, run.planning),
        };
        if let (StepOp::CreateReplacement, Some(r)) = (step.op, &result) {
            replacements.insert(step.urn.clone(), r.clone());
        }
        let deferred = step.class == Class::Root && matches!(step.op, StepOp::Same | StepOp::Create);
        if deferred {
            // The stack's outputs are registered when the program ends: its resOutputsEvent comes last.
            deferred_root = Some((step.clone(), result.clone()));
        } else {
            let op = if step.op == StepOp::Refresh {
                "same"
            } else {
                step.op.as_str()
            };
            emit(&mut |s| s.res_outputs(step_meta(step, step.old.as_ref(), result.as_ref(), op), planning));
        }
        state.apply(step, result.as_ref());
        persist(&state, &mut run)?;
        if let Some(op) = step.summary_op() {
            *counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(op.to_string())
                .or_default() += 1;
        }
        if human {
            output::print_step(step, run.planning);
        }
        shown.push((step.clone(), result));
        if run.knobs.hang && knob_counted && counted == 1 {
            signals::wait_for_cancel(None);
        }
    }
    if outcome == Outcome::Succeeded && signals::cancel_requested() {
        outcome = Outcome::Canceled;
    }
    if let Some(n) = run.knobs.crash_at.filter(|n| !run.planning && counted >= *n) {
        crash(n);
    }

    let mut final_outputs = None;
    if outcome == Outcome::Succeeded {
        if let Some((root, result)) = deferred_root {
            let mut result = result.expect("root has a result");
            result.outputs = if run.operation == Operation::Up || run.operation == Operation::Preview {
                stack_outputs_state(&run.stack_outputs, &run.knobs, &run.crypter)
            } else {
                result.outputs
            };
            emit(&mut |s| {
                s.res_outputs(
                    step_meta(&root, root.old.as_ref(), Some(&result), root.op.as_str()),
                    run.planning,
                )
            });
            state.apply(&root, Some(&result));
            final_outputs = Some(result.outputs.clone());
            persist(&state, &mut run)?;
        }
    }
    match outcome {
        Outcome::Succeeded => {}
        Outcome::Failed => {
            let what = if run.planning {
                "preview failed"
            } else {
                "update failed"
            };
            diag(
                Diagnostic {
                    urn: None,
                    severity: Severity::Error,
                    message: what.into(),
                },
                &mut diagnostics,
            );
        }
        Outcome::Canceled => {
            diag(
                Diagnostic {
                    urn: None,
                    severity: Severity::Error,
                    message: "update canceled".into(),
                },
                &mut diagnostics,
            );
        }
    }
    let changes = counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let summary = Summary {
        duration_seconds: started.elapsed().as_secs(),
        changes: changes.clone(),
        is_preview: run.planning,
        result: match outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Canceled => "failed",
        },
    };
    emit(&mut |s| {
        s.summary(&summary);
        s.cancel();
    });
    if let Some(lock) = lock {
        lock.release();
    }

    if human {
        output::print_outputs(final_outputs.as_ref().filter(|_| !run.suppress_outputs));
        output::print_summary(&changes, run.planning, started.elapsed());
    } else if run.operation == Operation::Preview {
        let doc = output::preview_document(&run.config, &shown, &diagnostics, started.elapsed(), &changes);
        println!("{}", output::to_json_4(&doc));
    }

    if outcome != Outcome::Succeeded {
        return Err(StandinError::Reported(exit::FAILURE));
    }
    if run.expect_no_changes && changes.keys().any(|op| op != "same") {
        let what = if run.planning { "proposed" } else { "occurred" };
        eprintln!("error: no changes were expected but changes {what}");
        return Err(StandinError::Reported(exit::EXPECT_NO_CHANGES));
    }
    Ok(())
}

/// `PULUMI_STANDIN_CRASH_AT`: die like a crashed CLI — no summary, no cancelEvent, the lock
/// and any pending operation left behind.
/// `PULUMI_STANDIN_APPLY_GATE`: hold the running step (its pending operation saved, its
/// `resourcePreEvent` written, the lock held) until `gate` exists. Tests use it instead of a slow
/// step: whatever they do while an update runs (cancel it, kill the process driving it, try a
/// second update), the update is provably still running, however loaded the machine is.
///
/// A SIGINT ends the wait like any graceful cancel (the step finishes, no other starts). If the
/// process that started the stand-in dies meanwhile (a test killed `cloud` with SIGKILL), the
/// stand-in dies too, at once, leaving lock, checkpoint and pending operation exactly as they
/// were: what a crash of the whole process tree leaves, and no orphan running on.
fn wait_at_gate(gate: &std::path::Path) {
    let parent = std::os::unix::process::parent_id();
    while !gate.exists() {
        if std::os::unix::process::parent_id() != parent {
            // SAFETY: signalling ourselves; SIGKILL skips destructors and buffered output on
            // purpose (nothing may be cleaned up).
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        // Polls the file and the parent; a SIGINT ends the wait at once.
        if signals::wait_for_cancel(Some(std::time::Duration::from_millis(5))) {
            break;
        }
    }
}

fn crash(after: usize) -> ! {
    eprintln!("panic: pulumi stand-in: simulated crash after {after} resource step(s) (PULUMI_STANDIN_CRASH_AT)");
    // SAFETY: _exit skips destructors and buffered output on purpose: this is a crash.
    unsafe { libc::_exit(exit::INTERNAL) }
}

/// What Pulumi does when the backend cannot save a checkpoint: it reports the write error and
/// stops at once, leaving the lock and the pending operation for `pulumi cancel` to clear.
fn disk_full(step: usize) -> ! {
    eprintln!(
        "error: could not save the checkpoint of step {step}: write .pulumi/stacks: no space left on device (os error 28) (PULUMI_STANDIN_DISK_FULL_AT)"
    );
    // SAFETY: _exit skips destructors on purpose: the process stops where the write failed.
    unsafe { libc::_exit(exit::INTERNAL) }
}

/// The state a step leaves behind (None for deletions).
fn step_result(step: &Step, planning: bool) -> Option<ResourceState> {
    let new = step.new.as_ref()?;
    let mut result = new.clone();
    match (step.class, step.op) {
        (_, StepOp::Refresh) => return step.old.clone(),
        (_, StepOp::Same) => {
            let old = step.old.as_ref().expect("same has an old state");
            result.id = old.id.clone();
            result.outputs = old.outputs.clone();
        }
        (Class::Provider, _) => {
            result.id = step.planned_id.clone().unwrap_or_default();
            result.outputs = result.inputs.clone();
        }
        (Class::Root | Class::Component, _) => {}
        (Class::Custom, StepOp::Update) if !planning => {
            result.id = step.old.as_ref().expect("update has an old state").id.clone();
            result.outputs = custom_outputs(&result);
        }
        (Class::Custom, _) if planning => {
            result.outputs = result.inputs.clone();
        }
        (Class::Custom, _) => {
            if result.id.is_empty() {
                result.id = format!("{}-{}", result.urn.rsplit("::").next().unwrap_or("r"), random_hex(7));
            }
            result.outputs = custom_outputs(&result);
        }
    }
    Some(result)
}

/// A custom resource's outputs: its inputs plus `id` and, for AWS, an `arn`.
fn custom_outputs(state: &ResourceState) -> Map<String, Value> {
    let mut outputs = state.inputs.clone();
    outputs.insert("id".into(), json!(state.id));
    if let Some(rest) = state.ty.strip_prefix("aws:") {
        // aws:ec2/vpc:Vpc -> service ec2, kind vpc
        let module = rest.split(':').next().unwrap_or("");
        let (service, kind) = module.split_once('/').unwrap_or((module, module));
        outputs.entry("arn").or_insert_with(|| {
            json!(format!(
                "arn:aws:{service}:us-east-1:123456789012:{}/{}",
                kind.to_lowercase(),
                state.id
            ))
        });
    }
    outputs
}

/// Stack outputs as the root stack's state keeps them: secret ones as encrypted secret objects.
fn stack_outputs_state(outputs: &Map<String, Value>, knobs: &Knobs, crypter: &Crypter) -> Map<String, Value> {
    outputs
        .iter()
        .map(|(k, v)| {
            let v = if knobs.secret_outputs.contains(k) {
                json!({SECRET_SIG_KEY: SECRET_SIG, "ciphertext": crypter.encrypt(&v.to_string())})
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("digit < 16"))
        .collect()
}
