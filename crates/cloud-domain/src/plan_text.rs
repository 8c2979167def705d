//! The plan as text for people, in one place: `cloud plan show` (cloud-pulumi's `summary` and
//! `plan_stream`) and the plan a chat thread receives at PLAN_READY (cloud-chat's `plan_post`)
//! render a step, a stack's counts and an update's changed properties with these functions, so
//! the terminal and the chat read the same.
//!
//! - [`step_line`]: `+  create                 vpc (aws:ec2/vpc:Vpc)`;
//! - [`counts_line`]: `2 to create, 1 to update`;
//! - [`property_changes`] / [`property_change_lines`]: for an update or replace, the inputs that
//!   differ, `records: ["0 issue \"amazon.com\""] → ["0 issue \"letsencrypt.org\""]`.
//!
//! Values are rendered as the engine layer handed them over, which already masked the secrets it
//! knows (`[secret]`); a value still in Pulumi's secret-object form is shown as `[secret]` too.

use serde_json::Value;

use crate::engine::{ChangeCounts, ResourceStep, StepOp};

/// What a secret value reads as.
pub const SECRET_TEXT: &str = "[secret]";

/// The key that marks Pulumi's secret objects (`{"4dabf…": "1b47…", "ciphertext": …}`).
const SECRET_SIG_KEY: &str = "4dabf18193072939515e22adb298388d";

/// A value longer than this (in characters) is cut with `…` in a property change line.
pub const MAX_VALUE_CHARS: usize = 120;

/// The symbol Pulumi's own displays put before a step: `+` create, `~` update, `-` delete,
/// `+-` replace.
pub fn op_symbol(op: &StepOp) -> &'static str {
    match op {
        StepOp::Create | StepOp::CreateReplacement => "+",
        StepOp::Update => "~",
        StepOp::Delete | StepOp::DeleteReplaced => "-",
        StepOp::Replace => "+-",
        StepOp::Same => " ",
        StepOp::Read | StepOp::ReadReplacement | StepOp::Refresh => ">",
        StepOp::Import | StepOp::ImportReplacement => "=",
        _ => "*",
    }
}

fn op_verb(op: &str) -> &str {
    match op {
        "create" => "to create",
        "update" => "to update",
        "delete" => "to delete",
        "replace" => "to replace",
        "same" => "unchanged",
        other => other,
    }
}

/// `2 to create, 1 to update, 10 unchanged`, or `no changes`.
pub fn counts_line(counts: &ChangeCounts) -> String {
    if counts.is_empty() {
        return "no changes".to_string();
    }
    counts
        .iter()
        .map(|(op, n)| format!("{n} {}", op_verb(op)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One step as `cloud plan show` prints it (without indentation): symbol, operation, name, type.
pub fn step_line(op: &StepOp, name: &str, resource_type: &str) -> String {
    format!("{:<2} {:<22} {} ({})", op_symbol(op), op.as_str(), name, resource_type)
}

/// One input that differs between the old and the new inputs of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyChange {
    /// Dotted path of the property (`tags.Name`).
    pub path: String,
    /// `None`: the property is new.
    pub old: Option<Value>,
    /// `None`: the property is gone.
    pub new: Option<Value>,
}

/// The inputs an update or replace changes, in path order; empty for other operations or when
/// the engine did not report both the old and the new inputs. Nested objects are compared key
/// by key; Pulumi's bookkeeping keys (`__defaults`, …) are left out.
pub fn property_changes(step: &ResourceStep) -> Vec<PropertyChange> {
    if !matches!(step.op, StepOp::Update | StepOp::Replace | StepOp::CreateReplacement) {
        return vec![];
    }
    let (Some(old), Some(new)) = (&step.old_inputs, &step.inputs) else {
        return vec![];
    };
    let mut out = vec![];
    diff("", Some(old), Some(new), &mut out);
    out
}

fn is_secret(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.contains_key(SECRET_SIG_KEY))
}

fn diff(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<PropertyChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Some(Value::Object(o)), Some(Value::Object(n)))
            if !o.contains_key(SECRET_SIG_KEY) && !n.contains_key(SECRET_SIG_KEY) =>
        {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).filter(|k| !k.starts_with("__")).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff(&p, o.get(k), n.get(k), out);
            }
        }
        _ => out.push(PropertyChange {
            path: if path.is_empty() {
                "(inputs)".into()
            } else {
                path.to_string()
            },
            old: old.cloned(),
            new: new.cloned(),
        }),
    }
}

/// A value as a change line shows it: compact JSON, secrets as `[secret]`, cut at
/// [`MAX_VALUE_CHARS`].
pub fn value_text(v: Option<&Value>) -> String {
    let Some(v) = v else { return "(none)".into() };
    let text = match v {
        v if is_secret(v) => SECRET_TEXT.to_string(),
        Value::String(s) if s == SECRET_TEXT => SECRET_TEXT.to_string(),
        v => serde_json::to_string(&mask_secrets(v)).unwrap_or_default(),
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        let mut cut: String = text.chars().take(MAX_VALUE_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

fn mask_secrets(v: &Value) -> Value {
    match v {
        v if is_secret(v) => Value::String(SECRET_TEXT.into()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), mask_secrets(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(mask_secrets).collect()),
        v => v.clone(),
    }
}

/// `path: old → new` for each property an update or replace changes.
pub fn property_change_lines(step: &ResourceStep) -> Vec<String> {
    property_changes(step)
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {}",
                c.path,
                value_text(c.old.as_ref()),
                value_text(c.new.as_ref())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(op: StepOp, old: Value, new: Value) -> ResourceStep {
        ResourceStep {
            urn: "urn:pulumi:dev::p::aws:route53/record:Record::caa".into(),
            resource_type: "aws:route53/record:Record".into(),
            name: "caa".into(),
            op,
            inputs: Some(new),
            old_inputs: Some(old),
        }
    }

    #[test]
    fn an_update_lists_the_properties_it_changes_with_old_and_new_values() {
        let s = step(
            StepOp::Update,
            json!({"records": ["0 issue \"amazon.com\""], "ttl": 300, "tags": {"a": "1", "b": "2"}, "__defaults": []}),
            json!({"records": ["0 issue \"letsencrypt.org\""], "ttl": 300, "tags": {"a": "1", "b": "3"}, "__defaults": ["x"]}),
        );
        assert_eq!(
            property_change_lines(&s),
            [
                r#"records: ["0 issue \"amazon.com\""] → ["0 issue \"letsencrypt.org\""]"#,
                r#"tags.b: "2" → "3""#,
            ]
        );
    }

    #[test]
    fn secrets_read_as_secret_and_creates_list_no_changes() {
        let secret = json!({"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext": "\"hunter2hunter2\""});
        let s = step(
            StepOp::Update,
            json!({"password": secret.clone(), "nested": {"k": secret.clone()}, "n": 1}),
            json!({"password": "[secret]", "nested": {"k": 2}, "n": 2}),
        );
        let lines = property_change_lines(&s).join("\n");
        assert!(!lines.contains("hunter2"), "{lines}");
        assert!(lines.contains("nested.k: [secret] → 2"), "{lines}");
        assert!(lines.contains("n: 1 → 2"), "{lines}");
        let create = step(StepOp::Create, json!(null), json!({"a": 1}));
        assert!(property_change_lines(&create).is_empty());
    }

    #[test]
    fn long_values_are_cut() {
        let s = step(StepOp::Update, json!({"a": "x".repeat(500)}), json!({"a": "y"}));
        let line = &property_change_lines(&s)[0];
        assert!(line.chars().count() < MAX_VALUE_CHARS + 20, "{line}");
        assert!(line.contains('…'));
    }
}
