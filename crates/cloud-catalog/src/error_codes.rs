//! The [`ErrorCode`] of each catalog problem and error (docs/troubleshooting.md).

use cloud_domain::error_code::{Coded, ErrorCode};

use crate::input::ReadError;
use crate::{GraphError, ProblemKind};

impl Coded for ProblemKind {
    fn error_code(&self) -> ErrorCode {
        match self {
            ProblemKind::Syntax => ErrorCode::CatalogSyntax,
            ProblemKind::Schema => ErrorCode::CatalogSchema,
            ProblemKind::Name => ErrorCode::CatalogName,
            ProblemKind::DeploymentId => ErrorCode::CatalogDeploymentId,
            ProblemKind::UnknownStack => ErrorCode::CatalogUnknownStack,
            ProblemKind::StackFiles => ErrorCode::CatalogStackFiles,
            ProblemKind::Cycle => ErrorCode::CatalogCycle,
            ProblemKind::MissingDependency => ErrorCode::CatalogMissingDependency,
            ProblemKind::Placeholder => ErrorCode::CatalogPlaceholder,
            ProblemKind::Config => ErrorCode::CatalogConfig,
            ProblemKind::Template => ErrorCode::CatalogTemplate,
            ProblemKind::Io => ErrorCode::CatalogIo,
            ProblemKind::Provider => ErrorCode::CatalogProvider,
        }
    }
}

impl Coded for GraphError {
    fn error_code(&self) -> ErrorCode {
        match self {
            GraphError::Cycle { .. } => ErrorCode::CatalogCycle,
            GraphError::MissingDependency { .. } => ErrorCode::CatalogMissingDependency,
            GraphError::UnknownStack { .. } => ErrorCode::CatalogUnknownStack,
        }
    }
}

impl Coded for ReadError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ReadError::Io(_) => ErrorCode::InputUnreadable,
            ReadError::NotRegular { .. } => ErrorCode::InputNotRegular,
            ReadError::TooLarge { .. } => ErrorCode::InputTooLarge,
            ReadError::NotUtf8 => ErrorCode::InputNotUtf8,
        }
    }
}
