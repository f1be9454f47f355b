//! What flows between components: flow batches with their scores, finished traffic windows,
//! alerts, and time that advanced without packets. Events a sink receives arrive in the order
//! the meter produced them, whatever the number of threads.

use std::sync::Arc;

use detect::Alert;
use flow::{FlowRecord, Window};
use store::Score;

/// Finished flows, in the order the meter emitted them.
#[derive(Debug, Default)]
pub struct FlowBatch {
    /// The flows.
    pub flows: Vec<FlowRecord>,
    /// One score per flow with detection on; empty without.
    pub scores: Vec<Option<Score>>,
}

/// One event.
#[derive(Debug, Clone)]
pub enum Event {
    /// Finished flows (shared by every sink; never copied).
    Flows(Arc<FlowBatch>),
    /// A finished traffic window (oldest first).
    Window(Arc<Window>),
    /// Alerts, each after the flows or window it is about.
    Alerts(Arc<Vec<Alert>>),
    /// The clock advanced to this time (UTC µs) without packets.
    Tick(i64),
    /// The device inventory as it stands (with the inventory on: at the end of the run,
    /// after the last flows, and in a live run every [`crate::run::DEVICE_SNAPSHOT_EVERY`]).
    Devices(Arc<DeviceSnapshot>),
}

/// The device inventory at one moment.
#[derive(Debug, Default)]
pub struct DeviceSnapshot {
    /// Every device, by key.
    pub devices: Vec<enrich::device::Device>,
    /// What changed since the previous snapshot, oldest first (the inventory's change log,
    /// drained: bounded, its drops counted as `device_events_dropped`).
    pub changes: Vec<enrich::device::Event>,
    /// The run's last snapshot.
    pub last: bool,
}

/// How the run ended, as sinks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunEnd {
    /// Every input was read to its end without errors and no signal stopped it.
    pub complete: bool,
}

impl RunEnd {
    /// How the run that `meter` reports on ended.
    pub fn of(meter: &crate::meter::MeterReport) -> Self {
        RunEnd {
            complete: meter.errors.is_empty() && meter.interrupted.is_none(),
        }
    }
}
