//! Flat command names (seed 000's shape: `cloud create-project`, `cloud env-disable`, …) for
//! the nested commands users type. The nested forms stay; a flat name is rewritten into its
//! nested form before clap parses the command line, so both run the same code, and `cloud
//! --help` lists every alias from [`FLAT_ALIASES`] (the one table; `cli_shape` checks that each
//! alias parses like its nested form).
//!
//! A group typed bare (`cloud deployments`, `cloud projects --json`) means its `list`.

/// `(flat name, nested form)`.
pub const FLAT_ALIASES: &[(&str, &[&str])] = &[
    ("create-project", &["projects", "create"]),
    ("list-projects", &["projects", "list"]),
    ("list-deployments", &["deployments", "list"]),
    ("list-environments", &["environments", "list"]),
    ("env-list", &["environments", "list"]),
    ("env-enable", &["environments", "enable"]),
    ("env-disable", &["environments", "disable"]),
    ("list-stacks", &["stacks", "list"]),
    ("register-stack", &["stacks", "register"]),
    ("unregister-stack", &["stacks", "unregister"]),
    ("update-stack", &["stacks", "update"]),
    ("new-stack", &["stacks", "new"]),
    ("inspect-stack", &["stacks", "inspect"]),
    ("list-templates", &["templates", "list"]),
    ("list-grants", &["grants", "list"]),
    ("set-quota", &["quota", "set"]),
    ("show-quota", &["quota", "show"]),
    ("create-token", &["tokens", "create"]),
    ("list-tokens", &["tokens", "list"]),
    ("revoke-token", &["tokens", "revoke"]),
    ("link-people", &["people", "link"]),
    ("show-config", &["config", "show"]),
    ("show-plan", &["plan", "show"]),
    ("verify-audit", &["audit", "verify"]),
    ("admin-list", &["admin", "list"]),
    ("admin-cancel", &["admin", "cancel"]),
    ("release-lock", &["locks", "release"]),
];

/// Groups whose bare name (no subcommand) means `<group> list`.
pub const BARE_MEANS_LIST: &[&str] = &["projects", "deployments", "stacks", "templates", "grants", "tokens"];

/// Global options that take a value (so the token after them is not the command).
const VALUE_OPTIONS: &[&str] = &["--config", "--data-dir", "--as", "--log-format"];

/// The command line with a flat alias replaced by its nested form and a bare group given its
/// `list`; anything else unchanged. `args[0]` is the program name.
pub fn expand(args: Vec<String>) -> Vec<String> {
    let Some(at) = command_position(&args) else {
        return args;
    };
    let name = args[at].as_str();
    if let Some((_, nested)) = FLAT_ALIASES.iter().find(|(flat, _)| *flat == name) {
        let mut out = args[..at].to_vec();
        out.extend(nested.iter().map(|s| s.to_string()));
        out.extend(args[at + 1..].iter().cloned());
        return out;
    }
    if BARE_MEANS_LIST.contains(&name) {
        let next = args.get(at + 1).map(String::as_str);
        let bare = match next {
            None => true,
            Some(n) => n.starts_with('-') && !matches!(n, "-h" | "--help" | "--"),
        };
        if bare {
            let mut out = args[..=at].to_vec();
            out.push("list".into());
            out.extend(args[at + 1..].iter().cloned());
            return out;
        }
    }
    args
}

/// Index of the first positional argument (the command), skipping global options.
fn command_position(args: &[String]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            return None;
        }
        if VALUE_OPTIONS.contains(&a) {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return Some(i);
    }
    None
}

/// The `Aliases:` section of `cloud --help`.
pub fn help() -> String {
    let mut text = String::from("Aliases (seed 000's flat names; the nested forms stay):\n");
    for (flat, nested) in FLAT_ALIASES {
        text.push_str(&format!("  {flat:<20} = {}\n", nested.join(" ")));
    }
    text.push_str(&format!(
        "  A bare group means its list: {}\n",
        BARE_MEANS_LIST.join(", ")
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flat_names_become_nested_after_global_options() {
        assert_eq!(
            expand(v("cloud --data-dir d create-project shop --org acme")),
            v("cloud --data-dir d projects create shop --org acme")
        );
        assert_eq!(
            expand(v("cloud env-disable D1BRV40 dev")),
            v("cloud environments disable D1BRV40 dev")
        );
        assert_eq!(expand(v("cloud deployments")), v("cloud deployments list"));
        assert_eq!(expand(v("cloud projects --json")), v("cloud projects list --json"));
        assert_eq!(expand(v("cloud projects --help")), v("cloud projects --help"));
        assert_eq!(expand(v("cloud deploy shop dev")), v("cloud deploy shop dev"));
        // A project named like an alias is still a project.
        assert_eq!(
            expand(v("cloud deploy create-project dev")),
            v("cloud deploy create-project dev")
        );
    }
}
