//! The parts around a plot: the title band, the message in place of a chart without data, and
//! the legend column.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::style::{
    anchored, bold_text, text, INK, LABEL_PX, MESSAGE_PX, MUTED, NOTE, SUBTITLE_PX, TITLE_PX,
    VALUE_PX,
};
use super::{Area, DrawResult};
use crate::chart::SIZE;

/// Height of the title and subtitle band.
const HEADER_PX: u32 = 86;
/// Height added to the band by a note line.
const NOTE_PX: u32 = 28;

/// Draws the title and subtitle; returns the area below them.
pub(crate) fn header<'b>(
    root: &Area<'b>,
    title: &str,
    subtitle: &str,
) -> Result<Area<'b>, Box<dyn std::error::Error + Send + Sync>> {
    header_with_note(root, title, subtitle, None)
}

/// [`header`] with an optional note line under the subtitle.
pub(crate) fn header_with_note<'b>(
    root: &Area<'b>,
    title: &str,
    subtitle: &str,
    note: Option<&str>,
) -> Result<Area<'b>, Box<dyn std::error::Error + Send + Sync>> {
    let band = HEADER_PX + if note.is_some() { NOTE_PX } else { 0 };
    let (head, body) = root.split_vertically(band);
    let cx = (SIZE.0 / 2) as i32;
    bold_text(
        &head,
        title,
        (cx, 14),
        &anchored(text(TITLE_PX, INK), HPos::Center, VPos::Top),
    )?;
    head.draw(&Text::new(
        subtitle.to_string(),
        (cx, 54),
        anchored(text(SUBTITLE_PX, MUTED), HPos::Center, VPos::Top),
    ))?;
    if let Some(note) = note {
        head.draw(&Text::new(
            note.to_string(),
            (cx, 54 + NOTE_PX as i32),
            anchored(text(SUBTITLE_PX, NOTE), HPos::Center, VPos::Top),
        ))?;
    }
    Ok(body)
}

/// A chart without data: its title and subtitle, and `msg` centred below them.
pub(crate) fn no_data(area: &Area, title: &str, subtitle: &str, msg: &str) -> DrawResult {
    let body = header(area, title, subtitle)?;
    let (w, h) = body.dim_in_pixel();
    body.draw(&Text::new(
        msg.to_string(),
        ((w / 2) as i32, (h / 2) as i32 - 20),
        anchored(text(MESSAGE_PX, MUTED), HPos::Center, VPos::Center),
    ))?;
    Ok(())
}

/// One entry of a legend: colour, name and an optional detail line.
pub(crate) struct Entry {
    /// The swatch's colour.
    pub color: RGBColor,
    /// What the colour stands for.
    pub name: String,
    /// A line under the name; none when empty.
    pub detail: String,
}

/// Draws a legend in its own column (so it never covers data), from the top.
pub(crate) fn legend(area: &Area, heading: &str, entries: &[Entry]) -> DrawResult {
    let x = 12;
    let mut y = 24;
    bold_text(
        area,
        heading,
        (x, y),
        &anchored(text(LABEL_PX, INK), HPos::Left, VPos::Top),
    )?;
    y += 34;
    for e in entries {
        area.draw(&Rectangle::new(
            [(x, y), (x + 20, y + 20)],
            e.color.filled(),
        ))?;
        area.draw(&Text::new(
            e.name.clone(),
            (x + 30, y + 10),
            anchored(text(LABEL_PX, INK), HPos::Left, VPos::Center),
        ))?;
        if !e.detail.is_empty() {
            area.draw(&Text::new(
                e.detail.clone(),
                (x + 30, y + 24),
                anchored(text(VALUE_PX, MUTED), HPos::Left, VPos::Top),
            ))?;
        }
        y += 62;
    }
    Ok(())
}
