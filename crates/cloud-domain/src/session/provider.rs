//! The cloud a project deploys to. A project has one provider (`aws` by default); every stack
//! program declares the provider it targets (`provider:` in its `stack.yaml`), and a deployment
//! of a project only runs stacks of the project's provider.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A cloud provider cloud-engine has stack programs for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon Web Services (the 16 `aws:` stacks; the default).
    #[default]
    Aws,
    /// Google Cloud (the `gcp-*` stacks).
    Gcp,
}

impl Provider {
    /// Every provider, in the order commands list them.
    pub const ALL: [Provider; 2] = [Provider::Aws, Provider::Gcp];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
        }
    }

    /// `aws, gcp`: for messages that list what is accepted.
    pub fn names() -> String {
        Provider::ALL.map(Provider::as_str).join(", ")
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is not one of [`Provider::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider `{0}`: use one of {names}", names = Provider::names())]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Provider, UnknownProvider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| UnknownProvider(cloud_escape(s)))
    }
}

/// At most 40 characters of what was typed, control characters escaped: it is echoed back.
fn cloud_escape(s: &str) -> String {
    let short: String = s.chars().take(40).collect();
    crate::input::escape_for_display(&short).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_the_same() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
        }
        assert_eq!(Provider::default(), Provider::Aws);
        let err = "azure".parse::<Provider>().unwrap_err();
        assert_eq!(err.to_string(), "unknown provider `azure`: use one of aws, gcp");
    }
}
