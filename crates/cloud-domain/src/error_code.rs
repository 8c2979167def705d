//! Error codes: one stable name per kind of failure a person can meet, with what causes it and
//! what fixes it. Every error type that reaches a person maps each of its variants to one code
//! ([`Coded`], an exhaustive `match` in the crate that owns the type, so a new variant without a
//! code does not compile), the CLI prints the code under the message, and
//! `docs/troubleshooting.md` is generated from [`ErrorCode::ALL`] (`tests/docs_generated.rs`
//! fails when the page and this table differ).

use crate::exit::ExitCode;

/// A type whose values each have an [`ErrorCode`].
pub trait Coded {
    fn error_code(&self) -> ErrorCode;
}

macro_rules! error_codes {
    ($(
        $variant:ident = $code:literal, $area:literal, $exit:ident,
        cause: $cause:literal,
        fix: $fix:literal;
    )*) => {
        /// Every kind of failure a person can meet (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the troubleshooting page.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable name (`lock-busy`): printed by the CLI, the anchor in
            /// docs/troubleshooting.md.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The part of the system it comes from (a section of the troubleshooting page).
            pub fn area(self) -> &'static str {
                match self { $(ErrorCode::$variant => $area,)* }
            }

            /// The CLI's exit code when this failure ends a command.
            pub fn exit(self) -> ExitCode {
                match self { $(ErrorCode::$variant => ExitCode::$exit,)* }
            }

            /// What makes it happen.
            pub fn cause(self) -> &'static str {
                match self { $(ErrorCode::$variant => $cause,)* }
            }

            /// What to do about it.
            pub fn fix(self) -> &'static str {
                match self { $(ErrorCode::$variant => $fix,)* }
            }
        }
    };
}

error_codes! {
    // Generic classes: a refusal written for the person, with no more specific code.
    InvalidInput = "invalid-input", "General", Invalid,
        cause: "A name, id, option or file given to the command is not valid (unknown project, environment or session, a value out of bounds, a control character in a name). Nothing was changed.",
        fix: "Read the message: it names the field and the accepted values. `cloud <command> --help` lists the options.";
    NotPermitted = "not-permitted", "General", Denied,
        cause: "The person acting has no grant that allows this intent on this project and environment, the grant expired, or the action needs someone else (four-eyes: the requester cannot approve their own session outside dev).",
        fix: "Ask an admin for a grant (`cloud grant <user> <project> <role> --env <env> --for 2h --reason …`), or ask another approver. `cloud grants list --user <you>` shows what you have.";
    OperationFailed = "operation-failed", "General", Failed,
        cause: "The command ran and its operation failed (a preview or update error, a quota refusal, an engine failure). The session records the per-stack outcome.",
        fix: "`cloud status <session>` shows which stack failed and why; `cloud logs <session>` has the engine output.";

    // Configuration.
    ConfigUnreadable = "config-unreadable", "Configuration", Invalid,
        cause: "The configuration file (`--config`, CLOUD_CONFIG or config/cloud.yaml) cannot be read.",
        fix: "Check the path and its permissions, or run without `--config` to use the built-in defaults.";
    ConfigSyntax = "config-syntax", "Configuration", Invalid,
        cause: "The configuration file is not valid YAML, or has a key the program does not know (a typo is never ignored).",
        fix: "Go to the file:line:column in the message; `cloud config show` prints the effective configuration once it loads.";
    ConfigInvalid = "config-invalid", "Configuration", Invalid,
        cause: "A configuration value or CLOUD_* variable has a value the program cannot use (a duration of 0, an unknown transport, a malformed URL).",
        fix: "The message names the key or variable and what it accepts; fix it there.";
    DataDirUnusable = "data-dir-unusable", "Configuration", Invalid,
        cause: "The data directory (database, Pulumi state, logs) cannot be created or written.",
        fix: "Set `data_dir`, CLOUD_DATA_DIR or `--data-dir` to a directory you can write.";
    PermissionsTooOpen = "permissions-too-open", "Configuration", Invalid,
        cause: "The data directory, a token file or the audit key is readable by other users; it holds secrets, so the program refuses to start.",
        fix: "Run the `chmod` the message gives (700 for directories, 600 for files) and start again.";

    // The audit log.
    AuditKeyMalformed = "audit-key-malformed", "Audit", Invalid,
        cause: "The audit key file (`access.audit_key_file`) is not 64 hex characters.",
        fix: "Restore the key from your backup: a new key cannot vouch for the existing log (docs/security.md, rotating the audit key).";
    AuditKeyUnreadable = "audit-key-unreadable", "Audit", Invalid,
        cause: "The audit key file cannot be read or created.",
        fix: "Check the path (`access.audit_key_file`, CLOUD_AUDIT_KEY_FILE) and its permissions.";

    // The store and sessions.
    SessionChanged = "session-changed", "Sessions", Invalid,
        cause: "Someone or something else moved the session while you acted (another approver, a cancel, the plan expiring).",
        fix: "`cloud status <session>` shows where it is now; act again if it still makes sense.";
    TransitionNotAllowed = "transition-not-allowed", "Sessions", Invalid,
        cause: "The session is in a state from which this step is not possible (it is final, or the step belongs to another state).",
        fix: "The message lists the states it can go to; for a final session start a new one (`cloud deploy`).";
    LeaseLost = "lease-lost", "Sessions", Failed,
        cause: "This process stopped renewing the session's lease in time (it was paused or cut off) and another process took the session over; nothing more was written.",
        fix: "Nothing to repair: the process that took over finishes or ends the session. Check `cloud status <session>`; if processes are often paused that long, raise `leases.ttl`.";
    LeaseHeld = "lease-held", "Sessions", Invalid,
        cause: "Another live process (a bot replica or a CLI) drives the session right now.",
        fix: "Wait for it, follow it with `cloud status <session>`, or cancel the session (`cloud cancel`); if that process died, its lease expires after `leases.ttl` and the next `cloud` run takes over.";
    SessionNotFound = "session-not-found", "Sessions", Invalid,
        cause: "No session has this id or id prefix.",
        fix: "`cloud list` shows the sessions with their short ids.";
    SessionAmbiguous = "session-ambiguous", "Sessions", Invalid,
        cause: "The id prefix matches more than one session.",
        fix: "Give more characters of the id.";
    Conflict = "conflict", "Sessions", Invalid,
        cause: "The change conflicts with what is stored (a duplicate name, a grant that already exists, a project that is already there).",
        fix: "Read the message; list what exists (`cloud projects list`, `cloud grants list`) and choose another name or act on the existing one.";
    StacksBusy = "stacks-busy", "Sessions", Failed,
        cause: "Another unfinished session holds (or queued earlier for) some of the stacks this session needs: one stack belongs to one unfinished session at a time.",
        fix: "The message names the holder and what releases it. Wait in line with `--queue` (or `cloud queue <session>`), or cancel the holder; `cloud locks` lists every held lock.";
    QueuedWaiting = "queued-waiting", "Sessions", Failed,
        cause: "The session is queued for busy stacks and its turn has not come yet.",
        fix: "Nothing to do: it is planned when the sessions before it end. `cloud status <session>` shows its position.";
    StoreCorrupt = "store-corrupt", "Database", Failed,
        cause: "A stored row cannot be decoded (edited by hand, or written by a newer version). Listings skip such rows.",
        fix: "`cloud doctor` names the row and column; restore it from a backup or remove the session row.";
    DatabaseUrl = "database-url", "Database", Invalid,
        cause: "`database_url` / CLOUD_DATABASE_URL is not a URL the program can use.",
        fix: "Give `sqlite://<file>` or `postgres://<user>@<host>/<database>` (the password from PGPASSWORD or ~/.pgpass).";
    DatabaseUnreachable = "database-unreachable", "Database", Failed,
        cause: "The database cannot be opened (a PostgreSQL server down or refusing the user, an SQLite file on a read-only disk).",
        fix: "Check the server and the credentials (`cloud doctor` tries the connection and says what failed).";
    MigrationFailed = "migration-failed", "Database", Failed,
        cause: "The database migrations cannot be applied or their lock cannot be taken (a database written by a newer version, a migration changed after it ran).",
        fix: "Run the newest `cloud`; never edit an applied migration. `cloud doctor` shows the database's schema version.";
    DatabaseError = "database-error", "Database", Failed,
        cause: "The database refused a query (connection lost, disk full, a constraint).",
        fix: "Retry; if it persists check the database server's log and free disk space.";

    // The engine (Pulumi).
    EngineNotFound = "engine-not-found", "Engine", Invalid,
        cause: "The `pulumi` binary (`pulumi.binary`, CLOUD_PULUMI_BINARY) is not there.",
        fix: "Install the Pulumi CLI, or point `pulumi.binary` at it; `cloud doctor` checks it.";
    EngineStackLocked = "engine-stack-locked", "Engine", Failed,
        cause: "The Pulumi backend holds an update lock on the stack (another update, or one that died).",
        fix: "If no update is running, the session's recovery runs `pulumi cancel`; by hand: `pulumi cancel --stack <stack>`.";
    EngineStackMissing = "engine-stack-missing", "Engine", Failed,
        cause: "The stack does not exist in the Pulumi backend (a destroy or status of a stack never applied, or another backend).",
        fix: "Check `pulumi.backend_url`; deploy the stack first.";
    EngineConfigMissing = "engine-config-missing", "Engine", Invalid,
        cause: "The stack's program needs a configuration value the deployment does not set.",
        fix: "Set the key under the stack in the deployment manifest (`deploy/<id>-<org>-<project>/manifest.yaml`), then `cloud validate`.";
    EnginePassphraseMissing = "engine-passphrase-missing", "Engine", Invalid,
        cause: "The local Pulumi backend needs a secrets passphrase and none is configured.",
        fix: "Set `pulumi.passphrase_file` (a 0600 file) or PULUMI_CONFIG_PASSPHRASE for the process.";
    EngineCommandFailed = "engine-command-failed", "Engine", Failed,
        cause: "A `pulumi` command exited with an error before any engine event (bad arguments, login, backend).",
        fix: "The message has Pulumi's own error; `cloud doctor` checks login and backend.";
    PreviewFailed = "preview-failed", "Engine", Failed,
        cause: "`pulumi preview` of a stack reported errors (the program threw, a provider refused an input). The session is PLAN_FAILED.",
        fix: "Fix the program or the configuration the diagnostics name, then Refresh (`cloud refresh <session>`).";
    UpdateFailed = "update-failed", "Engine", Failed,
        cause: "`pulumi up` of a stack reported errors. Stacks after it did not run; stacks before it stay applied.",
        fix: "`cloud logs <session>` has the diagnostics; fix them and deploy again (the applied stacks show no changes).";
    EngineCrashed = "engine-crashed", "Engine", Failed,
        cause: "The engine process died without a summary (killed, out of memory, a full disk). Its stack lock is released before the session moves on.",
        fix: "Look at the last output in the message; free disk or memory and deploy again.";
    EngineCancelled = "engine-cancelled", "Engine", Failed,
        cause: "The operation was cancelled (a person cancelled the session, or the service shut down).",
        fix: "Deploy again when ready; the summary says which stacks were applied before the cancel.";
    EngineTimeout = "engine-timeout", "Engine", Failed,
        cause: "A stack operation ran longer than `pulumi.timeout` and was stopped.",
        fix: "Raise `pulumi.timeout` if the stack is slow, or find what hangs in `cloud logs <session>`.";
    EngineIo = "engine-io", "Engine", Failed,
        cause: "The engine could not be started or talked to (permissions, a missing working directory).",
        fix: "Check the message's path and the data directory's permissions.";

    // The catalog: stacks, templates and deployment manifests (`cloud validate`).
    CatalogSyntax = "catalog-syntax", "Catalog", Invalid,
        cause: "A stack.yaml, manifest or template is not valid YAML.",
        fix: "Go to the file:line:column `cloud validate` prints.";
    CatalogSchema = "catalog-schema", "Catalog", Invalid,
        cause: "A file has an unknown key, a missing key or a value of the wrong type (docs/manifests.md has the schema).",
        fix: "Go to the file:line:column `cloud validate` prints; compare with docs/manifests.md.";
    CatalogName = "catalog-name", "Catalog", Invalid,
        cause: "A stack, org, project or environment name uses characters outside the safe alphabet (lowercase letters, digits, `-`), or a control or bidi character.",
        fix: "Rename it; the message gives the allowed form.";
    CatalogDeploymentId = "catalog-deployment-id", "Catalog", Invalid,
        cause: "A deployment id does not match `D` + 6 uppercase base36 characters, or two deployments share one.",
        fix: "Let `cloud init` generate one, or fix the id in the manifest and its directory name.";
    CatalogUnknownStack = "catalog-unknown-stack", "Catalog", Invalid,
        cause: "A manifest or depends_on names a stack that is not in the catalog (`stacks/<name>/stack.yaml`).",
        fix: "`cloud stacks list` shows the catalog; fix the name or add the stack (`cloud stacks new`).";
    CatalogStackFiles = "catalog-stack-files", "Catalog", Invalid,
        cause: "A stack directory misses `index.ts` or `Pulumi.yaml`, or Pulumi.yaml's `main` does not point at `index.ts`.",
        fix: "Restore the file; `cloud stacks new` shows the expected layout.";
    CatalogCycle = "catalog-cycle", "Catalog", Invalid,
        cause: "The stacks' depends_on entries form a cycle (the message names it: `network → security → network`).",
        fix: "Remove one of the depends_on entries the message lists.";
    CatalogMissingDependency = "catalog-missing-dependency", "Catalog", Invalid,
        cause: "An enabled stack depends on a stack that is disabled in the deployment or not part of it.",
        fix: "Enable the dependency in the manifest, or disable the dependent.";
    CatalogPlaceholder = "catalog-placeholder", "Catalog", Invalid,
        cause: "A `{{…}}` placeholder cannot be resolved (an unknown name, or `{{stack.output}}` of a stack that is not upstream or has no such output).",
        fix: "Use `{{deployment.id}}`, `{{env}}` or `{{<upstream>.<output>}}` with an output the upstream's stack.yaml declares.";
    CatalogConfig = "catalog-config", "Catalog", Invalid,
        cause: "A stack's configuration is incomplete or unsafe (a required key without a value, a literal secret where `secret_file:` is expected, a `secret_file:` outside the secrets directory).",
        fix: "Set the key in the manifest; put secrets in files under the secrets directory and name them with `secret_file:`.";
    CatalogTemplate = "catalog-template", "Catalog", Invalid,
        cause: "A template cannot be rendered (an unknown placeholder, one left over).",
        fix: "`cloud templates validate` names the template and the placeholder.";
    CatalogProvider = "catalog-provider", "Catalog", Invalid,
        cause: "A stack's `provider:` is not one the program knows (`aws`, `gcp`), or a deployment or project mixes stacks of different providers.",
        fix: "Use stacks of the project's provider only (`cloud stacks list` shows each stack's provider); a project's provider is set by `cloud projects create --provider`.";
    CatalogIo = "catalog-io", "Catalog", Invalid,
        cause: "A catalog file cannot be read or written.",
        fix: "Check the path and its permissions.";

    // Files given as input (manifests, configs, event logs, templates).
    InputNotRegular = "input-not-regular", "Input files", Invalid,
        cause: "The path names a FIFO, a device or a directory; only regular files are read (a FIFO could hang the command).",
        fix: "Give the path of a plain file.";
    InputTooLarge = "input-too-large", "Input files", Invalid,
        cause: "The file is larger than the cap for its kind (manifests, configs and templates are small files).",
        fix: "Check that it is the right file.";
    InputNotUtf8 = "input-not-utf8", "Input files", Invalid,
        cause: "The file is not UTF-8 text.",
        fix: "Save it as UTF-8.";
    InputUnreadable = "input-unreadable", "Input files", Invalid,
        cause: "The file cannot be read (missing, or no permission).",
        fix: "Check the path and its permissions.";
    PricingInvalid = "pricing-invalid", "Input files", Invalid,
        cause: "The price list (`pricing` / CLOUD_PRICING) cannot be read or has a bad entry.",
        fix: "Fix the entry the message names, or remove the setting to use the built-in list (config/pricing.yaml).";
}

impl ErrorCode {
    /// The generic code for a refusal of this exit code.
    pub fn generic(exit: ExitCode) -> ErrorCode {
        match exit {
            ExitCode::Invalid => ErrorCode::InvalidInput,
            ExitCode::Denied => ErrorCode::NotPermitted,
            ExitCode::Success | ExitCode::Failed => ErrorCode::OperationFailed,
        }
    }

    /// Where a person reads more: the anchor in docs/troubleshooting.md.
    pub fn doc_link(self) -> String {
        format!("docs/troubleshooting.md#{}", self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Coded for crate::session::TransitionError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::TransitionNotAllowed
    }
}

impl Coded for crate::policy::PricingError {
    fn error_code(&self) -> ErrorCode {
        match self {
            crate::policy::PricingError::Read { .. } | crate::policy::PricingError::Invalid { .. } => {
                ErrorCode::PricingInvalid
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_kebab_case_anchors_with_a_cause_and_a_fix() {
        let mut seen = BTreeSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !name.starts_with('-'),
                "{name} is not a kebab-case anchor"
            );
            assert!(code.cause().ends_with('.'), "{name}: cause is a sentence");
            assert!(!code.fix().is_empty(), "{name}: no fix");
        }
    }

    #[test]
    fn every_exit_code_that_fails_has_a_generic_code_of_that_exit() {
        for exit in [ExitCode::Invalid, ExitCode::Denied, ExitCode::Failed] {
            assert_eq!(ErrorCode::generic(exit).exit(), exit);
        }
    }
}
