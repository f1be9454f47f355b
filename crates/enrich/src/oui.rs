//! MAC address vendors from the IEEE Registration Authority's registries (MA-L, MA-M, MA-S and
//! the older IAB), compiled in: `build.rs` turns `data/ieee-oui.csv` into sorted static arrays
//! searched by binary search (no start-up cost, no allocation). The longest assigned prefix
//! wins (36, then 28, then 24 bits), so a block the IEEE sold on in small pieces names the
//! piece's owner, not "IEEE Registration Authority". Source, date, terms: docs/devices.md.

mod ieee {
    include!(concat!(env!("OUT_DIR"), "/ieee_oui.rs"));
}

pub use ieee::OUI_ENTRIES;

/// Whether a MAC address is locally administered (the U/L bit, 0x02 of the first octet): set
/// by software rather than burnt in, as the randomized addresses of phones and laptops are.
/// Its first three octets are no vendor's prefix.
#[inline]
pub fn is_local(mac: [u8; 6]) -> bool {
    mac[0] & 0x02 != 0
}

/// Whether a MAC address is a group (multicast or broadcast) address (the I/G bit, 0x01 of
/// the first octet): no device sends from one.
#[inline]
pub fn is_group(mac: [u8; 6]) -> bool {
    mac[0] & 0x01 != 0
}

/// The organisation the IEEE assigned the MAC address's prefix to, as the registry spells it
/// ("Apple, Inc.", "Intel Corporate"), or `None` for a locally administered or group address
/// and for a prefix the registry copy does not list.
pub fn vendor(mac: [u8; 6]) -> Option<&'static str> {
    if is_local(mac) || is_group(mac) {
        return None;
    }
    let v = u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
    let s36 = v >> 12;
    let m28 = (v >> 20) as u32;
    let l24 = (v >> 24) as u32;
    let idx = find(&ieee::MA_S, s36)
        .or_else(|| find(&ieee::MA_M, m28))
        .or_else(|| find(&ieee::MA_L, l24))?;
    ieee::NAMES.get(idx as usize).copied()
}

fn find<K: Ord + Copy>(table: &[(K, u16)], key: K) -> Option<u16> {
    table
        .binary_search_by_key(&key, |&(k, _)| k)
        .ok()
        .map(|i| table[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ma_l_prefixes_name_their_vendor() {
        assert_eq!(
            vendor([0x00, 0x0c, 0x29, 0x59, 0xfd, 0x21]),
            Some("VMware, Inc.")
        );
        assert_eq!(
            vendor([0x00, 0x03, 0x47, 0xb7, 0xf2, 0xf5]),
            Some("Intel Corporation")
        );
        // Listed three times in the MA-L file; the first listing is kept (as Wireshark does).
        assert_eq!(
            vendor([0x08, 0x00, 0x30, 1, 2, 3]),
            Some("NETWORK RESEARCH CORPORATION")
        );
    }

    #[test]
    fn the_longest_prefix_wins() {
        // 70:B3:D5 is the IEEE's own MA-L, sold on in 36-bit MA-S blocks.
        assert_eq!(
            vendor([0x70, 0xb3, 0xd5, 0xf2, 0xf0, 0x01]),
            Some("TELEPLATFORMS")
        );
        // An IAB block inside 00:50:C2.
        assert_eq!(
            vendor([0x00, 0x50, 0xc2, 0x7d, 0x50, 0x00]),
            Some("DEUTA-WERKE GmbH")
        );
        // An MA-M block (28 bits).
        assert_eq!(
            vendor([0x20, 0x85, 0x93, 0xb0, 0, 1]),
            Some("IOG Products LLC")
        );
        // A 36-bit block the copy does not list falls back to the MA-L owner.
        assert_eq!(
            vendor([0x00, 0x50, 0xc2, 0xff, 0xff, 0xff]).is_some(),
            vendor([0x00, 0x50, 0xc2, 0, 0, 0]).is_some()
        );
    }

    #[test]
    fn local_and_group_addresses_have_no_vendor() {
        // A randomized address (second hex digit 2, 6, A or E).
        let random = [0xda, 0xa1, 0x19, 0x01, 0x02, 0x03];
        assert!(is_local(random));
        assert_eq!(vendor(random), None);
        assert!(is_group([0xff; 6]));
        assert_eq!(vendor([0xff; 6]), None);
        assert_eq!(vendor([0x01, 0x00, 0x5e, 0, 0, 1]), None);
        assert!(!is_local([0x00, 0x0c, 0x29, 0, 0, 0]));
    }

    #[test]
    fn the_tables_are_sorted_and_complete() {
        // From data/ieee-oui.csv as committed: a regeneration must update this number (and
        // docs/devices.md).
        assert_eq!(OUI_ENTRIES, 46_521);
        assert_eq!(
            ieee::MA_L.len() + ieee::MA_M.len() + ieee::MA_S.len(),
            OUI_ENTRIES
        );
        assert!(ieee::MA_L.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ieee::MA_M.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ieee::MA_S.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ieee::NAMES.windows(2).all(|w| w[0] < w[1]));
        let n = ieee::NAMES.len();
        assert!(ieee::MA_L.iter().all(|&(_, i)| (i as usize) < n));
    }
}
