//! The API's resources, one module per kind: `flows`, `detections` (alert episodes and
//! incidents), `traffic` (captures, windows, statistics, devices), `workflow` (working
//! episodes and incidents, comments, suppressions), `accounts` (session, users, tokens, audit
//! log), `export` (CSV/JSON Lines/Parquet of a query), `queries` (saved searches), `notifications` (channels), `uploads` (capture
//! uploads), `evidence` (an episode's packets), `health`.

pub mod accounts;
pub mod detections;
pub mod evidence;
pub mod export;
pub mod flows;
pub mod health;
pub mod notifications;
pub mod queries;
pub mod traffic;
pub mod uploads;
pub mod workflow;

use serde::Serialize;

use crate::params::encode_cursor;

/// A page of a listing: its items and, when there may be more, the cursor of the next page
/// (pass it back as `cursor`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page starts.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` fetched with `limit`: a full page may have a next one, at the key of
    /// its last item.
    pub fn keyed<K: std::fmt::Display>(
        items: Vec<T>,
        limit: usize,
        key: impl Fn(&T) -> (i64, K),
    ) -> Self {
        let next = if items.len() >= limit {
            items.last().map(|t| {
                let (time, id) = key(t);
                encode_cursor(time, id)
            })
        } else {
            None
        };
        Page { items, next }
    }
}
