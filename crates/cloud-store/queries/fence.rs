//! The fence check: a write made under a session lease runs it, inside its own write
//! transaction and before its write, so a process whose lease was claimed by another changes
//! nothing. Session writes and lease administration both use it, so it sits below both.

use crate::Conn;
use cloud_domain::session::SessionId;
use cloud_store::{Fence, StoreError, StoreResult};

/// Fail with [`StoreError::Fenced`] unless the lease of `id` still has the fence's owner and
/// token. Runs inside the caller's write transaction, before its write.
pub(crate) async fn check_fence(conn: &mut Conn, id: SessionId, fence: Option<&Fence>) -> StoreResult<()> {
    let Some(fence) = fence else { return Ok(()) };
    let sid = id.to_string();
    let held = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM session_leases WHERE session_id = $1 AND owner = $2 AND token = $3) AS "held!: bool""#,
        sid,
        fence.owner,
        fence.token,
    )
    .fetch_one(&mut *conn)
    .await?;
    if held {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            session: id,
            token: fence.token,
        })
    }
}
