//! The device inventory: who is on the local network, learnt passively from the frames that
//! say so (ARP, DHCP, mDNS, LLMNR, NetBIOS names, DNS PTR answers, IPv6 neighbour discovery,
//! TCP SYNs) and from finished flows.
//!
//! Two halves, as in Suricata: [`parse`] holds pure parsers from a frame's bytes to
//! [`parse::Observations`] (no state, never a panic on cut or hostile bytes), and
//! [`Inventory`] is the bounded state those observations feed. The pipeline calls
//! [`parse::wants`] on every decoded packet (a few port and flag compares); of a TCP SYN it
//! accepts it keeps what [`parse::syn_seen`] reads from the meter's own decode, for
//! [`Inventory::observe_syn`]; any other frame it accepts goes to [`parse::frame`] and the
//! result to [`Inventory::observe`]; ended flows go to [`Inventory::observe_flow`]. See
//! docs/devices.md.

mod entry;
mod inventory;
mod json;
mod log;
pub mod parse;

pub use entry::{Device, DeviceKey, Hostname, IpSeen, Traffic};
pub use inventory::{Inventory, InventoryConfig};
pub use json::{change_record, device_json, service_name, ChangeRecord};
pub use log::{Change, Event};
pub use parse::{HintSource, NameSource, OsFamily, OsHint};

use std::fmt::Write as _;

/// A MAC address written as tshark and `ip neigh` do: six lower-case hex pairs joined by `:`.
pub fn mac_string(mac: [u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}
