//! `-o FILE` with `switch_file()` and `-S size[,count]`: the script's
//! output split over numbered files, as stap's stapio splits it.
//!
//! Without `-S` the output starts in FILE and each `switch_file()` moves
//! on to FILE.1, FILE.2, ...; with `-S` it starts in FILE.0 and also moves
//! on before a write once the current file holds more than `size` bytes
//! (a write is one probe handler's output, so a file can pass the size by
//! one handler's output, as in stap); with a count, the file `count`
//! switches older than the new one is removed, keeping the newest `count`.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// `-S size[,count]`: size in bytes (stap takes megabytes on the command
/// line), count of files kept (None: all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub size: u64,
    pub count: Option<u32>,
}

impl Rotation {
    /// Parses stap's `-S size[,count]`, size in megabytes.
    pub fn parse(text: &str) -> Result<Rotation, String> {
        let (size, count) = match text.split_once(',') {
            Some((s, c)) => (s, Some(c)),
            None => (text, None),
        };
        let mb: u64 = size.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            format!("-S {text}: the size is a whole number of megabytes, above 0")
        })?;
        let count =
            match count {
                None => None,
                Some(c) => Some(c.trim().parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(
                    || format!("-S {text}: the file count is a whole number above 0"),
                )?),
            };
        Ok(Rotation {
            size: mb << 20,
            count,
        })
    }
}

/// The output files of one run.
pub struct OutputFiles {
    base: PathBuf,
    rotation: Option<Rotation>,
    /// The current file's number (0 is FILE itself without `-S`).
    n: u32,
    file: BufWriter<File>,
    written: u64,
}

impl OutputFiles {
    pub fn create(base: &Path, rotation: Option<Rotation>) -> io::Result<OutputFiles> {
        let first = match rotation {
            Some(_) => numbered(base, 0),
            None => base.to_path_buf(),
        };
        Ok(OutputFiles {
            base: base.to_path_buf(),
            rotation,
            n: 0,
            file: BufWriter::new(create(&first)?),
            written: 0,
        })
    }

    /// `switch_file()`: the next file.
    pub fn switch(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.n += 1;
        if let Some(keep) = self.rotation.and_then(|r| r.count) {
            if self.n >= keep {
                // Gone already, or never made: either way not kept.
                let _ = std::fs::remove_file(numbered(&self.base, self.n - keep));
            }
        }
        self.file = BufWriter::new(create(&numbered(&self.base, self.n))?);
        self.written = 0;
        Ok(())
    }
}

impl OutputFiles {
    /// The files as a run's sink, and its `switch_file()`.
    pub fn into_sink(self) -> (Box<dyn Write>, crate::runtime::SwitchFile) {
        let shared = Rc::new(RefCell::new(self));
        let switching = shared.clone();
        (
            Box::new(Shared(shared)),
            Rc::new(move || switching.borrow_mut().switch()),
        )
    }
}

/// The sink's handle on the files `switch_file()` also moves.
struct Shared(Rc<RefCell<OutputFiles>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

fn numbered(base: &Path, n: u32) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn create(p: &Path) -> io::Result<File> {
    File::create(p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
}

impl Write for OutputFiles {
    /// One write is one message: the size is checked before it, never
    /// inside it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(r) = self.rotation {
            if self.written > r.size {
                self.switch()?;
            }
        }
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn parses_stap_sizes() {
        assert_eq!(
            Rotation::parse("2,3"),
            Ok(Rotation {
                size: 2 << 20,
                count: Some(3)
            })
        );
        assert_eq!(Rotation::parse("1").unwrap().count, None);
        assert!(Rotation::parse("0").is_err());
        assert!(Rotation::parse("1,0").is_err());
        assert!(Rotation::parse("x").is_err());
    }

    #[test]
    fn switch_file_numbers_from_one_without_a_size() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("out");
        let mut o = OutputFiles::create(&base, None).unwrap();
        o.write_all(b"a").unwrap();
        o.switch().unwrap();
        o.write_all(b"b").unwrap();
        o.switch().unwrap();
        o.flush().unwrap();
        assert_eq!(names(d.path()), ["out", "out.1", "out.2"]);
        assert_eq!(std::fs::read(&base).unwrap(), b"a");
        assert_eq!(std::fs::read(d.path().join("out.1")).unwrap(), b"b");
    }

    #[test]
    fn sizes_switch_between_writes_and_counts_remove_the_oldest() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("out");
        let r = Rotation {
            size: 4,
            count: Some(2),
        };
        let mut o = OutputFiles::create(&base, Some(r)).unwrap();
        // 3 bytes, then 3 more (the file holds 6 > 4, but only the next
        // write moves on), then 2 (to out.1), then 5 (out.1 holds 2+5),
        // then 1 (out.2, removing out.0).
        for w in [&b"abc"[..], b"def", b"gh", b"ijklm", b"n"] {
            o.write_all(w).unwrap();
        }
        o.flush().unwrap();
        assert_eq!(names(d.path()), ["out.1", "out.2"]);
        assert_eq!(std::fs::read(d.path().join("out.1")).unwrap(), b"ghijklm");
        assert_eq!(std::fs::read(d.path().join("out.2")).unwrap(), b"n");
    }
}
