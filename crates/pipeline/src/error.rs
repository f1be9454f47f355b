//! What can stop a run, typed so the caller can tell the user's input from our side.

use std::path::PathBuf;

use packet::SourceError;
use store::StoreError;

/// A run's error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A configuration value out of range or unreadable; names the field.
    #[error("{field}: {message}")]
    Config {
        /// The field, as the user spells it (`threads`, `detect.threshold`, a file).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An input (capture, model, rule or baseline file) that cannot be used.
    #[error("{0}")]
    Input(String),
    /// An input that cannot be opened or read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Writing an output file failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A flow export failed.
    #[error(transparent)]
    Export(#[from] store::ExportError),
    /// A component's thread could not start or died.
    #[error("{component}: {message}")]
    Thread {
        /// The component.
        component: String,
        /// What happened.
        message: String,
    },
}

impl PipelineError {
    /// Whether the user's input or configuration is at fault (exit 2), rather than the
    /// system or infrastructure (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            PipelineError::Config { .. } | PipelineError::Input(_) | PipelineError::Source(_) => {
                true
            }
            // Refusals before any work: the database named cannot be opened or is newer, or
            // the input is stored already.
            PipelineError::Store(e) => matches!(
                e,
                StoreError::Open { .. }
                    | StoreError::TooNew { .. }
                    | StoreError::Duplicate { .. }
                    | StoreError::BeingWritten { .. }
            ),
            _ => false,
        }
    }

    /// A configuration error naming `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        PipelineError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Write {
            path: path.into(),
            source,
        }
    }
}

/// A run's result.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
