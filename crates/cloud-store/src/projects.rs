//! Projects, their environments and deployments.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectRow {
    pub name: String,
    pub org: String,
    pub provider: String,
    pub environments: Vec<String>,
    pub created_at: String,
    pub created_by: String,
}

/// A `projects` row as stored (its environments are a second query).
#[derive(Debug, Clone)]
pub struct StoredProject {
    pub name: String,
    pub org: String,
    pub provider: String,
    pub created_at: String,
    pub created_by: String,
}

impl StoredProject {
    pub fn with_environments(self, environments: Vec<String>) -> ProjectRow {
        ProjectRow {
            name: self.name,
            org: self.org,
            provider: self.provider,
            environments,
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }
}
