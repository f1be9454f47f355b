//! SIGINT and SIGTERM: the run stops at the next batch, writes what was read, and exits with
//! 128 + the signal.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use anyhow::{Context, Result};

/// The signal that asked `analyze` to stop (0: none). Set from the signal handlers that
/// [`stop_on_signals`] installs; the metering loop reads it once per batch.
static STOP_SIGNAL: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

/// Makes SIGINT and SIGTERM end the run cleanly at the next batch: what was read is metered
/// and written, the store marks the capture failed, and the exit status is 128 + the signal. A
/// second signal ends the process at once (exit 1); the store stays consistent (whole batches).
pub fn stop_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = STOP_SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    // Set by the first signal; a second one finds it set and exits at once.
    let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&once))
            .context("installing the signal handlers")?;
        signal_hook::flag::register(sig, Arc::clone(&once))
            .context("installing the signal handlers")?;
        signal_hook::flag::register_usize(sig, Arc::clone(flag), sig as usize)
            .context("installing the signal handlers")?;
    }
    Ok(())
}

/// The name of a stop signal.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The flag the pipeline watches (set by the handlers [`stop_on_signals`] installs).
pub fn stop_flag() -> Arc<AtomicUsize> {
    Arc::clone(STOP_SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0))))
}
