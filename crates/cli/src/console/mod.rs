//! What the user sees on the terminal: the run summary, progress, number formatting. These
//! observe the pipeline (its events and counters); they are not part of it.

pub mod detection;
pub mod format;
pub mod progress;
pub mod session;
pub mod status;
pub mod summary;
