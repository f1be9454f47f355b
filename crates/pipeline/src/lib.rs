//! The running system: sources → meter → detect → sinks as components, each with a config,
//! counters (received / emitted / dropped by cause) and bounded edges with a declared policy
//! when full, assembled from one [`PipelineConfig`] by [`Pipeline::build`]. `analyze`, `demo`,
//! `chart`, `baseline` and the tests all run through it; live capture, the API server and the
//! bus scale-out will too.

pub mod config;
pub mod counters;
pub mod detect;
pub mod devices;
pub mod edge;
pub mod enrich;
pub mod error;
pub mod event;
pub mod meter;
pub mod output;
pub mod run;
pub mod sink;
pub mod source;

pub use config::{MeterSettings, PipelineConfig, WindowSettings, DEFAULT_HOME_NET};
pub use counters::{ComponentSnapshot, Counters, DropCause, Kind, Registry};
pub use detect::{DetectConfig, DetectTally};
pub use edge::WhenFull;
pub use enrich::GeoSettings;
pub use error::{PipelineError, Result};
pub use event::{DeviceSnapshot, Event, FlowBatch, RunEnd};
pub use meter::MeterReport;
pub use run::{Pipeline, RunReport};
pub use sink::Sink;
