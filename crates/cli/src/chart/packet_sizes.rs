//! `packet_sizes.png`: frames by size on the wire, a column per size bucket.

use flow::window::report::{Histogram, WindowReport};

use super::kit::columns::{bucket_labels, columns, Columns};
use super::kit::layout::no_data;
use super::kit::numbers::human_count;
use super::kit::style::BLUE;
use super::kit::{Area, DrawResult};

/// Labels of the packet-size buckets: "≤64", "65–128", …, ">1518".
fn size_labels(h: &Histogram) -> Vec<String> {
    bucket_labels(
        h,
        |hi| format!("≤{hi}"),
        |lo, hi| format!("{}–{hi}", lo + 1),
        |lo| format!(">{lo}"),
    )
}

/// Draws the packet sizes chart of `s`.
pub(super) fn draw(area: &Area, s: &WindowReport) -> DrawResult {
    let h = &s.packet_sizes;
    let title = "Packet sizes";
    if h.counts.iter().all(|&c| c == 0) {
        return no_data(
            area,
            title,
            "frames by size on the wire",
            "no packets in this capture",
        );
    }
    let mean = s.bytes.checked_div(s.packets).unwrap_or(0);
    columns(
        area,
        Columns {
            title,
            subtitle: format!(
                "{} frames by size on the wire · mean {mean} bytes",
                human_count(h.counts.iter().sum())
            ),
            labels: size_labels(h),
            counts: &h.counts,
            x_desc: "frame size (bytes)",
            y_desc: "packets",
            color: BLUE,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::Window;

    #[test]
    fn size_buckets_are_labelled_by_their_byte_range() {
        let r = Window::new(0, 1_000_000, 8, 0).report();
        assert_eq!(
            size_labels(&r.packet_sizes),
            [
                "≤64",
                "65–128",
                "129–256",
                "257–512",
                "513–1024",
                "1025–1518",
                ">1518"
            ]
        );
    }
}
