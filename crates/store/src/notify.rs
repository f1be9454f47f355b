//! Notification channels: where the server sends new alert episodes and incidents at or above
//! a severity — a webhook (`http://` or `https://` URL) or a syslog collector (`udp://` or
//! `tcp://host:port`). Admins manage them; each change is audited.
//!
//! A channel's backlog is the store itself: it keeps the newest episode and incident ids it is
//! done with ([`Channel::after_alert`], [`Channel::after_incident`]), and the sender reads
//! what is stored after them. Nothing waits in memory, a restart resumes where it stopped,
//! and a new channel starts at what is stored when it is made (it does not replay history).

use serde::{Deserialize, Serialize};

use crate::account::{
    inserted_id, int_at, json_of, opt_text, record, sql, text, text_at, Run, Transact,
};
use crate::roles::Database;
use crate::schema::{DbType, DbValue};
use crate::workflow::not_suppressed;
use crate::{now_us, Result, StoreError};

/// The kinds of channel, with the address schemes each takes.
pub const CHANNEL_KINDS: [(&str, &[&str]); 2] =
    [("webhook", &["http", "https"]), ("syslog", &["udp", "tcp"])];

/// A channel to make.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Its name (unique).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// `webhook` or `syslog`.
    #[schema(pattern = "^(webhook|syslog)$")]
    pub kind: String,
    /// Where: a webhook's URL, or `udp://host:port` / `tcp://host:port` for syslog.
    pub address: String,
    /// Least severity sent (1–5).
    #[serde(default = "default_severity")]
    #[schema(minimum = 1, maximum = 5)]
    pub min_severity: u8,
    /// Whether new alert episodes are sent.
    #[serde(default = "yes")]
    pub episodes: bool,
    /// Whether new incidents are sent.
    #[serde(default = "yes")]
    pub incidents: bool,
}

fn default_severity() -> u8 {
    3
}

fn yes() -> bool {
    true
}

/// A change to a channel (each `None`: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    /// Sending or paused (a paused channel's backlog waits for it).
    pub enabled: Option<bool>,
    /// Least severity sent.
    #[schema(minimum = 1, maximum = 5)]
    pub min_severity: Option<u8>,
    /// Whether new alert episodes are sent.
    pub episodes: Option<bool>,
    /// Whether new incidents are sent.
    pub incidents: Option<bool>,
}

/// A channel, with its progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Channel {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `webhook` or `syslog`.
    pub kind: String,
    /// Where it sends.
    pub address: String,
    /// Least severity sent.
    pub min_severity: u8,
    /// Whether new alert episodes are sent.
    pub episodes: bool,
    /// Whether new incidents are sent.
    pub incidents: bool,
    /// Sending or paused.
    pub enabled: bool,
    /// Who made it.
    pub created_by: String,
    /// When, UTC µs.
    pub created_at: i64,
    /// Episodes with ids up to this one are done (sent, given up, or before the channel).
    pub after_alert: i64,
    /// Incidents with ids up to this one are done.
    pub after_incident: i64,
    /// Notifications delivered.
    pub delivered: u64,
    /// Notifications given up after every retry failed.
    pub failed: u64,
    /// Last delivery, UTC µs.
    pub last_delivered_at: Option<i64>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// When it happened, UTC µs.
    pub last_error_at: Option<i64>,
}

/// What a sender did since it last reported: the ids it is now done with, and counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Episodes up to this id are done.
    pub after_alert: i64,
    /// Incidents up to this id are done.
    pub after_incident: i64,
    /// Delivered since the last report.
    pub delivered: u64,
    /// Given up since the last report.
    pub failed: u64,
    /// The newest failure (`None`: none since the last report).
    pub error: Option<String>,
}

/// Notification channels (see the module's documentation).
pub trait Notifications: Database {
    /// Makes a channel, starting after what is stored now.
    fn add_channel(&mut self, actor: &str, c: &NewChannel) -> Result<Channel>;
    /// Every channel, by id.
    fn channels(&mut self) -> Result<Vec<Channel>>;
    /// One channel.
    fn channel(&mut self, id: i64) -> Result<Channel>;
    /// Changes a channel.
    fn change_channel(&mut self, actor: &str, id: i64, c: &ChannelChange) -> Result<Channel>;
    /// Removes a channel.
    fn remove_channel(&mut self, actor: &str, id: i64) -> Result<Channel>;
    /// Records a sender's progress (ids never go back; a removed channel is left alone).
    fn note_progress(&mut self, id: i64, p: &Progress) -> Result<()>;
    /// How many episodes at or above `min_severity`, stored after `after_alert` and not
    /// suppressed at `now`, wait for a channel.
    fn backlog(&mut self, after_alert: i64, min_severity: u8, now: i64) -> Result<u64>;
}

const COLUMNS: &str = "id, name, kind, address, min_severity, episodes, incidents, enabled, \
                       created_by, created_at, after_alert, after_incident, delivered, failed, \
                       last_delivered_at, last_error, last_error_at";
const TYPES: [DbType; 17] = [
    DbType::Int,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Int,
    DbType::Int,
    DbType::Int,
    DbType::Int,
    DbType::Text,
    DbType::Time,
    DbType::Int,
    DbType::Int,
    DbType::Int,
    DbType::Int,
    DbType::Time,
    DbType::Text,
    DbType::Time,
];

fn channel_of(target: &str, r: &[DbValue<'_>]) -> Result<Channel> {
    let int = |i| int_at(r, i);
    let flag = |i| int_at(r, i).map(|v| v != 0);
    match (
        int(0),
        text_at(r, 1),
        text_at(r, 2),
        text_at(r, 3),
        int(4),
        (flag(5), flag(6), flag(7)),
        text_at(r, 8),
        int(9),
        (int(10), int(11), int(12), int(13)),
    ) {
        (
            Some(id),
            Some(name),
            Some(kind),
            Some(address),
            Some(sev),
            (Some(episodes), Some(incidents), Some(enabled)),
            Some(created_by),
            Some(created_at),
            (Some(after_alert), Some(after_incident), Some(delivered), Some(failed)),
        ) => Ok(Channel {
            id,
            name,
            kind,
            address,
            min_severity: sev.clamp(0, 255) as u8,
            episodes,
            incidents,
            enabled,
            created_by,
            created_at,
            after_alert,
            after_incident,
            delivered: delivered.max(0) as u64,
            failed: failed.max(0) as u64,
            last_delivered_at: int(14),
            last_error: text_at(r, 15),
            last_error_at: int(16),
        }),
        _ => Err(crate::query_err(
            target,
            "reading notification channels",
            "a stored channel does not read back",
        )),
    }
}

fn channel_by_id(target: &str, run: &mut Run<'_>, id: i64) -> Result<Channel> {
    let rows = run(
        &sql(
            format!("SELECT {COLUMNS} FROM notify_channels WHERE id = $1"),
            vec![DbValue::Int(id)],
        ),
        &TYPES,
    )?;
    rows.first()
        .map(|r| channel_of(target, r))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no notification channel {id}")))
}

/// Refuses a channel that cannot send: an unknown kind, an address of another scheme or
/// without a host, a severity outside 1–5, nothing to send.
pub fn check_channel(c: &NewChannel) -> Result<()> {
    let bad = |m: String| Err(StoreError::Invalid(m));
    if c.name.trim().is_empty() || c.name.chars().count() > 200 {
        return bad("a channel needs a name of 1 to 200 characters".into());
    }
    let Some((_, schemes)) = CHANNEL_KINDS.iter().find(|(k, _)| *k == c.kind) else {
        return bad(format!("channel kind {:?}: one of webhook, syslog", c.kind));
    };
    let rest = schemes
        .iter()
        .find_map(|s| c.address.strip_prefix(&format!("{s}://")));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => {}
        _ => {
            return bad(format!(
                "address {:?}: a {} channel's address is {}://host…",
                c.address,
                c.kind,
                schemes.join("|")
            ))
        }
    }
    check_severity(c.min_severity)?;
    if !c.episodes && !c.incidents {
        return bad("a channel sends episodes, incidents or both".into());
    }
    Ok(())
}

fn check_severity(s: u8) -> Result<()> {
    if (1..=5).contains(&s) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "min_severity {s}: from 1 to 5"
        )))
    }
}

fn max_id(run: &mut Run<'_>, table: &str) -> Result<i64> {
    let rows = run(
        &sql(format!("SELECT MAX(id) FROM {table}"), vec![]),
        &[DbType::Int],
    )?;
    Ok(rows.first().and_then(|r| int_at(r, 0)).unwrap_or(0))
}

impl<S: Transact> Notifications for S {
    fn add_channel(&mut self, actor: &str, c: &NewChannel) -> Result<Channel> {
        check_channel(c)?;
        let target = self.target().to_string();
        let name = c.name.trim();
        self.transact("adding a notification channel", |run| {
            let taken = run(
                &sql(
                    "SELECT id FROM notify_channels WHERE name = $1",
                    vec![text(name)],
                ),
                &[DbType::Int],
            )?;
            if !taken.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "a notification channel named {name:?} exists"
                )));
            }
            let (alerts, incidents) = (max_id(run, "alerts")?, max_id(run, "incidents")?);
            let id = inserted_id(
                run,
                &sql(
                    "INSERT INTO notify_channels (name, kind, address, min_severity, episodes, \
                     incidents, enabled, created_by, created_at, after_alert, after_incident, \
                     delivered, failed) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, 0, 0) \
                     RETURNING id",
                    vec![
                        text(name),
                        text(&c.kind),
                        text(&c.address),
                        DbValue::Int(i64::from(c.min_severity)),
                        DbValue::Int(i64::from(c.episodes)),
                        DbValue::Int(i64::from(c.incidents)),
                        text(actor),
                        DbValue::Time(now_us()),
                        DbValue::Int(alerts),
                        DbValue::Int(incidents),
                    ],
                ),
                "adding a notification channel",
            )?;
            let ch = channel_by_id(&target, run, id)?;
            record(
                run,
                actor,
                "channel.add",
                format!("channel:{id}"),
                None,
                json_of(&ch),
            )?;
            Ok(ch)
        })
    }

    fn channels(&mut self) -> Result<Vec<Channel>> {
        let target = self.target().to_string();
        self.read("listing notification channels", |run| {
            run(
                &sql(
                    format!("SELECT {COLUMNS} FROM notify_channels ORDER BY id"),
                    vec![],
                ),
                &TYPES,
            )?
            .iter()
            .map(|r| channel_of(&target, r))
            .collect()
        })
    }

    fn channel(&mut self, id: i64) -> Result<Channel> {
        let target = self.target().to_string();
        self.read("reading a notification channel", |run| {
            channel_by_id(&target, run, id)
        })
    }

    fn change_channel(&mut self, actor: &str, id: i64, c: &ChannelChange) -> Result<Channel> {
        if let Some(s) = c.min_severity {
            check_severity(s)?;
        }
        let target = self.target().to_string();
        self.transact("changing a notification channel", |run| {
            let before = channel_by_id(&target, run, id)?;
            let (episodes, incidents) = (
                c.episodes.unwrap_or(before.episodes),
                c.incidents.unwrap_or(before.incidents),
            );
            if !episodes && !incidents {
                return Err(StoreError::Invalid(
                    "a channel sends episodes, incidents or both".into(),
                ));
            }
            run(
                &sql(
                    "UPDATE notify_channels SET enabled = $1, min_severity = $2, episodes = $3, \
                     incidents = $4 WHERE id = $5",
                    vec![
                        DbValue::Int(i64::from(c.enabled.unwrap_or(before.enabled))),
                        DbValue::Int(i64::from(c.min_severity.unwrap_or(before.min_severity))),
                        DbValue::Int(i64::from(episodes)),
                        DbValue::Int(i64::from(incidents)),
                        DbValue::Int(id),
                    ],
                ),
                &[],
            )?;
            let after = channel_by_id(&target, run, id)?;
            record(
                run,
                actor,
                "channel.change",
                format!("channel:{id}"),
                json_of(&before),
                json_of(&after),
            )?;
            Ok(after)
        })
    }

    fn remove_channel(&mut self, actor: &str, id: i64) -> Result<Channel> {
        let target = self.target().to_string();
        self.transact("removing a notification channel", |run| {
            let before = channel_by_id(&target, run, id)?;
            run(
                &sql(
                    "DELETE FROM notify_channels WHERE id = $1",
                    vec![DbValue::Int(id)],
                ),
                &[],
            )?;
            record(
                run,
                actor,
                "channel.remove",
                format!("channel:{id}"),
                json_of(&before),
                None,
            )?;
            Ok(before)
        })
    }

    fn note_progress(&mut self, id: i64, p: &Progress) -> Result<()> {
        let now = now_us();
        self.transact("noting a channel's progress", |run| {
            run(
                &sql(
                    "UPDATE notify_channels SET \
                     after_alert = CASE WHEN $1 > after_alert THEN $1 ELSE after_alert END, \
                     after_incident = CASE WHEN $2 > after_incident THEN $2 ELSE after_incident \
                     END, delivered = delivered + $3, failed = failed + $4, \
                     last_delivered_at = CASE WHEN $3 > 0 THEN $5 ELSE last_delivered_at END, \
                     last_error = COALESCE($6, last_error), \
                     last_error_at = CASE WHEN $6 IS NULL THEN last_error_at ELSE $5 END \
                     WHERE id = $7",
                    vec![
                        DbValue::Int(p.after_alert),
                        DbValue::Int(p.after_incident),
                        DbValue::Int(p.delivered as i64),
                        DbValue::Int(p.failed as i64),
                        DbValue::Time(now),
                        opt_text(p.error.as_deref()),
                        DbValue::Int(id),
                    ],
                ),
                &[],
            )?;
            Ok(())
        })
    }

    fn backlog(&mut self, after_alert: i64, min_severity: u8, now: i64) -> Result<u64> {
        self.read("counting a channel's backlog", |run| {
            let rows = run(
                &sql(
                    format!(
                        "SELECT COUNT(*) FROM alerts WHERE id > $1 AND severity >= $2{}",
                        not_suppressed("alerts.", "$3")
                    ),
                    vec![
                        DbValue::Int(after_alert),
                        DbValue::Int(i64::from(min_severity)),
                        DbValue::Time(now),
                    ],
                ),
                &[DbType::Int],
            )?;
            Ok(rows.first().and_then(|r| int_at(r, 0)).unwrap_or(0).max(0) as u64)
        })
    }
}
