//! `netvigil serve`: the API server over a store (docs/server.md). Flags override the
//! optional TOML file (`--config`), which overrides the defaults. The first run on a store
//! without users makes the admin and prints its password once.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use server::ServeConfig;

use crate::{BadInput, Outcome};

/// Arguments of `netvigil serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Configuration file (TOML, docs/server.md); flags given here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Database: a SQLite file (created when missing) or postgres://user@host:port/database.
    #[arg(long)]
    pub db: Option<String>,
    /// Address and port to listen on (127.0.0.1:8080 by default; 0.0.0.0:8080 for every
    /// interface).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Mark the session cookie Secure (when clients reach the server over HTTPS, through a
    /// TLS-terminating proxy).
    #[arg(long)]
    pub secure_cookies: bool,
    /// Serve HTTPS with this certificate chain (PEM; with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Do not log each request on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Also capture on these interfaces (comma-separated or repeated) into the store, as
    /// `netvigil capture --db` does: one process is then a whole single-machine deployment.
    #[arg(long = "capture", value_delimiter = ',')]
    pub capture: Vec<String>,
    /// Only packets this BPF expression takes (libpcap syntax), with --capture.
    #[arg(long, requires = "capture")]
    pub capture_filter: Option<String>,
    /// Keep every captured packet in size-rotated pcapng files in this directory (as
    /// `capture --write-pcap`); each episode then names the files and byte ranges of its
    /// packets.
    #[arg(long, requires = "capture")]
    pub write_pcap: Option<PathBuf>,
}

/// `capture`'s arguments parsed from an argument list (its defaults for the rest).
#[derive(clap::Parser)]
struct CaptureCli {
    #[command(flatten)]
    args: crate::commands::capture::CaptureArgs,
}

/// The live capture `--capture` asks for, into `db`, as `netvigil capture` would with the
/// same options.
fn live_capture(a: &ServeArgs, db: &str) -> Result<crate::commands::capture::LiveRun> {
    use clap::Parser;
    let mut argv: Vec<String> = ["capture", "-q", "--format", "none", "--db", db, "-i"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(a.capture.join(","));
    if let Some(f) = &a.capture_filter {
        argv.extend(["--filter".to_string(), f.clone()]);
    }
    if let Some(d) = &a.write_pcap {
        argv.extend(["--write-pcap".to_string(), d.display().to_string()]);
    }
    let cli = CaptureCli::try_parse_from(&argv).map_err(|e| BadInput(e.to_string()))?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    crate::commands::capture::assemble(&cli.args, stop)
}

/// The configuration the flags and the file give.
fn config(a: &ServeArgs) -> Result<ServeConfig> {
    let mut c = match &a.config {
        Some(path) => ServeConfig::from_file(path).map_err(|e| BadInput(e.to_string()))?,
        None => ServeConfig::default(),
    };
    if let Some(db) = &a.db {
        c.db = db.clone();
    }
    if let Some(l) = a.listen {
        c.listen = l;
    }
    c.secure_cookies |= a.secure_cookies;
    if a.tls_cert.is_some() {
        c.tls_cert.clone_from(&a.tls_cert);
        c.tls_key.clone_from(&a.tls_key);
    }
    if a.quiet {
        c.request_log = false;
    }
    c.check().map_err(|e| BadInput(e.to_string()))?;
    Ok(c)
}

/// Runs `netvigil serve` until SIGINT or SIGTERM.
pub fn run(a: &ServeArgs) -> Result<Outcome> {
    let c = config(a)?;
    let db = c.db.clone();
    let prepared = server::prepare(c).map_err(|e| match e {
        server::ServeError::Bind { .. } | server::ServeError::Config(_) => {
            anyhow::Error::from(BadInput(e.to_string()))
        }
        other => anyhow::Error::from(other),
    })?;
    let addr = prepared.local_addr()?;
    let scheme = prepared.scheme();
    if let Some(password) = &prepared.first_admin {
        eprintln!(
            "netvigil: {db} had no users: made the admin {:?} with the password\n\n    {password}\n\n\
             Log in with POST {scheme}://{addr}/api/session (docs/server.md), then change it: \
             netvigil user passwd {} --db {db}",
            server::FIRST_ADMIN,
            server::FIRST_ADMIN
        );
    }
    if !a.capture.is_empty() {
        let live = live_capture(a, &db)?;
        let capture = prepared
            .run_live(live.pipeline, live.stop)
            .map_err(|e| anyhow::Error::from(BadInput(e.to_string())))?;
        eprintln!(
            "netvigil: capturing on {} into capture {capture}{}",
            a.capture.join(", "),
            live.filter
                .map(|e| format!(" with filter {e}"))
                .unwrap_or_default()
        );
    }
    eprintln!("netvigil: serving {db} on {scheme}://{addr}/api (Ctrl-C stops)");
    server::run(prepared).context("serving the API")?;
    Ok(Outcome::Clean)
}
