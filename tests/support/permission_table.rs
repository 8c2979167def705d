//! The permission matrix every front end is checked against (Discord, Slack and the CLI with an
//! API token in `tests/trust_boundaries.rs`; the API has its own table in `api_permissions.rs`).
//!
//! The expectation is written from the policy's rules (docs/access.md), not per cell: roles are
//! ordered (`read` < `deploy` < `approve` < `admin`, each allowing what the ones before it
//! allow); a grant on ecommerce/dev counts in dev only, a grant on ecommerce/* everywhere; a
//! command needs its role on the session's environment, or project-wide for project settings
//! (quotas). Every cell is asked through the front end and must be refused for permissions
//! exactly when the table says so.
#![allow(dead_code)]

/// Who asks: a name, the role they hold on ecommerce (`None`: no grant) and where.
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    pub name: &'static str,
    pub role: Option<&'static str>,
    /// The grant's environment: `dev`, or `*` for the whole project.
    pub env: &'static str,
}

pub const HOLDERS: [Holder; 6] = [
    Holder {
        name: "nobody",
        role: None,
        env: "dev",
    },
    Holder {
        name: "reader",
        role: Some("read"),
        env: "dev",
    },
    Holder {
        name: "deployer",
        role: Some("deploy"),
        env: "dev",
    },
    Holder {
        name: "approver",
        role: Some("approve"),
        env: "dev",
    },
    Holder {
        name: "devadmin",
        role: Some("admin"),
        env: "dev",
    },
    Holder {
        name: "admin",
        role: Some("admin"),
        env: "*",
    },
];

pub const ENVS: [&str; 2] = ["dev", "prod"];

/// Where a command's permission is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On the environment it acts in.
    Env,
    /// On the whole project (its settings, e.g. quotas).
    Project,
}

/// A command of the matrix and the least role it needs.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    pub needs: &'static str,
    pub scope: Scope,
}

/// In the order the matrix asks them: the ones that change a session last (`cancel` ends the
/// session the later cells would use).
pub const COMMANDS: [Command; 5] = [
    Command {
        name: "deploy",
        needs: "deploy",
        scope: Scope::Env,
    },
    // Someone else's plan, with a digest that is not the plan's: refused after the gate either
    // way, so the matrix never applies anything.
    Command {
        name: "approve",
        needs: "approve",
        scope: Scope::Env,
    },
    // Give someone `read` on ecommerce/<env>.
    Command {
        name: "grant",
        needs: "admin",
        scope: Scope::Env,
    },
    Command {
        name: "quota set",
        needs: "admin",
        scope: Scope::Project,
    },
    // Someone else's session: needs `approve`.
    Command {
        name: "cancel",
        needs: "approve",
        scope: Scope::Env,
    },
];

const ROLES: [&str; 4] = ["read", "deploy", "approve", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).expect("a role") + 1
}

/// Whether `who` may run `command` in `env`.
pub fn allowed(who: &Holder, command: &Command, env: &str) -> bool {
    let Some(role) = who.role else { return false };
    let covers = match command.scope {
        Scope::Env => who.env == "*" || who.env == env,
        Scope::Project => who.env == "*",
    };
    covers && rank(role) >= rank(command.needs)
}

/// The cells, in the order they are asked.
pub fn cells() -> Vec<(Holder, Command, &'static str)> {
    let mut out = vec![];
    for command in COMMANDS {
        for env in ENVS {
            if command.scope == Scope::Project && env != ENVS[0] {
                continue; // one cell per holder: it has no environment
            }
            for who in HOLDERS {
                out.push((who, command, env));
            }
        }
    }
    out
}

/// Collects the cells a front end got wrong; fails listing all of them.
#[derive(Default)]
pub struct Verdicts {
    checked: usize,
    wrong: Vec<String>,
}

impl Verdicts {
    /// `refused`: the front end refused the cell for permissions; `answer` is what it said.
    pub fn check(&mut self, front: &str, who: &Holder, command: &Command, env: &str, refused: bool, answer: &str) {
        self.checked += 1;
        let expected = allowed(who, command, env);
        if expected == refused {
            self.wrong.push(format!(
                "{front}: {} in {env} as {} ({} on ecommerce/{}): expected {}, got: {answer}",
                command.name,
                who.name,
                who.role.unwrap_or("no grant"),
                who.env,
                if expected { "allowed" } else { "refused" },
            ));
        }
    }

    pub fn assert_all(self, front: &str) {
        assert_eq!(self.checked, cells().len(), "{front}: every cell asked");
        assert!(
            self.wrong.is_empty(),
            "{front}: {} of {} cells wrong:\n{}",
            self.wrong.len(),
            self.checked,
            self.wrong.join("\n")
        );
        eprintln!("{front}: {} cells as the policy says", self.checked);
    }
}
