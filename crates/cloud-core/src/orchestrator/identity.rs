//! Verified identities: API tokens and people.
//!
//! A token is how the CLI proves who it acts for when it talks to a shared store
//! (`access.local_cli_admin: false`): an admin creates one for a person (`cloud tokens create`),
//! or a person gets one for themselves from chat (`/cloud-token`, where the platform already
//! verified them). Its secret is shown once; the store keeps its sha256. A token is capped at a
//! role and optionally some projects, and always expires.
//!
//! People: `cloud people link <person> discord:… slack:… cli:…` ties identities into one person,
//! so four-eyes never counts one person twice because they clicked from two front ends.

use std::time::Duration;

use rand::RngCore;
use tracing::info;

use super::{OrchResult, Orchestrator};
use crate::policy::{Actor, Intent, Role, TokenScope};
use crate::store::{NewToken, PersonLink, TokenRow};
use cloud_domain::error::UserError;
use cloud_domain::session::Principal;
use cloud_store::identity::{token_hash, TOKEN_PREFIX};

/// How long a token lives when nobody says (`--for`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest a token may live: a token that never expires is a password nobody rotates.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// What `tokens create` needs.
#[derive(Debug, Clone)]
pub struct TokenParams {
    /// Who the token speaks for.
    pub principal: Principal,
    /// The most the token may do (the holder's own grants still apply).
    pub role: Role,
    /// Only these projects; `None`: every project.
    pub projects: Option<Vec<String>>,
    /// How long it lives (default [`DEFAULT_TOKEN_TTL`]).
    pub ttl: Option<Duration>,
    pub label: String,
}

/// A token just created: the row and its secret, which exists nowhere else — show it once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub row: TokenRow,
    pub secret: secrecy::SecretString,
}

/// A fresh token secret: the prefix and 256 random bits from the OS, hex.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

impl Orchestrator {
    /// Create a token. Anyone may create one for themselves (it can never do more than they can);
    /// a token for someone else needs `admin` on every project. An actor that is itself using a
    /// token cannot mint more (a stolen token must not outlive its own expiry).
    pub async fn create_token(&self, actor: impl Into<Actor>, params: TokenParams) -> OrchResult<IssuedToken> {
        let actor = actor.into();
        if actor.principal != params.principal {
            self.gate(&actor, "*", "*", Intent::Administer).await?;
        }
        if let Some(scope) = &actor.token {
            return Err(UserError::denied(format!(
                "a token cannot create tokens (you are using token {}); get one from chat (/cloud-token) or ask an admin: cloud tokens create {} --role {}",
                scope.token_id, actor.principal, params.role
            ))
            .into());
        }
        super::admin::check_principal(&params.principal)?;
        let ttl = params.ttl.unwrap_or(DEFAULT_TOKEN_TTL);
        if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
            return Err(UserError::invalid(format!(
                "--for {} is out of range: a token lives more than 0 and at most 366 days (default 30d)",
                humantime::format_duration(ttl)
            ))
            .into());
        }
        if let Some(projects) = &params.projects {
            if projects.is_empty() {
                return Err(
                    UserError::invalid("--project needs a project name (leave it out for every project)").into(),
                );
            }
            for p in projects {
                self.known_project(p).await?;
            }
        }
        let label = params.label.trim().to_string();
        if !label.is_empty() {
            cloud_domain::input::check_text("the label", &label, 100, false).map_err(UserError::invalid)?;
        }
        let secret = new_secret();
        let expires_at = self.now() + chrono::Duration::from_std(ttl).expect("bounded above");
        let row = self
            .store
            .create_token(NewToken {
                principal: params.principal,
                token_hash: token_hash(&secret),
                role: params.role,
                projects: params.projects,
                label,
                created_by: actor.principal.to_string(),
                expires_at,
            })
            .await?;
        info!(token = %row.id, principal = %row.principal, role = %row.role, by = %actor.principal, "token created");
        Ok(IssuedToken {
            row,
            secret: secret.into(),
        })
    }

    /// Tokens (active ones unless `all`): every token for an admin, one's own otherwise.
    pub async fn tokens(&self, actor: impl Into<Actor>, all: bool) -> OrchResult<Vec<TokenRow>> {
        let actor = actor.into();
        let admin = self.gate(&actor, "*", "*", Intent::Administer).await.is_ok();
        let who = (!admin).then_some(&actor.principal);
        let now = self.now();
        let rows = self.store.tokens(who, all).await?;
        Ok(rows.into_iter().filter(|t| all || t.is_active(now)).collect())
    }

    /// Revoke a token: one's own, or anyone's for an admin.
    pub async fn revoke_token(&self, actor: impl Into<Actor>, id: &str, reason: &str) -> OrchResult<TokenRow> {
        let actor = actor.into();
        let unknown = || UserError::invalid(format!("no active token `{id}`; `cloud tokens list` shows yours"));
        let token = self.store.token(id.trim()).await.map_err(|_| unknown())?;
        if token.principal != actor.principal {
            // Not the holder: only an admin may, and a non-admin learns nothing about the token.
            self.gate(&actor, "*", "*", Intent::Administer)
                .await
                .map_err(|_| unknown())?;
        }
        let reason = super::admin::require_reason(reason, "revoking a token")?;
        let row = self
            .store
            .revoke_token(&token.id, &actor.principal.to_string(), &reason)
            .await?;
        info!(token = %row.id, by = %actor.principal, "token revoked");
        Ok(row)
    }

    /// Who a token secret speaks for, and what it allows. Refuses (exit 3) an unknown, revoked
    /// or expired token, saying which and how to get a new one.
    pub async fn identify_token(&self, secret: &str) -> OrchResult<Actor> {
        let secret = secret.trim();
        let fix = "get a new one from chat (/cloud-token) or ask an admin (`cloud tokens create <you>`)";
        if !secret.starts_with(TOKEN_PREFIX) {
            return Err(UserError::denied(format!(
                "CLOUD_TOKEN is not a cloud-engine token (they start with `{TOKEN_PREFIX}`); {fix}"
            ))
            .into());
        }
        let Some(token) = self.store.token_by_hash(&token_hash(secret)).await? else {
            return Err(UserError::denied(format!("this token is not known here; {fix}")).into());
        };
        if token.revoked_at.is_some() {
            return Err(UserError::denied(format!("token {} was revoked; {fix}", token.id)).into());
        }
        if token.expires_at <= self.now() {
            return Err(UserError::denied(format!(
                "token {} expired at {}; {fix}",
                token.id,
                token.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
            .into());
        }
        Ok(Actor::with_token(
            token.principal.clone(),
            TokenScope {
                token_id: token.id,
                role: token.role,
                projects: token.projects,
            },
        ))
    }

    /// Tie identities into one person (admin on every project). A principal already linked to
    /// another person moves to this one.
    pub async fn link_people(
        &self,
        actor: impl Into<Actor>,
        person: &str,
        principals: &[Principal],
    ) -> OrchResult<Vec<PersonLink>> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        let person = person.trim();
        let ok = !person.is_empty()
            && person.len() <= 63
            && person
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            return Err(UserError::invalid(format!(
                "`{}` is not a person name: use 1–63 of a-z 0-9 - _ . (e.g. alice)",
                cloud_domain::input::escape_for_display(person)
            ))
            .into());
        }
        if principals.is_empty() {
            return Err(
                UserError::invalid("name at least one identity to link: discord:<id> slack:<id> cli:<name>").into(),
            );
        }
        for p in principals {
            super::admin::check_principal(p)?;
        }
        let links = self
            .store
            .link_person(person, principals, &actor.principal.to_string())
            .await?;
        info!(person, by = %actor.principal, "people linked");
        Ok(links)
    }

    /// Whether `a` and `b` are the same person (equal, or linked to one person).
    pub(crate) async fn same_person(&self, a: &Principal, b: &Principal) -> OrchResult<bool> {
        Ok(self.store.same_person(a, b).await?)
    }
}
