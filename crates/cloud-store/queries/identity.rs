//! API tokens and people (linked identities). Every change is audited in its own transaction.

use super::audit::append;
use crate::Store;
use cloud_domain::session::Principal;
use cloud_store::identity::{projects_text, StoredToken};
use cloud_store::time::{format_time, now_text};
use cloud_store::{NewAudit, NewToken, PersonLink, StoreError, StoreResult, TokenRow};

impl Store {
    /// Store a new token (its hash) and audit its creation (never the secret).
    pub async fn create_token(&self, token: NewToken) -> StoreResult<TokenRow> {
        let id = format!("T{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let (principal, role, now) = (token.principal.to_string(), token.role.as_str(), now_text());
        let (projects, expires_at) = (projects_text(&token.projects), format_time(token.expires_at));
        let mut tx = self.begin_write().await?;
        sqlx::query!(
            "INSERT INTO api_tokens (id, principal, token_hash, role, projects, label, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            id,
            principal,
            token.token_hash,
            role,
            projects,
            token.label,
            token.created_by,
            now,
            expires_at,
        )
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: token.created_by.clone(),
                action: "token.created".into(),
                session_id: None,
                project: None,
                details: serde_json::json!({
                    "token": id, "principal": principal, "role": role,
                    "projects": projects, "expires_at": expires_at, "label": token.label,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.token(&id).await
    }

    pub async fn token(&self, id: &str) -> StoreResult<TokenRow> {
        sqlx::query_as!(
            StoredToken,
            r#"SELECT id, principal, role, projects, label, created_by, created_at, expires_at, revoked_at
               FROM api_tokens WHERE id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("no token `{id}`; `cloud tokens list` shows them")))?
        .try_into()
    }

    /// The token whose secret hashes to `hash`, revoked or expired ones included (the caller
    /// says which it was).
    pub async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRow>> {
        sqlx::query_as!(
            StoredToken,
            r#"SELECT id, principal, role, projects, label, created_by, created_at, expires_at, revoked_at
               FROM api_tokens WHERE token_hash = $1"#,
            hash
        )
        .fetch_optional(&self.pool)
        .await?
        .map(TokenRow::try_from)
        .transpose()
    }

    /// Tokens, optionally of one principal, revoked ones only when asked; oldest first.
    pub async fn tokens(&self, principal: Option<&Principal>, include_revoked: bool) -> StoreResult<Vec<TokenRow>> {
        let principal = principal.map(|p| p.to_string());
        let rows = sqlx::query_as!(
            StoredToken,
            r#"SELECT id, principal, role, projects, label, created_by, created_at, expires_at, revoked_at
               FROM api_tokens
               WHERE (CAST($1 AS TEXT) IS NULL OR principal = $1) AND ($2 OR revoked_at IS NULL)
               ORDER BY created_at, id"#,
            principal,
            include_revoked,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TokenRow::try_from).collect()
    }

    pub async fn revoke_token(&self, id: &str, by: &str, reason: &str) -> StoreResult<TokenRow> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query!(
            "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
            now,
            by,
            id,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "no active token `{id}`; `cloud tokens list` shows the active ones"
            )));
        }
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: by.to_string(),
                action: "token.revoked".into(),
                session_id: None,
                project: None,
                details: serde_json::json!({"token": id, "reason": reason}),
            },
        )
        .await?;
        tx.commit().await?;
        self.token(id).await
    }

    /// Link `principals` to `person` (moving any that belonged to another person), audited.
    pub async fn link_person(&self, person: &str, principals: &[Principal], by: &str) -> StoreResult<Vec<PersonLink>> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        for principal in principals {
            let p = principal.to_string();
            sqlx::query!(
                "INSERT INTO people (principal, person, linked_by, linked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (principal) DO UPDATE SET person = excluded.person,
                   linked_by = excluded.linked_by, linked_at = excluded.linked_at",
                p,
                person,
                by,
                now,
            )
            .execute(&mut *tx)
            .await?;
        }
        let names: Vec<String> = principals.iter().map(|p| p.to_string()).collect();
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: by.to_string(),
                action: "person.linked".into(),
                session_id: None,
                project: None,
                details: serde_json::json!({"person": person, "principals": names}),
            },
        )
        .await?;
        tx.commit().await?;
        self.person_links(person).await
    }

    /// The identities linked to `person`, by principal.
    pub async fn person_links(&self, person: &str) -> StoreResult<Vec<PersonLink>> {
        let rows = sqlx::query!(
            r#"SELECT principal AS "principal!", person, linked_by, linked_at FROM people
               WHERE person = $1 ORDER BY principal"#,
            person
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(PersonLink {
                    principal: r.principal.parse().map_err(|e| {
                        StoreError::Corrupt(format!("people row {}: column principal: {e}", r.principal))
                    })?,
                    person: r.person,
                    linked_by: r.linked_by,
                    linked_at: r.linked_at,
                })
            })
            .collect()
    }

    /// The person `principal` belongs to, if it was linked to one.
    pub async fn person_of(&self, principal: &Principal) -> StoreResult<Option<String>> {
        let p = principal.to_string();
        Ok(sqlx::query_scalar!("SELECT person FROM people WHERE principal = $1", p)
            .fetch_optional(&self.pool)
            .await?)
    }
}
