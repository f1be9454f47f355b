//! What `netvigil serve` is told: flags, over an optional TOML file (docs/server.md), over the
//! defaults. Every field has a default, so a file names only what it changes.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// The server's configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The store: a SQLite file (created when missing) or a `postgres://` URL.
    pub db: String,
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Store connections the API uses at once (calls beyond wait, then get 503).
    pub connections: usize,
    /// Largest request body, bytes (413 beyond).
    pub body_limit: usize,
    /// How long a login session lasts, hours.
    pub session_hours: u64,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Set it when the server is
    /// reached through a TLS-terminating proxy; serving TLS itself sets it.
    pub secure_cookies: bool,
    /// Serve HTTPS with this certificate chain (PEM), with `tls_key`.
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<std::path::PathBuf>,
    /// Requests per minute per client address, by route class.
    pub rate: RateLimits,
    /// Origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Write one JSON line per request on stderr.
    pub request_log: bool,
    /// Largest `limit` a listing accepts.
    pub max_page: usize,
    /// Events a live client may fall behind before it is disconnected.
    pub live_buffer: usize,
    /// How often the store is read for live events, ms.
    pub live_poll_ms: u64,
    /// How long a write to a client may wait (the client not reading) before its connection
    /// is closed, s.
    pub write_timeout_s: u64,
    /// Each connection's kernel send buffer, bytes (0: the system's own sizing).
    pub send_buffer_bytes: usize,
    /// Exports running at once (`/api/flows/export`, `/api/episodes/export`; 503 beyond).
    pub exports: usize,
    /// Most rows one export writes.
    pub export_rows: usize,
    /// How notifications are sent.
    pub notify: NotifyConfig,
    /// Where uploaded captures are kept, each under a generated name. By default, beside a
    /// SQLite store (`<db>.uploads`); with PostgreSQL, uploads are refused until it is set.
    pub upload_dir: Option<std::path::PathBuf>,
    /// Largest upload, bytes (413 beyond).
    pub upload_limit: u64,
    /// Uploads analysed at once (503 beyond).
    pub uploads: usize,
    /// How uploaded captures are analysed.
    pub analysis: AnalysisConfig,
}

/// How the server analyses uploaded captures: as `netvigil analyze --db` does, with these
/// parts on or off.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Score flows with the model and run the rules and the baseline.
    pub detect: bool,
    /// Keep the device inventory.
    pub devices: bool,
    /// Look up the flows' countries and ASes in the installed GeoIP databases.
    pub geoip: bool,
    /// Threads for metering and detection of one upload (0: every core).
    pub threads: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            detect: true,
            devices: true,
            geoip: true,
            threads: 0,
        }
    }
}

/// How notifications are sent (the channels themselves are stored, made through the API).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// How often a channel with nothing to send looks again, ms.
    pub poll_ms: u64,
    /// How long one send may take, s.
    pub timeout_s: u64,
    /// Sends of one notification before it is given up (counted as failed).
    pub attempts: u32,
    /// The wait before the first retry, ms; it doubles with each retry.
    pub backoff_ms: u64,
    /// The longest wait between retries, s.
    pub backoff_max_s: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            poll_ms: 1000,
            timeout_s: 10,
            attempts: 10,
            backoff_ms: 1000,
            backoff_max_s: 60,
        }
    }
}

/// Requests per minute per client address, by route class; each class allows a burst of its
/// rate before it starts refusing with 429.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Logins (strict: guessing passwords).
    pub login: u32,
    /// Exports (each may read up to `export_rows` rows).
    pub export: u32,
    /// Listings that run a search (`q`) over flows or episodes.
    pub search: u32,
    /// Capture uploads (each is stored and analysed).
    pub upload: u32,
    /// Every other call.
    pub api: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login: 10,
            export: 10,
            search: 300,
            upload: 10,
            api: 1200,
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            db: "netvigil.db".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            connections: 8,
            body_limit: 1 << 20,
            session_hours: 12,
            secure_cookies: false,
            tls_cert: None,
            tls_key: None,
            rate: RateLimits::default(),
            cors_origins: Vec::new(),
            request_log: true,
            max_page: 1000,
            live_buffer: 1024,
            live_poll_ms: 1000,
            write_timeout_s: 30,
            send_buffer_bytes: 0,
            exports: 2,
            export_rows: 1_000_000,
            notify: NotifyConfig::default(),
            upload_dir: None,
            upload_limit: 4 << 30,
            uploads: 1,
            analysis: AnalysisConfig::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not readable.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field is unknown or has the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, and where (TOML's own message names the line and key).
        message: String,
    },
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
}

impl ServeConfig {
    /// Where uploads go: `upload_dir`, else beside a SQLite store; `None` for a PostgreSQL
    /// store without one.
    pub fn upload_dir(&self) -> Option<std::path::PathBuf> {
        if let Some(d) = &self.upload_dir {
            return Some(d.clone());
        }
        let postgres = self.db.starts_with("postgres://") || self.db.starts_with("postgresql://");
        (!postgres).then(|| std::path::PathBuf::from(format!("{}.uploads", self.db)))
    }

    /// The configuration a TOML file gives (over the defaults).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let c: ServeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        c.check()?;
        Ok(c)
    }

    /// Refuses values the server cannot work with.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.connections == 0 || self.connections > 256 {
            return bad("connections must be 1 to 256");
        }
        if self.body_limit < 1024 {
            return bad("body_limit must be at least 1024 bytes");
        }
        if self.session_hours == 0 || self.session_hours > 24 * 90 {
            return bad("session_hours must be 1 to 2160");
        }
        if self.uploads == 0 || self.uploads > 64 {
            return bad("uploads must be 1 to 64");
        }
        if self.upload_limit < 1024 {
            return bad("upload_limit must be at least 1024 bytes");
        }
        if self.analysis.threads > 256 {
            return bad("analysis.threads must be 0 (every core) to 256");
        }
        if self.max_page == 0 {
            return bad("max_page must be at least 1");
        }
        if self.live_buffer == 0 || self.live_buffer > 1 << 20 {
            return bad("live_buffer must be 1 to 1048576 events");
        }
        if !(50..=60_000).contains(&self.live_poll_ms) {
            return bad("live_poll_ms must be 50 to 60000");
        }
        if !(1..=3600).contains(&self.write_timeout_s) {
            return bad("write_timeout_s must be 1 to 3600");
        }
        if let Some(o) = self
            .cors_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return Err(ConfigError::Invalid(format!(
                "cors_origins: {o:?} is not an origin (scheme://host[:port], no path)"
            )));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert and tls_key go together");
        }
        if !(1..=64).contains(&self.exports) {
            return bad("exports must be 1 to 64");
        }
        if self.export_rows == 0 {
            return bad("export_rows must be at least 1");
        }
        let n = &self.notify;
        if !(50..=60_000).contains(&n.poll_ms) {
            return bad("notify.poll_ms must be 50 to 60000");
        }
        if !(1..=300).contains(&n.timeout_s) {
            return bad("notify.timeout_s must be 1 to 300");
        }
        if !(1..=100).contains(&n.attempts) {
            return bad("notify.attempts must be 1 to 100");
        }
        if !(10..=600_000).contains(&n.backoff_ms) || n.backoff_max_s == 0 {
            return bad(
                "notify.backoff_ms must be 10 to 600000 and notify.backoff_max_s at least 1",
            );
        }
        let r = self.rate;
        if [r.login, r.export, r.api].contains(&0) {
            return bad("every rate must be at least 1 per minute");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_names_only_what_it_changes() {
        let c: ServeConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\n[rate]\nlogin = 3\n").expect("valid TOML");
        assert_eq!(c.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(c.rate.login, 3);
        assert_eq!(c.rate.api, RateLimits::default().api);
        assert_eq!(c.db, "netvigil.db");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let e = toml::from_str::<ServeConfig>("listn = \"x\"").expect_err("unknown field");
        assert!(e.to_string().contains("listn"), "{e}");
    }
}
