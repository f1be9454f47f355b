//! The progress bar: an observer of the source's counters, redrawn from its own thread, so the
//! pipeline's loop holds no presentation code.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pipeline::Registry;

/// Inputs smaller than this finish before a bar would help.
const MIN_BYTES: u64 = 64 << 20;

/// A running progress bar (none when stderr is not a terminal or the input is small).
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts a bar over `total` bytes read by the component `source` of `counters`.
    pub fn start(counters: Arc<Registry>, source: &str, total: u64, enabled: bool) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() || total < MIN_BYTES {
            return Progress { done, thread: None };
        }
        let bar = ProgressBar::new(total);
        let template = if std::env::var_os("NO_COLOR").is_some() {
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let flag = Arc::clone(&done);
        let source = source.to_string();
        let thread = std::thread::Builder::new()
            .name("netvigil-progress".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if let Some(c) = counters.get(&source) {
                        if let Some(b) = c.snapshot().extra.get("bytes") {
                            bar.set_position(*b);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })
            .ok();
        Progress { done, thread }
    }

    /// Clears the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
