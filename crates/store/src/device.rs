//! The device inventory as stored (schema version 11): each capture's run writes its devices
//! ([`StoredDevice`], one row per device and capture, replaced by every snapshot of a live
//! run) and the changes it saw ([`DeviceChange`], appended). A listing merges a device's rows
//! over the captures that saw it, counts the alerts naming it, then applies the filters. The
//! SQL and the merge are shared by both backends, which only run the statements.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use enrich::device::{change_record, device_json, service_name, Device, Event};
use serde::{Deserialize, Serialize};

use crate::incident::Exec;
use crate::model::{CaptureId, IpFilter, TimeRange};
use crate::query::Sql;
use crate::schema::{DbType, DbValue, RowError};

/// A device as a listing shows it: its rows of every capture in the range merged (the newest
/// row's attributes; the earliest first and latest last sighting; traffic summed; addresses
/// and services united). Its JSON is what `netvigil devices --json` prints (docs/devices.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredDevice {
    /// Its key: the MAC address, or the IP address of a device known without one.
    pub device: String,
    /// MAC address.
    pub mac: Option<String>,
    /// IEEE vendor of the MAC.
    pub vendor: Option<String>,
    /// Best name (DHCP, then FQDN, mDNS, NetBIOS, LLMNR, PTR).
    pub hostname: Option<String>,
    /// Every address it had, oldest first.
    #[schema(value_type = Vec<String>)]
    pub ips: Vec<IpAddr>,
    /// OS family of the best hint.
    pub os: Option<String>,
    /// That hint's confidence, 0..1.
    pub os_confidence: Option<f64>,
    /// Services it answered on (`tcp/22`).
    pub services: Vec<String>,
    /// Flows started towards it.
    pub flows_in: u64,
    /// Flows it started.
    pub flows_out: u64,
    /// Bytes it received.
    pub bytes_in: u64,
    /// Bytes it sent.
    pub bytes_out: u64,
    /// First seen (UTC µs).
    pub first_seen: i64,
    /// Last seen (UTC µs).
    pub last_seen: i64,
    /// Alerts (episodes) naming it as source or destination.
    pub alerts: u64,
    /// Captures whose runs saw it.
    #[schema(value_type = Vec<i64>)]
    pub captures: Vec<CaptureId>,
    /// The newest row's whole JSON (`enrich::device::device_json`).
    pub detail: serde_json::Value,
}

/// A change of the inventory as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceChange {
    /// Row id.
    pub id: i64,
    /// The capture whose run saw it.
    #[schema(value_type = i64)]
    pub capture: CaptureId,
    /// When (UTC µs, packet time).
    pub time: i64,
    /// The device (for a moved address: the MAC it moved to).
    pub device: String,
    /// `new_device`, `new_ip`, `ip_moved` or `hostname_changed`.
    pub kind: String,
    /// The address it is about, if any.
    #[schema(value_type = Option<String>)]
    pub ip: Option<IpAddr>,
    /// The change's JSON (`enrich::device::change_record`).
    pub detail: serde_json::Value,
}

/// Which devices (or changes) a listing returns. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceFilter {
    /// Seen in this range (last seen at or after its start, first seen before its end).
    pub time: Option<TimeRange>,
    /// This key, exactly (a MAC in lower case, or an address).
    pub device: Option<String>,
    /// Substring of the vendor (case-insensitive).
    pub vendor: Option<String>,
    /// Substring of any of its names (case-insensitive).
    pub hostname: Option<String>,
    /// It had an address inside.
    pub ip: Option<IpFilter>,
    /// OS family, exactly (`windows`, `linux`, …).
    pub os: Option<String>,
    /// Only what this capture's run saw.
    pub capture: Option<CaptureId>,
}

/// The columns of `devices`, in the order [`device_row`] writes and [`DeviceRow`] reads.
pub const DEVICE_COLUMNS: [(&str, DbType); 16] = [
    ("capture_id", DbType::Int),
    ("device", DbType::Text),
    ("mac", DbType::Text),
    ("vendor", DbType::Text),
    ("hostname", DbType::Text),
    ("ips", DbType::Text),
    ("os", DbType::Text),
    ("os_confidence", DbType::Float),
    ("services", DbType::Text),
    ("flows_in", DbType::Int),
    ("flows_out", DbType::Int),
    ("bytes_in", DbType::Int),
    ("bytes_out", DbType::Int),
    ("first_seen", DbType::Time),
    ("last_seen", DbType::Time),
    ("detail", DbType::Text),
];

/// The columns of `device_events` a [`DeviceChange`] is read from.
pub const CHANGE_COLUMNS: [(&str, DbType); 7] = [
    ("id", DbType::Int),
    ("capture_id", DbType::Int),
    ("seen_at", DbType::Time),
    ("device", DbType::Text),
    ("kind", DbType::Text),
    ("ip", DbType::Ip),
    ("detail", DbType::Text),
];

fn names(cols: &[(&str, DbType)]) -> String {
    cols.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
}

fn types(cols: &[(&str, DbType)]) -> Vec<DbType> {
    cols.iter().map(|c| c.1).collect()
}

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `DELETE` of a capture's device rows (`$1`): a snapshot replaces the one before.
pub const DELETE_DEVICES_SQL: &str = "DELETE FROM devices WHERE capture_id = $1";

/// `INSERT INTO devices …`, binding [`device_row`].
pub fn insert_device_sql() -> String {
    format!(
        "INSERT INTO devices ({}) VALUES ({})",
        names(&DEVICE_COLUMNS),
        placeholders(DEVICE_COLUMNS.len())
    )
}

/// `INSERT INTO device_events …`, binding [`change_row`].
pub fn insert_change_sql() -> String {
    format!(
        "INSERT INTO device_events ({}) VALUES ({})",
        names(&CHANGE_COLUMNS[1..]),
        placeholders(CHANGE_COLUMNS.len() - 1)
    )
}

fn int(v: u64) -> DbValue<'static> {
    DbValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn text(s: Option<String>) -> DbValue<'static> {
    s.map_or(DbValue::Null, |s| DbValue::Text(s.into()))
}

/// The values of one device of `capture`, in [`DEVICE_COLUMNS`] order.
pub fn device_row(capture: CaptureId, d: &Device) -> Vec<DbValue<'static>> {
    let ips = d
        .ips
        .iter()
        .map(|i| i.ip.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let services = d
        .services
        .iter()
        .map(|&(p, port)| service_name(p, port))
        .collect::<Vec<_>>()
        .join(",");
    vec![
        DbValue::Int(capture),
        DbValue::Text(d.key.to_string().into()),
        text(d.mac.map(enrich::device::mac_string)),
        text(d.vendor.map(str::to_string)),
        text(d.hostname().map(str::to_string)),
        DbValue::Text(ips.into()),
        text(d.os.map(|o| o.family.as_str().to_string())),
        d.os.map_or(DbValue::Null, |o| DbValue::Float(f64::from(o.confidence))),
        DbValue::Text(services.into()),
        int(d.traffic.flows_in),
        int(d.traffic.flows_out),
        int(d.traffic.bytes_in),
        int(d.traffic.bytes_out),
        DbValue::Time(d.first_seen.0),
        DbValue::Time(d.last_seen.0),
        DbValue::Text(device_json(d).to_string().into()),
    ]
}

/// The values of one change seen by `capture`'s run, in [`CHANGE_COLUMNS`] order without
/// the id.
pub fn change_row(capture: CaptureId, e: &Event) -> Vec<DbValue<'static>> {
    let r = change_record(e);
    vec![
        DbValue::Int(capture),
        DbValue::Time(e.ts.0),
        DbValue::Text(r.device.into()),
        DbValue::Text(r.kind.into()),
        r.ip.map_or(DbValue::Null, DbValue::Ip),
        DbValue::Text(r.detail.to_string().into()),
    ]
}

/// One stored row of `devices`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceRow {
    capture: CaptureId,
    device: StoredDevice,
}

/// Reads the values of one row in a column order's types.
struct Reader<'a> {
    table: &'static str,
    cols: &'a [(&'static str, DbType)],
    vals: std::vec::IntoIter<DbValue<'static>>,
    at: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> (&'static str, DbValue<'static>) {
        let c = self.cols.get(self.at).map_or("*", |c| c.0);
        self.at += 1;
        (c, self.vals.next().unwrap_or(DbValue::Null))
    }

    fn bad(&self, column: &str, problem: &str) -> RowError {
        RowError {
            table: self.table,
            id: 0,
            column: column.to_string(),
            problem: problem.to_string(),
        }
    }

    fn int(&mut self) -> Result<i64, RowError> {
        match self.next() {
            (_, DbValue::Int(i) | DbValue::Time(i)) => Ok(i),
            (c, _) => Err(self.bad(c, "expected an integer")),
        }
    }

    fn count(&mut self) -> Result<u64, RowError> {
        let c = self.cols.get(self.at).map_or("*", |c| c.0);
        u64::try_from(self.int()?).map_err(|_| self.bad(c, "not a count"))
    }

    fn text(&mut self) -> Result<Option<String>, RowError> {
        match self.next() {
            (_, DbValue::Text(t)) => Ok(Some(t.into_owned())),
            (_, DbValue::Null) => Ok(None),
            (c, _) => Err(self.bad(c, "expected text")),
        }
    }

    fn float(&mut self) -> Result<Option<f64>, RowError> {
        match self.next() {
            (_, DbValue::Float(f)) => Ok(Some(f)),
            (_, DbValue::Int(i)) => Ok(Some(i as f64)),
            (_, DbValue::Null) => Ok(None),
            (c, _) => Err(self.bad(c, "expected a number")),
        }
    }

    fn ip(&mut self) -> Result<Option<IpAddr>, RowError> {
        match self.next() {
            (_, DbValue::Ip(ip)) => Ok(Some(ip)),
            (_, DbValue::Null) => Ok(None),
            (c, _) => Err(self.bad(c, "expected an address")),
        }
    }

    fn json(&mut self) -> Result<serde_json::Value, RowError> {
        let c = self.cols.get(self.at).map_or("*", |c| c.0);
        let t = self.text()?.unwrap_or_default();
        serde_json::from_str(&t).map_err(|e| self.bad(c, &format!("not JSON ({e})")))
    }

    fn list(&mut self) -> Result<Vec<String>, RowError> {
        Ok(self
            .text()?
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// Rebuilds a row of `devices` from its values in [`DEVICE_COLUMNS`] order.
pub fn device_of_row(vals: Vec<DbValue<'static>>) -> Result<DeviceRow, RowError> {
    let mut r = Reader {
        table: "device",
        cols: &DEVICE_COLUMNS,
        vals: vals.into_iter(),
        at: 0,
    };
    let capture = r.int()?;
    let device = r.text()?.unwrap_or_default();
    let mac = r.text()?;
    let vendor = r.text()?;
    let hostname = r.text()?;
    let ips = r
        .list()?
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| r.bad("ips", &format!("{s:?} is not an address")))
        })
        .collect::<Result<Vec<IpAddr>, _>>()?;
    Ok(DeviceRow {
        capture,
        device: StoredDevice {
            device,
            mac,
            vendor,
            hostname,
            ips,
            os: r.text()?,
            os_confidence: r.float()?,
            services: r.list()?,
            flows_in: r.count()?,
            flows_out: r.count()?,
            bytes_in: r.count()?,
            bytes_out: r.count()?,
            first_seen: r.int()?,
            last_seen: r.int()?,
            alerts: 0,
            captures: vec![capture],
            detail: r.json()?,
        },
    })
}

/// Rebuilds a change from its values in [`CHANGE_COLUMNS`] order.
pub fn change_of_row(vals: Vec<DbValue<'static>>) -> Result<DeviceChange, RowError> {
    let mut r = Reader {
        table: "device change",
        cols: &CHANGE_COLUMNS,
        vals: vals.into_iter(),
        at: 0,
    };
    Ok(DeviceChange {
        id: r.int()?,
        capture: r.int()?,
        time: r.int()?,
        device: r.text()?.unwrap_or_default(),
        kind: r.text()?.unwrap_or_default(),
        ip: r.ip()?,
        detail: r.json()?,
    })
}

/// The conditions of a filter the database checks (time, key, capture); the rest are checked
/// on the merged devices.
fn conditions(sql: &mut Sql, f: &DeviceFilter, first: &str, last: &str) -> String {
    let mut w = String::from("TRUE");
    if let Some(t) = f.time {
        let a = sql.param(DbValue::Time(t.from.0));
        let b = sql.param(DbValue::Time(t.to.0));
        let _ = write!(w, " AND {last} >= {a} AND {first} < {b}");
    }
    if let Some(d) = &f.device {
        let p = sql.param(DbValue::Text(d.to_lowercase().into()));
        let _ = write!(w, " AND device = {p}");
    }
    if let Some(c) = f.capture {
        let p = sql.param(DbValue::Int(c));
        let _ = write!(w, " AND capture_id = {p}");
    }
    w
}

/// The rows a device listing reads, oldest sighting first (so merging keeps the newest
/// attributes).
pub fn devices_sql(f: &DeviceFilter) -> Sql {
    let mut sql = Sql::default();
    let w = conditions(&mut sql, f, "first_seen", "last_seen");
    sql.text = format!(
        "SELECT {} FROM devices WHERE {w} ORDER BY last_seen, capture_id",
        names(&DEVICE_COLUMNS)
    );
    sql
}

/// Alerts per device (`device, alerts`) over a filter's time range.
pub fn alert_counts_sql(f: &DeviceFilter) -> Sql {
    let mut sql = Sql::default();
    let mut w = String::new();
    if let Some(t) = f.time {
        let a = sql.param(DbValue::Time(t.from.0));
        let b = sql.param(DbValue::Time(t.to.0));
        let _ = write!(w, " AND raised_at >= {a} AND raised_at < {b}");
    }
    sql.text = format!(
        "SELECT device, COUNT(*) FROM ( \
           SELECT src_device AS device FROM alerts WHERE src_device IS NOT NULL{w} \
           UNION ALL \
           SELECT dst_device FROM alerts WHERE dst_device IS NOT NULL \
             AND (src_device IS NULL OR dst_device <> src_device){w} \
         ) a GROUP BY device"
    );
    sql
}

/// The changes matching a filter (time, key, capture; an address filter matches the changes
/// about an address inside it), newest first, `limit` rows.
pub fn changes_sql(f: &DeviceFilter, limit: usize) -> Sql {
    let mut sql = Sql::default();
    let mut w = conditions(&mut sql, f, "seen_at", "seen_at");
    if let Some(ip) = f.ip {
        crate::query::ip_range(&mut sql, &mut w, "ip", ip);
    }
    let lim = sql.param(int(limit as u64));
    sql.text = format!(
        "SELECT {} FROM device_events WHERE {w} ORDER BY seen_at DESC, id DESC LIMIT {lim}",
        names(&CHANGE_COLUMNS)
    );
    sql
}

/// Merges rows (oldest first) into devices, adds the alert counts, applies the filters the
/// database did not, and returns the `limit` most recently seen.
pub fn merge(
    rows: Vec<DeviceRow>,
    alerts: &[(String, u64)],
    f: &DeviceFilter,
    limit: usize,
) -> Vec<StoredDevice> {
    let mut by_key: BTreeMap<String, StoredDevice> = BTreeMap::new();
    for DeviceRow { capture, device: d } in rows {
        match by_key.get_mut(&d.device) {
            None => {
                by_key.insert(d.device.clone(), d);
            }
            Some(m) => {
                let has_os = d.os.is_some();
                let mut ips = std::mem::take(&mut m.ips);
                let mut services = std::mem::take(&mut m.services);
                for ip in &d.ips {
                    if !ips.contains(ip) {
                        ips.push(*ip);
                    }
                }
                for s in &d.services {
                    if !services.contains(s) {
                        services.push(s.clone());
                    }
                }
                services.sort();
                let mut captures = std::mem::take(&mut m.captures);
                if !captures.contains(&capture) {
                    captures.push(capture);
                }
                *m = StoredDevice {
                    ips,
                    services,
                    captures,
                    hostname: d.hostname.or(m.hostname.take()),
                    vendor: d.vendor.or(m.vendor.take()),
                    os: if has_os { d.os } else { m.os.take() },
                    os_confidence: if has_os {
                        d.os_confidence
                    } else {
                        m.os_confidence
                    },
                    flows_in: m.flows_in + d.flows_in,
                    flows_out: m.flows_out + d.flows_out,
                    bytes_in: m.bytes_in + d.bytes_in,
                    bytes_out: m.bytes_out + d.bytes_out,
                    first_seen: m.first_seen.min(d.first_seen),
                    last_seen: m.last_seen.max(d.last_seen),
                    ..d
                };
            }
        }
    }
    for (key, n) in alerts {
        if let Some(d) = by_key.get_mut(key) {
            d.alerts = *n;
        }
    }
    let has = |field: &Option<String>, want: &Option<String>| match want {
        None => true,
        Some(w) => field
            .as_deref()
            .is_some_and(|v| v.to_lowercase().contains(&w.to_lowercase())),
    };
    let names_of = |d: &StoredDevice| -> Vec<String> {
        d.detail["hostnames"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out: Vec<StoredDevice> = by_key
        .into_values()
        .filter(|d| has(&d.vendor, &f.vendor))
        .filter(|d| match &f.hostname {
            None => true,
            Some(w) => {
                let w = w.to_lowercase();
                d.hostname
                    .iter()
                    .cloned()
                    .chain(names_of(d))
                    .any(|n| n.to_lowercase().contains(&w))
            }
        })
        .filter(|d| f.ip.is_none_or(|r| d.ips.iter().any(|&ip| r.contains(ip))))
        .filter(|d| {
            f.os.as_ref()
                .is_none_or(|o| d.os.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(o)))
        })
        .collect();
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.device.cmp(&b.device)));
    out.truncate(limit);
    out
}

/// Writes a snapshot of `capture`'s inventory on an open write transaction: its devices
/// [`write`] in one transaction of `store` (both backends' `StoreWriter::write_devices`).
pub(crate) fn write_snapshot(
    store: &mut impl crate::account::Transact,
    capture: CaptureId,
    devices: &[Device],
    changes: &[Event],
) -> crate::Result<()> {
    store.transact("writing the device inventory", |run| {
        write(
            &mut crate::workflow::RunExec(run),
            capture,
            devices,
            changes,
        )
    })
}

/// replace the ones its previous snapshot wrote, its changes are appended.
pub(crate) fn write<E: Exec>(
    db: &mut E,
    capture: CaptureId,
    devices: &[Device],
    changes: &[Event],
) -> Result<(), E::Error> {
    db.exec(&Sql {
        text: DELETE_DEVICES_SQL.to_string(),
        params: vec![DbValue::Int(capture)],
    })?;
    // One statement each, its parameters replaced row by row.
    let mut insert = Sql {
        text: insert_device_sql(),
        params: Vec::new(),
    };
    for d in devices {
        insert.params = device_row(capture, d);
        db.exec(&insert)?;
    }
    insert.text = insert_change_sql();
    for e in changes {
        insert.params = change_row(capture, e);
        db.exec(&insert)?;
    }
    Ok(())
}

/// The statements that remove a capture's inventory (`$1`), when the capture goes.
pub(crate) const DELETE_CAPTURE_SQL: [&str; 2] = [
    "DELETE FROM devices WHERE capture_id = $1",
    "DELETE FROM device_events WHERE capture_id = $1",
];

/// The statements retention runs (`$1`: the cut-off): devices last seen and changes seen
/// before it go.
pub(crate) const RETAIN_SQL: [&str; 2] = [
    "DELETE FROM devices WHERE last_seen < $1",
    "DELETE FROM device_events WHERE seen_at < $1",
];

/// A backend's rows of a query, each value read as the type given for its column.
pub(crate) type ReadRows<'a> =
    dyn FnMut(&Sql, &[DbType]) -> crate::Result<Vec<Vec<DbValue<'static>>>> + 'a;

fn row_err(target: &str, source: RowError) -> crate::StoreError {
    crate::StoreError::Row {
        target: target.to_string(),
        source,
    }
}

/// The devices a filter selects, merged over captures (see [`merge`]).
pub(crate) fn list(
    target: &str,
    f: &DeviceFilter,
    limit: usize,
    rows: &mut ReadRows<'_>,
) -> crate::Result<Vec<StoredDevice>> {
    let devices = rows(&devices_sql(f), &types(&DEVICE_COLUMNS))?
        .into_iter()
        .map(device_of_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| row_err(target, e))?;
    let counts = rows(&alert_counts_sql(f), &[DbType::Text, DbType::Int])?
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [DbValue::Text(d), DbValue::Int(n)] => Some((d.to_string(), (*n).max(0) as u64)),
            _ => None,
        })
        .collect::<Vec<_>>();
    Ok(merge(devices, &counts, f, limit))
}

/// The changes a filter selects, newest first.
pub(crate) fn changes(
    target: &str,
    f: &DeviceFilter,
    limit: usize,
    rows: &mut ReadRows<'_>,
) -> crate::Result<Vec<DeviceChange>> {
    rows(&changes_sql(f, limit), &types(&CHANGE_COLUMNS))?
        .into_iter()
        .map(change_of_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| row_err(target, e))
}
