//! Problems found in the workspace — each one says where (file, line, column) and what to do.
//!
//! The catalog never stops at the first mistake it finds when it can keep going: `cloud validate`
//! reports every problem in one run, so a person fixes them all before the next try.

use std::fmt;
use std::path::{Path, PathBuf};

use cloud_domain::error::UserError;

/// Where a problem is: a file relative to the workspace root, and when known a 1-based line and
/// column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    /// A whole file (or directory): no line.
    pub(crate) fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// A position inside a file.
    pub(crate) fn at(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
        }
    }

    /// A position if one is known, otherwise the file.
    pub(crate) fn maybe_at(file: impl Into<PathBuf>, pos: Option<(usize, usize)>) -> Self {
        match pos {
            Some((l, c)) => Location::at(file, l, c),
            None => Location::file(file),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        Ok(())
    }
}

/// What kind of problem — for callers (and tests) that branch; people read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// Not YAML at all (tabs, unclosed brackets, bad indentation).
    Syntax,
    /// YAML, but not the schema: unknown or missing fields, wrong types, duplicate keys.
    Schema,
    /// A name that does not have the required shape (org, project, stack, environment, id).
    Name,
    /// A deployment id problem: bad shape, mismatching directory, used twice.
    DeploymentId,
    /// A stack name that is not in the catalog.
    UnknownStack,
    /// A stack program directory that is incomplete (`index.ts`, `Pulumi.yaml`, `main`, runtime).
    StackFiles,
    /// Stacks that depend on each other in a circle.
    Cycle,
    /// An enabled stack depends on a stack that is disabled or absent.
    MissingDependency,
    /// A `{{…}}` placeholder that cannot be resolved or is not allowed where it is.
    Placeholder,
    /// A configuration problem: required key missing, undeclared key, reserved key, bad secret.
    Config,
    /// A template problem.
    Template,
    /// A deployment whose stacks target more than one provider (`provider:` in `stack.yaml`).
    Provider,
    /// Could not read a file or directory.
    Io,
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub location: Location,
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(kind: ProblemKind, location: Location, message: impl Into<String>) -> Self {
        Problem {
            location,
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// One or more problems; the error type of everything in the catalog that reads the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub(crate) fn one(problem: Problem) -> Self {
        Problems(vec![problem])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    pub(crate) fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// `Ok(())` when there is nothing to report.
    pub(crate) fn into_result(self) -> Result<(), Problems> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Sorted by file, line, column, then message; duplicates removed. Stable output for people
    /// and snapshots.
    pub fn sorted(mut self) -> Self {
        self.0.sort();
        self.0.dedup();
        self
    }

    pub fn has_kind(&self, kind: ProblemKind) -> bool {
        self.0.iter().any(|p| p.kind == kind)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems::one(p)
    }
}

/// Problems are invalid input: exit code 2, the text lists each problem on its own line.
impl From<Problems> for UserError {
    fn from(p: Problems) -> Self {
        let n = p.len();
        let mut message = p.to_string();
        if n > 1 {
            message.push_str(&format!("\n{n} problems found"));
        }
        UserError::invalid(message)
    }
}

/// A path relative to the workspace root when it is inside it (for messages), else as given.
pub fn rel(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
