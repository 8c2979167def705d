//! The one scheduler for every engine run of a session — previews (plan), updates (apply) and
//! destroys: a stack starts as soon as every stack it depends on (within the session) is done —
//! not when its whole wave is — at most `max_parallel` at once, and among the ready ones the stack
//! with the longest chain of stacks waiting on it first, so the critical path is never kept
//! waiting behind leaf stacks.
//!
//! Waves (the topological levels `cloud graph` shows) remain how people read the order; this only
//! removes the barrier between them. A destroy walks the graph backwards: a stack is destroyed
//! once every stack that depends on it is gone.
//!
//! The scheduler runs the jobs it is given and reports each result as it comes; what a result
//! means is the caller's business. A failure skips what waits on the failed stack
//! ([`StackScheduler::skip_dependents`]); a cancel or a drift starts nothing new
//! ([`StackScheduler::stop`]) while the stacks already running finish.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::stream::{FuturesUnordered, StreamExt};

use cloud_domain::session::StackName;

/// Which way a session walks its dependency graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// A stack waits for the stacks it depends on (deploy, rollback).
    Forward,
    /// A stack waits for the stacks that depend on it (destroy).
    Backward,
}

/// Runs `start(stack)` for each stack of a session in dependency order (see the module
/// documentation). Drive it with [`StackScheduler::next`] until it returns `None`.
pub(crate) struct StackScheduler<F, Fut>
where
    F: FnMut(StackName) -> Fut,
    Fut: Future,
{
    order: Order,
    /// How many jobs run at once; at least 1 (configuration allows 1 to 64).
    max_parallel: usize,
    start: F,
    running: FuturesUnordered<Tagged<Fut>>,
    /// Set by [`StackScheduler::stop`]: nothing new starts.
    stopped: bool,
}

impl<F, Fut> StackScheduler<F, Fut>
where
    F: FnMut(StackName) -> Fut,
    Fut: Future,
{
    /// `stacks` in the session's stored order with their direct dependencies (names outside the
    /// session are ignored, they are not part of this run). `start` makes the job of one stack; it
    /// is called when the stack may start.
    pub(crate) fn new(
        stacks: &[(StackName, Vec<StackName>)],
        direction: Direction,
        max_parallel: usize,
        start: F,
    ) -> Self {
        StackScheduler {
            order: Order::new(stacks, direction),
            max_parallel: max_parallel.max(1),
            start,
            running: FuturesUnordered::new(),
            stopped: false,
        }
    }

    /// Start every stack that may start now (within `max_parallel`, unless stopped), then wait
    /// for the next running stack to finish and return its result. `None` when nothing runs and
    /// nothing more can start — the run is over.
    pub(crate) async fn next(&mut self) -> Option<(StackName, Fut::Output)> {
        while !self.stopped && self.running.len() < self.max_parallel {
            let Some(name) = self.order.next_ready() else { break };
            let job = (self.start)(name.clone());
            self.running.push(Tagged {
                name: Some(name),
                job: Box::pin(job),
            });
        }
        let (name, out) = self.running.next().await?;
        self.order.finish(&name);
        Some((name, out))
    }

    /// Skip every stack not started yet that waits, directly or through others, on `name` (its
    /// dependents; for a destroy, the stacks it depends on). Returns them in the order they would
    /// have started. Call it before the next [`StackScheduler::next`], so none of them starts.
    pub(crate) fn skip_dependents(&mut self, name: &StackName) -> Vec<StackName> {
        self.order.skip_waiting_on(name)
    }

    /// Start nothing new; the stacks already running still finish (keep calling `next`).
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The stacks that never started (after a stop, or those a cycle left waiting), in the order
    /// they would have started.
    pub(crate) fn not_started(self) -> Vec<StackName> {
        self.order.pending
    }
}

/// A job that remembers which stack it runs for.
struct Tagged<Fut> {
    name: Option<StackName>,
    job: Pin<Box<Fut>>,
}

impl<Fut: Future> Future for Tagged<Fut> {
    type Output = (StackName, Fut::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = ready!(self.job.as_mut().poll(cx));
        Poll::Ready((self.name.take().expect("a job is not polled after it finished"), out))
    }
}

/// Which stacks may start now. Pure bookkeeping, no I/O.
#[derive(Debug)]
struct Order {
    /// Not started yet, highest priority first.
    pending: Vec<StackName>,
    /// What each stack waits for (direct, within the session, in the run's direction).
    waits_for: HashMap<StackName, BTreeSet<StackName>>,
    /// The reverse of `waits_for`: who waits for each stack.
    waited_by: HashMap<StackName, Vec<StackName>>,
    done: BTreeSet<StackName>,
}

impl Order {
    fn new(stacks: &[(StackName, Vec<StackName>)], direction: Direction) -> Order {
        let members: BTreeSet<&StackName> = stacks.iter().map(|(n, _)| n).collect();
        let mut waits_for: HashMap<StackName, BTreeSet<StackName>> =
            stacks.iter().map(|(n, _)| (n.clone(), BTreeSet::new())).collect();
        for (name, deps) in stacks {
            for dep in deps.iter().filter(|d| members.contains(d)) {
                match direction {
                    Direction::Forward => waits_for.get_mut(name).expect("member").insert(dep.clone()),
                    Direction::Backward => waits_for.get_mut(dep).expect("member").insert(name.clone()),
                };
            }
        }
        let mut waited_by: HashMap<StackName, Vec<StackName>> = HashMap::new();
        // In session order, so that what a failure skips comes out in a stable order.
        for (name, _) in stacks {
            for d in &waits_for[name] {
                waited_by.entry(d.clone()).or_default().push(name.clone());
            }
        }
        // Priority: the length of the longest chain of stacks that wait (transitively) on this one.
        fn chain<'a>(
            n: &'a StackName,
            by: &'a HashMap<StackName, Vec<StackName>>,
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
        if direction == Direction::Backward {
            pending.reverse();
        }
        // Stable: equal priorities keep the session's order.
        pending.sort_by_key(|n| std::cmp::Reverse(priority[n]));
        Order {
            pending,
            waits_for,
            waited_by,
            done: BTreeSet::new(),
        }
    }

    /// The next stack whose prerequisites are all done, taken off the pending list.
    fn next_ready(&mut self) -> Option<StackName> {
        let i = self
            .pending
            .iter()
            .position(|n| self.waits_for[n].iter().all(|d| self.done.contains(d)))?;
        Some(self.pending.remove(i))
    }

    /// A started stack finished (whatever its outcome: the caller skips what a failure affects).
    fn finish(&mut self, name: &StackName) {
        self.done.insert(name.clone());
    }

    /// Take every pending stack that waits, transitively, on `name` off the pending list.
    fn skip_waiting_on(&mut self, name: &StackName) -> Vec<StackName> {
        let mut affected = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(n) = todo.pop() {
            for w in self.waited_by.get(n).into_iter().flatten() {
                if affected.insert(w.clone()) {
                    todo.push(w);
                }
            }
        }
        let (gone, keep): (Vec<StackName>, Vec<StackName>) = self.pending.drain(..).partition(|n| affected.contains(n));
        self.pending = keep;
        gone
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::time::Instant;

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
        let mut s = Order::new(&graph(), Direction::Forward);
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
        assert_eq!(s.skip_waiting_on(&n("services-ecr")), vec![n("services-ecs")]);
        assert!(s.pending.is_empty());
    }

    #[test]
    fn destroy_waits_for_the_dependents() {
        let mut s = Order::new(&graph(), Direction::Backward);
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

    /// What a run did, in the order it happened: `(seconds since the start, "start" | "end", stack)`.
    type Log = Arc<Mutex<Vec<(u64, &'static str, String)>>>;

    /// A job per stack that takes `secs[stack]` seconds of (paused, auto-advanced) tokio time and
    /// fails when the stack is in `failing`.
    fn timed_jobs(
        secs: &[(&str, u64)],
        failing: &[&str],
        log: &Log,
    ) -> impl FnMut(StackName) -> Pin<Box<dyn Future<Output = Result<(), ()>> + Send>> {
        let t0 = Instant::now();
        let secs: BTreeMap<String, u64> = secs.iter().map(|(s, t)| (s.to_string(), *t)).collect();
        let failing: BTreeSet<String> = failing.iter().map(|s| s.to_string()).collect();
        let log = Arc::clone(log);
        move |name: StackName| {
            let d = Duration::from_secs(secs[name.as_str()]);
            let fails = failing.contains(name.as_str());
            let log = Arc::clone(&log);
            Box::pin(async move {
                log.lock()
                    .unwrap()
                    .push((t0.elapsed().as_secs(), "start", name.to_string()));
                tokio::time::sleep(d).await;
                log.lock()
                    .unwrap()
                    .push((t0.elapsed().as_secs(), "end", name.to_string()));
                if fails {
                    Err(())
                } else {
                    Ok(())
                }
            })
        }
    }

    fn starts(log: &Log) -> Vec<(u64, String)> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(_, what, _)| *what == "start")
            .map(|(t, _, s)| (*t, s.clone()))
            .collect()
    }

    /// Drive a run to its end, skipping the dependents of every failed stack (what apply does).
    async fn run_to_end<F, Fut>(mut run: StackScheduler<F, Fut>) -> (Vec<String>, Vec<String>, Vec<String>)
    where
        F: FnMut(StackName) -> Fut,
        Fut: Future<Output = Result<(), ()>>,
    {
        let (mut ok, mut failed, mut skipped) = (vec![], vec![], vec![]);
        while let Some((name, result)) = run.next().await {
            match result {
                Ok(()) => ok.push(name.to_string()),
                Err(()) => {
                    skipped.extend(run.skip_dependents(&name).iter().map(ToString::to_string));
                    failed.push(name.to_string());
                }
            }
        }
        assert!(
            run.not_started().is_empty(),
            "a run that was not stopped starts everything"
        );
        (ok, failed, skipped)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stack_starts_when_its_own_dependencies_are_done_not_when_its_wave_is() {
        let log = Log::default();
        let jobs = timed_jobs(
            &[
                ("network", 10),
                ("security", 10),
                ("dns", 30),
                ("storage", 5),
                ("services-ecr", 5),
                ("services-ecs", 5),
            ],
            &[],
            &log,
        );
        let (ok, failed, skipped) = run_to_end(StackScheduler::new(&graph(), Direction::Forward, 4, jobs)).await;
        assert_eq!(ok.len(), 6);
        assert!(failed.is_empty() && skipped.is_empty());
        assert_eq!(
            starts(&log),
            [
                (0, "network".into()),
                (10, "security".into()),
                (10, "dns".into()),
                // Wave 2 starts while dns (wave 1) still runs until 40.
                (20, "services-ecr".into()),
                (20, "storage".into()),
                (25, "services-ecs".into()),
            ]
        );
        assert_eq!(log.lock().unwrap().last().unwrap(), &(40, "end", "dns".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_max_parallel_at_once_and_the_critical_path_goes_first() {
        // Four independent leaves listed before a chain a → b → c: with two slots, the chain's
        // head takes one at once, so the chain is not delayed behind the leaves.
        let mut stacks: Vec<(StackName, Vec<StackName>)> = ["leaf-1", "leaf-2", "leaf-3", "leaf-4"]
            .map(|l| (n(l), vec![]))
            .to_vec();
        stacks.push((n("a"), vec![]));
        stacks.push((n("b"), vec![n("a")]));
        stacks.push((n("c"), vec![n("b")]));
        let secs: Vec<(&str, u64)> = stacks.iter().map(|(s, _)| (s.as_str(), 10)).collect();
        let log = Log::default();
        let run = StackScheduler::new(&stacks, Direction::Forward, 2, timed_jobs(&secs, &[], &log));
        let (ok, _, _) = run_to_end(run).await;
        assert_eq!(ok.len(), 7);

        let mut running = 0usize;
        let mut most = 0usize;
        for (_, what, _) in log.lock().unwrap().iter() {
            match *what {
                "start" => running += 1,
                _ => running -= 1,
            }
            most = most.max(running);
        }
        assert_eq!(most, 2, "two slots, always both used");
        let starts = starts(&log);
        assert_eq!(
            starts[0],
            (0, "a".to_string()),
            "the head of the longest chain starts first"
        );
        assert_eq!(
            starts.iter().find(|(_, s)| s == "b").unwrap().0,
            10,
            "b starts as soon as a is done, before the leaves that wait for a slot"
        );
        assert_eq!(log.lock().unwrap().last().unwrap().0, 40, "7 jobs of 10 s on 2 slots");
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_removes_dependents_first() {
        let secs = [
            ("network", 10),
            ("security", 10),
            ("dns", 30),
            ("storage", 5),
            ("services-ecr", 5),
            ("services-ecs", 5),
        ];
        let log = Log::default();
        let run = StackScheduler::new(&graph(), Direction::Backward, 4, timed_jobs(&secs, &[], &log));
        let (ok, _, _) = run_to_end(run).await;
        assert_eq!(ok.len(), 6);
        let started_at: BTreeMap<String, u64> = starts(&log).into_iter().map(|(t, s)| (s, t)).collect();
        let ended_at: BTreeMap<String, u64> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, what, _)| *what == "end")
            .map(|(t, _, s)| (s.clone(), *t))
            .collect();
        for (stack, deps) in graph() {
            for dep in deps {
                assert!(
                    started_at[dep.as_str()] >= ended_at[stack.as_str()],
                    "{dep} is destroyed only after {stack}, which depends on it, is gone"
                );
            }
        }
        // security goes as soon as its own dependents are gone, not when the slow dns is.
        assert_eq!(started_at["security"], 10);
        assert_eq!(started_at["network"], 30);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_skips_its_dependents_and_independent_stacks_finish() {
        let secs = [
            ("network", 1),
            ("security", 1),
            ("dns", 5),
            ("storage", 1),
            ("services-ecr", 1),
            ("services-ecs", 1),
        ];
        let log = Log::default();
        let run = StackScheduler::new(&graph(), Direction::Forward, 4, timed_jobs(&secs, &["security"], &log));
        let (ok, failed, mut skipped) = run_to_end(run).await;
        skipped.sort();
        assert_eq!(ok, ["network", "dns"]);
        assert_eq!(failed, ["security"]);
        assert_eq!(
            skipped,
            ["services-ecr", "services-ecs", "storage"],
            "transitively, services-ecs through services-ecr"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_destroy_keeps_what_it_depends_on() {
        let secs = [
            ("network", 1),
            ("security", 1),
            ("dns", 1),
            ("storage", 1),
            ("services-ecr", 1),
            ("services-ecs", 1),
        ];
        let log = Log::default();
        let run = StackScheduler::new(
            &graph(),
            Direction::Backward,
            4,
            timed_jobs(&secs, &["services-ecs"], &log),
        );
        let (mut ok, failed, mut skipped) = run_to_end(run).await;
        ok.sort();
        skipped.sort();
        assert_eq!(failed, ["services-ecs"]);
        // Its resources still use network and services-ecr (and security below that).
        assert_eq!(skipped, ["network", "security", "services-ecr"]);
        assert_eq!(ok, ["dns", "storage"]);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_stop_nothing_new_starts_and_running_stacks_finish() {
        let secs = [
            ("network", 1),
            ("security", 10),
            ("dns", 2),
            ("storage", 1),
            ("services-ecr", 1),
            ("services-ecs", 1),
        ];
        let log = Log::default();
        let mut run = StackScheduler::new(&graph(), Direction::Forward, 4, timed_jobs(&secs, &[], &log));
        let mut finished = vec![];
        while let Some((name, _)) = run.next().await {
            if name.as_str() == "dns" {
                // dns ends at 3 while security runs until 11.
                run.stop();
            }
            finished.push(name.to_string());
        }
        assert!(run.is_stopped());
        assert_eq!(
            finished,
            ["network", "dns", "security"],
            "security, already running, finished"
        );
        let not_started: Vec<String> = run.not_started().iter().map(ToString::to_string).collect();
        assert_eq!(not_started, ["services-ecr", "storage", "services-ecs"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_over_no_stacks_ends_at_once() {
        let log = Log::default();
        let mut run = StackScheduler::new(&[], Direction::Forward, 4, timed_jobs(&[], &[], &log));
        assert!(run.next().await.is_none());
        assert!(log.lock().unwrap().is_empty());
    }
}
