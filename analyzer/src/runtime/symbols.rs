//! Symbols for backtraces and addresses: the kernel's from the
//! recording's /proc/kallsyms (symbols/kallsyms.zst); user space's from a
//! process's memory maps (saved by the recorder when its first user stack
//! was recorded, symbols/maps/PID; a live run reads /proc/PID/maps when
//! they were not) and the mapped files' ELF symbol tables.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::stap::elaborate::binaries::{self, SymbolTable};
use crate::store::Store;

pub struct Kallsyms {
    /// (address, name, module) sorted by address.
    syms: Vec<(u64, String, Option<String>)>,
}

impl Kallsyms {
    pub fn load(store: &Store, trace: &Path) -> Option<Kallsyms> {
        let f = store.read(&trace.join("symbols/kallsyms.zst")).ok()?;
        let text = std::io::read_to_string(zstd::Decoder::new(&f[..]).ok()?).ok()?;
        let mut syms = vec![];
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(a) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if a == 0 {
                continue;
            }
            let module = it.next().map(|m| m.trim_matches(['[', ']']).to_string());
            syms.push((a, name.to_string(), module));
        }
        syms.sort_by_key(|s| s.0);
        Some(Kallsyms { syms })
    }

    /// (name, offset, size, module) of the symbol holding `addr`.
    pub fn lookup(&self, addr: u64) -> Option<(&str, u64, u64, &str)> {
        let i = self.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (a, name, module) = &self.syms[i];
        let size = self.syms.get(i + 1).map(|n| n.0 - a).unwrap_or(0);
        Some((name, addr - a, size, module.as_deref().unwrap_or("kernel")))
    }
}

/// One mapping of /proc/PID/maps: [start, end) holds `path` from `offset`.
#[derive(Debug)]
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (range, _perms, offset) = (it.next()?, it.next()?, it.next()?);
            let (_dev, _inode) = (it.next()?, it.next()?);
            let path = it.collect::<Vec<_>>().join(" ");
            if !path.starts_with('/') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path,
            })
        })
        .collect()
}

/// User-space addresses named as stap names them (`main+0x1a/0x30
/// [/usr/bin/app]`), each process's maps and each file read once.
#[derive(Default)]
pub struct UserSymbols {
    /// The trace whose symbols/maps/ hold the processes' maps.
    trace: Option<(Store, PathBuf)>,
    /// Live: a process whose maps were not saved is read from /proc.
    live: bool,
    maps: RefCell<HashMap<i32, Rc<Vec<Mapping>>>>,
    files: RefCell<HashMap<String, Option<Rc<SymbolTable>>>>,
    lines: RefCell<HashMap<String, Option<Rc<LineTable>>>>,
}

/// A file's DWARF line table, for source lines of its addresses.
pub struct LineTable {
    ctx: addr2line::Context<gimli::EndianRcSlice<gimli::RunTimeEndian>>,
}

impl LineTable {
    /// None when the file cannot be read or has no line table (stripped,
    /// or built without -g).
    fn load(path: &Path) -> Option<LineTable> {
        use object::{Object as _, ObjectSection as _};
        let data = std::fs::read(path).ok()?;
        let obj = object::File::parse(&*data).ok()?;
        obj.section_by_name(".debug_line")?;
        let endian = if obj.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let dwarf = gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
            let bytes: Rc<[u8]> = match obj.section_by_name(id.name()) {
                Some(s) => Rc::from(&*s.uncompressed_data().unwrap_or_default()),
                None => Rc::from(&[][..]),
            };
            Ok(gimli::EndianRcSlice::new(bytes, endian))
        })
        .ok()?;
        Some(LineTable {
            ctx: addr2line::Context::from_dwarf(dwarf).ok()?,
        })
    }

    /// (file, line) of the line-table row holding `addr` (a link-time
    /// address), as binutils' addr2line gives them; line 0 when unknown.
    fn at(&self, addr: u64) -> Option<(Option<String>, u32)> {
        let loc = self.ctx.find_location(addr).ok()??;
        if loc.file.is_none() && loc.line.is_none() {
            return None;
        }
        Some((loc.file.map(str::to_string), loc.line.unwrap_or(0)))
    }
}

impl UserSymbols {
    pub fn new(trace: Option<(&Store, &Path)>, live: bool) -> UserSymbols {
        UserSymbols {
            trace: trace.map(|(s, p)| (s.clone(), p.to_path_buf())),
            live,
            ..Default::default()
        }
    }

    fn maps_of(&self, pid: i32) -> Rc<Vec<Mapping>> {
        if let Some(m) = self.maps.borrow().get(&pid) {
            return m.clone();
        }
        let saved = self
            .trace
            .as_ref()
            .and_then(|(s, t)| s.read(&t.join(format!("symbols/maps/{pid}"))).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let text = saved.or_else(|| {
            self.live
                .then(|| std::fs::read_to_string(format!("/proc/{pid}/maps")).ok())
                .flatten()
        });
        let m = Rc::new(text.as_deref().map(parse_maps).unwrap_or_default());
        self.maps.borrow_mut().insert(pid, m.clone());
        m
    }

    fn table(&self, path: &str) -> Option<Rc<SymbolTable>> {
        cached(&self.files, path, || {
            binaries::symbol_table(Path::new(path)).ok()
        })
    }

    /// The file process `pid` maps at `addr` and the offset in it there.
    fn mapped(&self, pid: i32, addr: u64) -> Option<(String, u64)> {
        let maps = self.maps_of(pid);
        let m = maps.iter().find(|m| (m.start..m.end).contains(&addr))?;
        Some((m.path.clone(), addr - m.start + m.offset))
    }

    /// The file process `pid` maps at `addr` (stap's user module).
    pub fn module(&self, pid: i32, addr: u64) -> Option<String> {
        self.mapped(pid, addr).map(|(path, _)| path)
    }

    /// (file, line) of `addr` in process `pid` from the mapped file's
    /// DWARF line table; None when its maps, the file or its line table
    /// are not known. Line 0: a file without a line.
    pub fn source_line(&self, pid: i32, addr: u64) -> Option<(Option<String>, u32)> {
        let (path, off) = self.mapped(pid, addr)?;
        let at = self.table(&path)?.address_of_file_offset(off)?;
        cached(&self.lines, &path, || LineTable::load(Path::new(&path)))?.at(at)
    }

    /// (name, offset, size, file) of the symbol at `addr` in process
    /// `pid`; None when its maps or the file's symbols are not known.
    pub fn lookup(&self, pid: i32, addr: u64) -> Option<(String, u64, u64, String)> {
        let (path, off) = self.mapped(pid, addr)?;
        let table = self.table(&path)?;
        let (name, off, size) = table.at_file_offset(off)?;
        Some((name.to_string(), off, size, path))
    }
}

/// What `load` makes of the file at `path`, read once per run (a file
/// it cannot read is remembered as such too).
fn cached<T>(
    cache: &RefCell<HashMap<String, Option<Rc<T>>>>,
    path: &str,
    load: impl FnOnce() -> Option<T>,
) -> Option<Rc<T>> {
    if let Some(t) = cache.borrow().get(path) {
        return t.clone();
    }
    let t = load().map(Rc::new);
    cache.borrow_mut().insert(path.to_string(), t.clone());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test process's own functions, by its live maps.
    #[test]
    fn user_addresses_by_the_process_maps_and_the_files_symbols() {
        let me = std::process::id() as i32;
        let u = UserSymbols::new(None, true);
        let addr = parse_maps as fn(&str) -> Vec<Mapping> as usize as u64;
        let (name, off, size, file) = u.lookup(me, addr).expect("a symbol for our own function");
        assert!(name.contains("parse_maps"), "{name}");
        assert_eq!(off, 0);
        assert!(size > 0);
        assert_eq!(Path::new(&file), std::env::current_exe().unwrap());
        // libc's malloc, by address, in this process.
        let malloc = libc::malloc as *const () as u64;
        let (name, off, ..) = u.lookup(me, malloc).expect("libc's malloc");
        assert!(name.ends_with("malloc"), "{name}");
        assert_eq!(off, 0);
        // Not live, no saved maps: nothing is known.
        assert_eq!(UserSymbols::new(None, false).lookup(me, addr), None);
    }
}
