//! The charts' font, text sizes and colours.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Area, DrawResult};

/// The font family of all text.
pub(crate) const FONT: &str = "sans-serif";
/// Title text, pixels.
pub(crate) const TITLE_PX: u32 = 30;
/// Subtitle and note text, pixels.
pub(crate) const SUBTITLE_PX: u32 = 18;
/// Axis descriptions, pixels.
pub(crate) const DESC_PX: u32 = 20;
/// Tick labels, legend names and bar labels, pixels.
pub(crate) const LABEL_PX: u32 = 17;
/// Values printed beside bars, columns and legend entries, pixels.
pub(crate) const VALUE_PX: u32 = 16;
/// The message in place of a chart without data, pixels.
pub(crate) const MESSAGE_PX: u32 = 26;

/// Text.
pub(crate) const INK: RGBColor = RGBColor(33, 33, 33);
/// Secondary text: subtitles, details, messages.
pub(crate) const MUTED: RGBColor = RGBColor(100, 100, 100);
/// Grid lines.
pub(crate) const GRID: RGBColor = RGBColor(225, 225, 225);
/// Axis lines and tick marks.
pub(crate) const AXIS: RGBColor = RGBColor(120, 120, 120);
/// Notes that qualify the figures (bounded estimates): dark orange, apart from the grey
/// subtitle.
pub(crate) const NOTE: RGBColor = RGBColor(166, 86, 0);

// Tableau 10: distinct hues that stay apart for the common colour-vision deficiencies.
/// Tableau blue.
pub(crate) const BLUE: RGBColor = RGBColor(78, 121, 167);
/// Tableau orange.
pub(crate) const ORANGE: RGBColor = RGBColor(242, 142, 43);
/// Tableau red.
pub(crate) const RED: RGBColor = RGBColor(225, 87, 89);
/// Tableau teal.
pub(crate) const TEAL: RGBColor = RGBColor(118, 183, 178);
/// Tableau green.
pub(crate) const GREEN: RGBColor = RGBColor(89, 161, 79);
/// Tableau purple.
pub(crate) const PURPLE: RGBColor = RGBColor(176, 122, 161);
/// Grey, for "other".
pub(crate) const GREY: RGBColor = RGBColor(160, 160, 160);

/// Text of `px` pixels in `color`.
pub(crate) fn text(px: u32, color: RGBColor) -> TextStyle<'static> {
    let mut s = TextStyle::from((FONT, px).into_font());
    s.color = color.to_backend_color();
    s
}

/// `s` placed by its `h` and `v` side instead of its top left corner.
pub(crate) fn anchored(s: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    s.pos(Pos::new(h, v))
}

/// Draws `msg` in bold. Plotters' font lookup returns the regular face whatever weight is
/// asked for, so bold is the regular face drawn twice, one pixel apart.
pub(crate) fn bold_text(
    area: &Area,
    msg: &str,
    (x, y): (i32, i32),
    style: &TextStyle,
) -> DrawResult {
    for dx in 0..2 {
        area.draw(&Text::new(msg.to_string(), (x + dx, y), style.clone()))?;
    }
    Ok(())
}
