//! The interfaces this machine can capture on, with what an operator needs to pick one.

use std::net::IpAddr;

use packet::LinkType;
use serde::Serialize;

use crate::error::CaptureError;
use crate::filter::pcap_message;

/// One capturable interface.
#[derive(Clone, Debug, Serialize)]
pub struct Interface {
    /// Its name (`eth0`, `any`, …).
    pub name: String,
    /// libpcap's description, if any.
    pub description: Option<String>,
    /// Its addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, Option<u8>)>,
    /// Administratively up.
    pub up: bool,
    /// Up and carrying traffic (link detected).
    pub running: bool,
    /// The loopback interface.
    pub loopback: bool,
    /// A wireless interface.
    pub wireless: bool,
    /// The link type its frames will have, when known without opening it.
    pub link: Option<u32>,
    /// The link type's name.
    pub link_name: Option<&'static str>,
    /// Maximum transmission unit, bytes.
    pub mtu: Option<u32>,
    /// Whether this process may capture on it.
    pub may_capture: bool,
}

fn prefix_len(mask: &IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(*m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(*m).count_ones() as u8,
    }
}

fn sys(name: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The link type libpcap gives an interface of this ARPHRD type (pcap-linux.c's mapping, for
/// the types netvigil decodes; others are captured "cooked").
fn link_of(name: &str) -> Option<LinkType> {
    if name == "any" {
        return Some(LinkType::LINUX_SLL);
    }
    let arphrd: u32 = sys(name, "type")?.parse().ok()?;
    Some(match arphrd {
        // ARPHRD_ETHER, ARPHRD_LOOPBACK (libpcap presents loopback as Ethernet).
        1 | 772 => LinkType::ETHERNET,
        // ARPHRD_NONE (tun and other raw IP devices).
        65534 => LinkType::RAW,
        _ => LinkType::LINUX_SLL,
    })
}

/// Every interface libpcap can open, with this process's right to capture on it.
pub fn list() -> Result<Vec<Interface>, CaptureError> {
    let may = crate::privilege::Privileges::current().may_capture();
    let devices = pcap::Device::list().map_err(|e| CaptureError::Open {
        iface: "(all)".into(),
        message: pcap_message(&e),
    })?;
    Ok(devices
        .into_iter()
        // Pseudo-devices libpcap lists for USB, D-Bus, netfilter, Bluetooth: not networks.
        .filter(|d| {
            !["usbmon", "dbus", "nflog", "nfqueue", "bluetooth"]
                .iter()
                .any(|p| d.name.starts_with(p))
        })
        .map(|d| {
            let link = link_of(&d.name);
            Interface {
                addresses: d
                    .addresses
                    .iter()
                    .map(|a| (a.addr, a.netmask.as_ref().map(prefix_len)))
                    .collect(),
                up: d.flags.is_up(),
                running: d.flags.is_running(),
                loopback: d.flags.is_loopback(),
                wireless: d.flags.is_wireless(),
                link: link.map(|l| l.0),
                link_name: link.map(|l| l.name()),
                mtu: sys(&d.name, "mtu").and_then(|m| m.parse().ok()),
                may_capture: may,
                description: d.desc,
                name: d.name,
            }
        })
        .collect())
}

/// Whether an interface of this name exists now (`any` always does on Linux).
pub fn exists(name: &str) -> bool {
    name == "any" || std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

/// Whether the interface is administratively up (IFF_UP; `any` always is).
pub fn is_up(name: &str) -> bool {
    name == "any"
        || sys(name, "flags")
            .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & 1 != 0)
}

/// Whether the interface is a loopback (ARPHRD_LOOPBACK).
pub fn is_loopback(name: &str) -> bool {
    sys(name, "type").as_deref() == Some("772")
}

/// The interface's own receive counter (packets), for what arrived while capture was lost.
pub fn rx_packets(name: &str) -> Option<u64> {
    sys(name, "statistics/rx_packets")?.parse().ok()
}

/// The interface's own receive drops (`rx_dropped` + `rx_missed_errors` + `rx_fifo_errors`).
pub fn rx_dropped(name: &str) -> Option<u64> {
    let get = |f: &str| sys(name, &format!("statistics/{f}")).and_then(|v| v.parse::<u64>().ok());
    Some(
        get("rx_dropped")?
            + get("rx_missed_errors").unwrap_or(0)
            + get("rx_fifo_errors").unwrap_or(0),
    )
}
