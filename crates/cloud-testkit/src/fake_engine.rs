//! A scripted in-memory [`Engine`] and resolver for orchestrator tests (tests only: production
//! always runs the Pulumi adapter).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cloud_core::engine::{
    ChangeCounts, ConfigValue, Engine, EngineError, Progress, ProgressSink, ResourceStep, StackApply, StackExport,
    StackPreview, StackTarget, StepOp,
};
use cloud_core::orchestrator::{DeploymentResolver, ResolvedDeployment, ResolvedStack};
use cloud_domain::error::UserError;
use cloud_domain::session::{FullStackName, StackName};
use tokio_util::sync::CancellationToken;

/// What one stack does when previewed or applied.
#[derive(Debug, Clone, Default)]
pub struct StackScript {
    pub steps: Vec<(&'static str, StepOp)>,
    pub preview_error: Option<String>,
    pub up_error: Option<String>,
    /// Every step of the update waits here after it started (until the gate opens or the
    /// update is cancelled): a test acts on a running update without betting on how long a
    /// step takes.
    pub gate: Option<Gate>,
}

/// A point a scripted update does not pass until the test opens it.
///
/// Tests used to make steps slow and hope their action (a cancel, a second update) landed while
/// the step ran; on a loaded machine the step sometimes finished first. With a gate the update
/// is provably running until the test says otherwise: the test waits for
/// [`Gate::arrived`] (an event, not a delay), acts, then [`Gate::open`]s it or cancels.
#[derive(Debug, Clone)]
pub struct Gate {
    /// How many times an update has reached the gate (counted on arrival, not on passing).
    arrivals: Arc<tokio::sync::watch::Sender<usize>>,
    /// Whether updates may pass.
    opened: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate {
            arrivals: Arc::new(tokio::sync::watch::Sender::new(0)),
            opened: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Waits until updates have reached the gate `n` times in all (it stays closed).
    pub async fn arrived(&self, n: usize) {
        let mut rx = self.arrivals.subscribe();
        let reached = tokio::time::timeout(crate::wait::SAFETY_NET, rx.wait_for(|a| *a >= n)).await;
        match reached {
            Ok(Ok(_)) => {}
            _ => panic!(
                "updates reached the gate {} time(s), the test waited for {n}",
                *self.arrivals.borrow()
            ),
        }
    }

    /// Lets every waiting and future update pass.
    pub fn open(&self) {
        self.opened.send_replace(true);
    }

    /// The engine's side: count the arrival, then wait until the gate opens.
    async fn pass(&self) {
        let mut opened = self.opened.subscribe();
        self.arrivals.send_modify(|a| *a += 1);
        let _ = opened.wait_for(|o| *o).await;
    }
}

#[derive(Default)]
pub struct FakeEngine {
    pub scripts: Mutex<HashMap<String, StackScript>>,
    pub calls: Mutex<Vec<String>>,
    /// The configuration each stack was last applied with: `key=value`.
    pub applied_config: Mutex<HashMap<String, Vec<String>>>,
    /// Updates running right now, and the most ever seen at once.
    pub in_flight: std::sync::atomic::AtomicUsize,
    pub max_in_flight: std::sync::atomic::AtomicUsize,
}

impl FakeEngine {
    pub fn with(scripts: &[(&str, StackScript)]) -> Arc<FakeEngine> {
        Arc::new(FakeEngine {
            scripts: Mutex::new(scripts.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
            calls: Mutex::new(vec![]),
            applied_config: Mutex::new(HashMap::new()),
            ..Default::default()
        })
    }

    fn script(&self, target: &StackTarget) -> StackScript {
        self.scripts
            .lock()
            .unwrap()
            .get(target.name.stack.as_str())
            .cloned()
            .unwrap_or_default()
    }

    pub fn set(&self, stack: &str, script: StackScript) {
        self.scripts.lock().unwrap().insert(stack.into(), script);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn steps(target: &StackTarget, script: &StackScript) -> Vec<ResourceStep> {
        script
            .steps
            .iter()
            .map(|(name, op)| ResourceStep {
                urn: format!(
                    "urn:pulumi:{}::{}::aws:s3/bucket:Bucket::{name}",
                    target.name.pulumi_stack(),
                    target.name.project
                ),
                resource_type: "aws:s3/bucket:Bucket".into(),
                name: name.to_string(),
                op: op.clone(),
                inputs: None,
                old_inputs: None,
            })
            .collect()
    }

    async fn run_up(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        let script = self.script(target);
        let steps = Self::steps(target, &script);
        for step in &steps {
            let _ = progress.send(Progress::StepStarted {
                urn: step.urn.clone(),
                resource_type: step.resource_type.clone(),
                op: step.op.clone(),
            });
            if let Some(gate) = &script.gate {
                tokio::select! {
                    _ = gate.pass() => {}
                    _ = cancel.cancelled() => {
                        return Err(EngineError::Cancelled { stack: target.name.pulumi_stack() });
                    }
                }
            }
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled {
                    stack: target.name.pulumi_stack(),
                });
            }
            let _ = progress.send(Progress::StepDone {
                urn: step.urn.clone(),
                resource_type: step.resource_type.clone(),
                op: step.op.clone(),
            });
        }
        if let Some(message) = script.up_error {
            return Err(EngineError::UpdateFailed {
                stack: target.name.pulumi_stack(),
                diagnostics: vec![message],
            });
        }
        Ok(StackApply {
            counts: Self::counts(&steps),
            diagnostics: vec![],
            duration_ms: 1,
            outputs: serde_json::json!({}),
        })
    }

    fn counts(steps: &[ResourceStep]) -> ChangeCounts {
        let mut counts = ChangeCounts::new();
        for s in steps {
            *counts.entry(s.op.to_string()).or_default() += 1;
        }
        counts
    }
}

#[async_trait]
impl Engine for FakeEngine {
    async fn version(&self) -> Result<String, EngineError> {
        Ok("v3.226.0-fake".into())
    }

    async fn preview(&self, target: &StackTarget, progress: &ProgressSink) -> Result<StackPreview, EngineError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("preview {}", target.name.stack));
        let script = self.script(target);
        if let Some(message) = script.preview_error {
            return Err(EngineError::PreviewFailed {
                stack: target.name.pulumi_stack(),
                diagnostics: vec![message],
            });
        }
        let steps = Self::steps(target, &script);
        let _ = progress.send(Progress::Line(format!("previewed {}", target.name.stack)));
        Ok(StackPreview {
            counts: Self::counts(&steps),
            steps,
            diagnostics: vec![],
            duration_ms: 1,
        })
    }

    async fn up(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        self.calls.lock().unwrap().push(format!("up {}", target.name.stack));
        self.applied_config.lock().unwrap().insert(
            target.name.stack.to_string(),
            target.config.iter().map(|c| format!("{}={}", c.key, c.value)).collect(),
        );
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let result = self.run_up(target, progress, cancel).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("destroy {}", target.name.stack));
        let _ = (progress, cancel);
        Ok(StackApply {
            counts: ChangeCounts::new(),
            diagnostics: vec![],
            duration_ms: 1,
            outputs: serde_json::json!({}),
        })
    }

    async fn preview_destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
    ) -> Result<StackPreview, EngineError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("preview-destroy {}", target.name.stack));
        let _ = progress;
        let steps: Vec<ResourceStep> = Self::steps(target, &self.script(target))
            .into_iter()
            .map(|mut s| {
                s.op = StepOp::Delete;
                s
            })
            .collect();
        Ok(StackPreview {
            counts: Self::counts(&steps),
            steps,
            diagnostics: vec![],
            duration_ms: 1,
        })
    }

    async fn export(&self, target: &StackTarget) -> Result<StackExport, EngineError> {
        self.calls.lock().unwrap().push(format!("export {}", target.name.stack));
        Ok(StackExport {
            resources: 3,
            pending_operations: vec!["creating vpc".into()],
        })
    }

    async fn outputs(&self, _target: &StackTarget) -> Result<serde_json::Value, EngineError> {
        Ok(serde_json::json!({}))
    }

    async fn unlock(&self, target: &StackTarget) -> Result<(), EngineError> {
        self.calls.lock().unwrap().push(format!("unlock {}", target.name.stack));
        Ok(())
    }
}

/// A deployment `D1BRV40` of project `ecommerce` with the given `(stack, depends_on)` list.
pub struct MemoryResolver {
    pub stacks: Vec<(&'static str, Vec<&'static str>)>,
    /// Content hash per stack; change it to simulate an edited program.
    pub hashes: Mutex<BTreeMap<String, String>>,
    /// Configuration per stack (none by default); part of the content hash, like the catalog's.
    pub config: Mutex<BTreeMap<String, Vec<ConfigValue>>>,
}

impl MemoryResolver {
    pub fn new(stacks: Vec<(&'static str, Vec<&'static str>)>) -> Arc<MemoryResolver> {
        Arc::new(MemoryResolver {
            stacks,
            hashes: Mutex::new(BTreeMap::new()),
            config: Mutex::new(BTreeMap::new()),
        })
    }
}

impl DeploymentResolver for MemoryResolver {
    fn resolve(&self, project: &str, env: &str, only: Option<&[StackName]>) -> Result<ResolvedDeployment, UserError> {
        if project != "ecommerce" {
            return Err(UserError::invalid(format!("no deployment for project `{project}`")));
        }
        let mut wave: HashMap<&str, u32> = HashMap::new();
        for (name, deps) in &self.stacks {
            let w = deps.iter().map(|d| wave[d] + 1).max().unwrap_or(0);
            wave.insert(name, w);
        }
        let hashes = self.hashes.lock().unwrap();
        let config = self.config.lock().unwrap();
        let mut stacks: Vec<ResolvedStack> = self
            .stacks
            .iter()
            .filter(|(name, _)| only.map(|o| o.iter().any(|s| s.as_str() == *name)).unwrap_or(true))
            .map(|(name, deps)| {
                let stack: StackName = name.parse().unwrap();
                ResolvedStack {
                    provider: Default::default(),
                    name: stack.clone(),
                    wave: wave[name],
                    depends_on: deps.iter().map(|d| d.parse().unwrap()).collect(),
                    target: StackTarget {
                        name: FullStackName {
                            org: "organization".into(),
                            project: project.into(),
                            deployment: "D1BRV40".parse().unwrap(),
                            stack,
                            env: env.into(),
                        },
                        workdir: PathBuf::from(format!("stacks/{name}")),
                        config: config.get(*name).cloned().unwrap_or_default(),
                        session_secrets: config
                            .values()
                            .flatten()
                            .filter(|c| c.secret)
                            .map(|c| c.value.clone())
                            .collect(),
                    },
                    content_hash: {
                        let base = hashes.get(*name).cloned().unwrap_or_else(|| format!("hash-{name}"));
                        match config.get(*name) {
                            Some(c) => format!(
                                "{base}:{}",
                                c.iter()
                                    .map(|v| format!("{}={}", v.key, v.value))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ),
                            None => base,
                        }
                    },
                }
            })
            .collect();
        stacks.sort_by_key(|s| s.wave);
        Ok(ResolvedDeployment {
            deployment_id: "D1BRV40".parse().unwrap(),
            org: "organization".into(),
            project: project.into(),
            env: env.into(),
            stacks,
        })
    }
}

/// A script whose update creates `names`.
pub fn creates(names: &[&'static str]) -> StackScript {
    StackScript {
        steps: names.iter().map(|n| (*n, StepOp::Create)).collect(),
        ..Default::default()
    }
}

/// An orchestrator over a fresh store: ecommerce in dev, stage and prod, four stacks (network;
/// security and dns on network; database-rds on network and security), every `cli:` user an
/// admin, `max_parallel` 4.
pub struct World {
    pub orch: Arc<cloud_core::orchestrator::Orchestrator>,
    pub engine: Arc<FakeEngine>,
    pub resolver: Arc<MemoryResolver>,
    pub store: cloud_core::store::Store,
    _dir: tempfile::TempDir,
}

impl World {
    /// The URL of the world's database, for a second store on it (another process).
    pub fn store_url(&self) -> String {
        format!("sqlite://{}", self._dir.path().join("cloud.db").display())
    }

    /// Another orchestrator on `store` with this world's engine and deployments (what another
    /// `cloud` process on the same database would be).
    pub fn orchestrator_on(&self, store: cloud_core::store::Store) -> Arc<cloud_core::orchestrator::Orchestrator> {
        use cloud_core::config::EnvironmentPolicy;
        use cloud_core::orchestrator::{Orchestrator, OrchestratorSettings};
        let environments = ["dev", "stage", "prod"]
            .iter()
            .map(|e| (e.to_string(), EnvironmentPolicy::default_for(e)))
            .collect();
        Orchestrator::new(
            store,
            self.engine.clone(),
            self.resolver.clone(),
            OrchestratorSettings {
                environments,
                max_parallel: 4,
                lease_ttl: cloud_core::orchestrator::DEFAULT_LEASE_TTL,
            },
        )
    }
}

pub async fn world(engine: Arc<FakeEngine>) -> World {
    use cloud_core::config::EnvironmentPolicy;
    use cloud_core::orchestrator::{Orchestrator, OrchestratorSettings};
    use cloud_core::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    store
        .sync_deployment(
            "D1BRV40",
            "acme-corp",
            "ecommerce",
            "aws",
            &["dev".into(), "stage".into(), "prod".into()],
            "deploy/D1BRV40-acme-corp-ecommerce",
        )
        .await
        .unwrap();
    let resolver = MemoryResolver::new(vec![
        ("network", vec![]),
        ("security", vec!["network"]),
        ("dns", vec!["network"]),
        ("database-rds", vec!["network", "security"]),
    ]);
    let environments = ["dev", "stage", "prod"]
        .iter()
        .map(|e| (e.to_string(), EnvironmentPolicy::default_for(e)))
        .collect();
    let orch = Orchestrator::new(
        store.clone(),
        engine.clone(),
        resolver.clone(),
        OrchestratorSettings {
            environments,
            max_parallel: 4,
            lease_ttl: cloud_core::orchestrator::DEFAULT_LEASE_TTL,
        },
    );
    World {
        orch,
        engine,
        resolver,
        store,
        _dir: dir,
    }
}
