//! `flow_durations.png`: flows ended, a column per duration bucket.

use flow::window::report::{Histogram, WindowReport};

use super::kit::columns::{bucket_labels, columns, Columns};
use super::kit::layout::no_data;
use super::kit::numbers::human_count;
use super::kit::style::TEAL;
use super::kit::{Area, DrawResult};

/// Labels of the flow-duration buckets: "<1 s", "1–5 s", …, "≥300 s".
fn duration_labels(h: &Histogram) -> Vec<String> {
    bucket_labels(
        h,
        |hi| format!("<{hi} s"),
        |lo, hi| format!("{lo}–{hi} s"),
        |lo| format!("≥{lo} s"),
    )
}

/// Draws the flow durations chart of `s`.
pub(super) fn draw(area: &Area, s: &WindowReport) -> DrawResult {
    let h = &s.flow_durations;
    let title = "Flow durations";
    if h.counts.iter().all(|&c| c == 0) {
        return no_data(
            area,
            title,
            "flows ended, by duration",
            "no flows ended in this capture",
        );
    }
    columns(
        area,
        Columns {
            title,
            subtitle: format!(
                "{} flows ended, by duration (first to last packet)",
                human_count(h.counts.iter().sum())
            ),
            labels: duration_labels(h),
            counts: &h.counts,
            x_desc: "flow duration",
            y_desc: "flows",
            color: TEAL,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::Window;

    #[test]
    fn duration_buckets_are_labelled_in_seconds() {
        let r = Window::new(0, 1_000_000, 8, 0).report();
        assert_eq!(
            duration_labels(&r.flow_durations),
            [
                "<1 s",
                "1–5 s",
                "5–10 s",
                "10–30 s",
                "30–60 s",
                "60–300 s",
                "≥300 s"
            ]
        );
    }
}
