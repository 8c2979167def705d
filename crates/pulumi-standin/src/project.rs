//! The project on disk: `Pulumi.yaml` (project name, program directory) and the per-stack
//! configuration file `Pulumi.<stack>.yaml`, which is where real Pulumi keeps stack config.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value as Yaml};

use crate::error::{Context, Result, StandinError};
use crate::secrets::Crypter;

/// The project found by searching upwards from the working directory for `Pulumi.yaml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// `name:` from `Pulumi.yaml`.
    pub name: String,
    /// The directory holding `Pulumi.yaml` (and the `Pulumi.<stack>.yaml` files).
    pub dir: PathBuf,
    /// Where the program lives: `main:` relative to `Pulumi.yaml`, else the project directory.
    pub program_dir: PathBuf,
}

impl Project {
    /// Find and read `Pulumi.yaml` in `cwd` or one of its parents, like the real CLI.
    pub fn discover(cwd: &Path) -> Result<Project> {
        let mut dir = Some(cwd);
        while let Some(d) = dir {
            let file = d.join("Pulumi.yaml");
            if file.is_file() {
                return Project::load(&file);
            }
            dir = d.parent();
        }
        Err(StandinError::failed(format!(
            "no Pulumi.yaml project file found (searching upwards from {}). If you have not created a \
             project yet, use `pulumi new` to do so: no project file found",
            cwd.display()
        )))
    }

    fn load(file: &Path) -> Result<Project> {
        let text = std::fs::read_to_string(file).context(|| format!("reading {}", file.display()))?;
        let doc: Yaml = serde_yaml::from_str(&text)
            .map_err(|e| StandinError::failed(format!("could not read '{}': {e}", file.display())))?;
        let name = doc
            .get("name")
            .and_then(Yaml::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| StandinError::failed("project is missing a 'name' attribute"))?
            .to_string();
        let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let program_dir = match doc.get("main").and_then(Yaml::as_str) {
            Some(main) => {
                let p = dir.join(main);
                if p.is_file() {
                    p.parent().map(Path::to_path_buf).unwrap_or(dir.clone())
                } else {
                    p
                }
            }
            None => dir.clone(),
        };
        Ok(Project { name, dir, program_dir })
    }

    /// The default stack configuration file, `Pulumi.<stack>.yaml` beside `Pulumi.yaml`.
    pub fn stack_config_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("Pulumi.{stack}.yaml"))
    }

    /// Turn a user-supplied config key into its fully qualified `<namespace>:<name>` form.
    pub fn qualify_key(&self, key: &str) -> Result<String> {
        match key.split(':').count() {
            1 => Ok(format!("{}:{key}", self.name)),
            2 if !key.starts_with(':') && !key.ends_with(':') => Ok(key.to_string()),
            _ => Err(StandinError::failed(format!(
                "could not parse {key} as a configuration key (configuration keys should be of the \
                 form `<namespace>:<name>`)"
            ))),
        }
    }
}

/// One configuration value as stored in `Pulumi.<stack>.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Plain(String),
    /// The `secure:` ciphertext.
    Secure(String),
}

/// `Pulumi.<stack>.yaml`: `encryptionsalt:` plus `config: {<ns>:<key>: value | {secure: ...}}`.
/// Unknown top-level keys are kept when the file is rewritten.
#[derive(Debug)]
pub struct StackConfig {
    path: PathBuf,
    doc: Mapping,
}

impl StackConfig {
    /// Read the file; a missing file is an empty configuration.
    pub fn load(path: PathBuf) -> Result<StackConfig> {
        let doc = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Mapping::new(),
            Ok(text) => serde_yaml::from_str(&text)
                .map_err(|e| StandinError::failed(format!("could not read stack config '{}': {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Mapping::new(),
            Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
        };
        Ok(StackConfig { path, doc })
    }

    pub fn encryption_salt(&self) -> Option<&str> {
        self.doc.get("encryptionsalt").and_then(Yaml::as_str)
    }

    pub fn set_encryption_salt(&mut self, salt: &str) {
        self.doc.insert("encryptionsalt".into(), salt.into());
    }

    /// All values, in file order.
    pub fn entries(&self) -> Vec<(String, ConfigValue)> {
        let Some(Yaml::Mapping(config)) = self.doc.get("config") else {
            return Vec::new();
        };
        config
            .iter()
            .filter_map(|(k, v)| {
                let key = k.as_str()?.to_string();
                let value = match v {
                    Yaml::Mapping(m) => ConfigValue::Secure(m.get("secure")?.as_str()?.to_string()),
                    Yaml::String(s) => ConfigValue::Plain(s.clone()),
                    Yaml::Bool(b) => ConfigValue::Plain(b.to_string()),
                    Yaml::Number(n) => ConfigValue::Plain(n.to_string()),
                    Yaml::Null => ConfigValue::Plain(String::new()),
                    other => ConfigValue::Plain(serde_json::to_string(other).ok()?),
                };
                Some((key, value))
            })
            .collect()
    }

    pub fn get(&self, qualified_key: &str) -> Option<ConfigValue> {
        self.entries()
            .into_iter()
            .find(|(k, _)| k == qualified_key)
            .map(|(_, v)| v)
    }

    pub fn set(&mut self, qualified_key: &str, value: ConfigValue) {
        let config = self
            .doc
            .entry("config".into())
            .or_insert_with(|| Yaml::Mapping(Mapping::new()));
        if !config.is_mapping() {
            *config = Yaml::Mapping(Mapping::new());
        }
        let Yaml::Mapping(config) = config else {
            unreachable!("just made it a mapping")
        };
        let yaml = match value {
            ConfigValue::Plain(s) => Yaml::String(s),
            ConfigValue::Secure(c) => {
                let mut m = Mapping::new();
                m.insert("secure".into(), Yaml::String(c));
                Yaml::Mapping(m)
            }
        };
        config.insert(qualified_key.into(), yaml);
    }

    pub fn save(&self) -> Result<()> {
        let text = serde_yaml::to_string(&self.doc).context(|| "encoding stack config".into())?;
        std::fs::write(&self.path, text).context(|| format!("writing {}", self.path.display()))
    }

    /// Config as the prelude event and the preview document show it: secrets as `[secret]`.
    pub fn masked(&self) -> serde_json::Map<String, serde_json::Value> {
        self.entries()
            .into_iter()
            .map(|(k, v)| {
                let shown = match v {
                    ConfigValue::Plain(s) => s,
                    ConfigValue::Secure(_) => "[secret]".to_string(),
                };
                (k, serde_json::Value::String(shown))
            })
            .collect()
    }

    /// A plain value, or a secret decrypted with `crypter` (when one is available).
    pub fn plain_value(&self, qualified_key: &str, crypter: Option<&Crypter>) -> Result<Option<String>> {
        match self.get(qualified_key) {
            None => Ok(None),
            Some(ConfigValue::Plain(s)) => Ok(Some(s)),
            Some(ConfigValue::Secure(c)) => match crypter {
                Some(crypter) => crypter.decrypt(&c).map(Some),
                None => Ok(None),
            },
        }
    }
}

/// Pulumi refuses to store values that look like secrets unless told `--secret` or `--plaintext`.
/// The real CLI uses a key-name regexp plus an entropy estimate; this is the same idea.
pub fn looks_like_secret(key: &str, value: &str) -> bool {
    let name = key.rsplit(':').next().unwrap_or(key).to_ascii_lowercase();
    let key_hint = ["passwd", "pass", "password", "pwd", "secret", "token"]
        .iter()
        .any(|w| name.contains(w));
    if !key_hint || value.chars().count() < 8 {
        return false;
    }
    let mut charset = 0u32;
    if value.chars().any(|c| c.is_ascii_lowercase()) {
        charset += 26;
    }
    if value.chars().any(|c| c.is_ascii_uppercase()) {
        charset += 26;
    }
    if value.chars().any(|c| c.is_ascii_digit()) {
        charset += 10;
    }
    if value.chars().any(|c| !c.is_ascii_alphanumeric()) {
        charset += 33;
    }
    let bits = value.chars().count() as f64 * f64::from(charset.max(2)).log2();
    bits >= 40.0
}
