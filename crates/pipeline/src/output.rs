//! Output files: never the same file as an input or as another output, written under a
//! temporary name beside the final one and renamed into place only when the run succeeds.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{PipelineError, Result};

/// What makes two paths the same file: the device and inode of an existing file, or, for a
/// file not created yet, its directory's device and inode and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    File(u64, u64),
    New(u64, u64, std::ffi::OsString),
}

fn identity(path: &Path) -> Option<Identity> {
    if let Ok(m) = std::fs::metadata(path) {
        return Some(Identity::File(m.dev(), m.ino()));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let m = std::fs::metadata(dir).ok()?;
    Some(Identity::New(
        m.dev(),
        m.ino(),
        path.file_name()?.to_owned(),
    ))
}

/// Refuses (as bad input, before anything is opened for writing) an output that is the same
/// file as an input or as another output. `outputs` pairs each path with the option that named
/// it; `-` (standard input/output) is not a file and is skipped.
pub fn check_distinct(inputs: &[PathBuf], outputs: &[(&str, &Path)]) -> Result<()> {
    let is_std = |p: &Path| p.as_os_str() == "-";
    let ins: Vec<(&PathBuf, Identity)> = inputs
        .iter()
        .filter(|p| !is_std(p))
        .filter_map(|p| identity(p).map(|i| (p, i)))
        .collect();
    let mut seen: Vec<(&str, &Path, Identity)> = Vec::new();
    for &(flag, out) in outputs {
        if is_std(out) {
            continue;
        }
        let Some(id) = identity(out) else {
            continue;
        };
        if let Some((input, _)) = ins.iter().find(|(_, i)| *i == id) {
            return Err(PipelineError::config(
                format!("{flag} {}", out.display()),
                format!(
                    "is the input {}; refusing to overwrite an input",
                    input.display()
                ),
            ));
        }
        if let Some((other, other_path, _)) = seen.iter().find(|(_, _, i)| *i == id) {
            return Err(PipelineError::Input(format!(
                "{flag} {} and {other} {} are the same file; give each output its own",
                out.display(),
                other_path.display()
            )));
        }
        seen.push((flag, out, id));
    }
    Ok(())
}

/// A file being written under a temporary name in its final directory. [`OutputFile::commit`]
/// syncs it and renames it over the final name; dropped without a commit (a failed run), the
/// temporary file is removed and the final name is untouched. An output that exists and is
/// not a regular file (`/dev/null`, a FIFO, a terminal) is written in place: renaming over it
/// would replace the device or pipe with a file.
#[derive(Debug)]
pub struct OutputFile {
    /// The temporary file, for a regular file; `None` when written in place.
    tmp: Option<PathBuf>,
    path: PathBuf,
    done: bool,
}

impl OutputFile {
    /// Creates the temporary file for `path` (or opens `path` itself when it is a device or
    /// a FIFO); returns the guard and the file to write.
    pub fn create(path: &Path) -> Result<(OutputFile, File)> {
        let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| PipelineError::write(path, e))?;
            return Ok((
                OutputFile {
                    tmp: None,
                    path: path.to_path_buf(),
                    done: false,
                },
                f,
            ));
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| PipelineError::config(path.display().to_string(), "not a file name"))?;
        let tmp = dir.join(format!(
            ".{}.netvigil-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let f = File::create(&tmp).map_err(|e| PipelineError::write(path, e))?;
        Ok((
            OutputFile {
                tmp: Some(tmp),
                path: path.to_path_buf(),
                done: false,
            },
            f,
        ))
    }

    /// The final name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the written file and renames it into place (a device or FIFO: nothing to do).
    pub fn commit(mut self) -> Result<()> {
        if let Some(tmp) = &self.tmp {
            File::open(tmp)
                .and_then(|f| f.sync_all())
                .and_then(|()| std::fs::rename(tmp, &self.path))
                .map_err(|e| PipelineError::write(&self.path, e))?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let (false, Some(tmp)) = (self.done, &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// A JSON Lines output file (one object per line) written through an [`OutputFile`].
pub struct JsonLinesFile {
    guard: Option<OutputFile>,
    path: PathBuf,
    out: std::io::BufWriter<File>,
}

impl JsonLinesFile {
    /// Creates the output (a temporary file beside `path`).
    pub fn create(path: &Path) -> Result<Self> {
        let (guard, f) = OutputFile::create(path)?;
        Ok(JsonLinesFile {
            guard: Some(guard),
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(f),
        })
    }

    /// Opens `path` for appending (creating it), for a sensor's log that readers follow as it
    /// grows: lines already there are kept, and each [`JsonLinesFile::flush`] makes what was
    /// written visible (there is nothing to rename).
    pub fn append(path: &Path) -> Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| PipelineError::write(path, e))?;
        Ok(JsonLinesFile {
            guard: None,
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(f),
        })
    }

    /// Writes `v` as one line.
    pub fn write<T: serde::Serialize>(&mut self, v: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, v)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| PipelineError::write(&self.path, e))
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| PipelineError::write(&self.path, e))
    }

    /// Renames the finished file into place (after [`JsonLinesFile::flush`]).
    pub fn commit(&mut self) -> Result<()> {
        match self.guard.take() {
            Some(g) => g.commit(),
            None => Ok(()),
        }
    }
}

/// Writes `bytes` as `path` through a temporary file, so a reader sees the old file or the
/// new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let (guard, mut f) = OutputFile::create(path)?;
    f.write_all(bytes)
        .and_then(|_| f.flush())
        .map_err(|e| PipelineError::write(path, e))?;
    drop(f);
    guard.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nv-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_output_that_is_an_input_by_another_name_is_refused() {
        let d = dir("same");
        let input = d.join("in.pcap");
        std::fs::write(&input, b"x").unwrap();
        std::fs::hard_link(&input, d.join("link.pcap")).unwrap();
        std::os::unix::fs::symlink(&input, d.join("sym.pcap")).unwrap();
        for alias in ["in.pcap", "link.pcap", "sym.pcap", "./in.pcap"] {
            let out = d.join(alias);
            let e = check_distinct(std::slice::from_ref(&input), &[("-o", &out)]).unwrap_err();
            assert!(e.is_bad_input());
            assert!(
                e.to_string().contains("refusing to overwrite an input"),
                "{e}"
            );
        }
        assert!(check_distinct(&[input], &[("-o", &d.join("out.csv"))]).is_ok());
    }

    #[test]
    fn two_outputs_naming_one_new_file_are_refused() {
        let d = dir("two");
        let a = d.join("x.jsonl");
        let b = d.join("sub/../x.jsonl");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let e = check_distinct(&[], &[("-o", &a), ("--windows-out", &b)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "--windows-out {} and -o {} are the same file; give each output its own",
                b.display(),
                a.display()
            )
        );
        assert!(check_distinct(
            &[],
            &[("-o", Path::new("-")), ("--alerts-out", Path::new("-"))]
        )
        .is_ok());
    }

    #[test]
    fn a_device_or_fifo_output_is_written_in_place_not_replaced_by_a_file() {
        use std::os::unix::fs::FileTypeExt;
        let (g, mut f) = OutputFile::create(Path::new("/dev/null")).unwrap();
        f.write_all(b"flows").unwrap();
        g.commit().unwrap();
        let m = std::fs::metadata("/dev/null").unwrap();
        assert!(
            m.file_type().is_char_device(),
            "/dev/null is still the device"
        );
        let d = dir("fifo");
        let fifo = d.join("out.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let (g, mut f) = OutputFile::create(&fifo).unwrap();
        f.write_all(b"through the pipe").unwrap();
        drop(f);
        g.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temporary file"
        );
    }

    #[test]
    fn an_uncommitted_output_leaves_the_final_name_untouched() {
        let d = dir("commit");
        let p = d.join("flows.csv");
        std::fs::write(&p, b"old").unwrap();
        {
            let (_g, mut f) = OutputFile::create(&p).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "temporary file removed"
        );
        let (g, mut f) = OutputFile::create(&p).unwrap();
        f.write_all(b"new").unwrap();
        g.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    }

    #[test]
    fn a_log_is_appended_to_and_each_flush_is_visible_at_once() {
        let d = dir("append");
        let p = d.join("alerts.jsonl");
        std::fs::write(&p, b"{\"earlier\":1}\n").unwrap();
        let mut log = JsonLinesFile::append(&p).unwrap();
        log.write(&serde_json::json!({"n": 2})).unwrap();
        log.flush().unwrap();
        // A follower reads what was flushed while the file is still open.
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"earlier\":1}\n{\"n\":2}\n"
        );
        log.commit().unwrap();
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temporary file"
        );
    }
}
