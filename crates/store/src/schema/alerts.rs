//! The `alerts` table's columns and the mapping between a [`StoredAlert`] and one row of
//! database values. Both backends write and read alerts through this, so an alert reads back
//! exactly as its detector raised it: the [`FlowRef`] in five columns (`flow_id` and the
//! flow's ports, protocol and first packet), the evidence as JSON text.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use super::{DbType, DbValue, RowError};
use crate::model::{
    Alert, CaptureId, Detector, EpisodeStage, EpisodeState, Family, FlowRef, StoredAlert,
};

/// The columns of `alerts` a [`StoredAlert`] is read from, in the order of its JSON (id, the
/// alert's fields, capture, status, incident). An insert writes all but the id, the status
/// and the incident (the database's defaults).
pub const ALERT_COLUMNS: [(&str, DbType); 31] = [
    ("id", DbType::Int),
    ("raised_at", DbType::Time),
    ("first_seen", DbType::Time),
    ("detector", DbType::Text),
    ("family", DbType::Text),
    ("kind", DbType::Text),
    ("src_ip", DbType::Ip),
    ("dst_ip", DbType::Ip),
    ("severity", DbType::Int),
    ("confidence", DbType::Float),
    ("model_version", DbType::Text),
    ("flows", DbType::Int),
    ("flow_id", DbType::Int),
    ("flow_src_port", DbType::Int),
    ("flow_dst_port", DbType::Int),
    ("flow_protocol", DbType::Int),
    ("flow_first_seen", DbType::Time),
    ("community_id", DbType::Text),
    ("window_start", DbType::Time),
    ("summary", DbType::Text),
    ("evidence", DbType::Text),
    ("episode_id", DbType::Int),
    ("episode_state", DbType::Text),
    ("episode_update", DbType::Int),
    ("episode_merged_into", DbType::Int),
    ("src_device", DbType::Text),
    ("dst_device", DbType::Text),
    ("capture_id", DbType::Int),
    ("status", DbType::Text),
    ("incident_id", DbType::Int),
    ("verdict", DbType::Text),
];

/// The columns an insert writes: [`ALERT_COLUMNS`] without the id, status and incident.
const WRITTEN: std::ops::Range<usize> = 1..28;

/// The comma-separated names of [`ALERT_COLUMNS`] (what a listing selects).
pub fn alert_column_list() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| {
        ALERT_COLUMNS
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// `INSERT INTO alerts (…) VALUES ($1, …)`, binding [`alert_row`]'s values.
pub fn insert_alert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let cols = &ALERT_COLUMNS[WRITTEN];
        format!(
            "INSERT INTO alerts ({}) VALUES ({})",
            cols.iter().map(|c| c.0).collect::<Vec<_>>().join(", "),
            (1..=cols.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `UPDATE alerts SET … WHERE id = $N`: a live episode's later snapshot replaces its row,
/// binding [`alert_row`]'s values, then the row's id.
pub fn update_alert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let cols = &ALERT_COLUMNS[WRITTEN];
        format!(
            "UPDATE alerts SET {} WHERE id = ${}",
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("{} = ${}", c.0, i + 1))
                .collect::<Vec<_>>()
                .join(", "),
            cols.len() + 1
        )
    })
}

/// The values an insert of alert `a` of `capture` binds, in [`insert_alert_sql`] order.
pub fn alert_row(capture: Option<CaptureId>, a: &Alert) -> Vec<DbValue<'_>> {
    let opt = |v: Option<i64>, f: fn(i64) -> DbValue<'static>| v.map_or(DbValue::Null, f);
    let ip = |v: Option<IpAddr>| v.map_or(DbValue::Null, DbValue::Ip);
    let flow = a.flow.as_ref();
    vec![
        DbValue::Time(a.time),
        DbValue::Time(a.first_seen),
        DbValue::Text(Cow::Borrowed(a.detector.as_str())),
        DbValue::Text(Cow::Borrowed(a.family.as_str())),
        DbValue::Text(Cow::Borrowed(&a.kind)),
        ip(a.src),
        ip(a.dst),
        DbValue::Int(i64::from(a.severity)),
        DbValue::Float(a.confidence),
        DbValue::Text(Cow::Borrowed(&a.version)),
        DbValue::Int(i64::try_from(a.flows).unwrap_or(i64::MAX)),
        opt(flow.map(|f| f.id), DbValue::Int),
        opt(flow.map(|f| i64::from(f.src_port)), DbValue::Int),
        opt(flow.map(|f| i64::from(f.dst_port)), DbValue::Int),
        opt(flow.map(|f| i64::from(f.protocol)), DbValue::Int),
        opt(flow.map(|f| f.first_seen_us), DbValue::Time),
        a.community_id
            .as_deref()
            .map_or(DbValue::Null, |c| DbValue::Text(Cow::Borrowed(c))),
        opt(a.window, DbValue::Time),
        DbValue::Text(Cow::Borrowed(&a.summary)),
        // serde_json writes any `Value` (its numbers are finite by construction).
        DbValue::Text(Cow::Owned(a.evidence.to_string())),
        opt(
            a.episode.map(|e| i64::try_from(e.id).unwrap_or(i64::MAX)),
            DbValue::Int,
        ),
        a.episode.map_or(DbValue::Null, |e| {
            DbValue::Text(Cow::Borrowed(e.state.as_str()))
        }),
        opt(a.episode.map(|e| i64::from(e.update)), DbValue::Int),
        opt(
            a.episode
                .and_then(|e| e.merged_into)
                .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
            DbValue::Int,
        ),
        a.src_device
            .as_deref()
            .map_or(DbValue::Null, |d| DbValue::Text(Cow::Borrowed(d))),
        a.dst_device
            .as_deref()
            .map_or(DbValue::Null, |d| DbValue::Text(Cow::Borrowed(d))),
        opt(capture, DbValue::Int),
    ]
}

/// Rebuilds a stored alert from one row of values in [`ALERT_COLUMNS`] order. A value of the
/// wrong type, an unknown detector, a port or protocol out of range, a flow without its
/// ports, or evidence that is not JSON is an error naming the alert and the column.
pub fn stored_alert(vals: Vec<DbValue<'static>>) -> Result<StoredAlert, RowError> {
    let id = match vals.first() {
        Some(DbValue::Int(i)) => *i,
        _ => 0,
    };
    let bad = |column: &str, problem: String| RowError {
        table: "alert",
        id,
        column: column.to_string(),
        problem,
    };
    if vals.len() != ALERT_COLUMNS.len() {
        return Err(bad(
            "*",
            format!("{} values for {} columns", vals.len(), ALERT_COLUMNS.len()),
        ));
    }
    let mut v = ALERT_COLUMNS.iter().map(|c| c.0).zip(vals);
    let mut next = || v.next().unwrap_or(("*", DbValue::Null));
    let int = |(c, v): (&str, DbValue)| match v {
        DbValue::Int(i) => Ok(Some(i)),
        DbValue::Null => Ok(None),
        _ => Err(bad(c, "expected an integer".into())),
    };
    let time = |(c, v): (&str, DbValue)| match v {
        DbValue::Time(t) | DbValue::Int(t) => Ok(Some(t)),
        DbValue::Null => Ok(None),
        _ => Err(bad(c, "expected a time".into())),
    };
    let text = |(c, v): (&str, DbValue)| match v {
        DbValue::Text(t) => Ok(t.into_owned()),
        _ => Err(bad(c, "expected text".into())),
    };
    let ip = |(c, v): (&str, DbValue)| match v {
        DbValue::Ip(ip) => Ok(Some(ip)),
        DbValue::Null => Ok(None),
        _ => Err(bad(c, "expected an address".into())),
    };
    let required = |c: &str, v: Option<i64>| v.ok_or_else(|| bad(c, "missing".into()));
    let narrow = |c: &str, v: i64, what: &str| bad(c, format!("{v} is not {what}"));

    next(); // id, read above
    let c = next();
    let time_c = c.0;
    let raised = required(time_c, time(c)?)?;
    let c = next();
    let first_c = c.0;
    let first_seen = required(first_c, time(c)?)?;
    let c = next();
    let detector_c = c.0;
    let detector = text(c)?;
    let detector = Detector::parse(&detector)
        .ok_or_else(|| bad(detector_c, format!("unknown detector {detector:?}")))?;
    let c = next();
    let family_c = c.0;
    let family = text(c)?;
    let family = Family::parse(&family)
        .ok_or_else(|| bad(family_c, format!("unknown family {family:?}")))?;
    let kind = text(next())?;
    let src = ip(next())?;
    let dst = ip(next())?;
    let c = next();
    let severity_c = c.0;
    let severity = required(severity_c, int(c)?)?;
    let severity =
        u8::try_from(severity).map_err(|_| narrow(severity_c, severity, "a severity"))?;
    let confidence = match next() {
        (_, DbValue::Float(f)) => f,
        // SQLite hands back a REAL that holds an integer as one.
        (_, DbValue::Int(i)) => i as f64,
        (c, _) => return Err(bad(c, "expected a number".into())),
    };
    let version = text(next())?;
    let c = next();
    let flows_c = c.0;
    let flows = required(flows_c, int(c)?)?;
    let flows = u64::try_from(flows).map_err(|_| narrow(flows_c, flows, "a flow count"))?;
    let flow_id = int(next())?;
    let mut parts = [("", None); 4];
    for p in &mut parts {
        let c = next();
        *p = (
            c.0,
            if c.0 == "flow_first_seen" {
                time(c)?
            } else {
                int(c)?
            },
        );
    }
    let flow = match flow_id {
        None => None,
        Some(fid) => {
            let [(sp_c, sp), (dp_c, dp), (pr_c, pr), (fs_c, fs)] = parts;
            let port = |c: &str, v: Option<i64>| {
                let v = required(c, v)?;
                u16::try_from(v).map_err(|_| narrow(c, v, "a port"))
            };
            let protocol = required(pr_c, pr)?;
            Some(FlowRef {
                id: fid,
                src_port: port(sp_c, sp)?,
                dst_port: port(dp_c, dp)?,
                protocol: u8::try_from(protocol)
                    .map_err(|_| narrow(pr_c, protocol, "a protocol"))?,
                first_seen_us: required(fs_c, fs)?,
            })
        }
    };
    let community_id = match next() {
        (_, DbValue::Null) => None,
        c => Some(text(c)?),
    };
    let window = time(next())?;
    let summary = text(next())?;
    let c = next();
    let evidence_c = c.0;
    let evidence = text(c)?;
    let evidence =
        serde_json::from_str(&evidence).map_err(|e| bad(evidence_c, format!("not JSON ({e})")))?;
    let episode_id = int(next())?;
    let c = next();
    let state_c = c.0;
    let state = match c.1 {
        DbValue::Null => None,
        _ => Some(text(c)?),
    };
    let c = next();
    let update_c = c.0;
    let update = int(c)?;
    let merged = int(next())?;
    let episode = match (episode_id, state) {
        (None, _) => None,
        (Some(id), state) => {
            let state = state.unwrap_or_default();
            Some(EpisodeState {
                id: u64::try_from(id).map_err(|_| narrow("episode_id", id, "an episode id"))?,
                state: EpisodeStage::parse(&state)
                    .ok_or_else(|| bad(state_c, format!("unknown episode state {state:?}")))?,
                update: u32::try_from(required(update_c, update)?)
                    .map_err(|_| narrow(update_c, update.unwrap_or(-1), "an update count"))?,
                merged_into: merged.and_then(|m| u64::try_from(m).ok()),
            })
        }
    };
    let device = |(c, v): (&str, DbValue)| match v {
        DbValue::Null => Ok(None),
        v => text((c, v)).map(Some),
    };
    let src_device = device(next())?;
    let dst_device = device(next())?;
    let capture = int(next())?;
    let status = text(next())?;
    let incident = int(next())?;
    let verdict = device(next())?;
    Ok(StoredAlert {
        id,
        alert: Alert {
            time: raised,
            first_seen,
            detector,
            family,
            kind,
            src,
            dst,
            src_device,
            dst_device,
            severity,
            confidence,
            version,
            flows,
            flow,
            community_id,
            window,
            summary,
            evidence,
            episode,
        },
        capture,
        status,
        incident,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_alert() -> Alert {
        Alert {
            time: 1_499_432_461_123_456,
            detector: Detector::Model,
            kind: "DDoS".into(),
            src: Some("172.16.0.1".parse().unwrap()),
            dst: Some("2001:db8::1".parse().unwrap()),
            src_device: Some("00:1b:21:3a:4f:10".into()),
            severity: 4,
            confidence: 0.1 + 0.2,
            version: "netvigil-gbdt-1".into(),
            flow: Some(FlowRef {
                id: (3 << 40) | 17,
                src_port: 65_535,
                dst_port: 80,
                protocol: 6,
                first_seen_us: -5,
            }),
            window: None,
            evidence: serde_json::json!({"p_attack": 0.93, "contributions": [{"z": -1.5e-7}]}),
            ..Alert::default()
        }
        .into_hit()
    }

    /// The row as a backend reads it: the written values with the id, status, incident and
    /// verdict.
    fn read_back(id: i64, written: Vec<DbValue<'_>>) -> Vec<DbValue<'static>> {
        let mut row = vec![DbValue::Int(id)];
        row.extend(written.into_iter().map(DbValue::into_owned));
        row.push(DbValue::Text("new".into()));
        row.push(DbValue::Null);
        row.push(DbValue::Null);
        row
    }

    #[test]
    fn an_alert_reads_back_from_its_row_exactly() {
        let a = model_alert();
        let row = alert_row(Some(3), &a);
        assert_eq!(row.len(), WRITTEN.len());
        let back = stored_alert(read_back(9, row)).unwrap();
        assert_eq!(
            back,
            StoredAlert {
                id: 9,
                alert: a.clone(),
                capture: Some(3),
                status: "new".into(),
                incident: None,
                verdict: None,
            }
        );
        let rule = Alert {
            detector: Detector::Rule,
            flow: None,
            src: None,
            window: Some(7),
            ..a
        };
        let back = stored_alert(read_back(10, alert_row(None, &rule))).unwrap();
        assert_eq!((back.alert, back.capture), (rule.clone(), None));
        // A live episode's snapshot: its place in the episode's life reads back too.
        let live = Alert {
            episode: Some(EpisodeState {
                id: 41,
                state: EpisodeStage::Closed,
                update: 6,
                merged_into: Some(44),
            }),
            ..rule
        };
        let back = stored_alert(read_back(11, alert_row(Some(3), &live))).unwrap();
        assert_eq!(back.alert, live);
        assert!(insert_alert_sql().ends_with("$26, $27)"));
        assert!(update_alert_sql().ends_with(
            "episode_merged_into = $24, src_device = $25, dst_device = $26, capture_id = $27 \
             WHERE id = $28"
        ));
        assert!(alert_column_list()
            .starts_with("id, raised_at, first_seen, detector, family, kind, src_ip"));
    }

    #[test]
    fn a_bad_row_is_an_error_naming_the_alert_and_column() {
        let a = model_alert();
        let mut row = read_back(12, alert_row(Some(3), &a));
        row[20] = DbValue::Text("{\"p_attack\": ".into());
        let e = stored_alert(row).unwrap_err().to_string();
        assert!(
            e.starts_with("alert 12: column evidence: not JSON (EOF while parsing"),
            "{e}"
        );
        let mut row = read_back(13, alert_row(Some(3), &a));
        row[13] = DbValue::Int(70_000);
        let e = stored_alert(row).unwrap_err().to_string();
        assert_eq!(e, "alert 13: column flow_src_port: 70000 is not a port");
        let mut row = read_back(14, alert_row(Some(3), &a));
        row[16] = DbValue::Null;
        let e = stored_alert(row).unwrap_err().to_string();
        assert_eq!(e, "alert 14: column flow_first_seen: missing");
        let mut row = read_back(15, alert_row(Some(3), &a));
        row[3] = DbValue::Text("oracle".into());
        let e = stored_alert(row).unwrap_err().to_string();
        assert_eq!(e, "alert 15: column detector: unknown detector \"oracle\"");
        let mut row = read_back(16, alert_row(Some(3), &a));
        row[4] = DbValue::Text("mischief".into());
        let e = stored_alert(row).unwrap_err().to_string();
        assert_eq!(e, "alert 16: column family: unknown family \"mischief\"");
    }
}
