//! The store's roles, one trait each, so that a caller names what it does with a database:
//! [`StoreWriter`] (an ingest: captures, their flows, windows and alerts), [`Queries`] (what
//! the dashboard reads) and [`Maintenance`] (retention, archiving, replacing a capture).
//! [`Store`] is all three, what [`crate::open`] returns; both backends implement every role.
//! Calls are blocking; a connection is not shared between threads (open one per thread), but
//! every role is `Send`, so a store can be moved to a thread of its own (the ingest's writer).

use std::net::IpAddr;

use flow::window::report::WindowReport;
use flow::FlowRecord;

use crate::account::Accounts;
use crate::device::{DeviceChange, DeviceFilter, StoredDevice};
use crate::model::*;
use crate::notify::Notifications;
use crate::saved::SavedQueries;
use crate::workflow::Workflow;
use crate::Result;

/// What every role knows: the database it works on.
pub trait Database: Send {
    /// The database, as messages name it.
    fn target(&self) -> &str;
}

/// Writing an ingest: a capture, its flows (with their scores) and windows in batches, the
/// alerts raised about them, and its end.
pub trait StoreWriter: Database {
    /// Starts a capture's ingest (status `ingesting`), recording this process as its writer
    /// ([`Writer::this_process`]) and now as its heartbeat.
    fn begin_capture(&mut self, c: &NewCapture) -> Result<CaptureId>;
    /// Writes a batch of a capture's flows (with their scores, when `scores` is not empty) in
    /// one transaction, with the rollups and the capture's heartbeat and flow count. Writing a
    /// batch already written is a no-op, so a batch whose commit was not confirmed can be
    /// retried.
    fn insert_flows(
        &mut self,
        capture: CaptureId,
        flows: &[FlowRecord],
        scores: &[Option<Score>],
    ) -> Result<()>;
    /// Writes a capture's windows in one transaction.
    fn insert_windows(&mut self, capture: CaptureId, windows: &[WindowReport]) -> Result<()>;
    /// Ends a capture's ingest; the captures it `replaces` (`--force`: every earlier copy of
    /// the same input, see [`copies_to_replace`](crate::copies_to_replace)) are removed in the
    /// same transaction, with their flows, windows and alerts and their shares of the rollups.
    fn finish_capture(
        &mut self,
        capture: CaptureId,
        totals: &CaptureTotals,
        status: CaptureStatus,
        replaces: &[CaptureId],
    ) -> Result<()>;
    /// Writes alerts exactly as raised, each with `capture` (the capture whose run raised
    /// them, if any), and their per-minute rollup, in one transaction; returns their ids.
    fn insert_alerts(&mut self, capture: Option<CaptureId>, alerts: &[Alert]) -> Result<Vec<i64>>;
    /// Writes a snapshot of the device inventory of `capture`'s run in one transaction: its
    /// devices replace those of the previous snapshot, its `changes` (drained from the
    /// inventory since) are appended.
    fn write_devices(
        &mut self,
        capture: CaptureId,
        devices: &[enrich::device::Device],
        changes: &[enrich::device::Event],
    ) -> Result<()>;
}

/// One host's history over a range.
#[derive(Clone, Debug)]
pub struct IpHistory {
    /// Its traffic totals (from the rollups), if it was seen.
    pub traffic: Option<TalkerRow>,
    /// Its newest flows (either end).
    pub flows: FlowPage,
    /// Alerts it raised as a source, newest first.
    pub alerts: Vec<StoredAlert>,
}

/// What the dashboard reads: captures, flows, the rollups' rankings, windows and alerts.
pub trait Queries: Database {
    /// Every capture, newest first.
    fn captures(&mut self) -> Result<Vec<Capture>>;
    /// One flow.
    fn flow(&mut self, id: i64) -> Result<Option<StoredFlow>>;
    /// A page of flows matching `filter`, newest first, after `after`.
    fn flows(
        &mut self,
        filter: &FlowFilter,
        after: Option<FlowCursor>,
        limit: usize,
    ) -> Result<FlowPage>;
    /// Hosts by bytes (sent + received) over a range, from the rollups.
    fn top_talkers(&mut self, range: TimeRange, n: usize) -> Result<Vec<TalkerRow>>;
    /// One host's totals over a range, from the rollups.
    fn talker(&mut self, ip: IpAddr, range: TimeRange) -> Result<Option<TalkerRow>>;
    /// Destination ports by bytes over a range, from the rollups.
    fn top_ports(&mut self, range: TimeRange, n: usize) -> Result<Vec<PortRow>>;
    /// IP protocols by bytes over a range, from the rollups.
    fn protocols(&mut self, range: TimeRange) -> Result<Vec<ProtocolRow>>;
    /// Traffic per rollup bucket over a range (hours, and minutes at its ends), oldest first,
    /// from the port rollups.
    fn bucket_traffic(&mut self, range: TimeRange) -> Result<Vec<BucketTraffic>>;
    /// How the database would run `sql` (one of `crate::query`'s statements): the lines of
    /// SQLite's `EXPLAIN QUERY PLAN` or PostgreSQL's `EXPLAIN`, for checking that listings
    /// and searches use the indexes.
    fn query_plan(&mut self, sql: &crate::query::Sql) -> Result<Vec<String>>;
    /// TCP health and the home-network split over a range (windows starting in it).
    fn traffic_health(&mut self, range: TimeRange) -> Result<TrafficHealth>;
    /// Windows starting in a range, oldest first (of one capture, or all).
    fn windows(
        &mut self,
        range: TimeRange,
        capture: Option<CaptureId>,
    ) -> Result<Vec<WindowReport>>;
    /// Alerts per minute over a range (minutes without alerts left out).
    fn attack_rate(&mut self, range: TimeRange) -> Result<Vec<MinuteCount>>;
    /// Alert sources by count over a range.
    fn top_attackers(&mut self, range: TimeRange, n: usize) -> Result<Vec<AttackerRow>>;
    /// Alerts matching `filter`, newest first.
    fn alerts(&mut self, filter: &AlertFilter, limit: usize) -> Result<Vec<StoredAlert>>;
    /// Incidents matching `filter`, most recently active first.
    fn incidents(&mut self, filter: &IncidentFilter, limit: usize) -> Result<Vec<Incident>>;
    /// Devices matching `filter`, merged over the captures that saw them, most recently seen
    /// first (`crate::device`).
    fn devices(&mut self, filter: &DeviceFilter, limit: usize) -> Result<Vec<StoredDevice>>;
    /// Changes of the inventory (new devices, new and moved addresses, new names) matching
    /// `filter`, newest first.
    fn device_changes(&mut self, filter: &DeviceFilter, limit: usize) -> Result<Vec<DeviceChange>>;

    /// One stored alert.
    fn alert(&mut self, id: i64) -> Result<Option<StoredAlert>> {
        let filter = AlertFilter {
            id: Some(id),
            ..AlertFilter::default()
        };
        Ok(self.alerts(&filter, 1)?.pop())
    }

    /// One incident.
    fn incident(&mut self, id: i64) -> Result<Option<Incident>> {
        let filter = IncidentFilter {
            id: Some(id),
            ..IncidentFilter::default()
        };
        Ok(self.incidents(&filter, 1)?.pop())
    }

    /// One host's history: totals, newest flows and alerts.
    fn ip_history(&mut self, ip: IpAddr, range: TimeRange, limit: usize) -> Result<IpHistory> {
        let filter = FlowFilter {
            time: Some(range),
            ip: Some(IpFilter::addr(ip)),
            ..FlowFilter::default()
        };
        let alerts = AlertFilter {
            time: Some(range),
            src: Some(ip),
            ..AlertFilter::default()
        };
        Ok(IpHistory {
            traffic: self.talker(ip, range)?,
            flows: self.flows(&filter, None, limit)?,
            alerts: self.alerts(&alerts, limit)?,
        })
    }
}

/// Keeping the database: the copies of an input (for replacing them), retention, its size,
/// and the day-by-day scans and drops of archiving.
pub trait Maintenance: Database {
    /// Every stored capture with this digest, complete or not, oldest first.
    fn captures_by_sha256(&mut self, sha256: &str) -> Result<Vec<Capture>>;
    /// Removes what the policy says, in one transaction: all of it or nothing. Flows go by
    /// their first packet, windows by their start and alerts by their time, and with them
    /// the alerts about the flows that go (the alerts' rollup is recomputed from the alerts
    /// that stay).
    fn retain(&mut self, policy: &RetentionPolicy) -> Result<RetentionReport>;
    /// Bytes the data occupies (SQLite: used pages; PostgreSQL: the database's size).
    fn size_bytes(&mut self) -> Result<u64>;
    /// Days (since the epoch, UTC) that hold flows, with their flow counts, oldest first.
    fn flow_days(&mut self) -> Result<Vec<(i64, u64)>>;
    /// Calls `each` on every flow first seen in a range, oldest first.
    fn scan_flows(
        &mut self,
        range: TimeRange,
        each: &mut dyn FnMut(StoredFlow) -> std::result::Result<(), String>,
    ) -> Result<u64>;
    /// Removes one day's flows (and its partition on PostgreSQL), in one transaction, but only
    /// if it holds exactly `expected` flows; returns how many went.
    fn drop_flow_day(&mut self, day: i64, expected: u64) -> Result<u64>;
}

/// The store: every role over one connection to SQLite or PostgreSQL (see [`crate::open`]).
pub trait Store:
    StoreWriter + Queries + Maintenance + Accounts + Workflow + SavedQueries + Notifications
{
}

impl<T> Store for T where
    T: StoreWriter
        + Queries
        + Maintenance
        + Accounts
        + Workflow
        + SavedQueries
        + Notifications
        + ?Sized
{
}
