//! Numbers and times as the console and the charts write them: shares, binary byte units,
//! UTC times to the second.

use packet::Timestamp;

/// `part` as a share of `whole`: "12.3%", "<0.1%" for a small non-zero share, "0%".
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 || part == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// Binary (IEC) byte units, smallest first.
const IEC: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// The IEC unit for values up to `max` bytes: its size and name (1024 → "KiB"). The charts
/// scale their byte axes with it, so they speak the console's units.
pub fn iec_scale(max: f64) -> (f64, &'static str) {
    let mut d = 1.0;
    let mut u = 0;
    while max >= d * 1024.0 && u < IEC.len() - 1 {
        d *= 1024.0;
        u += 1;
    }
    (d, IEC[u])
}

/// Bytes with a binary unit: "950 B", "12.3 KiB", "4.5 GiB".
pub fn human_bytes(b: u64) -> String {
    let (d, unit) = iec_scale(b as f64);
    if d == 1.0 {
        format!("{b} B")
    } else {
        format!("{:.1} {unit}", b as f64 / d)
    }
}

/// `2017-07-07 09:00:00`: a time in UTC to the second, as the listings show it.
pub fn utc_seconds(us: i64) -> String {
    let t = Timestamp(us).rfc3339();
    t.get(..19).unwrap_or(&t).replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary_and_shares_never_round_to_zero() {
        assert_eq!(human_bytes(950), "950 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(864_903), "844.6 KiB");
        assert_eq!(human_bytes(4_080_218_931), "3.8 GiB");
        assert_eq!(iec_scale(1023.0), (1.0, "B"));
        assert_eq!(iec_scale(5.0 * 1024.0 * 1024.0), (1_048_576.0, "MiB"));
        assert_eq!(percent(1, 2000), "<0.1%");
        assert_eq!(percent(0, 2000), "0%");
        assert_eq!(percent(5, 0), "0%");
        assert_eq!(percent(1, 3), "33.3%");
    }
}
