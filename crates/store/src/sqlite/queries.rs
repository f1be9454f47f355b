//! What the dashboard reads ([`Queries`]): the shared SQL of `query`.

use std::net::IpAddr;

use flow::window::report::WindowReport;
use packet::Timestamp;

use super::incident::SqliteExec;
use super::SqliteStore;
use crate::device::{DeviceChange, DeviceFilter, StoredDevice};
use crate::incident::Exec;
use crate::model::*;
use crate::query;
use crate::schema::CAPTURE_COLUMNS;
use crate::{Queries, Result};

impl SqliteStore {
    fn talker_rows(
        &self,
        range: TimeRange,
        ip: Option<IpAddr>,
        n: usize,
    ) -> Result<Vec<TalkerRow>> {
        let sql = query::talkers(range, ip, n);
        self.rows(&sql, |r| {
            let geo = |e| self.err("reading a talker's country", e);
            Ok(
                TalkerRow::from_sums(self.ip_of(r, 0)?, |i| self.u64_of(r, i))?.with_geo(
                    r.get(6).map_err(geo)?,
                    r.get(7).map_err(geo)?,
                    r.get(8).map_err(geo)?,
                ),
            )
        })
    }
}

impl Queries for SqliteStore {
    fn captures(&mut self) -> Result<Vec<Capture>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CAPTURE_COLUMNS} FROM captures ORDER BY id DESC"
            ))
            .map_err(|e| self.db_err("listing captures", e))?;
        let rows = st
            .query_map([], Self::capture_row)
            .map_err(|e| self.db_err("listing captures", e))?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(|e| self.db_err("listing captures", e))
    }

    fn flow(&mut self, id: i64) -> Result<Option<StoredFlow>> {
        Ok(self
            .rows(&query::flow_by_id(id), |r| self.read_flow(r))?
            .pop())
    }

    fn flows(
        &mut self,
        filter: &FlowFilter,
        after: Option<FlowCursor>,
        limit: usize,
    ) -> Result<FlowPage> {
        query::list_flows(filter, after, limit, |sql| {
            self.rows(sql, |r| self.read_flow(r))
        })
    }

    fn top_talkers(&mut self, range: TimeRange, n: usize) -> Result<Vec<TalkerRow>> {
        self.talker_rows(range, None, n)
    }

    fn talker(&mut self, ip: IpAddr, range: TimeRange) -> Result<Option<TalkerRow>> {
        Ok(self.talker_rows(range, Some(ip), 1)?.pop())
    }

    fn top_ports(&mut self, range: TimeRange, n: usize) -> Result<Vec<PortRow>> {
        let sql = query::ports(range, n);
        self.rows(&sql, |r| PortRow::from_sums(|i| self.u64_of(r, i)))
    }

    fn protocols(&mut self, range: TimeRange) -> Result<Vec<ProtocolRow>> {
        let sql = query::protocols(range);
        self.rows(&sql, |r| ProtocolRow::from_sums(|i| self.u64_of(r, i)))
    }

    fn traffic_health(&mut self, range: TimeRange) -> Result<TrafficHealth> {
        let sql = query::health(range);
        let mut rows = self.rows(&sql, |r| TrafficHealth::from_sums(|i| self.u64_of(r, i)))?;
        Ok(rows.pop().unwrap_or_default())
    }

    fn windows(
        &mut self,
        range: TimeRange,
        capture: Option<CaptureId>,
    ) -> Result<Vec<WindowReport>> {
        let sql = query::windows(range, capture);
        self.rows(&sql, |r| {
            let json: String = r.get(0).map_err(|e| self.err("reading a window", e))?;
            serde_json::from_str(&json).map_err(|e| self.err("reading a window", e))
        })
    }

    fn query_plan(&mut self, sql: &query::Sql) -> Result<Vec<String>> {
        let explain = query::Sql {
            text: format!("EXPLAIN QUERY PLAN {}", sql.text),
            params: sql.params.clone(),
        };
        self.rows(&explain, |r| {
            r.get::<_, String>(3).map_err(|e| self.err("explaining", e))
        })
    }

    fn bucket_traffic(&mut self, range: TimeRange) -> Result<Vec<BucketTraffic>> {
        let sql = query::bucket_traffic(range);
        self.rows(&sql, |r| {
            Ok(BucketTraffic {
                start: Timestamp(r.get(0).map_err(|e| self.err("reading", e))?),
                flows: self.u64_of(r, 1)?,
                packets: self.u64_of(r, 2)?,
                bytes: self.u64_of(r, 3)?,
            })
        })
    }

    fn attack_rate(&mut self, range: TimeRange) -> Result<Vec<MinuteCount>> {
        let sql = query::attack_rate(range);
        self.rows(&sql, |r| {
            Ok(MinuteCount {
                minute: Timestamp(r.get(0).map_err(|e| self.err("reading", e))?),
                count: self.u64_of(r, 1)?,
            })
        })
    }

    fn top_attackers(&mut self, range: TimeRange, n: usize) -> Result<Vec<AttackerRow>> {
        let sql = query::attackers(range, n);
        self.rows(&sql, |r| {
            Ok(AttackerRow {
                ip: self.ip_of(r, 0)?,
                alerts: self.u64_of(r, 1)?,
                max_severity: self.u64_of(r, 2)? as u8,
            })
        })
    }

    fn alerts(&mut self, f: &AlertFilter, limit: usize) -> Result<Vec<StoredAlert>> {
        let sql = query::alerts(f, limit);
        self.rows(&sql, |r| self.read_alert(r))
    }

    fn incidents(&mut self, f: &IncidentFilter, limit: usize) -> Result<Vec<Incident>> {
        let sql = query::incidents(f, limit);
        self.rows(&sql, |r| self.read_incident(r))
    }

    fn devices(&mut self, f: &DeviceFilter, limit: usize) -> Result<Vec<StoredDevice>> {
        let target = self.target.clone();
        crate::device::list(&target, f, limit, &mut |sql, types| {
            SqliteExec(&self.conn)
                .rows(sql, types)
                .map_err(|e| self.db_err("listing devices", e))
        })
    }

    fn device_changes(&mut self, f: &DeviceFilter, limit: usize) -> Result<Vec<DeviceChange>> {
        let target = self.target.clone();
        crate::device::changes(&target, f, limit, &mut |sql, types| {
            SqliteExec(&self.conn)
                .rows(sql, types)
                .map_err(|e| self.db_err("listing device changes", e))
        })
    }
}
