//! Scheduling a session's stacks over the dependency graph: a stack starts as soon as every
//! stack it depends on (within the session) is done — not when its whole wave is — at most
//! `max_parallel` at once, and among the ready ones the stack with the longest chain of
//! dependents first, so the critical path is never kept waiting behind leaf stacks.
//!
//! Waves (the topological levels `cloud graph` shows) remain how people read the order; this
//! only removes the barrier between them. Destroy walks the graph backwards: a stack is
//! destroyed once every stack that depends on it is gone.

use std::collections::{BTreeSet, HashMap};

use cloud_domain::session::StackName;

/// Which stacks may start now. Pure bookkeeping, no I/O: the orchestrator runs the jobs.
#[derive(Debug)]
pub(super) struct DagScheduler {
    /// Not started yet, highest priority first.
    pending: Vec<StackName>,
    /// What each stack waits for (direct, within the session).
    waits_for: HashMap<StackName, BTreeSet<StackName>>,
    done: BTreeSet<StackName>,
}

impl DagScheduler {
    /// `stacks` in the session's stored order with their direct dependencies (names outside the
    /// session are ignored). `reverse` for destroy.
    pub fn new(stacks: &[(StackName, Vec<StackName>)], reverse: bool) -> DagScheduler {
        let members: BTreeSet<&StackName> = stacks.iter().map(|(n, _)| n).collect();
        let mut waits_for: HashMap<StackName, BTreeSet<StackName>> =
            stacks.iter().map(|(n, _)| (n.clone(), BTreeSet::new())).collect();
        for (name, deps) in stacks {
            for dep in deps.iter().filter(|d| members.contains(d)) {
                if reverse {
                    waits_for.get_mut(dep).expect("member").insert(name.clone());
                } else {
                    waits_for.get_mut(name).expect("member").insert(dep.clone());
                }
            }
        }
        // Priority: the length of the longest chain of stacks that wait (transitively) on this one.
        let mut waited_by: HashMap<&StackName, Vec<&StackName>> = HashMap::new();
        for (name, deps) in &waits_for {
            for d in deps {
                waited_by.entry(d).or_default().push(name);
            }
        }
        fn chain<'a>(
            n: &'a StackName,
            by: &HashMap<&'a StackName, Vec<&'a StackName>>,
            memo: &mut HashMap<&'a StackName, usize>,
        ) -> usize {
            if let Some(v) = memo.get(n) {
                return *v;
            }
            let v = 1 + by
                .get(n)
                .map(|ds| ds.iter().map(|d| chain(d, by, memo)).max().unwrap_or(0))
                .unwrap_or(0);
            memo.insert(n, v);
            v
        }
        let mut memo = HashMap::new();
        let priority: HashMap<StackName, usize> = stacks
            .iter()
            .map(|(n, _)| (n.clone(), chain(n, &waited_by, &mut memo)))
            .collect();
        let mut pending: Vec<StackName> = stacks.iter().map(|(n, _)| n.clone()).collect();
        if reverse {
            pending.reverse();
        }
        // Stable: equal priorities keep the session's order.
        pending.sort_by_key(|n| std::cmp::Reverse(priority[n]));
        DagScheduler {
            pending,
            waits_for,
            done: BTreeSet::new(),
        }
    }

    /// The next stack whose prerequisites are all done, taken off the pending list.
    pub fn next_ready(&mut self) -> Option<StackName> {
        let i = self
            .pending
            .iter()
            .position(|n| self.waits_for[n].iter().all(|d| self.done.contains(d)))?;
        Some(self.pending.remove(i))
    }

    /// A started stack finished (whatever its outcome: the caller skips what a failure affects).
    pub fn finish(&mut self, name: &StackName) {
        self.done.insert(name.clone());
    }

    /// Drop stacks that will not run (skipped after a failure). Returns those that were pending.
    pub fn drop_pending(&mut self, names: &BTreeSet<StackName>) -> Vec<StackName> {
        let (gone, keep): (Vec<StackName>, Vec<StackName>) = self.pending.drain(..).partition(|n| names.contains(n));
        self.pending = keep;
        gone
    }

    /// Everything not started yet (when the run stops early).
    pub fn take_pending(&mut self) -> Vec<StackName> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> StackName {
        s.parse().unwrap()
    }

    fn graph() -> Vec<(StackName, Vec<StackName>)> {
        vec![
            (n("network"), vec![]),
            (n("security"), vec![n("network")]),
            (n("dns"), vec![n("network")]),
            (n("storage"), vec![n("security")]),
            (n("services-ecr"), vec![n("security")]),
            (n("services-ecs"), vec![n("services-ecr"), n("network")]),
        ]
    }

    #[test]
    fn stacks_start_when_their_dependencies_are_done_critical_path_first() {
        let mut s = DagScheduler::new(&graph(), false);
        assert_eq!(s.next_ready(), Some(n("network")));
        assert_eq!(s.next_ready(), None, "everything else waits for network");
        s.finish(&n("network"));
        assert_eq!(s.next_ready(), Some(n("security")), "security leads the longest chain");
        assert_eq!(s.next_ready(), Some(n("dns")));
        s.finish(&n("security"));
        // dns still runs, but security's dependents need not wait for it: no wave barrier.
        assert_eq!(s.next_ready(), Some(n("services-ecr")));
        assert_eq!(s.next_ready(), Some(n("storage")));
        assert_eq!(s.next_ready(), None);
        assert_eq!(s.drop_pending(&[n("services-ecs")].into()), vec![n("services-ecs")]);
        assert!(s.take_pending().is_empty());
    }

    #[test]
    fn destroy_waits_for_the_dependents() {
        let mut s = DagScheduler::new(&graph(), true);
        let mut first = vec![];
        while let Some(x) = s.next_ready() {
            first.push(x.to_string());
        }
        first.sort();
        assert_eq!(first, ["dns", "services-ecs", "storage"]);
        for x in ["dns", "services-ecs", "storage"] {
            s.finish(&n(x));
        }
        assert_eq!(s.next_ready(), Some(n("services-ecr")));
        assert_eq!(s.next_ready(), None, "security waits for services-ecr");
    }
}
