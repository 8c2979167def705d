//! The dependency graph of a deployment's enabled stacks (petgraph): validation (unknown
//! dependencies, cycles), deploy waves (a destroy walks them backwards), and the upstream closure
//! the orchestrator uses to mark provisional previews.
//!
//! Edges point from a stack to what it depends on (`security → network`), the way people say it
//! and the way stack.yaml's `depends_on` reads.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::Dfs;

use super::manifest::Manifest;
use super::workspace::Catalog;
use cloud_domain::session::StackName;

/// Why a dependency is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    /// Listed in the manifest but disabled (here or in this environment).
    Disabled,
    /// Not listed in the manifest.
    Absent,
    /// Not in the catalog at all.
    Unknown,
}

/// What can be wrong with a graph; every error is reported, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum GraphError {
    /// Stacks that depend on each other in a circle, as a path that returns to its start.
    #[error("dependency cycle: {}; remove one of these depends_on entries", cycle_text(.cycle))]
    Cycle { cycle: Vec<StackName> },
    /// An enabled stack depends on one that will not be deployed.
    #[error("stack `{stack}` depends on `{dependency}`, which is {}; {}", missing_text(.reason), missing_fix(.stack, .dependency, .reason))]
    MissingDependency {
        stack: StackName,
        dependency: StackName,
        reason: Missing,
    },
    /// A stack name not in the catalog.
    #[error("stack `{stack}` is not in the catalog (stacks/{stack}/stack.yaml does not exist)")]
    UnknownStack { stack: String },
}

fn cycle_text(c: &[StackName]) -> String {
    c.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" → ")
}
fn missing_text(r: &Missing) -> &'static str {
    match r {
        Missing::Disabled => "disabled in this deployment",
        Missing::Absent => "not listed in this deployment",
        Missing::Unknown => "not in the catalog",
    }
}
fn missing_fix(stack: &StackName, dep: &StackName, r: &Missing) -> String {
    match r {
        Missing::Disabled => format!("enable `{dep}` or disable `{stack}`"),
        Missing::Absent => {
            format!("add `{dep}` under `stacks:` (`cloud stacks register <deployment> {dep}`) or disable `{stack}`")
        }
        Missing::Unknown => format!("fix depends_on in stacks/{stack}/stack.yaml"),
    }
}

/// A validated acyclic dependency graph.
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    graph: StableDiGraph<StackName, ()>,
    index: BTreeMap<StackName, NodeIndex>,
}

impl DependencyGraph {
    /// Build from `(stack, its dependencies)` pairs. A dependency that is not itself a node is
    /// reported as [`Missing::Absent`].
    pub fn from_deps(nodes: &[(StackName, Vec<StackName>)]) -> Result<Self, Vec<GraphError>> {
        Self::build_with(nodes, |_| Missing::Absent)
    }

    /// The graph of the stacks a manifest deploys in `env` (or enabled at the top level, with
    /// `None`), with their dependencies from the catalog.
    pub fn for_manifest(catalog: &Catalog, manifest: &Manifest, env: Option<&str>) -> Result<Self, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut nodes = Vec::new();
        for name in manifest.enabled_stacks(env) {
            match catalog.get(name) {
                Some(def) => nodes.push((def.meta.name.clone(), def.meta.depends_on.clone())),
                None => errors.push(GraphError::UnknownStack {
                    stack: name.to_string(),
                }),
            }
        }
        let reason = |dep: &StackName| {
            if !catalog.contains(dep.as_str()) {
                Missing::Unknown
            } else if manifest.stacks.contains_key(dep.as_str()) {
                Missing::Disabled
            } else {
                Missing::Absent
            }
        };
        match Self::build_with(&nodes, reason) {
            Ok(g) if errors.is_empty() => Ok(g),
            Ok(_) => Err(errors),
            Err(mut e) => {
                errors.append(&mut e);
                errors.sort();
                Err(errors)
            }
        }
    }

    /// The whole catalog as one graph (every stack enabled) — to check the catalog has no cycle.
    pub fn for_catalog(catalog: &Catalog) -> Result<Self, Vec<GraphError>> {
        let nodes: Vec<_> = catalog
            .iter()
            .map(|d| (d.meta.name.clone(), d.meta.depends_on.clone()))
            .collect();
        Self::build_with(&nodes, |_| Missing::Unknown)
    }

    fn build_with(
        nodes: &[(StackName, Vec<StackName>)],
        reason: impl Fn(&StackName) -> Missing,
    ) -> Result<Self, Vec<GraphError>> {
        let mut graph = StableDiGraph::new();
        let mut index = BTreeMap::new();
        let mut sorted: Vec<&(StackName, Vec<StackName>)> = nodes.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, _) in &sorted {
            if !index.contains_key(name) {
                index.insert(name.clone(), graph.add_node(name.clone()));
            }
        }
        let mut errors = Vec::new();
        for (name, deps) in &sorted {
            let mut deps: Vec<&StackName> = deps.iter().collect();
            deps.sort();
            deps.dedup();
            for dep in deps {
                match index.get(dep) {
                    Some(&to) => {
                        graph.add_edge(index[name], to, ());
                    }
                    None => errors.push(GraphError::MissingDependency {
                        stack: name.clone(),
                        dependency: dep.clone(),
                        reason: reason(dep),
                    }),
                }
            }
        }
        let g = DependencyGraph { graph, index };
        errors.extend(g.cycles().into_iter().map(|cycle| GraphError::Cycle { cycle }));
        if errors.is_empty() {
            Ok(g)
        } else {
            errors.sort();
            Err(errors)
        }
    }

    /// Each strongly connected component with more than one stack (or a self-loop), as a path
    /// from its smallest name back to it along `depends_on` edges.
    fn cycles(&self) -> Vec<Vec<StackName>> {
        let mut out = Vec::new();
        for scc in petgraph::algo::tarjan_scc(&self.graph) {
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let start = *scc.iter().min_by_key(|n| &self.graph[**n]).expect("non-empty scc");
            // Shortest path start → … → start inside the component (BFS, neighbours by name).
            let mut prev: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
            let mut queue = VecDeque::from([start]);
            let mut closing = None;
            'bfs: while let Some(n) = queue.pop_front() {
                let mut next: Vec<NodeIndex> = self.graph.neighbors(n).filter(|m| members.contains(m)).collect();
                next.sort_by_key(|m| &self.graph[*m]);
                for m in next {
                    if m == start {
                        closing = Some(n);
                        break 'bfs;
                    }
                    if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(m) {
                        e.insert(n);
                        queue.push_back(m);
                    }
                }
            }
            let mut path = vec![start];
            let mut cur = closing.expect("a strongly connected component has a cycle through every node");
            let mut back = Vec::new();
            while cur != start {
                back.push(cur);
                cur = prev[&cur];
            }
            back.reverse();
            path.extend(back);
            path.push(start);
            out.push(path.into_iter().map(|n| self.graph[n].clone()).collect());
        }
        out.sort();
        out
    }

    fn node(&self, stack: &str) -> Option<NodeIndex> {
        self.index.iter().find(|(k, _)| k.as_str() == stack).map(|(_, v)| *v)
    }

    /// Every stack, by name.
    pub fn stacks(&self) -> Vec<StackName> {
        self.index.keys().cloned().collect()
    }

    /// Direct dependencies of `stack`, by name.
    pub fn dependencies(&self, stack: &str) -> Vec<StackName> {
        let Some(n) = self.node(stack) else { return vec![] };
        let mut v: Vec<StackName> = self.graph.neighbors(n).map(|m| self.graph[m].clone()).collect();
        v.sort();
        v
    }

    /// Deploy waves: wave 0 has no dependencies; every stack's dependencies are in earlier waves
    /// (it sits in the wave after its deepest dependency). Names sorted inside a wave.
    pub fn waves(&self) -> Vec<Vec<StackName>> {
        let mut level: BTreeMap<NodeIndex, usize> = BTreeMap::new();
        let mut remaining: Vec<NodeIndex> = self.index.values().copied().collect();
        while !remaining.is_empty() {
            let before = remaining.len();
            remaining.retain(|&n| {
                let deps: Vec<NodeIndex> = self.graph.neighbors(n).collect();
                if deps.iter().all(|d| level.contains_key(d)) {
                    let l = deps.iter().map(|d| level[d] + 1).max().unwrap_or(0);
                    level.insert(n, l);
                    false
                } else {
                    true
                }
            });
            assert!(remaining.len() < before, "graph validated acyclic at construction");
        }
        let depth = level.values().copied().max().map(|m| m + 1).unwrap_or(0);
        let mut waves = vec![Vec::new(); depth];
        for (n, l) in level {
            waves[l].push(self.graph[n].clone());
        }
        for w in &mut waves {
            w.sort();
        }
        waves
    }

    /// Everything `stack` depends on, directly or not (not itself).
    pub fn upstream_closure(&self, stack: &str) -> BTreeSet<StackName> {
        let Some(n) = self.node(stack) else {
            return BTreeSet::new();
        };
        let mut dfs = Dfs::new(&self.graph, n);
        let mut out = BTreeSet::new();
        while let Some(m) = dfs.next(&self.graph) {
            if m != n {
                out.insert(self.graph[m].clone());
            }
        }
        out
    }

    /// One line per wave: `wave 1: network`, then each stack with its dependencies.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (i, wave) in self.waves().iter().enumerate() {
            s.push_str(&format!("wave {}:\n", i + 1));
            for stack in wave {
                let deps = self.dependencies(stack.as_str());
                if deps.is_empty() {
                    s.push_str(&format!("  {stack}\n"));
                } else {
                    let d: Vec<&str> = deps.iter().map(|d| d.as_str()).collect();
                    s.push_str(&format!("  {stack} → {}\n", d.join(", ")));
                }
            }
        }
        s
    }

    /// Graphviz, deterministic: nodes ranked by wave, edges `dependency -> dependent` (the
    /// direction things are deployed in).
    pub fn to_dot(&self, title: &str) -> String {
        let mut s = format!(
            "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
            title.replace('"', "'")
        );
        for (i, wave) in self.waves().iter().enumerate() {
            let names: Vec<String> = wave.iter().map(|n| format!("\"{n}\"")).collect();
            s.push_str(&format!(
                "  {{ rank=same; /* wave {} */ {}; }}\n",
                i + 1,
                names.join("; ")
            ));
        }
        for stack in self.index.keys() {
            for dep in self.dependencies(stack.as_str()) {
                s.push_str(&format!("  \"{dep}\" -> \"{stack}\";\n"));
            }
        }
        s.push_str("}\n");
        s
    }
}

impl fmt::Display for DependencyGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> StackName {
        s.parse().unwrap()
    }

    fn design_graph() -> Vec<(StackName, Vec<StackName>)> {
        let spec: &[(&str, &[&str])] = &[
            ("network", &[]),
            ("security", &["network"]),
            ("dns", &["network"]),
            ("secrets", &["security"]),
            ("authentication", &["security", "dns"]),
            ("storage", &["security"]),
            ("database-rds", &["network", "security", "secrets"]),
            ("containers-images", &["security"]),
            ("containers-apps", &["containers-images"]),
            ("services-ecr", &["security"]),
            ("services-ecs", &["network", "security", "services-ecr"]),
            ("services-eks", &["network", "security"]),
            ("services-api", &["network", "dns", "authentication", "services-ecs"]),
            ("compute-ec2", &["network", "security"]),
            ("compute-lambda", &["network", "security", "secrets"]),
            (
                "monitoring",
                &["network", "database-rds", "services-ecs", "services-api"],
            ),
        ];
        spec.iter()
            .map(|(s, d)| (n(s), d.iter().map(|x| n(x)).collect()))
            .collect()
    }

    #[test]
    fn waves_of_the_sixteen_stacks() {
        let g = DependencyGraph::from_deps(&design_graph()).unwrap();
        insta::assert_snapshot!(g.to_text(), @r"
        wave 1:
          network
        wave 2:
          dns → network
          security → network
        wave 3:
          authentication → dns, security
          compute-ec2 → network, security
          containers-images → security
          secrets → security
          services-ecr → security
          services-eks → network, security
          storage → security
        wave 4:
          compute-lambda → network, secrets, security
          containers-apps → containers-images
          database-rds → network, secrets, security
          services-ecs → network, security, services-ecr
        wave 5:
          services-api → authentication, dns, network, services-ecs
        wave 6:
          monitoring → database-rds, network, services-api, services-ecs
        ");
        // A destroy walks the waves backwards: monitoring goes first.
        assert_eq!(g.waves().last().unwrap(), &vec![n("monitoring")]);
        assert_eq!(g.waves().concat().len(), 16);
    }

    #[test]
    fn closures() {
        let g = DependencyGraph::from_deps(&design_graph()).unwrap();
        let up: Vec<String> = g
            .upstream_closure("services-api")
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            up,
            [
                "authentication",
                "dns",
                "network",
                "security",
                "services-ecr",
                "services-ecs"
            ]
        );
        // Downstream: every stack whose upstream closure holds the stack.
        let downstream = |of: &str| -> Vec<String> {
            g.stacks()
                .into_iter()
                .filter(|s| g.upstream_closure(s.as_str()).iter().any(|u| u.as_str() == of))
                .map(String::from)
                .collect()
        };
        assert_eq!(downstream("secrets"), ["compute-lambda", "database-rds", "monitoring"]);
        assert!(downstream("monitoring").is_empty());
        let direct_dependents: Vec<StackName> = g
            .stacks()
            .into_iter()
            .filter(|s| g.dependencies(s.as_str()).contains(&n("dns")))
            .collect();
        assert_eq!(direct_dependents, vec![n("authentication"), n("services-api")]);
    }

    #[test]
    fn cycles_are_named() {
        let e = DependencyGraph::from_deps(&[
            (n("network"), vec![n("security")]),
            (n("security"), vec![n("network")]),
            (n("dns"), vec![n("network")]),
        ])
        .unwrap_err();
        assert_eq!(e.len(), 1);
        insta::assert_snapshot!(e[0].to_string(), @"dependency cycle: network → security → network; remove one of these depends_on entries");

        let e = DependencyGraph::from_deps(&[(n("a"), vec![n("b")]), (n("b"), vec![n("c")]), (n("c"), vec![n("a")])])
            .unwrap_err();
        assert_eq!(
            e[0],
            GraphError::Cycle {
                cycle: vec![n("a"), n("b"), n("c"), n("a")]
            }
        );
    }

    #[test]
    fn missing_dependencies_are_all_reported() {
        let e = DependencyGraph::from_deps(&[(n("security"), vec![n("network")]), (n("dns"), vec![n("network")])])
            .unwrap_err();
        assert_eq!(e.len(), 2);
        insta::assert_snapshot!(e[0].to_string(), @"stack `dns` depends on `network`, which is not listed in this deployment; add `network` under `stacks:` (`cloud stacks register <deployment> network`) or disable `dns`");
    }

    #[test]
    fn dot_is_deterministic() {
        let g = DependencyGraph::from_deps(&[(n("network"), vec![]), (n("security"), vec![n("network")])]).unwrap();
        insta::assert_snapshot!(g.to_dot("D1BRV40 dev"), @r#"
        digraph "D1BRV40 dev" {
          rankdir=LR;
          node [shape=box];
          { rank=same; /* wave 1 */ "network"; }
          { rank=same; /* wave 2 */ "security"; }
          "network" -> "security";
        }
        "#);
    }
}
