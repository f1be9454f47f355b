//! The inventory's change log: a bounded ring of what changed, for the pipeline to drain.

use std::collections::VecDeque;
use std::net::IpAddr;

use packet::Timestamp;

use super::{DeviceKey, NameSource};

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A device was seen for the first time (under this key).
    NewDevice {
        /// Its key.
        key: DeviceKey,
    },
    /// A known MAC address was seen with an address it did not have.
    NewIp {
        /// The MAC.
        mac: [u8; 6],
        /// The new address.
        ip: IpAddr,
    },
    /// An address bound to one MAC is now bound to another (a DHCP reassignment, a failover,
    /// or ARP spoofing).
    IpMoved {
        /// The address.
        ip: IpAddr,
        /// The MAC it was bound to.
        from: [u8; 6],
        /// The MAC it is bound to now.
        to: [u8; 6],
    },
    /// A device announced a different name through the same protocol.
    HostnameChanged {
        /// The device.
        key: DeviceKey,
        /// The protocol.
        source: NameSource,
        /// The name before.
        old: String,
        /// The name now.
        new: String,
    },
}

/// A change and when it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Packet time of the frame that showed it.
    pub ts: Timestamp,
    /// What changed.
    pub change: Change,
}

/// A ring of the newest events: when full, the oldest is dropped and counted.
#[derive(Debug, Default)]
pub(crate) struct Log {
    events: VecDeque<Event>,
    cap: usize,
    dropped: u64,
}

impl Log {
    pub(crate) fn new(cap: usize) -> Self {
        Log {
            events: VecDeque::new(),
            cap,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, ts: Timestamp, change: Change) {
        if self.cap == 0 {
            self.dropped += 1;
            return;
        }
        if self.events.len() == self.cap {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(Event { ts, change });
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    pub(crate) fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, Event> {
        self.events.drain(..)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
