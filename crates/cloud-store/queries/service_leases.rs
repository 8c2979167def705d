//! Leader leases of `cloud serve` replicas (the rules are in cloud-store's `service_leases`).
//! Taking and releasing run in one write transaction each, so two replicas can never both come
//! out of [`Store::take_service_lease`] holding the same role.

use std::time::Duration;

use super::leases::expiry;
use crate::{Conn, Store};
use cloud_store::service_leases::StoredServiceLease;
use cloud_store::time::now_text;
use cloud_store::{lease_owner_is_gone, ServiceLease, StoreError, StoreResult};

/// The lease row of role `name`, read on `conn`.
async fn service_lease_row(conn: &mut Conn, name: &str) -> StoreResult<Option<ServiceLease>> {
    sqlx::query_as!(
        StoredServiceLease,
        r#"SELECT name AS "name!", owner, token, expires_at FROM service_leases WHERE name = $1"#,
        name
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(ServiceLease::try_from)
    .transpose()
}

impl Store {
    /// Take (or keep) the leader lease `name` for `owner`, valid for `ttl`: a new lease starts at
    /// token 1; the holder taking it again extends it; an expired lease, or one whose owner
    /// provably died on this host, is claimed (token + 1). `None` while another owner's lease
    /// runs.
    pub async fn take_service_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ServiceLease>> {
        let (now, expires) = (now_text(), expiry(ttl));
        let mut tx = self.begin_write().await?;
        match service_lease_row(&mut tx, name).await? {
            None => {
                sqlx::query!(
                    "INSERT INTO service_leases (name, owner, token, acquired_at, expires_at) VALUES ($1, $2, 1, $3, $4)",
                    name,
                    owner,
                    now,
                    expires,
                )
                .execute(&mut *tx)
                .await?;
            }
            Some(current) if current.owner == owner => {
                sqlx::query!(
                    "UPDATE service_leases SET expires_at = $1 WHERE name = $2 AND owner = $3",
                    expires,
                    name,
                    owner,
                )
                .execute(&mut *tx)
                .await?;
            }
            Some(current) if current.expires_at <= chrono::Utc::now() || lease_owner_is_gone(&current.owner) => {
                sqlx::query!(
                    "UPDATE service_leases SET owner = $1, token = token + 1, acquired_at = $2, expires_at = $3
                     WHERE name = $4 AND owner = $5 AND token = $6",
                    owner,
                    now,
                    expires,
                    name,
                    current.owner,
                    current.token,
                )
                .execute(&mut *tx)
                .await?;
            }
            Some(_) => return Ok(None),
        }
        let lease = service_lease_row(&mut tx, name).await?;
        tx.commit().await?;
        match lease {
            Some(l) if l.owner == owner => Ok(Some(l)),
            Some(_) => Ok(None),
            None => Err(StoreError::Corrupt(format!(
                "leader lease {name}: vanished while it was taken"
            ))),
        }
    }

    /// Give the leader lease `name` back, if `owner` holds it (a replica that stops hands the
    /// role over at once instead of after the TTL). Returns whether one was released.
    pub async fn release_service_lease(&self, name: &str, owner: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query!("DELETE FROM service_leases WHERE name = $1 AND owner = $2", name, owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The leader lease `name`, if anyone holds (or held) it.
    pub async fn service_lease(&self, name: &str) -> StoreResult<Option<ServiceLease>> {
        let mut conn = self.pool.acquire().await?;
        service_lease_row(&mut conn, name).await
    }
}
