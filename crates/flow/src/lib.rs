//! Flow metering: packets to bidirectional flows with the CICFlowMeter feature set.
//!
//! [`FlowTable`] keys packets with a [`Profile`], keeps streaming accumulators per flow and
//! emits [`FlowRecord`]s when flows end (idle/active timeouts in packet time, TCP close, table
//! full, end of input). The feature names, units and order come from [`features::FEATURES`].
//! No I/O happens here.

pub mod accum;
pub mod app;
pub mod clock;
pub mod columns;
pub mod direction;
pub mod features;
pub mod index;
pub mod key;
pub mod meter;
pub mod profile;
pub mod record;
pub mod service;
pub mod stats;
pub mod table;
pub mod tcp_analysis;
pub mod window;

pub use clock::CaptureClock;
pub use direction::{Direction, HomeNet};
pub use features::{Feature, F, FEATURES, N_FEATURES};
pub use key::FlowKey;
pub use meter::{DecodeCounters, Meter};
pub use profile::Profile;
pub use record::{AppMeta, EndReason, FlowRecord};
pub use table::{FlowTable, MeterConfig, MeterCounters};
pub use window::{Window, WindowConfig, Windower};

/// CICFlowMeter's activity timeout: a gap longer than this closes an active period (µs).
pub const ACTIVITY_TIMEOUT_US: i64 = 5_000_000;
