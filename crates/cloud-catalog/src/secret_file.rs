//! `secret_file:` values: a path confined to the secrets directory, checked on its own (so
//! `cloud validate` reports a bad one without touching the file system) and read with the
//! confinement enforced after symlinks are resolved. Manifest validation and configuration
//! resolution both use it, so it sits below them.

/// A `secret_file:` path with no `..` component (checked without touching the file system, so
/// `cloud validate` reports it too).
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("secret_file is empty; give a path relative to the secrets directory".into());
    }
    if std::path::Path::new(path)
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "secret_file `{path}` contains `..`; secret files must stay inside the secrets directory \
             (`secrets_dir`, by default the manifest's directory): move the file there and name it relative to it"
        ));
    }
    Ok(())
}

/// Read the secret file `path` inside `base` (the secrets directory): relative paths are taken
/// from `base`; after resolving symlinks the file must still be inside `base`, be a regular file
/// and at most [`crate::input::cap::SECRET`] bytes. Trailing newlines are trimmed.
///
/// Why: a manifest is written by whoever may edit `deploy/`, but the file is read by the bot's
/// process, which can read far more (`/etc/shadow`, the bot's own tokens); the secret would then
/// go to the engine and from there to a cloud provider the manifest's author controls.
pub(crate) fn read(base: &std::path::Path, path: &str) -> Result<String, String> {
    check_path(path)?;
    let outside = || {
        format!(
            "secret_file `{path}` is outside the secrets directory {}; move the file into it (or set \
             `secrets_dir` in the configuration)",
            base.display()
        )
    };
    let root = std::fs::canonicalize(base).map_err(|e| {
        format!(
            "cannot read secret_file `{path}`: the secrets directory {}: {e}",
            base.display()
        )
    })?;
    let full = std::fs::canonicalize(base.join(path))
        .map_err(|e| format!("cannot read secret_file `{path}` ({}): {e}", base.join(path).display()))?;
    if !full.starts_with(&root) {
        return Err(outside());
    }
    let text = crate::input::read_text(&full, crate::input::cap::SECRET)
        .map_err(|e| format!("cannot read secret_file `{path}` ({}): {e}", full.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}
