//! What every handler shares.

use std::sync::Arc;

use crate::config::ServeConfig;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::notify::Counters;
use crate::pool::StorePool;

/// The server's shared state.
#[derive(Clone)]
pub struct AppState {
    /// The store connections.
    pub pool: Arc<StorePool>,
    /// The configuration it runs with.
    pub config: Arc<ServeConfig>,
    /// The live stream.
    pub live: Arc<Live>,
    /// Request and stream metrics.
    pub metrics: Arc<Metrics>,
    /// What the notification threads counted.
    pub notify: Arc<Counters>,
    /// Permits of the exports running now (`exports` of them).
    pub exports: crate::routes::export::Exports,
    /// Recent answers of the statistics calls.
    pub stats: Arc<crate::stats_cache::StatsCache>,
    /// The analyses of uploaded captures.
    pub uploads: Arc<crate::runs::Runs>,
    /// The TLS configuration, when it serves HTTPS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}
