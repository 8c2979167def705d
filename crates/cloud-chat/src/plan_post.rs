//! The plan a session's thread receives when the session reaches PLAN_READY: what the approvers
//! are asked to approve, resource by resource, without leaving chat.
//!
//! Grouped per stack in apply (wave) order; per resource the operation (`+` create, `~` update,
//! `-` delete, `+-` replace), the name and the type; for updates and replaces the changed inputs
//! as `old → new`. Rendered with the same functions as `cloud plan show`
//! ([`cloud_domain::plan_text`]); values arrive masked by the engine layer (the redaction of the
//! logs) and Pulumi secret objects read `[secret]`. When the plan does not fit the platform's
//! message budget, the message holds its head and the whole plan is attached as a file.

use cloud_domain::plan_text::{counts_line, property_change_lines, step_line};
use cloud_domain::session::{Plan, SessionId};

use crate::batcher::{ESCAPED_FENCE, FENCE_CLOSE, FENCE_OPEN};

/// What a thread gets at PLAN_READY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPost {
    /// The message: a headline and the plan (or its head) in a code block; never longer than
    /// the budget it was made for.
    pub text: String,
    /// `(filename, content)`: the whole plan, when the message holds only its head.
    pub attachment: Option<(String, String)>,
}

/// The whole plan as text, one group per stack in apply order.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    for entry in &plan.stacks {
        let provisional = if entry.provisional {
            " (provisional: previewed again before it applies)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{}: {}{provisional}\n",
            entry.stack,
            counts_line(&entry.preview.counts)
        ));
        for step in entry.preview.steps.iter().filter(|s| s.op.is_change()) {
            out.push_str(&format!("  {}\n", step_line(&step.op, &step.name, &step.resource_type)));
            for change in property_change_lines(step) {
                out.push_str(&format!("        {change}\n"));
            }
        }
    }
    out
}

/// The thread's plan message for `session`, at most `max_chars` characters.
pub fn plan_post(session: SessionId, plan: &Plan, max_chars: usize) -> PlanPost {
    let full = plan_text(plan);
    let body = full.trim_end().replace("```", ESCAPED_FENCE);
    let total: u64 = plan.stacks.iter().map(|e| e.preview.change_count()).sum();
    let headline = format!(
        "📋 Plan of session `{}`: {} change(s) in {} stack(s), in apply order:",
        session.short(),
        total,
        plan.stacks.len()
    );
    let whole = format!("{headline}\n{FENCE_OPEN}{body}{FENCE_CLOSE}");
    if whole.chars().count() <= max_chars {
        return PlanPost {
            text: whole,
            attachment: None,
        };
    }
    let filename = format!("plan-{}.txt", session.short());
    let note = format!(
        "… the whole plan ({} lines) is attached: {filename}",
        full.lines().count()
    );
    let room = max_chars
        .saturating_sub(headline.chars().count() + FENCE_OPEN.chars().count() + FENCE_CLOSE.chars().count())
        .saturating_sub(note.chars().count() + 2);
    let mut head = String::new();
    let mut used = 0;
    for line in body.lines() {
        let n = line.chars().count() + 1;
        if used + n > room {
            break;
        }
        head.push_str(line);
        head.push('\n');
        used += n;
    }
    PlanPost {
        text: format!("{headline}\n{FENCE_OPEN}{}{FENCE_CLOSE}\n{note}", head.trim_end()),
        attachment: Some((filename, full)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_domain::engine::{ResourceStep, StackPreview, StepOp};
    use cloud_domain::session::StackPlanEntry;
    use serde_json::json;

    fn step(name: &str, op: StepOp, old: Option<serde_json::Value>, new: Option<serde_json::Value>) -> ResourceStep {
        ResourceStep {
            urn: format!("urn:pulumi:dev::p::aws:s3/bucket:Bucket::{name}"),
            resource_type: "aws:s3/bucket:Bucket".into(),
            name: name.into(),
            op,
            inputs: new,
            old_inputs: old,
        }
    }

    fn entry(stack: &str, steps: Vec<ResourceStep>) -> StackPlanEntry {
        let mut counts = cloud_domain::engine::ChangeCounts::new();
        for s in &steps {
            *counts.entry(s.op.as_str().to_string()).or_default() += 1;
        }
        StackPlanEntry {
            stack: stack.parse().unwrap(),
            content_hash: "h".into(),
            preview: StackPreview {
                steps,
                counts,
                diagnostics: vec![],
                duration_ms: 1,
            },
            provisional: false,
        }
    }

    fn plan(stacks: Vec<StackPlanEntry>) -> Plan {
        Plan {
            engine_version: "3".into(),
            stacks,
        }
    }

    #[test]
    fn stacks_are_grouped_in_apply_order_with_the_changed_properties_of_updates() {
        let p = plan(vec![
            entry(
                "network",
                vec![step("vpc", StepOp::Create, None, Some(json!({"cidr": "10.0.0.0/16"})))],
            ),
            entry(
                "dns",
                vec![
                    step("same", StepOp::Same, None, None),
                    step(
                        "caa",
                        StepOp::Update,
                        Some(json!({"records": ["amazon.com"], "ttl": 300})),
                        Some(json!({"records": ["letsencrypt.org"], "ttl": 300})),
                    ),
                    step("old", StepOp::Delete, Some(json!({})), None),
                    step(
                        "db",
                        StepOp::Replace,
                        Some(json!({"engine": "pg14"})),
                        Some(json!({"engine": "pg16"})),
                    ),
                ],
            ),
        ]);
        let post = plan_post(SessionId::new(), &p, 2000);
        assert_eq!(post.attachment, None);
        let text = &post.text;
        let network = text.find("network: 1 to create").expect(text);
        let dns = text.find("dns: ").expect(text);
        assert!(network < dns, "{text}");
        assert!(text.contains("+  create"), "{text}");
        assert!(
            text.contains(r#"records: ["amazon.com"] → ["letsencrypt.org"]"#),
            "{text}"
        );
        assert!(text.contains(r#"engine: "pg14" → "pg16""#), "{text}");
        assert!(text.contains("-  delete"), "{text}");
        assert!(text.contains("+- replace"), "{text}");
        assert!(!text.contains("ttl"), "unchanged properties are left out: {text}");
        assert!(!text.contains("same"), "unchanged resources are left out: {text}");
    }

    #[test]
    fn a_long_plan_posts_its_head_and_attaches_the_whole_plan() {
        let steps = (0..200)
            .map(|i| step(&format!("bucket-{i}"), StepOp::Create, None, None))
            .collect();
        let p = plan(vec![entry("storage", steps)]);
        let post = plan_post(SessionId::new(), &p, 2000);
        assert!(post.text.chars().count() <= 2000, "{}", post.text.chars().count());
        assert!(post.text.contains("bucket-0 "), "{}", post.text);
        let (name, content) = post.attachment.expect("attached");
        assert!(post.text.contains(&name), "{}", post.text);
        assert!(content.contains("bucket-199 "));
        assert_eq!(post.text.matches("```").count(), 2, "{}", post.text);
    }
}
