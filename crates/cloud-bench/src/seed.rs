//! Past sessions written straight into the database, for the benches that need a store with a
//! history (`history`, `chat`): copies of one real session the bench ran (its plan document,
//! per-stack rows, approvals, its event log — state changes, approvals and the engine output
//! batches cut after the first `log_lines` output items — and audit rows that keep the hash chain
//! valid), spread over the year before the run across the project's environments, mostly APPLIED,
//! some FAILED, CANCELLED and EXPIRED — what a busy team's year leaves behind.

use sqlx::Row;

use cloud_core::store::{NewAudit, Store};
use cloud_domain::session::SessionId;

/// The rows of one real session, copied to make history.
pub struct Template {
    pub project: String,
    deployment_id: String,
    requester: String,
    operation: String,
    stacks: String,
    plan: Option<String>,
    plan_z: Option<Vec<u8>>,
    digest: Option<String>,
    stack_rows: Vec<(String, i64, i64, String, String, Option<String>)>,
    approvals: Vec<(String, String)>,
    /// The session's event log (`session_events`: state changes, approvals, engine output
    /// batches) in order, its output cut after the first `--log-lines` output items.
    pub events: Vec<(String, String)>,
}

pub async fn template(store: &Store, id: SessionId, log_lines: u32) -> anyhow::Result<Template> {
    let pool = store.pool();
    let sid = id.to_string();
    let s = sqlx::query(
        "SELECT project, deployment_id, requester, operation, stacks, plan, plan_z, digest FROM sessions WHERE id = $1",
    )
    .bind(&sid)
    .fetch_one(pool)
    .await?;
    let stack_rows = sqlx::query(
        "SELECT stack, position, wave, counts, updated_at, config FROM session_stacks WHERE session_id = $1",
    )
    .bind(&sid)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    .collect();
    let approvals = sqlx::query("SELECT approver, digest FROM approvals WHERE session_id = $1")
        .bind(&sid)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let events = truncate_output(
        sqlx::query("SELECT kind, payload, payload_z FROM session_events WHERE session_id = $1 ORDER BY id")
            .bind(&sid)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok((
                    r.get(0),
                    cloud_store::blob::decode("session_events", r.get(1), r.get(2))?,
                ))
            })
            .collect::<anyhow::Result<_>>()?,
        log_lines as usize,
    )?;
    Ok(Template {
        project: s.get(0),
        deployment_id: s.get(1),
        requester: s.get(2),
        operation: s.get(3),
        stacks: s.get(4),
        plan: s.get(5),
        plan_z: s.get(6),
        digest: s.get(7),
        stack_rows,
        approvals,
        events,
    })
}

/// Keep every event, but only the first `lines` items (engine lines and steps) of the output batches (`"items"`
/// of an `output` event): a batch past the limit is cut, later batches dropped.
fn truncate_output(events: Vec<(String, String)>, lines: usize) -> anyhow::Result<Vec<(String, String)>> {
    let mut left = lines;
    let mut out = Vec::with_capacity(events.len());
    for (kind, payload) in events {
        if kind != "output" {
            out.push((kind, payload));
            continue;
        }
        if left == 0 {
            continue;
        }
        let mut value: serde_json::Value = serde_json::from_str(&payload)?;
        if let Some(items) = value.get_mut("items").and_then(|i| i.as_array_mut()) {
            items.truncate(left);
            left -= items.len();
        }
        out.push((kind, value.to_string()));
    }
    Ok(out)
}

/// The engine output items of `events` (the `items` of its `output` batches).
pub fn output_items(events: &[(String, String)]) -> usize {
    events
        .iter()
        .filter(|(kind, _)| kind == "output")
        .filter_map(|(_, payload)| serde_json::from_str::<serde_json::Value>(payload).ok())
        .map(|v| v["items"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Write `count` past sessions copied from `t`, numbered from `first` (which fixes their time:
/// spread over the year before `origin`, older numbers later in the year so every batch stays
/// older than the sessions the bench itself creates).
pub async fn generate(
    store: &Store,
    t: &Template,
    first: u64,
    count: u64,
    total: u64,
    origin: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use cloud_store::time::format_time;
    let pool = store.pool();
    let envs = ["dev", "stage", "prod"];
    let requesters = [
        t.requester.clone(),
        "cli:alice".into(),
        "discord:80351110224678912".into(),
        "slack:U024BE7LH".into(),
    ];
    let year = chrono::Duration::days(365);
    let mut last_audit: Option<(i64, String)> =
        sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get(0), r.get(1)));
    let mut n = first;
    while n < first + count {
        let batch_end = (n + 1000).min(first + count);
        let mut tx = pool.begin().await?;
        for k in n..batch_end {
            // Session k of `total` sits k/total of the way back through the year.
            let created = origin - chrono::Duration::minutes(5) - year * (k as i32 + 1) / (total.max(1) as i32 + 1);
            let finished = created + chrono::Duration::minutes(4);
            let (created_s, finished_s) = (format_time(created), format_time(finished));
            let id = SessionId::new();
            let sid = id.to_string();
            let env = envs[(k % 3) as usize];
            let requester = &requesters[(k % 4) as usize];
            let (state, reason) = match k % 10 {
                0 => ("FAILED", Some("the update of database-rds failed: exit 255")),
                1 => ("CANCELLED", Some("cancelled from the CLI")),
                2 => ("EXPIRED", Some("the plan is older than the 1h TTL of dev")),
                _ => ("APPLIED", None),
            };
            sqlx::query(
                "INSERT INTO sessions (id, project, env, deployment_id, requester, state, operation, stacks, plan,
                    digest, approvals_required, allow_self_approve, reason, created_at, updated_at, plan_ready_at,
                    finished_at, plan_z)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, 1, $11, $12, $13, $12, $13, $14)",
            )
            .bind(&sid)
            .bind(&t.project)
            .bind(env)
            .bind(&t.deployment_id)
            .bind(requester)
            .bind(state)
            .bind(&t.operation)
            .bind(&t.stacks)
            .bind(&t.plan)
            .bind(&t.digest)
            .bind(reason)
            .bind(&created_s)
            .bind(&finished_s)
            .bind(&t.plan_z)
            .execute(&mut *tx)
            .await?;
            let stack_state = if state == "APPLIED" { "applied" } else { "skipped" };
            for (stack, position, wave, counts, _, config) in &t.stack_rows {
                sqlx::query(
                    "INSERT INTO session_stacks (session_id, stack, position, wave, state, counts, updated_at, config)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&sid)
                .bind(stack)
                .bind(position)
                .bind(wave)
                .bind(stack_state)
                .bind(counts)
                .bind(&finished_s)
                .bind(config)
                .execute(&mut *tx)
                .await?;
            }
            for (approver, digest) in &t.approvals {
                sqlx::query("INSERT INTO approvals (session_id, approver, digest, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&sid)
                    .bind(approver)
                    .bind(digest)
                    .bind(&created_s)
                    .execute(&mut *tx)
                    .await?;
            }
            for (kind, payload) in &t.events {
                // Stored as the store stores them: large output batches compressed.
                let (text, blob) = match kind.as_str() {
                    "output" => cloud_store::blob::encode(payload),
                    _ => (payload.as_str(), None),
                };
                sqlx::query(
                    "INSERT INTO session_events (session_id, kind, payload, payload_z, at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&sid)
                .bind(kind)
                .bind(text)
                .bind(blob)
                .bind(&finished_s)
                .execute(&mut *tx)
                .await?;
            }
            for (action, details) in [
                ("session.created", serde_json::json!({"env": env, "stacks": t.stacks})),
                ("session.approve", serde_json::json!({"digest": t.digest})),
                (
                    "session.transition",
                    serde_json::json!({"from": "APPLYING", "to": state}),
                ),
            ] {
                let row = cloud_store::audit::next_row(
                    last_audit.take(),
                    &NewAudit {
                        actor: requester.clone(),
                        action: action.into(),
                        session_id: Some(id),
                        project: Some(t.project.clone()),
                        details,
                    },
                );
                sqlx::query(
                    "INSERT INTO audit_events (seq, at, actor, action, session_id, project, details, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(row.seq)
                .bind(&row.at)
                .bind(&row.actor)
                .bind(&row.action)
                .bind(&row.session_id)
                .bind(&row.project)
                .bind(&row.details)
                .bind(&row.prev_hash)
                .bind(&row.hash)
                .execute(&mut *tx)
                .await?;
                last_audit = Some((row.seq, row.hash));
            }
            if state == "APPLIED" {
                // What the APPLIED transition maintains: the stack's latest applied session,
                // unless a newer one already is.
                sqlx::query(
                    "INSERT INTO stack_heads (project, env, stack, session_id, finished_at)
                     SELECT $1, $2, stack, $3, $4 FROM session_stacks WHERE session_id = $3
                     ON CONFLICT (project, env, stack) DO UPDATE
                        SET session_id = excluded.session_id, finished_at = excluded.finished_at
                        WHERE excluded.finished_at > stack_heads.finished_at",
                )
                .bind(&t.project)
                .bind(env)
                .bind(&sid)
                .bind(&finished_s)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        n = batch_end;
    }
    Ok(())
}
