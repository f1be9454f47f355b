//! Time that passes without packets, as on a quiet live link: a source's `Pull::Idle(now)` ends
//! the flows idle by `now` and the window that ended, before the source ends; what is still
//! open at the end ends with the reason the source gives.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flow::EndReason;
use packet::{PacketSource, SourceError};
use pipeline::sink::each::Each;
use pipeline::source::file::FileInput;
use pipeline::source::{Pull, Source};
use pipeline::{Event, Pipeline, PipelineConfig};

fn webex() -> PathBuf {
    let data = match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    data.join("ndpi/pcap/webex.pcap")
}

/// A capture's packets, then the clock moving to `idle_at` without packets, then the end, as a
/// live source stopped by a signal ends (`shutdown`).
struct QuietThenShutdown {
    file: FileInput,
    idle_at: i64,
    step: u8,
}

impl Source for QuietThenShutdown {
    fn name(&self) -> &str {
        "quiet"
    }

    fn pull(&mut self, max: usize) -> Result<Pull, SourceError> {
        Ok(match self.step {
            0 => match self.file.pull(max)? {
                Pull::End => {
                    self.step = 1;
                    Pull::Idle(self.idle_at)
                }
                p => p,
            },
            _ => Pull::End,
        })
    }

    fn packets(&self) -> &dyn PacketSource {
        self.file.packets()
    }

    fn bytes_read(&self) -> u64 {
        self.file.bytes_read()
    }

    fn size(&self) -> Option<u64> {
        self.file.size()
    }

    fn end_reason(&self) -> EndReason {
        EndReason::Shutdown
    }
}

/// What the sinks saw, in order: `F(reason)` per flow, `W(start, packets, flows ended)` per
/// window, `T(now)` per tick.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    F(EndReason),
    W(i64, u64, u64),
    T(i64),
}

fn run(source: Box<dyn Source>, threads: usize) -> Vec<Seen> {
    let cfg = PipelineConfig {
        threads,
        ..PipelineConfig::default()
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let mut p = Pipeline::with_source(&cfg, source, vec![webex()]).expect("pipeline");
    p.sink(Box::new(Each::new("seen", true, move |e: &Event| {
        let mut s = into.lock().expect("lock");
        match e {
            Event::Flows(b) => s.extend(b.flows.iter().map(|r| Seen::F(r.end_reason))),
            Event::Window(w) => s.push(Seen::W(w.start_us, w.total.packets, w.flows_ended)),
            Event::Tick(t) => s.push(Seen::T(*t)),
            Event::Alerts(_) | Event::Devices(_) => {}
        }
        Ok(())
    })));
    p.run().expect("run").commit().expect("commit");
    let v = seen.lock().expect("lock").clone();
    v
}

/// webex.pcap's flows read as a file: (end reason, last packet µs) each.
fn plain_flows() -> Vec<(EndReason, i64)> {
    let cfg = PipelineConfig {
        inputs: vec![webex()],
        ..PipelineConfig::default()
    };
    let flows = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&flows);
    let mut p = Pipeline::build(&cfg).expect("pipeline");
    p.sink(Box::new(Each::new("flows", false, move |e: &Event| {
        if let Event::Flows(b) = e {
            let mut f = into.lock().expect("lock");
            f.extend(b.flows.iter().map(|r| (r.end_reason, r.last.micros())));
        }
        Ok(())
    })));
    p.run().expect("run").commit().expect("commit");
    let v = flows.lock().expect("lock").clone();
    v
}

fn count(seen: &[Seen], reason: EndReason) -> usize {
    seen.iter().filter(|s| **s == Seen::F(reason)).count()
}

fn quiet(idle_at: i64) -> Box<dyn Source> {
    Box::new(QuietThenShutdown {
        file: FileInput::open(&[webex()]).expect("webex.pcap"),
        idle_at,
        step: 0,
    })
}

/// The position of the tick at `now` among what the sinks saw.
fn tick_at(seen: &[Seen], now: i64) -> usize {
    seen.iter()
        .position(|s| *s == Seen::T(now))
        .expect("the tick reaches the sinks")
}

#[test]
fn a_quiet_link_ends_idle_flows_and_the_window_when_the_clock_advances() {
    let plain = plain_flows();
    // Read as a file, 22 flows end by RST and 35 are still open at its end.
    let eof = |r: &EndReason| *r == EndReason::Eof;
    assert_eq!(plain.iter().filter(|f| eof(&f.0)).count(), 35);
    let last = plain.iter().map(|f| f.1).max().expect("flows");
    // 121 s after the last packet every open flow has been idle over the 120 s timeout.
    let idle_at = last + 121_000_000;
    for threads in [1, 2] {
        let seen = run(quiet(idle_at), threads);
        let tick = tick_at(&seen, idle_at);
        assert_eq!(
            count(&seen[..tick], EndReason::Idle),
            35,
            "{threads} threads"
        );
        assert_eq!(count(&seen, EndReason::Rst), 22, "{threads} threads");
        assert_eq!(count(&seen, EndReason::Shutdown), 0, "{threads} threads");
        assert!(
            !seen[tick..].iter().any(|s| matches!(s, Seen::F(_))),
            "every flow ended before the tick: {seen:?}"
        );
        // Every window with packets ended by then: they come before the tick. After it comes
        // only the window of the tick's time, which counts the flows that ended then: the 35,
        // and the 22 reset ones, which `cic` (as CICFlowMeter) exports at their idle timeout.
        let windows_after: Vec<&Seen> = seen[tick..]
            .iter()
            .filter(|s| matches!(s, Seen::W(..)))
            .collect();
        let start = idle_at - idle_at.rem_euclid(60_000_000);
        assert_eq!(windows_after, [&Seen::W(start, 0, 57)], "{threads} threads");
        let packets: u64 = seen[..tick]
            .iter()
            .map(|s| match s {
                Seen::W(_, p, _) => *p,
                _ => 0,
            })
            .sum();
        // The file's 1,110 frames, all counted before the tick.
        assert_eq!(packets, 1110, "{threads} threads");
    }
}

#[test]
fn flows_not_yet_idle_end_with_the_sources_reason() {
    let plain = plain_flows();
    let last = plain.iter().map(|f| f.1).max().expect("flows");
    // 60 s of quiet: the open flows idle for over 120 s by then end at the tick (as idle); the
    // others end at the source's end, with its reason (shutdown).
    let idle_at = last + 60_000_000;
    let due = plain
        .iter()
        .filter(|f| f.0 == EndReason::Eof && idle_at - f.1 > 120_000_000)
        .count();
    assert_eq!(due, 18);
    for threads in [1, 2] {
        let seen = run(quiet(idle_at), threads);
        let tick = tick_at(&seen, idle_at);
        assert_eq!(
            count(&seen[..tick], EndReason::Idle),
            18,
            "{threads} threads"
        );
        assert_eq!(
            count(&seen[tick..], EndReason::Shutdown),
            35 - 18,
            "{threads} threads"
        );
        assert_eq!(count(&seen, EndReason::Eof), 0, "{threads} threads");
        assert_eq!(count(&seen, EndReason::Rst), 22, "{threads} threads");
    }
}
