//! Name rules for what people type: orgs, projects, environments and configuration keys.
//! (Stack names and deployment ids are [`cloud_domain::session::StackName`] and
//! [`cloud_domain::session::DeploymentId`].)
//!
//! Every name ends up in a Pulumi stack name `<deployment-id>-<stack>-<env>`, a fully qualified
//! `<org>/<project>/<stack>`, and a directory name `deploy/<id>-<org>-<project>`, so the rules are
//! Pulumi's own, narrowed where that makes paths and references unambiguous.

/// Pulumi's org rule: `^[a-zA-Z0-9][a-zA-Z0-9-_]{1,38}[a-zA-Z0-9]$` (3–40 characters).
pub fn check_org(org: &str) -> Result<(), String> {
    let b = org.as_bytes();
    let edge = |c: u8| c.is_ascii_alphanumeric();
    let inner = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let ok = (3..=40).contains(&b.len()) && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| inner(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid org `{}`: use 3-40 letters, digits, `-` or `_`, starting and ending with a \
             letter or digit (Pulumi's org rule), e.g. acme-corp",
            shown(org)
        ))
    }
}

/// Project names: Pulumi allows 1–100 of `[A-Za-z0-9_.-]`; we narrow that to 1–40 lowercase
/// letters, digits and inner dashes starting with a letter, so that `deploy/<id>-<org>-<project>`
/// and `<org>/<project>/<stack>` are safe as paths, URLs and chat text on every platform.
pub fn check_project(project: &str) -> Result<(), String> {
    let b = project.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid project `{}`: use 1-40 lowercase letters, digits and inner dashes, \
             starting with a letter, e.g. ecommerce",
            shown(project)
        ))
    }
}

/// The environments a deployment can enable (decided: the stack programs accept exactly these).
pub(crate) const ENVIRONMENTS: [&str; 3] = ["dev", "stage", "prod"];

/// Environment names: `dev`, `stage` or `prod` — the programs' `stacks/shared/context.ts` refuses others.
pub fn check_env(env: &str) -> Result<(), String> {
    if ENVIRONMENTS.contains(&env) {
        Ok(())
    } else {
        Err(format!("invalid environment `{}`: use dev, stage or prod", shown(env)))
    }
}

/// Configuration keys: `name` or `namespace:name` (e.g. `aws:region`), letters, digits, `_`, `.`
/// and `-`, each part starting with a letter.
pub fn check_config_key(key: &str) -> Result<(), String> {
    let part_ok = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphabetic()
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
    };
    let ok = match key.split_once(':') {
        Some((ns, name)) => part_ok(ns) && part_ok(name),
        None => part_ok(key),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid config key `{}`: use `name` or `namespace:name` with letters, digits, `_`, \
             `.` and `-`, e.g. instanceType or aws:region",
            shown(key)
        ))
    }
}

/// Input echoed in a message (see [`cloud_domain::input::shown`]).
pub(crate) fn shown(input: &str) -> String {
    cloud_domain::input::shown(input)
}

/// `database-rds` → `databaseRds`: the TypeScript identifier for a stack.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '-' || c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_rule_is_pulumis() {
        for ok in ["acme-corp", "abc", "A_b-9", "organization"] {
            assert!(check_org(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "-acme", "acme-", "ac me", "acme.corp", &"a".repeat(41)] {
            assert!(check_org(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_rule_is_lowercase_and_safe() {
        for ok in ["ecommerce", "shop-2", "a"] {
            assert!(check_project(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Shop", "shop-", "2shop", "shop.app", "shop_app", &"a".repeat(41)] {
            assert!(check_project(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_and_keys() {
        assert!(check_env("prod").is_ok());
        assert!(check_env("pr-od").is_err());
        assert!(check_env("qa").is_err());
        assert!(check_config_key("aws:region").is_ok());
        assert!(check_config_key("vpcCidr").is_ok());
        assert!(check_config_key("a:b:c").is_err());
        assert!(check_config_key("1x").is_err());
        assert_eq!(camel_case("database-rds"), "databaseRds");
        assert_eq!(camel_case("network"), "network");
    }
}
