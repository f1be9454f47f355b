//! Where flows go: exports to files now (CSV, JSON Lines, Parquet); the SQLite and PostgreSQL
//! stores join here.

pub mod export;

pub use export::{ExportError, ExportFormat, FlowSink, Layout};
