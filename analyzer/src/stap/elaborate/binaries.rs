//! What this machine's binaries offer user-space probes, read as stap's
//! pass 2 reads them: the functions of the ELF symbol tables and the USDT
//! marks of `.note.stapsdt`. Used where `process(...)` points are resolved
//! against the host (live runs, `retap record --for`, `-p2` there); over a
//! trace they are matched against the probes it recorded instead.

use std::path::{Path, PathBuf};

use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{Endianness, Object, ObjectSymbol, SymbolKind};

/// The most functions one pattern may probe: each is a uprobe the kernel
/// attaches and every call of it a trap, so a pattern matching a whole
/// library is far more likely a mistake than a wish.
pub const MAX_FUNCTIONS: usize = 512;

/// A binary or library, as far as probes need it.
#[derive(Debug)]
pub struct Binary {
    /// Absolute, as found (symbolic links kept, as the kernel's uprobe
    /// attaches to the inode behind them anyway).
    pub path: String,
    /// Functions defined in it, by name, sorted, once each.
    pub functions: Vec<String>,
    pub marks: Vec<Mark>,
    /// Whether it has any symbol table at all (a stripped binary has
    /// neither .symtab nor exported .dynsym functions).
    pub has_symbols: bool,
}

/// A USDT mark (an SDT note).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub provider: String,
    pub name: String,
    /// How many arguments its note describes.
    pub args: usize,
}

/// `process("NAME")`'s binary as stap finds it: an absolute path as
/// given, a name with a slash relative to the current directory, else the
/// first match on `$PATH`.
pub fn find(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("process(\"\") names no binary".into());
    }
    if name.contains('/') {
        let p = std::path::absolute(name).map_err(|e| format!("{name}: {e}"))?;
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{name}: no such file"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name}: not found on $PATH (give its full path)"))
}

/// The directories a library named without a path is looked for in (the
/// dynamic loader's defaults on Debian and others).
const LIBRARY_DIRS: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
];

/// `.library("LIB")`: a path, or a file name (`libc.so.6`) in the
/// loader's directories.
pub fn find_library(lib: &str) -> Result<PathBuf, String> {
    if lib.contains('/') {
        return find(lib);
    }
    LIBRARY_DIRS
        .iter()
        .chain(&["/lib", "/usr/lib", "/usr/local/lib"])
        .map(|d| Path::new(d).join(lib))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!("library {lib}: not found in the loader's directories (give its full path)")
        })
}

/// Reads the symbol tables and SDT notes of the ELF file at `path`.
pub fn read(path: &Path) -> Result<Binary, String> {
    let shown = path.display();
    let data = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    if data.get(..4) != Some(b"\x7fELF") {
        return Err(format!("{shown}: not an ELF binary"));
    }
    let elf = ElfFile64::<Endianness>::parse(&*data)
        .map_err(|e| format!("{shown}: not a 64-bit ELF binary retap can read ({e})"))?;
    let mut functions: Vec<String> = elf
        .symbols()
        .chain(elf.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| !n.is_empty())
        .collect();
    functions.sort();
    functions.dedup();
    let has_symbols = elf.symbols().next().is_some() || !functions.is_empty();
    let endian = elf.endian();
    let mut marks = vec![];
    let sections = elf
        .elf_header()
        .sections(endian, &*data)
        .map_err(|e| format!("{shown}: {e}"))?;
    for section in sections.iter() {
        let Ok(Some(mut notes)) = section.notes(endian, &*data) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            // NT_STAPSDT: the probe's pc, the .stapsdt.base address and the
            // semaphore (8 bytes each), then provider, name, argument specs.
            if note.name() != b"stapsdt" || note.n_type(endian) != 3 {
                continue;
            }
            let Some(strings) = note.desc().get(24..) else {
                continue;
            };
            let mut parts = strings.split(|&b| b == 0).map(String::from_utf8_lossy);
            let (Some(provider), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let args = parts.next().map_or(0, |a| a.split_whitespace().count());
            let m = Mark {
                provider: provider.into_owned(),
                name: name.into_owned(),
                args,
            };
            if !marks.contains(&m) {
                marks.push(m);
            }
        }
    }
    Ok(Binary {
        path: path.display().to_string(),
        functions,
        marks,
        has_symbols,
    })
}

/// Where a function parameter's value is when the function is entered,
/// by the x86-64 and AArch64 calling conventions: the nth integer
/// argument register, its C size and signedness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamReg {
    /// 0-5: the argument register (rdi, rsi, rdx, rcx, r8, r9).
    pub reg: u8,
    /// Bytes: 1, 2, 4 or 8.
    pub size: u8,
    pub signed: bool,
}

/// A parameter of a function, as its DWARF names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// Its register at entry, or why it is in none a recording holds.
    pub at: Result<ParamReg, String>,
}

/// The parameters of `function` in the binary at `path`, from its DWARF
/// (`.debug_info`): Ok(None) when the binary has no debug info or none
/// describes the function.
pub fn params(path: &Path, function: &str) -> Result<Option<Vec<Param>>, String> {
    use object::{Object as _, ObjectSection as _};
    let shown = path.display();
    let data = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let obj = object::File::parse(&*data).map_err(|e| format!("{shown}: {e}"))?;
    if obj.section_by_name(".debug_info").is_none() {
        return Ok(None);
    }
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<std::borrow::Cow<'_, [u8]>, gimli::Error> {
        Ok(match obj.section_by_name(id.name()) {
            // Compressed debug sections read as empty: no parameters.
            Some(s) => s.uncompressed_data().unwrap_or_default(),
            None => std::borrow::Cow::Borrowed(&[]),
        })
    };
    let sections = gimli::DwarfSections::load(load).map_err(|e| format!("{shown}: {e}"))?;
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
    let bad = |e: gimli::Error| format!("{shown}: its debug info cannot be read ({e})");
    let mut units = dwarf.units();
    while let Some(header) = units.next().map_err(bad)? {
        let unit = dwarf.unit(header).map_err(bad)?;
        let mut tree = unit.entries_tree(None).map_err(bad)?;
        let root = tree.root().map_err(bad)?;
        if let Some(ps) = find_function(&dwarf, &unit, root, function).map_err(bad)? {
            return Ok(Some(ps));
        }
    }
    Ok(None)
}

type Reader<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

fn name_of(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    e: &gimli::DebuggingInformationEntry<Reader<'_>>,
) -> gimli::Result<Option<String>> {
    Ok(match e.attr_value(gimli::DW_AT_name)? {
        Some(v) => Some(dwarf.attr_string(unit, v)?.to_string_lossy().into_owned()),
        None => None,
    })
}

/// The function's parameters, searching `node` and what it holds
/// (namespaces, classes) for its definition.
fn find_function(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    node: gimli::EntriesTreeNode<'_, '_, '_, Reader<'_>>,
    function: &str,
) -> gimli::Result<Option<Vec<Param>>> {
    let e = node.entry().clone();
    let defined = e.attr(gimli::DW_AT_declaration)?.is_none()
        && (e.attr(gimli::DW_AT_low_pc)?.is_some() || e.attr(gimli::DW_AT_ranges)?.is_some());
    if e.tag() == gimli::DW_TAG_subprogram
        && defined
        && name_of(dwarf, unit, &e)?.as_deref() == Some(function)
    {
        let mut out = vec![];
        let mut next_reg = 0u8;
        // After a struct passed by value, which registers hold the rest
        // depends on its layout.
        let mut lost: Option<String> = None;
        let mut children = node.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            if c.tag() != gimli::DW_TAG_formal_parameter {
                continue;
            }
            let name = name_of(dwarf, unit, c)?.unwrap_or_default();
            let class = match c.attr_value(gimli::DW_AT_type)? {
                Some(gimli::AttributeValue::UnitRef(o)) => classify(unit, o)?,
                _ => Class::Other("of a type its debug info does not give".into()),
            };
            let at = match (&lost, class) {
                (Some(why), _) => Err(why.clone()),
                (None, Class::Int { size, signed }) if next_reg < 6 => {
                    next_reg += 1;
                    Ok(ParamReg {
                        reg: next_reg - 1,
                        size,
                        signed,
                    })
                }
                (None, Class::Int { .. }) => {
                    Err("passed on the stack (past the sixth register), which recordings do not hold".into())
                }
                (None, Class::Float) => Err(
                    "a floating-point value, passed in a vector register, which recordings do not hold"
                        .into(),
                ),
                (None, Class::Other(why)) => {
                    lost = Some(format!(
                        "it follows a parameter {why}, so which register holds it is not known"
                    ));
                    Err(format!("{why}: not in one integer register"))
                }
            };
            out.push(Param { name, at });
        }
        return Ok(Some(out));
    }
    let mut children = node.children();
    while let Some(child) = children.next()? {
        let tag = child.entry().tag();
        if matches!(
            tag,
            gimli::DW_TAG_subprogram
                | gimli::DW_TAG_namespace
                | gimli::DW_TAG_class_type
                | gimli::DW_TAG_structure_type
        ) {
            if let Some(ps) = find_function(dwarf, unit, child, function)? {
                return Ok(Some(ps));
            }
        }
    }
    Ok(None)
}

enum Class {
    Int { size: u8, signed: bool },
    Float,
    Other(String),
}

/// How a parameter of the type at `o` is passed: in one integer register
/// (integers, enums, pointers, bools), a vector register, or otherwise.
fn classify(unit: &gimli::Unit<Reader<'_>>, mut o: gimli::UnitOffset) -> gimli::Result<Class> {
    for _ in 0..32 {
        let e = unit.entry(o)?;
        let size = match e.attr_value(gimli::DW_AT_byte_size)? {
            Some(v) => v.udata_value().map(|s| s as u8),
            None => None,
        };
        let next = match e.attr_value(gimli::DW_AT_type)? {
            Some(gimli::AttributeValue::UnitRef(n)) => Some(n),
            _ => None,
        };
        match e.tag() {
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type => match next {
                Some(n) => o = n,
                None => return Ok(Class::Other("of type void".into())),
            },
            gimli::DW_TAG_pointer_type
            | gimli::DW_TAG_reference_type
            | gimli::DW_TAG_rvalue_reference_type => {
                return Ok(Class::Int {
                    size: 8,
                    signed: false,
                })
            }
            gimli::DW_TAG_enumeration_type => {
                return Ok(Class::Int {
                    size: size.unwrap_or(4),
                    signed: true,
                })
            }
            gimli::DW_TAG_base_type => {
                let enc = match e.attr_value(gimli::DW_AT_encoding)? {
                    Some(gimli::AttributeValue::Encoding(x)) => x,
                    _ => gimli::DW_ATE_signed,
                };
                let size = size.unwrap_or(8);
                return Ok(match enc {
                    gimli::DW_ATE_float | gimli::DW_ATE_complex_float => Class::Float,
                    _ if !matches!(size, 1 | 2 | 4 | 8) => Class::Other(format!("of {size} bytes")),
                    gimli::DW_ATE_signed | gimli::DW_ATE_signed_char => {
                        Class::Int { size, signed: true }
                    }
                    _ => Class::Int {
                        size,
                        signed: false,
                    },
                });
            }
            _ => {
                return Ok(Class::Other(
                    "passed by value as a struct, union or array".into(),
                ))
            }
        }
    }
    Ok(Class::Other("of a type too deeply nested".into()))
}

/// A file's function and object symbols by address, and where its
/// loadable segments sit in the file, to name a user-space address.
#[derive(Debug)]
pub struct SymbolTable {
    /// PT_LOAD segments: (file offset, bytes in the file, address).
    loads: Vec<(u64, u64, u64)>,
    /// (address, size, name), sorted by address.
    syms: Vec<(u64, u64, String)>,
}

impl SymbolTable {
    /// The link-time address of the byte at file offset `off`.
    pub fn address_of_file_offset(&self, off: u64) -> Option<u64> {
        let &(foff, _, vaddr) = self
            .loads
            .iter()
            .find(|(o, size, _)| (*o..*o + *size).contains(&off))?;
        Some(off - foff + vaddr)
    }

    /// The symbol holding the byte at file offset `off` (where a process
    /// mapped it): (name, offset into it, its size).
    pub fn at_file_offset(&self, off: u64) -> Option<(&str, u64, u64)> {
        let addr = self.address_of_file_offset(off)?;
        let i = self.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (a, size, name) = &self.syms[i];
        // Past a sized symbol's end is not in it (padding, another file's).
        if *size > 0 && addr >= a + size {
            return None;
        }
        Some((name, addr - a, *size))
    }
}

/// The symbols of the ELF file at `path` (both tables), for naming
/// user-space addresses.
pub fn symbol_table(path: &Path) -> Result<SymbolTable, String> {
    use object::ObjectSegment;
    let shown = path.display();
    let data = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let elf = ElfFile64::<Endianness>::parse(&*data)
        .map_err(|e| format!("{shown}: not a 64-bit ELF binary retap can read ({e})"))?;
    let loads = elf
        .segments()
        .map(|s| {
            let (off, size) = s.file_range();
            (off, size, s.address())
        })
        .collect();
    let mut syms: Vec<(u64, u64, String)> = elf
        .symbols()
        .chain(elf.dynamic_symbols())
        .filter(|s| {
            matches!(s.kind(), SymbolKind::Text | SymbolKind::Data)
                && s.is_definition()
                && s.address() != 0
        })
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .filter(|s| !s.2.is_empty())
        .collect();
    syms.sort();
    syms.dedup_by_key(|s| s.0);
    Ok(SymbolTable { loads, syms })
}

/// Up to three names nearest to `name`, for "closest: ..." in errors.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (retap_schema::names::distance(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 2).max(2))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_libraries_by_name() {
        let sh = find("sh").unwrap();
        assert!(sh.is_absolute(), "{}", sh.display());
        assert!(find("no-such-program-here")
            .unwrap_err()
            .contains("not found on $PATH"));
        assert!(find("/nonexistent/x").unwrap_err().contains("no such file"));
        let libc = find_library("libc.so.6").unwrap();
        let b = read(&libc).unwrap();
        assert!(b.has_symbols);
        assert!(b.functions.iter().any(|f| f == "malloc"), "{}", b.path);
    }

    #[test]
    fn a_file_that_is_not_elf_says_so() {
        let e = read(Path::new("/etc/hostname")).unwrap_err();
        assert!(e.contains("not an ELF binary"), "{e}");
    }

    #[test]
    fn parameters_from_debug_info() {
        let tmp = std::env::temp_dir().join(format!("retap-dwarf-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let src = tmp.join("p.c");
        std::fs::write(
            &src,
            "struct s { long a, b, c; };\n\
             __attribute__((noinline)) long f(char c, unsigned short u, int *p, long l, \
             double d, unsigned long long x, int six, int seven) \
             { return c + u + *p + l + (long)d + x + six + seven; }\n\
             __attribute__((noinline)) long g(struct s v, int after) { return v.a + after; }\n\
             int main(void) { int i = 1; struct s v = {1, 2, 3}; \
             return (int)f(1, 2, &i, 4, 5.0, 6, 7, 8) + (int)g(v, 9); }\n",
        )
        .unwrap();
        let bin = tmp.join("p");
        let ok = std::process::Command::new("cc")
            .args(["-g", "-O1", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return retap_testkit::skip_without("a C compiler", "apt-get install gcc");
        }
        let ps = params(&bin, "f").unwrap().unwrap();
        let got: Vec<(String, Option<ParamReg>)> = ps
            .iter()
            .map(|p| (p.name.clone(), p.at.clone().ok()))
            .collect();
        let r = |reg, size, signed| Some(ParamReg { reg, size, signed });
        assert_eq!(
            got,
            vec![
                ("c".into(), r(0, 1, true)),
                ("u".into(), r(1, 2, false)),
                ("p".into(), r(2, 8, false)),
                ("l".into(), r(3, 8, true)),
                ("d".into(), None),
                ("x".into(), r(4, 8, false)),
                ("six".into(), r(5, 4, true)),
                ("seven".into(), None),
            ]
        );
        assert!(ps[4].at.as_ref().unwrap_err().contains("floating-point"));
        assert!(ps[7].at.as_ref().unwrap_err().contains("on the stack"));
        let g = params(&bin, "g").unwrap().unwrap();
        assert!(g[0].at.as_ref().unwrap_err().contains("struct"));
        assert!(g[1]
            .at
            .as_ref()
            .unwrap_err()
            .contains("follows a parameter"));
        assert_eq!(params(&bin, "nope").unwrap(), None);
        // Without -g: no debug info at all.
        let plain = tmp.join("plain");
        std::process::Command::new("cc")
            .args(["-O1", "-o"])
            .arg(&plain)
            .arg(&src)
            .status()
            .unwrap();
        assert_eq!(params(&plain, "f").unwrap(), None);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn closest_names_first() {
        let names = ["malloc", "calloc", "realloc", "free", "mallopt"];
        assert_eq!(closest("maloc", names), vec!["malloc", "calloc", "mallopt"]);
    }
}
