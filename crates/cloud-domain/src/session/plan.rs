//! A session's plan: the per-stack preview results and their digest. The digest is what an
//! approval signs: an approval for another digest is refused.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::engine::StackPreview;

use super::StackName;

/// `sha256(ordered per-stack: stack name, program/config hash, step list (urn, op)), engine
/// version)` as 64 lowercase hex digits. Buttons carry its first 16.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(pub String);

impl Digest {
    /// The 16-hex-digit prefix that fits in a button id.
    pub fn short(&self) -> &str {
        &self.0[..16.min(self.0.len())]
    }

    /// Whether `given` names this digest: the full 64 digits or the 16-digit prefix.
    pub fn matches(&self, given: &str) -> bool {
        let given = given.trim().to_ascii_lowercase();
        given.len() >= 16 && self.0.starts_with(&given)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stack's part of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackPlanEntry {
    pub stack: StackName,
    /// Hash of the stack's program files and resolved configuration.
    pub content_hash: String,
    pub preview: StackPreview,
    /// The preview depends on upstream outputs that this same plan changes; it is re-previewed
    /// before it applies.
    #[serde(default)]
    pub provisional: bool,
}

/// The per-stack previews of a session, in apply order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub engine_version: String,
    pub stacks: Vec<StackPlanEntry>,
}

impl Plan {
    /// The decided digest. Stacks are hashed in name order so the digest does not depend on the
    /// order previews finished in.
    pub fn digest(&self) -> Digest {
        let mut entries: Vec<&StackPlanEntry> = self.stacks.iter().collect();
        entries.sort_by(|a, b| a.stack.cmp(&b.stack));
        let mut hasher = Sha256::new();
        for entry in entries {
            hasher.update(b"stack\0");
            hasher.update(entry.stack.as_str().as_bytes());
            hasher.update(b"\0hash\0");
            hasher.update(entry.content_hash.as_bytes());
            for step in &entry.preview.steps {
                hasher.update(b"\0step\0");
                hasher.update(step.urn.as_bytes());
                hasher.update(b"\0");
                hasher.update(step.op.as_str().as_bytes());
            }
            hasher.update(b"\0end\0");
        }
        hasher.update(b"engine\0");
        hasher.update(self.engine_version.as_bytes());
        Digest(hex::encode(hasher.finalize()))
    }

    /// Total steps by operation over every stack.
    pub fn total_counts(&self) -> crate::engine::ChangeCounts {
        let mut total = crate::engine::ChangeCounts::new();
        for entry in &self.stacks {
            for (op, n) in &entry.preview.counts {
                *total.entry(op.clone()).or_default() += n;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ResourceStep, StepOp};

    fn entry(stack: &str, hash: &str, steps: &[(&str, &str)]) -> StackPlanEntry {
        StackPlanEntry {
            stack: stack.parse().unwrap(),
            content_hash: hash.into(),
            preview: StackPreview {
                steps: steps
                    .iter()
                    .map(|(urn, op)| ResourceStep {
                        urn: urn.to_string(),
                        resource_type: "aws:ec2/vpc:Vpc".into(),
                        name: ResourceStep::name_from_urn(urn),
                        op: StepOp::from(*op),
                        inputs: None,
                        old_inputs: None,
                    })
                    .collect(),
                counts: Default::default(),
                diagnostics: vec![],
                duration_ms: 1,
            },
            provisional: false,
        }
    }

    #[test]
    fn digest_covers_stack_hash_steps_and_engine_version() {
        let base = Plan {
            engine_version: "v3.150.0".into(),
            stacks: vec![
                entry("network", "h1", &[("urn:a", "create")]),
                entry("security", "h2", &[("urn:b", "same")]),
            ],
        };
        let d = base.digest();
        assert_eq!(d.0.len(), 64);

        let mut reordered = base.clone();
        reordered.stacks.reverse();
        assert_eq!(reordered.digest(), d, "stack order does not matter");

        let mut other_op = base.clone();
        other_op.stacks[0] = entry("network", "h1", &[("urn:a", "update")]);
        assert_ne!(other_op.digest(), d);

        let mut other_hash = base.clone();
        other_hash.stacks[1].content_hash = "h3".into();
        assert_ne!(other_hash.digest(), d);

        let mut other_engine = base.clone();
        other_engine.engine_version = "v3.151.0".into();
        assert_ne!(other_engine.digest(), d);

        let mut other_duration = base.clone();
        other_duration.stacks[0].preview.duration_ms = 99;
        assert_eq!(other_duration.digest(), d, "timings are not part of the digest");

        assert!(d.matches(d.short()));
        assert!(d.matches(&d.0));
        assert!(!d.matches("abc"));
    }
}
