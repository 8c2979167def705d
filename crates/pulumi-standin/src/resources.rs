//! What a stack declares: the resources JSON written by the `inspect` tool, turned into
//! resources with URNs, parents, providers and the stack's own deployment id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::StackRef;
use crate::error::{Context, Result, StandinError};

/// Packages whose resources are real cloud resources (custom). Everything else — `cloud:...`,
/// `awsx:...`, `eks:...`, `my:component:...` — is a component.
const PROVIDER_PACKAGES: &[(&str, &str)] = &[
    ("aws", "6.83.0"),
    ("azure", "6.24.0"),
    ("azure-native", "3.5.1"),
    ("azuread", "6.5.0"),
    ("cloudflare", "6.3.0"),
    ("command", "1.1.0"),
    ("docker", "4.7.0"),
    ("gcp", "8.33.0"),
    ("github", "6.7.2"),
    ("kubernetes", "4.23.0"),
    ("random", "4.18.2"),
    ("tls", "5.2.0"),
];

/// The resources JSON (`inspect/<env>.json`):
/// `{stack, env, deploymentId, org, project, resources: [..], stackReferences: [..], outputs: {..},
/// requiredConfig?: [..]}`. `deploymentId` is read before parsing (it is substituted);
/// `stack`, `env`, `org`, `project` and `stackReferences` are informational — the stand-in does
/// not resolve StackReferences.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesDoc {
    #[serde(default)]
    pub resources: Vec<DeclaredResource>,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub required_config: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeclaredResource {
    #[serde(rename = "type")]
    pub ty: String,
    pub name: String,
    /// `"<type>::<name>"` of the parent, or null for children of the stack.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub inputs: Map<String, Value>,
    /// Overrides the package-based custom/component decision.
    #[serde(default)]
    pub custom: Option<bool>,
}

/// A declared resource, resolved against the stack.
#[derive(Debug, Clone)]
pub struct Resource {
    pub ty: String,
    pub urn: String,
    /// Parent URN (the root stack's URN for top-level resources).
    pub parent: String,
    pub custom: bool,
    pub inputs: Map<String, Value>,
    /// The provider package (`aws`) of custom resources.
    pub package: Option<String>,
}

/// The whole program as the stand-in sees it.
#[derive(Debug, Clone)]
pub struct Program {
    /// Parents before children, otherwise in declaration order.
    pub resources: Vec<Resource>,
    pub outputs: Map<String, Value>,
    pub required_config: Vec<String>,
}

impl Program {
    /// A program that declares nothing (what is planned when the program itself failed).
    pub fn empty() -> Program {
        Program {
            resources: Vec::new(),
            outputs: Map::new(),
            required_config: Vec::new(),
        }
    }
}

/// The URN of a resource: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`.
pub fn urn(stack: &StackRef, qualified_type: &str, name: &str) -> String {
    format!("urn:pulumi:{}::{}::{qualified_type}::{name}", stack.name, stack.project)
}

/// The root `pulumi:pulumi:Stack` resource's URN.
pub fn root_urn(stack: &StackRef) -> String {
    urn(
        stack,
        "pulumi:pulumi:Stack",
        &format!("{}-{}", stack.project, stack.name),
    )
}

/// The default provider of a package: (URN, version).
pub fn default_provider(stack: &StackRef, package: &str) -> (String, String) {
    let version = PROVIDER_PACKAGES
        .iter()
        .find(|(p, _)| *p == package)
        .map(|(_, v)| *v)
        .unwrap_or("1.0.0");
    let name = format!("default_{}", version.replace('.', "_"));
    (
        urn(stack, &format!("pulumi:providers:{package}"), &name),
        version.to_string(),
    )
}

fn package_of(ty: &str) -> &str {
    ty.split(':').next().unwrap_or(ty)
}

/// Where the resources JSON is: the knob, else `<program dir>/inspect/<env>.json`.
pub fn resources_path(knob: Option<&Path>, program_dir: &Path, env: &str) -> PathBuf {
    match knob {
        Some(p) => p.to_path_buf(),
        None => program_dir.join("inspect").join(format!("{env}.json")),
    }
}

/// Load the resources JSON, substituting the recorded deployment id with `deployment_id`.
pub fn load(path: &Path, stack: &StackRef, deployment_id: Option<&str>) -> Result<Program> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StandinError::failed(format!(
            "failed to load the program's resources from {}: {e} (set PULUMI_STANDIN_RESOURCES or write \
             inspect/<env>.json)",
            path.display()
        ))
    })?;
    let mut raw: Value = serde_json::from_str(&text).context(|| format!("parsing {}", path.display()))?;
    let recorded = raw.get("deploymentId").and_then(Value::as_str).map(String::from);
    if let (Some(from), Some(to)) = (recorded.as_deref(), deployment_id) {
        if !from.is_empty() && from != to {
            substitute(&mut raw, from, to);
        }
    }
    let doc: ResourcesDoc = serde_json::from_value(raw).context(|| format!("reading {}", path.display()))?;
    resolve(doc, stack)
}

/// Replace `from` by `to` in every string and object key of `value`.
fn substitute(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, from, to)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                substitute(&mut v, from, to);
                map.insert(k.replace(from, to), v);
            }
        }
        _ => {}
    }
}

fn resolve(doc: ResourcesDoc, stack: &StackRef) -> Result<Program> {
    let by_key: HashMap<String, usize> = doc
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("{}::{}", r.ty, r.name), i))
        .collect();
    if by_key.len() != doc.resources.len() {
        return Err(StandinError::failed(
            "the resources JSON declares the same resource twice",
        ));
    }
    // Order parents before children (depth-first from each declared resource).
    let mut order = Vec::with_capacity(doc.resources.len());
    let mut state = vec![0u8; doc.resources.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        doc: &ResourcesDoc,
        by_key: &HashMap<String, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<()> {
        match state[i] {
            2 => return Ok(()),
            1 => return Err(StandinError::failed("the resources JSON has a parent cycle")),
            _ => {}
        }
        state[i] = 1;
        if let Some(parent) = &doc.resources[i].parent {
            let p = *by_key.get(parent).ok_or_else(|| {
                StandinError::failed(format!(
                    "resource '{}::{}' has an unknown parent '{parent}'",
                    doc.resources[i].ty, doc.resources[i].name
                ))
            })?;
            visit(p, doc, by_key, state, order)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..doc.resources.len() {
        visit(i, &doc, &by_key, &mut state, &mut order)?;
    }

    let root = root_urn(stack);
    let mut qualified: HashMap<usize, (String, String)> = HashMap::new(); // index -> (qualified type, urn)
    let mut resources = Vec::with_capacity(order.len());
    for i in order {
        let r = &doc.resources[i];
        let (qtype, parent) = match &r.parent {
            Some(p) => {
                let (ptype, purn) = &qualified[&by_key[p]];
                (format!("{ptype}${}", r.ty), purn.clone())
            }
            None => (r.ty.clone(), root.clone()),
        };
        let urn = urn(stack, &qtype, &r.name);
        qualified.insert(i, (qtype, urn.clone()));
        let package = package_of(&r.ty);
        let custom = r
            .custom
            .unwrap_or_else(|| PROVIDER_PACKAGES.iter().any(|(p, _)| *p == package));
        resources.push(Resource {
            ty: r.ty.clone(),
            urn,
            parent,
            custom,
            inputs: r.inputs.clone(),
            package: custom.then(|| package.to_string()),
        });
    }
    Ok(Program {
        resources,
        outputs: doc.outputs,
        required_config: doc.required_config,
    })
}
