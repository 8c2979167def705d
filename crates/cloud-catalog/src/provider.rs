//! Which cloud a deployment deploys to: every stack declares its provider (`provider:` in its
//! `stack.yaml`, default `aws`); a deployment's stacks must all target one, and that one is the
//! provider of the project a manifest creates.

use std::collections::BTreeMap;

use cloud_domain::session::Provider;

use super::manifest::{Deployment, Manifest};
use super::problem::{Problem, ProblemKind, Problems};
use super::Catalog;

/// The stacks of `manifest` (enabled or not) known to the catalog, by provider.
pub fn stacks_by_provider<'a>(catalog: &'a Catalog, manifest: &'a Manifest) -> BTreeMap<Provider, Vec<&'a str>> {
    let mut out: BTreeMap<Provider, Vec<&str>> = BTreeMap::new();
    for name in manifest.stacks.keys() {
        if let Some(def) = catalog.get(name) {
            out.entry(def.meta.provider).or_default().push(name);
        }
    }
    out
}

/// The one provider of `manifest`'s stacks (`aws` when it has none); `None` when they mix.
pub fn manifest_provider(catalog: &Catalog, manifest: &Manifest) -> Option<Provider> {
    let by = stacks_by_provider(catalog, manifest);
    match by.len() {
        0 => Some(Provider::default()),
        1 => by.keys().next().copied(),
        _ => None,
    }
}

/// `aws (network, security) and gcp (gcp-network)`.
pub fn describe_mix(by: &BTreeMap<Provider, Vec<&str>>) -> String {
    by.iter()
        .map(|(p, stacks)| format!("{p} ({})", stacks.join(", ")))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A deployment whose stacks target more than one provider.
pub(crate) fn check_one_provider(catalog: &Catalog, d: &Deployment) -> Problems {
    let mut p = Problems::default();
    let by = stacks_by_provider(catalog, &d.manifest);
    if by.len() > 1 {
        p.push(Problem::new(
            ProblemKind::Provider,
            d.locate(&["stacks"]),
            format!(
                "the stacks target more than one provider: {}; a deployment deploys to one cloud — remove the stacks of the other provider (or make a deployment per provider)",
                describe_mix(&by)
            ),
        ));
    }
    p
}
