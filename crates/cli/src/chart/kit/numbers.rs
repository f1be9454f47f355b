//! Numbers in words for tick labels, subtitles and values. Bytes and shares come from the
//! summary's own functions ([`crate::console::format::human_bytes`], [`crate::console::format::percent`]); these
//! are the ones only the charts need.

/// SI scale of `max`: divisor and prefix ("", "k", "M", "G", "T", "P"), for bit rates and
/// counts (bytes use [`crate::console::format::iec_scale`]).
pub(crate) fn si(max: f64) -> (f64, &'static str) {
    const PREFIXES: [(f64, &str); 5] =
        [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    PREFIXES
        .iter()
        .find(|(d, _)| max >= *d)
        .map_or((1.0, ""), |&(d, p)| (d, p))
}

/// `v` with three significant digits (all of its integer digits), no trailing zeros.
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    let decimals = if a == 0.0 || !a.is_finite() {
        0
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 9) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A count with thousands separators: "1,234,567" (the alert sentences' own, one writer).
pub(crate) use detect::summary::thousands as human_count;

/// A value axis label: "0.25", "7.5", "750".
pub(crate) fn short_tick(v: &f64) -> String {
    short(*v)
}

/// A count axis label: "0.25", "750", "7,500", "250,000", "2.5M".
pub(crate) fn count_tick(v: &f64) -> String {
    if v.abs() < 1e6 {
        return if v.fract() == 0.0 {
            human_count(v.abs() as u64)
        } else {
            short(*v)
        };
    }
    let (d, p) = si(v.abs());
    format!("{}{p}", short(v / d))
}

/// A duration in words: "1 s", "2.5 s", "5 min", "1 h", "2 d".
pub(crate) fn duration_words(us: i64) -> String {
    const UNITS: [(i64, &str); 3] = [
        (86_400_000_000, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "min"),
    ];
    for (u, name) in UNITS {
        if us >= u && us % u == 0 {
            return format!("{} {name}", us / u);
        }
    }
    format!("{} s", short(us as f64 / 1e6))
}

/// The largest of `v`, 0 when empty or all negative.
pub(crate) fn peak(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_read_as_words() {
        assert_eq!(human_count(1_234_567), "1,234,567");
        assert_eq!(count_tick(&25_000.0), "25,000");
        assert_eq!(count_tick(&2_500_000.0), "2.5M");
        assert_eq!(count_tick(&0.025), "0.025");
        assert_eq!(duration_words(300_000_000), "5 min");
        assert_eq!(duration_words(1_500_000), "1.5 s");
    }
}
