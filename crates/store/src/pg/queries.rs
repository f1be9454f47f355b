//! What the dashboard reads ([`Queries`]): the shared SQL of `query`, each read on a new
//! connection when the connection was lost.

use std::net::IpAddr;

use flow::window::report::WindowReport;

use super::rows::{capture_row, get, num, read_alert, read_flow, read_incident, row_values, time};
use super::PgStore;
use crate::device::{DeviceChange, DeviceFilter, StoredDevice};
use crate::model::*;
use crate::query::{self, Sql};
use crate::schema::CAPTURE_COLUMNS;
use crate::{query_err, Queries, Result};

impl PgStore {
    fn talker_rows(
        &mut self,
        range: TimeRange,
        ip: Option<IpAddr>,
        n: usize,
    ) -> Result<Vec<TalkerRow>> {
        let sql = query::talkers(range, ip, n);
        self.read("reading talkers", &sql, |t, r| {
            Ok(
                TalkerRow::from_sums(get(t, r, 0)?, |i| num(t, r, i))?.with_geo(
                    get(t, r, 6)?,
                    get(t, r, 7)?,
                    get(t, r, 8)?,
                ),
            )
        })
    }
}

impl Queries for PgStore {
    fn captures(&mut self) -> Result<Vec<Capture>> {
        let sql = Sql {
            text: format!("SELECT {CAPTURE_COLUMNS} FROM captures ORDER BY id DESC"),
            params: Vec::new(),
        };
        self.read("listing captures", &sql, capture_row)
    }

    fn flow(&mut self, id: i64) -> Result<Option<StoredFlow>> {
        Ok(self
            .read("reading a flow", &query::flow_by_id(id), read_flow)?
            .pop())
    }

    fn flows(
        &mut self,
        filter: &FlowFilter,
        after: Option<FlowCursor>,
        limit: usize,
    ) -> Result<FlowPage> {
        query::list_flows(filter, after, limit.min(i64::MAX as usize), |sql| {
            self.read("listing flows", sql, read_flow)
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
        self.read("reading ports", &sql, |t, r| {
            PortRow::from_sums(|i| num(t, r, i))
        })
    }

    fn protocols(&mut self, range: TimeRange) -> Result<Vec<ProtocolRow>> {
        let sql = query::protocols(range);
        self.read("reading protocols", &sql, |t, r| {
            ProtocolRow::from_sums(|i| num(t, r, i))
        })
    }

    fn traffic_health(&mut self, range: TimeRange) -> Result<TrafficHealth> {
        let sql = query::health(range);
        let mut rows = self.read("reading traffic health", &sql, |t, r| {
            TrafficHealth::from_sums(|i| num(t, r, i))
        })?;
        Ok(rows.pop().unwrap_or_default())
    }

    fn windows(
        &mut self,
        range: TimeRange,
        capture: Option<CaptureId>,
    ) -> Result<Vec<WindowReport>> {
        let sql = query::windows(range, capture);
        self.read("reading windows", &sql, |t, r| {
            let json: String = get(t, r, 0)?;
            serde_json::from_str(&json).map_err(|e| query_err(t, "reading a window", e))
        })
    }

    fn query_plan(&mut self, sql: &query::Sql) -> Result<Vec<String>> {
        let explain = query::Sql {
            text: format!("EXPLAIN {}", sql.text),
            params: sql.params.clone(),
        };
        self.read("explaining a query", &explain, |t, r| {
            r.try_get::<_, String>(0)
                .map_err(|e| crate::query_err(t, "explaining a query", e.to_string()))
        })
    }

    fn bucket_traffic(&mut self, range: TimeRange) -> Result<Vec<BucketTraffic>> {
        let sql = query::bucket_traffic(range);
        self.read("reading traffic by bucket", &sql, |t, r| {
            Ok(BucketTraffic {
                start: time(t, r, 0)?,
                flows: num(t, r, 1)?,
                packets: num(t, r, 2)?,
                bytes: num(t, r, 3)?,
            })
        })
    }

    fn attack_rate(&mut self, range: TimeRange) -> Result<Vec<MinuteCount>> {
        let sql = query::attack_rate(range);
        self.read("reading the attack rate", &sql, |t, r| {
            Ok(MinuteCount {
                minute: time(t, r, 0)?,
                count: num(t, r, 1)?,
            })
        })
    }

    fn top_attackers(&mut self, range: TimeRange, n: usize) -> Result<Vec<AttackerRow>> {
        let sql = query::attackers(range, n);
        self.read("reading attackers", &sql, |t, r| {
            Ok(AttackerRow {
                ip: get(t, r, 0)?,
                alerts: num(t, r, 1)?,
                max_severity: num(t, r, 2)? as u8,
            })
        })
    }

    fn alerts(&mut self, f: &AlertFilter, limit: usize) -> Result<Vec<StoredAlert>> {
        let sql = query::alerts(f, limit);
        self.read("reading alerts", &sql, read_alert)
    }

    fn incidents(&mut self, f: &IncidentFilter, limit: usize) -> Result<Vec<Incident>> {
        let sql = query::incidents(f, limit);
        self.read("reading incidents", &sql, read_incident)
    }

    fn devices(&mut self, f: &DeviceFilter, limit: usize) -> Result<Vec<StoredDevice>> {
        let target = self.target.clone();
        crate::device::list(&target, f, limit, &mut |sql, types| {
            self.read("listing devices", sql, |t, r| row_values(t, r, types))
        })
    }

    fn device_changes(&mut self, f: &DeviceFilter, limit: usize) -> Result<Vec<DeviceChange>> {
        let target = self.target.clone();
        crate::device::changes(&target, f, limit, &mut |sql, types| {
            self.read("listing device changes", sql, |t, r| {
                row_values(t, r, types)
            })
        })
    }
}
