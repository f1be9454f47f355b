//! Flow metering: packets to bidirectional flows with the CICFlowMeter feature set.
//!
//! [`FlowTable`] keys packets with a [`Profile`], keeps streaming accumulators per flow and
//! emits [`FlowRecord`]s when flows end (idle/active timeouts in packet time, TCP close, table
//! full, end of input). The feature names, units and order come from [`features::FEATURES`].
//! [`Meter`] puts the decoder in front of it; [`ShardedMeter`] runs the same meter with its
//! table spread over threads, with identical output. No I/O happens here besides reading the
//! packet source a meter is given.

pub mod accum;
pub mod app;
pub mod clock;
pub mod columns;
pub mod community_id;
pub mod direction;
pub(crate) mod export;
pub mod features;
pub mod geo;
pub mod index;
pub mod key;
pub mod meter;
pub mod profile;
pub mod record;
pub mod service;
pub(crate) mod shard;
pub mod sharded;
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
pub use sharded::ShardedMeter;
pub use table::{FlowTable, MeterConfig, MeterCounters, PacketOutcome};
pub use window::{Window, WindowConfig, Windower};

/// CICFlowMeter's activity timeout: a gap longer than this closes an active period (µs).
pub const ACTIVITY_TIMEOUT_US: i64 = 5_000_000;
