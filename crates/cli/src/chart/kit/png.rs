//! Writing a chart to its PNG file.

use std::path::Path;

use plotters::prelude::*;

use super::{Area, DrawResult};
use crate::chart::SIZE;

/// Draws one chart into `path` through a temporary file beside it.
pub(crate) fn draw_png(path: &Path, draw: &dyn Fn(&Area) -> DrawResult) -> DrawResult {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Ends in ".png": the backend picks the image format from the extension.
    let tmp = path.with_file_name(format!(".{name}.netvigil-{}.png", std::process::id()));
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        // The backend writes the file on `present`; dropping it instead would swallow I/O
        // errors (and, after a failed drawing, write what was drawn so far).
        root.present()?;
        Ok(())
    })();
    let done = drawn.and_then(|()| Ok(std::fs::rename(&tmp, path)?));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}
