//! The live capture's status line: once a second, on a terminal, what was received, metered
//! and dropped, flows and alerts so far; interface notices on their own lines (always, as
//! they are rare and matter). An observer of the counters, on its own thread.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use detect::summary::thousands;
use pipeline::{ComponentSnapshot, Registry};

/// A running status line.
pub struct Status {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn find<'a>(snap: &'a [ComponentSnapshot], name: &str) -> Option<&'a ComponentSnapshot> {
    snap.iter().find(|c| c.component == name)
}

/// One line from the counters: `elapsed` since the start, `rate` packets/s since the last.
fn line(snap: &[ComponentSnapshot], elapsed: Duration, rate: f64) -> String {
    let src = find(snap, "capture");
    let received = src.map_or(0, |c| c.received);
    let dropped: u64 = src.map_or(0, |c| c.dropped.values().sum());
    let meter = find(snap, "meter");
    let flows = meter
        .and_then(|m| m.extra.get("flows"))
        .copied()
        .unwrap_or(0);
    let metered = meter.map_or(0, |m| m.received);
    let alerts = find(snap, "detect")
        .and_then(|d| d.extra.get("alerts"))
        .copied()
        .unwrap_or(0);
    let stored = find(snap, "store").map(|s| s.emitted);
    let secs = elapsed.as_secs();
    let mut s = format!(
        "{:02}:{:02}:{:02}  {} received ({} pps)  {} metered  {} dropped  {} flows  {} alerts",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        thousands(received),
        thousands(rate.round() as u64),
        thousands(metered),
        thousands(dropped),
        thousands(flows),
        thousands(alerts),
    );
    if let Some(n) = stored {
        s.push_str(&format!("  {} stored", thousands(n)));
    }
    s
}

impl Status {
    /// Starts the line (on a terminal, when `enabled`); notices are printed whenever enabled.
    pub fn start(counters: Arc<Registry>, enabled: bool) -> Status {
        let done = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Status { done, thread: None };
        }
        let tty = std::io::stderr().is_terminal();
        let flag = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("netvigil-status".into())
            .spawn(move || {
                let started = Instant::now();
                let mut last = (Instant::now(), 0u64);
                let mut drawn = false;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let notices = counters.take_notices();
                    let mut err = std::io::stderr().lock();
                    if !notices.is_empty() {
                        if drawn {
                            let _ = write!(err, "\r\x1b[2K");
                        }
                        for n in notices {
                            let _ = writeln!(err, "netvigil: {n}");
                        }
                    }
                    if tty && last.0.elapsed() >= Duration::from_secs(1) {
                        let snap = counters.snapshot();
                        let received = find(&snap, "capture").map_or(0, |c| c.received);
                        let rate =
                            received.saturating_sub(last.1) as f64 / last.0.elapsed().as_secs_f64();
                        last = (Instant::now(), received);
                        let _ = write!(err, "\r\x1b[2K{}", line(&snap, started.elapsed(), rate));
                        drawn = true;
                    }
                }
                if drawn {
                    let _ = write!(std::io::stderr(), "\r\x1b[2K");
                }
                for n in counters.take_notices() {
                    eprintln!("netvigil: {n}");
                }
            })
            .ok();
        Status { done, thread }
    }

    /// Clears the line and prints the last notices.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A live capture's accounting in one sentence: every packet received is delivered to the
/// meter or dropped, by cause.
pub fn accounting(c: &capture::CaptureStats) -> String {
    let received = c.offered();
    let mut s = format!(
        "capture: {} packets received, {} metered, {} dropped ({} by the kernel's ring, {} by \
         the interface",
        thousands(received),
        thousands(c.delivered),
        thousands(c.dropped()),
        thousands(c.kernel_dropped),
        thousands(c.interface_dropped),
    );
    if c.interface_lost > 0 {
        s.push_str(&format!(
            ", {} while an interface was lost; lost {} times, reopened {}",
            thousands(c.lost_while_down),
            c.interface_lost,
            c.reopened
        ));
    }
    s.push(')');
    let rest = received.saturating_sub(c.delivered + c.dropped());
    if rest > 0 {
        s.push_str(&format!(
            "; {} still in the ring when capture stopped",
            thousands(rest)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::{DropCause, Kind};

    #[test]
    fn the_status_line_reads_received_metered_dropped_flows_and_alerts() {
        let reg = Registry::default();
        let c = reg.register("capture", Kind::Source);
        c.set_received(12_345);
        c.set_dropped(DropCause::Kernel, 45);
        let m = reg.register("meter", Kind::Transform);
        m.received(12_300);
        m.set("flows", 321);
        let d = reg.register("detect", Kind::Transform);
        d.set("alerts", 2);
        let s = line(&reg.snapshot(), Duration::from_secs(3723), 1500.4);
        assert_eq!(
            s,
            "01:02:03  12,345 received (1,500 pps)  12,300 metered  45 dropped  321 flows  2 alerts"
        );
    }
}
