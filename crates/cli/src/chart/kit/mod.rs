//! What the charts share: style, the parts around a plot, axes, number words, the time grid,
//! the three chart forms (stacked bytes over time, histogram columns, top-list bars) and the
//! PNG writing.

pub(super) mod axes;
pub(super) mod bars;
pub(super) mod columns;
pub(super) mod layout;
pub(super) mod numbers;
pub(super) mod png;
pub(super) mod stacked;
pub(super) mod style;
pub(super) mod timeline;

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea};

/// What drawing a chart returns: a plotters drawing, font or I/O error.
pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The image (or part of it) a chart draws on.
pub(crate) type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;
