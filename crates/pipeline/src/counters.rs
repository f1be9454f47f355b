//! Every component counts what it received, emitted and dropped (by cause), and how long it
//! waited on a full output. One [`Registry`] per run holds them; one snapshot call reads them
//! all — the summary, a future `/metrics` and the tests read the same numbers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// What a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Produces packets.
    Source,
    /// Turns events into events (meter, detect).
    Transform,
    /// Consumes events (files, store, observers).
    Sink,
}

/// Why a component dropped something. Causes are few and named; a new one is a new variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropCause {
    /// The next component's channel was full and its policy is drop-newest.
    Full,
    /// A frame that could not be decoded.
    Undecodable,
    /// A frame that carries no IP.
    NonIp,
    /// A frame the profile ignores (`nfstream`: as NFStream does).
    Ignored,
    /// A read error in the input (the rest of it was read).
    ReadError,
    /// An explanation skipped because the explainer could not keep up.
    ExplainBehind,
    /// Live capture: the kernel's ring (socket buffer) was full.
    Kernel,
    /// Live capture: the interface dropped it before the kernel saw it.
    Interface,
    /// Live capture: it arrived while the interface's capture was lost and being reopened.
    InterfaceLost,
}

const CAUSES: usize = 9;

/// Operator messages a component keeps until they are read (the oldest go first beyond it).
const MAX_NOTICES: usize = 64;

impl DropCause {
    /// Its name, as in JSON (`full`, `read_error`, …).
    pub fn as_str(self) -> &'static str {
        use DropCause::*;
        match self {
            Full => "full",
            Undecodable => "undecodable",
            NonIp => "non_ip",
            Ignored => "ignored",
            ReadError => "read_error",
            ExplainBehind => "explain_behind",
            Kernel => "kernel",
            Interface => "interface",
            InterfaceLost => "interface_lost",
        }
    }

    fn all() -> [DropCause; CAUSES] {
        use DropCause::*;
        [
            Full,
            Undecodable,
            NonIp,
            Ignored,
            ReadError,
            ExplainBehind,
            Kernel,
            Interface,
            InterfaceLost,
        ]
    }
}

/// One component's counters (shared with its thread; updated with relaxed atomics).
#[derive(Debug)]
pub struct Counters {
    name: String,
    kind: Kind,
    /// Events (packets for a source and the meter, flows for detect and sinks) received.
    pub received: AtomicU64,
    /// Events emitted to the next components.
    pub emitted: AtomicU64,
    dropped: [AtomicU64; CAUSES],
    /// Times a send found the next channel full and waited (block policy).
    pub waits: AtomicU64,
    /// Nanoseconds spent waiting on full channels.
    pub wait_ns: AtomicU64,
    /// Component-specific figures (`bytes`, `windows`, `alerts`, …).
    extra: Mutex<BTreeMap<&'static str, u64>>,
    /// Messages for the operator not yet read (an interface lost, reopened).
    notices: Mutex<std::collections::VecDeque<String>>,
}

impl Counters {
    fn new(name: &str, kind: Kind) -> Self {
        Counters {
            name: name.to_string(),
            kind,
            received: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            dropped: Default::default(),
            waits: AtomicU64::new(0),
            wait_ns: AtomicU64::new(0),
            extra: Mutex::new(BTreeMap::new()),
            notices: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Sets `received` to a running total counted elsewhere (a kernel's).
    pub fn set_received(&self, n: u64) {
        self.received.store(n, Ordering::Relaxed);
    }

    /// Sets the drops of `cause` to a running total counted elsewhere.
    pub fn set_dropped(&self, cause: DropCause, n: u64) {
        self.dropped[cause as usize].store(n, Ordering::Relaxed);
    }

    /// Keeps a message for the operator.
    pub fn notice(&self, msg: String) {
        if let Ok(mut q) = self.notices.lock() {
            if q.len() >= MAX_NOTICES {
                q.pop_front();
            }
            q.push_back(msg);
        }
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds to `received`.
    pub fn received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds to `emitted`.
    pub fn emitted(&self, n: u64) {
        self.emitted.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds to the drops of `cause`.
    pub fn dropped(&self, cause: DropCause, n: u64) {
        self.dropped[cause as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// The drops of `cause` so far.
    pub fn dropped_of(&self, cause: DropCause) -> u64 {
        self.dropped[cause as usize].load(Ordering::Relaxed)
    }

    /// Sets a component-specific figure.
    pub fn set(&self, key: &'static str, v: u64) {
        if let Ok(mut m) = self.extra.lock() {
            m.insert(key, v);
        }
    }

    /// Reads them all at once (each value is exact; values are not a consistent cut while
    /// the run is going).
    pub fn snapshot(&self) -> ComponentSnapshot {
        ComponentSnapshot {
            component: self.name.clone(),
            kind: self.kind,
            received: self.received.load(Ordering::Relaxed),
            emitted: self.emitted.load(Ordering::Relaxed),
            dropped: DropCause::all()
                .into_iter()
                .map(|c| (c, self.dropped_of(c)))
                .filter(|&(_, n)| n > 0)
                .collect(),
            waits: self.waits.load(Ordering::Relaxed),
            wait_ms: self.wait_ns.load(Ordering::Relaxed) / 1_000_000,
            extra: self
                .extra
                .lock()
                .map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect())
                .unwrap_or_default(),
        }
    }
}

/// One component's counters at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentSnapshot {
    /// The component (`file`, `meter`, `detect`, `flows:csv`, `store`, …).
    pub component: String,
    /// Source, transform or sink.
    pub kind: Kind,
    /// Received (packets for sources and the meter; flows for detect and flow sinks).
    pub received: u64,
    /// Emitted to the next components.
    pub emitted: u64,
    /// Dropped, by cause (causes with none left out).
    pub dropped: BTreeMap<DropCause, u64>,
    /// Sends that found the next channel full and waited.
    pub waits: u64,
    /// Milliseconds spent waiting on full channels.
    pub wait_ms: u64,
    /// Component-specific figures.
    pub extra: BTreeMap<String, u64>,
}

/// The counters of one run's components, in pipeline order.
#[derive(Debug, Default)]
pub struct Registry {
    components: Mutex<Vec<Arc<Counters>>>,
}

impl Registry {
    /// Registers a component and returns its counters.
    pub fn register(&self, name: &str, kind: Kind) -> Arc<Counters> {
        let c = Arc::new(Counters::new(name, kind));
        if let Ok(mut v) = self.components.lock() {
            v.push(Arc::clone(&c));
        }
        c
    }

    /// Every component's counters, in pipeline order.
    pub fn snapshot(&self) -> Vec<ComponentSnapshot> {
        self.components
            .lock()
            .map(|v| v.iter().map(|c| c.snapshot()).collect())
            .unwrap_or_default()
    }

    /// Every component's messages not yet read, oldest first.
    pub fn take_notices(&self) -> Vec<String> {
        self.components
            .lock()
            .map(|v| {
                v.iter()
                    .flat_map(|c| {
                        c.notices
                            .lock()
                            .map(|mut q| q.drain(..).collect::<Vec<_>>())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One component's counters, by name.
    pub fn get(&self, name: &str) -> Option<Arc<Counters>> {
        self.components
            .lock()
            .ok()?
            .iter()
            .find(|c| c.name == name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_cause_is_named_as_in_json() {
        for c in DropCause::all() {
            let json = serde_json::to_value(c).ok();
            assert_eq!(json.as_ref().and_then(|v| v.as_str()), Some(c.as_str()));
        }
    }
}
