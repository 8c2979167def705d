//! An in-process [`Engine`] that floods: each stack's update prints `lines` output lines as fast as
//! the runtime lets it. Used by the Discord streaming test and `cloud bench discord` to push a
//! 20 000-line apply through the chat path without waiting for a real engine.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use cloud_core::engine::{
    ChangeCounts, Engine, EngineError, Progress, ProgressSink, ResourceStep, StackApply, StackPreview, StackTarget,
    StepOp,
};

/// The line `i` of a stack's flood: `flood line 00042 of network` (tests look for each).
pub fn flood_line(stack: &str, i: usize) -> String {
    format!("flood line {i:05} of {stack}")
}

pub struct FloodEngine {
    pub lines: usize,
}

fn step(target: &StackTarget) -> ResourceStep {
    ResourceStep {
        urn: format!(
            "urn:pulumi:{}::{}::aws:s3/bucket:Bucket::flood",
            target.name.pulumi_stack(),
            target.name.project
        ),
        resource_type: "aws:s3/bucket:Bucket".into(),
        name: "flood".into(),
        op: StepOp::Create,
        inputs: None,
        old_inputs: None,
    }
}

fn counts() -> ChangeCounts {
    [("create".to_string(), 1u64)].into_iter().collect()
}

#[async_trait]
impl Engine for FloodEngine {
    async fn version(&self) -> Result<String, EngineError> {
        Ok("v3.0.0-flood".into())
    }

    async fn preview(&self, target: &StackTarget, _progress: &ProgressSink) -> Result<StackPreview, EngineError> {
        Ok(StackPreview {
            steps: vec![step(target)],
            counts: counts(),
            diagnostics: vec![],
            duration_ms: 1,
        })
    }

    async fn preview_destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
    ) -> Result<StackPreview, EngineError> {
        self.preview(target, progress).await
    }

    async fn up(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        let s = step(target);
        let _ = progress.send(Progress::StepStarted {
            urn: s.urn.clone(),
            resource_type: s.resource_type.clone(),
            op: s.op.clone(),
        });
        for i in 0..self.lines {
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled {
                    stack: target.name.pulumi_stack(),
                });
            }
            let _ = progress.send(Progress::Line(flood_line(target.name.stack.as_str(), i)));
            // About 25 000 lines a second: far faster than any real engine, slow enough that the
            // event broadcast (4096 deep) is not overrun by the flood itself.
            if i % 25 == 24 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        let _ = progress.send(Progress::StepDone {
            urn: s.urn,
            resource_type: s.resource_type,
            op: s.op,
        });
        Ok(StackApply {
            counts: counts(),
            diagnostics: vec![],
            duration_ms: 1,
            outputs: serde_json::json!({}),
        })
    }

    async fn destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        self.up(target, progress, cancel).await
    }

    async fn outputs(&self, _target: &StackTarget) -> Result<serde_json::Value, EngineError> {
        Ok(serde_json::json!({}))
    }

    async fn unlock(&self, _target: &StackTarget) -> Result<(), EngineError> {
        Ok(())
    }
}
