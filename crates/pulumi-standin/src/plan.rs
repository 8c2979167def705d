//! Planning: diff what the program declares against the checkpoint and produce the steps the
//! engine runs, in the order the real engine emits them — root stack, then resources (each
//! package's default provider just before its first resource), then deletions in reverse state
//! order. A replacement is `create-replacement` + the logical `replace` now and a
//! `delete-replaced` in the deletion phase, as Pulumi does with create-before-delete.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Map, Value};

use crate::backend::{ResourceState, StackRef};
use crate::resources::{default_provider, root_urn, Program};

/// Inputs whose change forces a replacement of a custom resource (a tiny stand-in for the
/// providers' schemas).
pub const REPLACE_ON_CHANGES: &[&str] = &[
    "availabilityZone",
    "bucket",
    "cidrBlock",
    "engine",
    "identifier",
    "name",
    "vpcId",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOp {
    Same,
    Create,
    Update,
    Replace,
    CreateReplacement,
    DeleteReplaced,
    Delete,
    Refresh,
}

impl StepOp {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOp::Same => "same",
            StepOp::Create => "create",
            StepOp::Update => "update",
            StepOp::Replace => "replace",
            StepOp::CreateReplacement => "create-replacement",
            StepOp::DeleteReplaced => "delete-replaced",
            StepOp::Delete => "delete",
            StepOp::Refresh => "refresh",
        }
    }
}

/// What kind of resource a step is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The `pulumi:pulumi:Stack` resource.
    Root,
    /// A default provider (`pulumi:providers:<pkg>::default_<version>`).
    Provider,
    Component,
    Custom,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub op: StepOp,
    pub class: Class,
    pub urn: String,
    pub ty: String,
    pub old: Option<ResourceState>,
    /// The desired state: inputs, parent, provider; `id`/`outputs` are filled in when the step runs.
    pub new: Option<ResourceState>,
    /// Keys whose change causes a diff.
    pub diffs: Vec<String>,
    /// Keys whose change causes a replacement.
    pub keys: Vec<String>,
    /// `{path: {diffKind, inputDiff}}`, or None when there is no diff to show.
    pub detailed_diff: Option<Map<String, Value>>,
    /// The id a default provider created by this step gets (decided at planning time, because
    /// its dependents' `provider` references carry it).
    pub planned_id: Option<String>,
}

impl Step {
    /// `create-replacement` and `delete-replaced` are the physical halves of a replace.
    pub fn logical(&self) -> bool {
        !matches!(
            self.op,
            StepOp::CreateReplacement | StepOp::DeleteReplaced | StepOp::Refresh
        )
    }

    /// The op this step adds to the summary's `resourceChanges`, if any (default providers and
    /// the physical halves of a replacement are not counted; refreshes count as `same`).
    pub fn summary_op(&self) -> Option<&'static str> {
        match (self.class, self.op) {
            (Class::Provider, _) => None,
            (_, StepOp::Refresh) => Some("same"),
            (_, StepOp::CreateReplacement | StepOp::DeleteReplaced) => None,
            (_, op) => Some(op.as_str()),
        }
    }

    /// Whether the knobs (`FAIL_AT`, `CRASH_AT`, `HANG`) count this step.
    pub fn knob_counted(&self) -> bool {
        self.class == Class::Custom && self.op != StepOp::Replace
    }

    /// The provider reference (`<urn>::<id>`) shown in the step metadata.
    pub fn provider(&self) -> &str {
        self.new
            .as_ref()
            .or(self.old.as_ref())
            .map(|s| s.provider.as_str())
            .unwrap_or("")
    }
}

fn class_of(state: &ResourceState) -> Class {
    if state.ty == "pulumi:pulumi:Stack" {
        Class::Root
    } else if state.ty.starts_with("pulumi:providers:") {
        Class::Provider
    } else if state.custom {
        Class::Custom
    } else {
        Class::Component
    }
}

fn step(op: StepOp, old: Option<ResourceState>, new: Option<ResourceState>) -> Step {
    let s = new.as_ref().or(old.as_ref()).expect("a step has an old or a new state");
    Step {
        op,
        class: class_of(s),
        urn: s.urn.clone(),
        ty: s.ty.clone(),
        old,
        new,
        diffs: Vec::new(),
        keys: Vec::new(),
        detailed_diff: None,
        planned_id: None,
    }
}

/// The steps of `pulumi up` / `pulumi preview`.
pub fn plan_update(stack: &StackRef, program: &Program, old: &[ResourceState]) -> Vec<Step> {
    let live: HashMap<&str, &ResourceState> = old.iter().filter(|r| !r.delete).map(|r| (r.urn.as_str(), r)).collect();
    let mut steps = Vec::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();

    let root = root_urn(stack);
    declared.insert(root.clone());
    let root_new = ResourceState {
        urn: root.clone(),
        custom: false,
        delete: false,
        id: String::new(),
        ty: "pulumi:pulumi:Stack".into(),
        inputs: Map::new(),
        outputs: Map::new(),
        parent: String::new(),
        provider: String::new(),
    };
    match live.get(root.as_str()) {
        Some(o) => steps.push(step(StepOp::Same, Some((*o).clone()), Some(root_new))),
        None => steps.push(step(StepOp::Create, None, Some(root_new))),
    }

    let mut providers: HashMap<String, String> = HashMap::new(); // package -> `<urn>::<id>`
    for r in &program.resources {
        let mut provider_ref = String::new();
        if let Some(package) = &r.package {
            if !providers.contains_key(package) {
                let (purn, version) = default_provider(stack, package);
                declared.insert(purn.clone());
                let mut inputs = Map::new();
                inputs.insert("version".into(), json!(version));
                let existing = live.get(purn.as_str());
                let id = existing
                    .map(|o| o.id.clone())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let new = ResourceState {
                    urn: purn.clone(),
                    custom: true,
                    delete: false,
                    id: String::new(),
                    ty: format!("pulumi:providers:{package}"),
                    inputs,
                    outputs: Map::new(),
                    parent: String::new(),
                    provider: String::new(),
                };
                match existing {
                    Some(o) => steps.push(step(StepOp::Same, Some((*o).clone()), Some(new))),
                    None => {
                        // The provider's id is decided now so its dependents can refer to it.
                        let mut s = step(StepOp::Create, None, Some(new));
                        s.planned_id = Some(id.clone());
                        steps.push(s);
                    }
                }
                providers.insert(package.clone(), format!("{purn}::{id}"));
            }
            provider_ref = providers[package].clone();
        }
        declared.insert(r.urn.clone());
        let new = ResourceState {
            urn: r.urn.clone(),
            custom: r.custom,
            delete: false,
            id: String::new(),
            ty: r.ty.clone(),
            inputs: r.inputs.clone(),
            outputs: Map::new(),
            parent: r.parent.clone(),
            provider: provider_ref,
        };
        let Some(o) = live.get(r.urn.as_str()) else {
            steps.push(step(StepOp::Create, None, Some(new)));
            continue;
        };
        let changed = changed_keys(&o.inputs, &new.inputs);
        if changed.is_empty() {
            let mut new = new;
            new.id = o.id.clone();
            steps.push(step(StepOp::Same, Some((*o).clone()), Some(new)));
            continue;
        }
        let keys: Vec<String> = if r.custom {
            changed
                .iter()
                .filter(|k| REPLACE_ON_CHANGES.contains(&k.as_str()))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let detailed = detailed_diff(&o.inputs, &new.inputs, &changed, &keys);
        if keys.is_empty() {
            let mut new = new;
            new.id = o.id.clone();
            let mut s = step(StepOp::Update, Some((*o).clone()), Some(new));
            s.diffs = changed;
            s.detailed_diff = Some(detailed);
            steps.push(s);
        } else {
            replaced.insert(r.urn.clone());
            let mut old_marked = (*o).clone();
            for op in [StepOp::CreateReplacement, StepOp::Replace] {
                let mut s = step(op, Some(old_marked.clone()), Some(new.clone()));
                s.diffs = changed.clone();
                s.keys = keys.clone();
                s.detailed_diff = Some(detailed.clone());
                steps.push(s);
                old_marked.delete = true;
            }
        }
    }

    // Deletion phase, in reverse state order: children before parents, resources before providers.
    for o in old.iter().rev() {
        if o.delete || replaced.contains(&o.urn) {
            let mut gone = o.clone();
            gone.delete = true;
            steps.push(step(StepOp::DeleteReplaced, Some(gone), None));
        } else if !declared.contains(&o.urn) {
            steps.push(step(StepOp::Delete, Some(o.clone()), None));
        }
    }
    steps
}

/// The steps of `pulumi destroy`: everything, children first, the root stack last.
pub fn plan_destroy(old: &[ResourceState]) -> Vec<Step> {
    old.iter()
        .rev()
        .map(|o| step(StepOp::Delete, Some(o.clone()), None))
        .collect()
}

/// The steps of `pulumi refresh`: read every resource back (the stand-in's cloud never drifts).
pub fn plan_refresh(old: &[ResourceState]) -> Vec<Step> {
    old.iter()
        .filter(|o| class_of(o) != Class::Provider && !o.delete)
        .map(|o| step(StepOp::Refresh, Some(o.clone()), Some(o.clone())))
        .collect()
}

/// Top-level input keys that differ, sorted.
fn changed_keys(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

fn detailed_diff(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    changed: &[String],
    replace_keys: &[String],
) -> Map<String, Value> {
    changed
        .iter()
        .map(|k| {
            let kind = match (old.contains_key(k), new.contains_key(k)) {
                (false, _) => "add",
                (_, false) => "delete",
                _ => "update",
            };
            let kind = if replace_keys.contains(k) {
                format!("{kind}-replace")
            } else {
                kind.to_string()
            };
            (k.clone(), json!({"diffKind": kind, "inputDiff": true}))
        })
        .collect()
}
