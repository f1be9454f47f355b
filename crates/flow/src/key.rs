//! Flow keys: one canonical key for both directions of a conversation.

use std::hash::{Hash, Hasher};

use packet::decode::{IpAddrBytes, PacketMeta};

/// Canonical flow key: the lower (address, port) endpoint first, so both directions of a
/// conversation hash alike. VLAN and tunnel are part of the key only when the profile says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Lower endpoint address.
    pub lo_ip: IpAddrBytes,
    /// Higher endpoint address.
    pub hi_ip: IpAddrBytes,
    /// Port of the lower endpoint.
    pub lo_port: u16,
    /// Port of the higher endpoint.
    pub hi_port: u16,
    /// IP protocol number (as the profile maps it).
    pub proto: u8,
    /// 4 or 6.
    pub ip_version: u8,
    /// Tunnel kind, when part of the key.
    pub tunnel: u8,
    /// VLAN id + 1 (0 = untagged or VLAN not keyed).
    pub vlan: u16,
}

impl FlowKey {
    /// The key of a packet, and whether the packet goes from the lower to the higher endpoint.
    #[inline]
    pub fn of(
        p: &PacketMeta<'_>,
        proto: u8,
        sport: u16,
        dport: u16,
        vlan: u16,
        tunnel: u8,
    ) -> (FlowKey, bool) {
        // As integers: the same order as the bytes', without a memcmp per packet.
        let src_lower =
            (u128::from_be_bytes(p.src.0), sport) <= (u128::from_be_bytes(p.dst.0), dport);
        let (lo_ip, lo_port, hi_ip, hi_port) = if src_lower {
            (p.src, sport, p.dst, dport)
        } else {
            (p.dst, dport, p.src, sport)
        };
        (
            FlowKey {
                lo_ip,
                hi_ip,
                lo_port,
                hi_port,
                proto,
                ip_version: p.ip_version,
                tunnel,
                vlan,
            },
            src_lower,
        )
    }
}

/// Every field, in four words (the hash of every packet: the derived one writes a dozen
/// pieces).
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.lo_ip.0));
        h.write_u128(u128::from_ne_bytes(self.hi_ip.0));
        h.write_u64(
            self.lo_port as u64
                | (self.hi_port as u64) << 16
                | (self.vlan as u64) << 32
                | (self.proto as u64) << 48
                | (self.tunnel as u64) << 56,
        );
        h.write_u8(self.ip_version);
    }
}
