//! Who may do what: grants from the store, bootstrap admins and chat-group mappings from
//! configuration. Checked at every intent, at the moment it happens (an Approve click included),
//! so an expired grant never authorises.

use std::sync::Arc;

use crate::config::RoleMapping;
use crate::store::{Store, StoreError};
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal};

use super::{Intent, Role};

/// A source of "now", injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}

/// A principal plus the chat groups it belongs to (Discord role ids, Slack user-group ids), as the
/// adapter saw them on this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub principal: Principal,
    pub groups: Vec<String>,
    /// Set when the actor proved who it is with an API token: the token's limits (a role cap and
    /// optionally a list of projects) apply on top of the principal's own roles.
    pub token: Option<TokenScope>,
}

/// What an API token allows: at most `role`, and only on `projects` when it names some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    pub token_id: String,
    pub role: Role,
    /// `None`: every project.
    pub projects: Option<Vec<String>>,
}

impl TokenScope {
    /// The role the token lets its holder use on `project`, given the role they hold there.
    fn cap(&self, project: &str, held: Option<Role>) -> Option<Role> {
        if let Some(projects) = &self.projects {
            if !projects.iter().any(|p| p == project) {
                return None;
            }
        }
        held.map(|r| r.min(self.role))
    }
}

impl From<Principal> for Actor {
    fn from(principal: Principal) -> Self {
        Actor {
            principal,
            groups: vec![],
            token: None,
        }
    }
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        Actor {
            principal: principal.clone(),
            groups: vec![],
            token: None,
        }
    }
}

impl From<&Actor> for Actor {
    fn from(actor: &Actor) -> Self {
        actor.clone()
    }
}

impl Actor {
    /// A principal with the chat groups (Discord role ids, Slack user-group ids) it holds.
    pub fn with_groups(principal: Principal, groups: Vec<String>) -> Actor {
        Actor {
            principal,
            groups,
            token: None,
        }
    }

    /// A principal proven by an API token, limited to what the token allows.
    pub fn with_token(principal: Principal, scope: TokenScope) -> Actor {
        Actor {
            principal,
            groups: vec![],
            token: Some(scope),
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.principal.fmt(f)
    }
}

/// The access policy.
#[derive(Clone)]
pub struct Access {
    store: Store,
    admins: Vec<Principal>,
    role_mappings: Vec<RoleMapping>,
    /// Every `cli:` principal is an admin: for a single-user local checkout, where whoever runs
    /// `cloud` can also write the SQLite file. Never true for a shared bot.
    local_cli_admin: bool,
    clock: Clock,
}

impl Access {
    pub(crate) fn new(
        store: Store,
        admins: Vec<Principal>,
        role_mappings: Vec<RoleMapping>,
        local_cli_admin: bool,
        clock: Clock,
    ) -> Access {
        Access {
            store,
            admins,
            role_mappings,
            local_cli_admin,
            clock,
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.clock)()
    }

    /// Whether the actor is a bootstrap admin (configuration), regardless of project.
    pub(crate) fn is_bootstrap_admin(&self, actor: &Actor) -> bool {
        self.admins.contains(&actor.principal) || (self.local_cli_admin && actor.principal.platform == Platform::Cli)
    }

    /// The highest role the actor holds on `project`/`env` right now (`env = "*"` asks for a
    /// project-wide role).
    pub(crate) async fn role_of(&self, actor: &Actor, project: &str, env: &str) -> Result<Option<Role>, StoreError> {
        let held = self.role_held(actor, project, env).await?;
        Ok(match &actor.token {
            Some(scope) => scope.cap(project, held),
            None => held,
        })
    }

    /// The highest role the principal holds, before any token limit.
    async fn role_held(&self, actor: &Actor, project: &str, env: &str) -> Result<Option<Role>, StoreError> {
        if self.is_bootstrap_admin(actor) {
            return Ok(Some(Role::Admin));
        }
        let now = self.now();
        let mut best: Option<Role> = None;
        for grant in self.store.grants(Some(&actor.principal), None, false).await? {
            let env_ok = grant.env == "*" || grant.env == env;
            if grant.is_active(now) && (grant.project == project || grant.project == "*") && env_ok {
                best = best.max(Some(grant.role));
            }
        }
        for mapping in &self.role_mappings {
            let platform_ok = mapping.platform == actor.principal.platform.as_str();
            let env_ok = mapping.env == "*" || mapping.env == env;
            if platform_ok
                && env_ok
                && (mapping.project == project || mapping.project == "*")
                && actor.groups.contains(&mapping.group)
            {
                if let Ok(role) = mapping.role.parse::<Role>() {
                    best = best.max(Some(role));
                }
            }
        }
        Ok(best)
    }

    /// Allow the intent or explain what is missing and how to get it.
    pub async fn require(&self, actor: &Actor, project: &str, env: &str, intent: Intent) -> Result<Role, AccessError> {
        let needed = intent.required_role();
        let held = self.role_of(actor, project, env).await?;
        match held {
            Some(role) if role >= needed => Ok(role),
            _ => Err(AccessError::Denied(denial(actor, project, env, intent, held))),
        }
    }
}

/// The refusal text: which grant is missing and the exact command an admin runs to give it.
pub(crate) fn denial(actor: &Actor, project: &str, env: &str, intent: Intent, held: Option<Role>) -> UserError {
    let needed = intent.required_role();
    let who = &actor.principal;
    let scope = if env == "*" {
        project.to_string()
    } else {
        format!("{project}/{env}")
    };
    let has = held
        .map(|r| format!("you have `{r}` there"))
        .unwrap_or_else(|| "you have no grant there".into());
    let env_flag = if env == "*" {
        String::new()
    } else {
        format!(" --env {env}")
    };
    let project_arg = if project == "*" { "'*'" } else { project };
    UserError::denied(format!(
        "you need `{needed}` on {scope} to {} it ({who}: {has}); ask an admin: cloud grant {who} {project_arg} {needed}{env_flag} --for 2h --reason \"…\" (in chat: /cloud-grant)",
        intent.describe()
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Denied(UserError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
