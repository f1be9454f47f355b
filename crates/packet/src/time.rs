//! The one time type of netvigil: UTC microseconds since the Unix epoch.

use std::fmt;

/// A point in time, UTC, in microseconds since the Unix epoch.
///
/// Used from the packet to the database; seconds and milliseconds only appear at the edges
/// (formatting, rates).
/// Serialized as the integer µs (exact; JSON consumers format it).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// Microseconds in one second.
pub const MICROS_PER_SEC: i64 = 1_000_000;

impl Timestamp {
    /// Now, by the system clock (the epoch when the clock is before it).
    pub fn now() -> Self {
        Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0),
        )
    }

    /// Builds a timestamp from seconds and a fraction of `units_per_sec` (truncating to µs);
    /// `None` when it does not fit (some 292,000 years from the epoch).
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Option<Self> {
        let micros = ((frac as u128 * 1_000_000) / units_per_sec.max(1) as u128) as i64;
        secs.checked_mul(MICROS_PER_SEC)?
            .checked_add(micros)
            .map(Timestamp)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Whole milliseconds since the epoch, truncated (as libpcap-based tools report them).
    pub fn millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Seconds since the epoch as a real number.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// Civil UTC date and time: (year, month, day, hour, minute, second, microsecond).
    pub fn to_civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let micros = self.0.rem_euclid(MICROS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, (sod / 60) % 60, sod % 60, micros)
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, exact for all i64 days
/// we can meet).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SSZ`, with `.ffffff` before the `Z` when the time
    /// has a fraction of a second.
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, us) = self.to_civil();
        if us == 0 {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
        }
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DD HH:MM:SS.ffffff`, the layout of the improved CIC-IDS2017 files.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, us) = self.to_civil();
        write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_improved_cicids2017_files() {
        // 2017-07-05 19:55:50.312099 UTC, a timestamp from BENIGN_5000.csv
        let t = Timestamp(1_499_284_550_312_099);
        assert_eq!(t.to_string(), "2017-07-05 19:55:50.312099");
    }

    #[test]
    fn nanosecond_fractions_truncate_to_micros() {
        assert_eq!(
            Timestamp::from_parts(1, 999_999_999, 1_000_000_000)
                .unwrap()
                .0,
            1_999_999
        );
        assert_eq!(
            Timestamp::from_parts(-1, 0, 1_000_000).unwrap().0,
            -1_000_000
        );
        assert_eq!(Timestamp::from_parts(i64::MAX / 1000, 0, 1_000_000), None);
    }

    #[test]
    fn rfc3339_omits_a_zero_fraction() {
        assert_eq!(
            Timestamp(1_499_284_500_000_000).rfc3339(),
            "2017-07-05T19:55:00Z"
        );
        assert_eq!(
            Timestamp(1_499_284_550_312_099).rfc3339(),
            "2017-07-05T19:55:50.312099Z"
        );
    }

    #[test]
    fn times_before_the_epoch_are_civil_too() {
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31 23:59:59.999999");
    }
}
