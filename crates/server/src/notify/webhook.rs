//! Webhooks: each notification is one JSON POST to the channel's URL (`http://` or
//! `https://`). A 2xx answer delivers it; a timeout, a refused connection, 408, 429 or 5xx is
//! retried; any other answer is final (the receiver refuses it, retrying cannot help).
//!
//! The body (docs/server.md, "Notifications"): `{"event", "id", "severity", "title", "kind",
//! "src", "dst", "time", "data"}`, `data` being the episode or incident as the API shows it.
//! `X-Netvigil-Delivery` (`episode-42`) is the same on every retry of one notification, for
//! receivers that must not act twice.

use std::time::Duration;

use serde_json::json;

use super::{Notice, SendError};

/// A webhook.
pub struct Webhook {
    url: String,
    agent: ureq::Agent,
}

impl Webhook {
    /// A webhook posting to `url`, each call bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Webhook {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("netvigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Webhook {
            url: url.to_string(),
            agent,
        }
    }

    /// Posts one notification.
    pub fn send(&mut self, n: &Notice) -> Result<(), SendError> {
        let body = body(n).to_string();
        let answer = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-netvigil-event", n.event)
            .header("x-netvigil-delivery", n.key())
            .send(body.as_bytes());
        match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                match status {
                    200..=299 => Ok(()),
                    408 | 429 | 500..=599 => {
                        Err(SendError::retry(format!("{} answered {status}", self.url)))
                    }
                    _ => Err(SendError::permanent(format!(
                        "{} answered {status}",
                        self.url
                    ))),
                }
            }
            Err(ureq::Error::BadUri(e)) => {
                Err(SendError::permanent(format!("{}: bad URL: {e}", self.url)))
            }
            Err(e) => Err(SendError::retry(format!("{}: {e}", self.url))),
        }
    }
}

/// A notification's JSON body.
pub fn body(n: &Notice) -> serde_json::Value {
    json!({
        "event": n.event,
        "id": n.id,
        "severity": n.severity,
        "title": n.title,
        "kind": n.kind,
        "src": n.src,
        "dst": n.dst,
        "time": packet::Timestamp(n.time).rfc3339(),
        "data": n.data,
    })
}
