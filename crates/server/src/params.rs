//! A call's query parameters, read strictly: an unknown or repeated parameter, or a value that
//! does not parse, is a 400 naming it, never ignored.

use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use packet::Timestamp;
use store::{IpFilter, TimeRange};

use crate::error::{ApiError, ApiResult};

/// What a query parameter takes: the parser that reads it and the schema that documents it
/// (`crate::openapi`) follow from this.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Any text.
    Text,
    /// A search in the query language (docs/server.md, "Search").
    Search,
    /// An integer within `min..=max`.
    Integer(i64, i64),
    /// A number within `min..=max`.
    Number(f64, f64),
    /// An IP address.
    Address,
    /// An address or a network in CIDR notation.
    Network,
    /// A time: RFC 3339, a UTC date, an age before now (`24h`), or UTC µs.
    Time,
    /// A page's `next`, passed back as it is.
    Cursor,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

/// A query parameter a call takes: its name, what it takes, and what it does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// What it does, in words.
    pub doc: &'static str,
}

impl Param {
    /// A parameter.
    pub const fn new(name: &'static str, kind: Kind, doc: &'static str) -> Self {
        Param { name, kind, doc }
    }
}

/// An id, as a parameter or in a path.
pub const ID: Kind = Kind::Integer(i64::MIN, i64::MAX);

/// The time range of a call: `from` and `to`.
pub const RANGE: [Param; 2] = [
    Param::new("from", Kind::Time, "Start of the range (inclusive)."),
    Param::new("to", Kind::Time, "End of the range (exclusive)."),
];

/// `limit`, with the server's page size as its maximum (`max_page`, 1000 by default).
pub const LIMIT: Param = Param::new(
    "limit",
    Kind::Integer(1, i64::MAX),
    "Items per page, 1 to the server's `max_page` (1000 by default).",
);

/// The parameters every listing takes: the time range, the page size and where it continues.
pub const PAGING: [Param; 4] = [
    RANGE[0],
    RANGE[1],
    LIMIT,
    Param::new(
        "cursor",
        Kind::Cursor,
        "Where the page starts: the previous page's `next`.",
    ),
];

/// A call's query parameters.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The parameters, refusing any not in `allowed` (or in [`PAGING`] when `paged`) and any
    /// given twice.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[Param], paged: bool) -> ApiResult<Self> {
        let mut names: Vec<&str> = allowed.iter().map(|p| p.name).collect();
        if paged {
            names.extend(PAGING.iter().map(|p| p.name));
        }
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !names.contains(&k.as_str()) {
                return Err(ApiError::invalid(
                    k,
                    format!(
                        "unknown parameter {k:?}; this call takes {}",
                        names.join(", ")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(j, _)| j == k) {
                return Err(ApiError::invalid(k, format!("{k} is given twice")));
            }
        }
        // The words a parameter takes are checked here, from its table, for every call.
        for (k, v) in &pairs {
            let words = allowed.iter().find_map(|p| match p.kind {
                Kind::OneOf(words) if p.name == k => Some(words),
                _ => None,
            });
            if let Some(words) = words.filter(|w| !w.contains(&v.as_str())) {
                return Err(ApiError::invalid(
                    k,
                    format!("{k}={v:?}: one of {}", words.join(", ")),
                ));
            }
        }
        Ok(Params { pairs })
    }

    /// A parameter's text, if given (an empty value counts as given).
    pub fn text(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(j, _)| j == k)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter parsed as `T`, with `what` it should be in the error.
    pub fn parsed<T: FromStr>(&self, k: &str, what: &str) -> ApiResult<Option<T>> {
        self.text(k)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::invalid(k, format!("{k}={v:?}: expected {what}")))
            })
            .transpose()
    }

    /// An integer parameter within `lo..=hi`.
    pub fn int_in(&self, k: &str, lo: i64, hi: i64) -> ApiResult<Option<i64>> {
        let v: Option<i64> = self.parsed(k, "an integer")?;
        match v {
            Some(n) if n < lo || n > hi => Err(ApiError::invalid(
                k,
                format!("{k}={n}: must be between {lo} and {hi}"),
            )),
            v => Ok(v),
        }
    }

    /// A time: RFC 3339, a UTC date, an age before now (`24h`), or UTC µs since the epoch.
    pub fn time(&self, k: &str) -> ApiResult<Option<i64>> {
        self.text(k)
            .map(|v| {
                if let Ok(us) = v.parse::<i64>() {
                    return Ok(us);
                }
                store::parse_time(v).map_err(|e| ApiError::invalid(k, format!("{k}: {e}")))
            })
            .transpose()
    }

    /// The range `from`/`to` name (`None`: neither given).
    pub fn range(&self) -> ApiResult<Option<TimeRange>> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if from.is_none() && to.is_none() {
            return Ok(None);
        }
        let r = TimeRange {
            from: Timestamp(from.unwrap_or(TimeRange::ALL.from.0)),
            to: Timestamp(to.unwrap_or(TimeRange::ALL.to.0)),
        };
        if r.from >= r.to {
            return Err(ApiError::invalid("from", "from must be before to"));
        }
        Ok(Some(r))
    }

    /// `limit`: 1 to `max`, `default` when not given.
    pub fn limit(&self, default: usize, max: usize) -> ApiResult<usize> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        Ok(self
            .int_in("limit", 1, max)?
            .map_or(default.min(max as usize), |n| n as usize))
    }

    /// An address.
    pub fn ip(&self, k: &str) -> ApiResult<Option<IpAddr>> {
        self.parsed(k, "an IP address")
    }

    /// An address or a network (`10.0.0.0/8`).
    pub fn ip_filter(&self, k: &str) -> ApiResult<Option<IpFilter>> {
        self.text(k)
            .map(|v| {
                IpFilter::parse(v.trim()).map_err(|e| ApiError::invalid(k, format!("{k}: {e}")))
            })
            .transpose()
    }

    /// A severity, 1 to 5.
    pub fn severity(&self, k: &str) -> ApiResult<Option<u8>> {
        Ok(self.int_in(k, 1, 5)?.map(|v| v as u8))
    }

    /// The `cursor` of the previous page, keyed by time and row id.
    pub fn cursor(&self) -> ApiResult<Option<(i64, i64)>> {
        self.text_cursor()?
            .map(|(t, id)| id.parse().map(|id| (t, id)).map_err(|_| bad_cursor()))
            .transpose()
    }

    /// The `cursor` of the previous page, keyed by time and a name.
    pub fn text_cursor(&self) -> ApiResult<Option<(i64, String)>> {
        self.text("cursor").map(decode_cursor).transpose()
    }
}

/// A path's parameter (`{id}`, `{name}`) parsed as `T`: one that does not parse is a 400
/// naming it, in JSON like every failure.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: FromStr> axum::extract::FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid("path", e.body_text()))?;
        // Every route has one parameter.
        let Some((name, raw)) = params.iter().last() else {
            return Err(ApiError::not_found("this route takes no parameter"));
        };
        raw.parse().map(PathParam).map_err(|_| {
            ApiError::invalid(
                name,
                format!("{name} {raw:?}: expected a row id (an integer)"),
            )
        })
    }
}

/// The longest an expiry may be set ahead, in days (100 years).
pub const MAX_EXPIRY_DAYS: u32 = 36_500;

/// An expiry `days` ahead of now (UTC µs), from a body's `field`; 1 to [`MAX_EXPIRY_DAYS`].
pub fn expiry(days: Option<u32>, field: &str) -> ApiResult<Option<i64>> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Ok(Some(
            packet::Timestamp::now().0 + i64::from(d) * store::DAY_US,
        )),
        Some(d) => Err(ApiError::invalid(
            field,
            format!("{field} {d}: 1 to {MAX_EXPIRY_DAYS} days"),
        )),
    }
}

/// An opaque cursor for the key `(time, id)` of the last row of a page.
pub fn encode_cursor(t: i64, id: impl std::fmt::Display) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{t}.{id}"))
}

fn bad_cursor() -> ApiError {
    ApiError::invalid(
        "cursor",
        "cursor: not one this server gave (pass `next` back as it is)",
    )
}

fn decode_cursor(s: &str) -> ApiResult<(i64, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .map_err(|_| bad_cursor())?;
    let text = String::from_utf8(raw).map_err(|_| bad_cursor())?;
    let (t, id) = text.split_once('.').ok_or_else(bad_cursor)?;
    Ok((t.parse().map_err(|_| bad_cursor())?, id.to_string()))
}

/// A JSON request body as `T`: a body that is not JSON, or lacks a field, or has one `T`
/// does not know, is a 400 naming the field.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        // serde names the field between backticks: "missing field `password`".
        let field = text
            .split('`')
            .nth(1)
            .filter(|_| text.contains("field"))
            .unwrap_or("body");
        ApiError::invalid(field, format!("request body: {text}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)], allowed: &[&'static str]) -> ApiResult<Params> {
        let allowed: Vec<Param> = allowed
            .iter()
            .map(|n| Param::new(n, Kind::Text, ""))
            .collect();
        Params::new(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            &allowed,
            true,
        )
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused_by_name() {
        let e = params(&[("lmit", "5")], &["src"]).err().expect("refused");
        assert_eq!(e.field.as_deref(), Some("lmit"));
        let e = params(&[("src", "1.2.3.4"), ("src", "5.6.7.8")], &["src"])
            .err()
            .expect("refused");
        assert_eq!(e.field.as_deref(), Some("src"));
    }

    #[test]
    fn a_word_parameter_takes_only_the_words_of_its_table() {
        const STATUS: [Param; 1] = [Param::new("status", Kind::OneOf(&["open", "closed"]), "")];
        let q = |v: &str| vec![("status".to_string(), v.to_string())];
        assert!(Params::new(q("open"), &STATUS, false).is_ok());
        let e = Params::new(q(""), &STATUS, false).err().expect("refused");
        assert_eq!(e.field.as_deref(), Some("status"));
        assert_eq!(e.message, r#"status="": one of open, closed"#);
    }

    #[test]
    fn expiries_are_one_day_to_a_hundred_years() {
        assert!(expiry(Some(0), "expires_days").is_err());
        assert!(expiry(Some(36_501), "expires_days").is_err());
        // Past i64 when multiplied out: refused, not overflowed.
        assert!(expiry(Some(u32::MAX), "expires_days").is_err());
        let t = expiry(Some(1), "expires_days")
            .ok()
            .flatten()
            .expect("a time");
        let now = packet::Timestamp::now().0;
        assert!((t - now - store::DAY_US).abs() < 60_000_000);
        assert_eq!(expiry(None, "expires_days").ok(), Some(None));
    }

    #[test]
    fn limits_outside_one_to_the_maximum_are_refused() {
        let p = params(&[("limit", "-1")], &[]).expect("known");
        assert_eq!(
            p.limit(100, 1000).err().and_then(|e| e.field).as_deref(),
            Some("limit")
        );
        let p = params(&[("limit", "1001")], &[]).expect("known");
        assert!(p.limit(100, 1000).is_err());
        let p = params(&[], &[]).expect("known");
        assert_eq!(p.limit(100, 1000).ok(), Some(100));
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = encode_cursor(1_499_385_600_000_000, 42);
        let p = params(&[("cursor", &c)], &[]).expect("known");
        assert_eq!(p.cursor().ok().flatten(), Some((1_499_385_600_000_000, 42)));
        let p = params(&[("cursor", "abc")], &[]).expect("known");
        assert!(p.cursor().is_err());
    }

    #[test]
    fn times_take_dates_rfc3339_and_microseconds() {
        let p = params(&[("from", "2017-07-07"), ("to", "1499385600000001")], &[]).expect("known");
        let r = p.range().ok().flatten().expect("a range");
        assert_eq!(
            (r.from.0, r.to.0),
            (1_499_385_600_000_000, 1_499_385_600_000_001)
        );
        let p = params(&[("from", "2017-07-08"), ("to", "2017-07-07")], &[]).expect("known");
        assert!(p.range().is_err());
    }
}
