//! The tapset library: functions, probe aliases and globals written in the
//! stap language, linked into a script the way stap links its own tapset.
//! Pass 2 finds what the script uses and does not define (a function, a
//! probe alias, a global) and takes in the whole file that defines it (its
//! globals, functions, aliases and probes), then what that file uses in
//! turn. The files are retap's own (`analyzer/tapset/*.stp`, built into the
//! binary) and the `.stp` files of each `-I DIR`, searched first.
//! Functions that read the recording or need the runtime stay natives in
//! Rust (`elaborate::tapset`); a library never redefines one.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::ast::{self, ExprKind, Item};
use super::elaborate::tapset;
use super::lexer::{lex, TokKind};
use super::source::Diagnostic;
use super::{parse_into, Parsed, PpEnv};

/// (name, text) of files of `analyzer/tapset/`, built into the binary.
macro_rules! tapset_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../tapset/", $name)))),*]
    };
}

/// The library files built into retap: (name, text).
const BUILT_IN: &[(&str, &str)] = tapset_files![
    "ansi.stp",
    "args.stp",
    "argv.stp",
    "byteorder.stp",
    "dev.stp",
    "indent.stp",
    "ip.stp",
    "ioscheduler.stp",
    "irq.stp",
    "json.stp",
    "logging.stp",
    "memory.stp",
    "oneshot.stp",
    "prometheus.stp",
    "queue_stats.stp",
    "registers.stp",
    "remote.stp",
    "rlimit.stp",
    "scheduler.stp",
    "signal.stp",
    "socket.stp",
    "speculative.stp",
    "stopwatch.stp",
    "string.stp",
    "syms.stp",
    "target_set.stp",
    "time_strings.stp",
];

/// What one library file defines, by name.
#[derive(Debug, Default)]
pub struct Defines {
    pub functions: HashSet<String>,
    pub globals: HashSet<String>,
    /// Probe alias names as written (`oneshot`, `syscall.send`).
    pub aliases: HashSet<String>,
}

impl Defines {
    fn of(script: &ast::Script) -> Defines {
        let mut d = Defines::default();
        for item in &script.items {
            match item {
                Item::Function(f) => {
                    d.functions.insert(f.name.name.clone());
                }
                Item::Global(g) => {
                    d.globals.insert(g.name.name.clone());
                }
                Item::Alias(a) => d.aliases.extend(a.names.iter().map(|n| n.text())),
                Item::Probe(_) => {}
            }
        }
        d
    }
}

impl Defines {
    /// What a file defines, from its tokens alone: every built-in file is
    /// indexed this way once per process, a lex instead of a parse (1.1
    /// ms for all of them parsed, measured by the frontend bench). A test
    /// holds it equal to `of` the parsed file for every built-in one.
    fn scan(text: &str) -> Defines {
        let toks = lex(0, text, &mut vec![]);
        let mut d = Defines::default();
        let mut depth = 0i32;
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            if t.kind == TokKind::Op {
                match t.text.as_str() {
                    "{" | "(" | "[" => depth += 1,
                    "}" | ")" | "]" => depth -= 1,
                    _ => {}
                }
                i += 1;
                continue;
            }
            if depth != 0 || t.kind != TokKind::Ident {
                i += 1;
                continue;
            }
            let ident = |k: usize| toks.get(k).filter(|t| t.kind == TokKind::Ident);
            let op = |k: usize, o: &str| toks.get(k).is_some_and(|t| t.is_op(o));
            match t.text.as_str() {
                "function" => {
                    if let Some(n) = ident(i + 1) {
                        d.functions.insert(n.text.clone());
                    }
                    i += 2;
                }
                "global" => {
                    i += 1;
                    while let Some(n) = ident(i) {
                        d.globals.insert(n.text.clone());
                        i += 1;
                        if op(i, "[") {
                            while i < toks.len() && !op(i, "]") {
                                i += 1;
                            }
                            i += 1;
                        }
                        if op(i, "%") {
                            i += 1;
                        }
                        if op(i, "=") {
                            i += if op(i + 1, "-") { 3 } else { 2 };
                        }
                        if !op(i, ",") {
                            break;
                        }
                        i += 1;
                    }
                }
                "probe" => {
                    // `probe NAME[, NAME] = ...` (or `+=`) is an alias; a probe's
                    // points end at its body.
                    let mut names = vec![String::new()];
                    let mut j = i + 1;
                    let defines = |k: usize| op(k, "=") || op(k, "+=");
                    while j < toks.len() && !op(j, "{") && !defines(j) {
                        if op(j, ",") {
                            names.push(String::new());
                        } else if let Some(last) = names.last_mut() {
                            last.push_str(&toks[j].text);
                        }
                        j += 1;
                    }
                    if defines(j) {
                        d.aliases.extend(names);
                    }
                    i = j;
                }
                _ => i += 1,
            }
        }
        d
    }
}

/// One library file: where it came from, its text, what it defines.
#[derive(Debug)]
pub struct LibraryFile {
    /// `<tapset>/ansi.stp` for a built-in file, the path for `-I`'s.
    pub name: String,
    text: String,
    pub defines: Defines,
}

impl LibraryFile {
    /// Indexes a file: Err with the rendered diagnostics when it does not
    /// parse.
    fn new(name: String, text: String) -> Result<LibraryFile, String> {
        let (parsed, diags) = super::parse(&name, &text, &PpEnv::host(vec![]));
        if !diags.is_empty() {
            return Err(super::source::render_all(&diags, &parsed.map));
        }
        Ok(LibraryFile {
            defines: Defines::of(&parsed.script),
            name,
            text,
        })
    }
}

/// The files a run may link: `-I` directories' first, then the built-in.
#[derive(Debug)]
pub struct Library {
    extra: Vec<LibraryFile>,
    /// The `.stpm` files, for pass 1's preprocessor.
    pub macros: macros::MacroLibrary,
}

/// The built-in files, indexed once per process.
pub fn built_in() -> &'static [LibraryFile] {
    static FILES: OnceLock<Vec<LibraryFile>> = OnceLock::new();
    FILES.get_or_init(|| {
        BUILT_IN
            .iter()
            .map(|(name, text)| LibraryFile {
                name: format!("<tapset>/{name}"),
                text: text.to_string(),
                defines: Defines::scan(text),
            })
            .collect()
    })
}

impl Library {
    /// The built-in library and each directory's `.stp` and `.stpm`
    /// files (in name order). Err names the directory or file that cannot
    /// be used.
    pub fn new(dirs: &[PathBuf]) -> Result<Library, String> {
        let mut extra = vec![];
        let mut macro_files = vec![];
        for dir in dirs {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("-I {}: cannot read the directory: {e}", dir.display()))?;
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for p in paths {
                match p.extension().and_then(|x| x.to_str()) {
                    Some("stp") => extra.push(read(&p)?),
                    Some("stpm") => {
                        let text = std::fs::read_to_string(&p)
                            .map_err(|e| format!("{}: {e}", p.display()))?;
                        macro_files.push(macros::MacroFile::new(p.display().to_string(), text));
                    }
                    _ => {}
                }
            }
        }
        Ok(Library {
            extra,
            macros: macros::MacroLibrary::with(macro_files),
        })
    }

    fn files(&self) -> impl Iterator<Item = &LibraryFile> {
        self.extra.iter().chain(built_in())
    }
}

fn read(p: &Path) -> Result<LibraryFile, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    LibraryFile::new(p.display().to_string(), text)
}

/// What a script's items use: functions they call (not natives), names
/// they read that are not their locals, probe points they name. What of
/// it the script does not define is what it needs.
#[derive(Debug, Default)]
struct Uses {
    functions: BTreeSet<String>,
    globals: BTreeSet<String>,
    aliases: BTreeSet<String>,
}

impl Uses {
    fn add(&mut self, items: &[Item]) {
        let mut body = |params: &[String], b: &ast::Block| {
            let mut locals: HashSet<String> = params.iter().cloned().collect();
            crate::stap::elaborate::collect_assigned(b, &mut locals);
            b.walk_exprs(&mut |e| match &e.kind {
                ExprKind::Call { name, .. }
                    if tapset::lookup(name).is_none() && !tapset::is_print_family(name) =>
                {
                    self.functions.insert(name.clone());
                }
                ExprKind::Var(v) if !locals.contains(v) => {
                    self.globals.insert(v.clone());
                }
                _ => {}
            });
        };
        for item in items {
            match item {
                Item::Function(f) => {
                    let params: Vec<String> =
                        f.params.iter().map(|p| p.name.name.clone()).collect();
                    body(&params, &f.body);
                }
                Item::Probe(p) => body(&[], &p.body),
                Item::Alias(a) => body(&[], &a.body),
                Item::Global(_) => {}
            }
        }
        for item in items {
            let points = match item {
                Item::Probe(p) => &p.points,
                Item::Alias(a) => &a.points,
                _ => continue,
            };
            self.aliases.extend(points.iter().map(|p| p.text()));
        }
    }
}

impl Defines {
    fn add(&mut self, other: Defines) {
        self.functions.extend(other.functions);
        self.globals.extend(other.globals);
        self.aliases.extend(other.aliases);
    }

    /// Whether this file defines something `uses` names and `defined`
    /// (the program so far) does not.
    fn serves(&self, uses: &Uses, defined: &Defines) -> bool {
        let wanted = |mine: &HashSet<String>, used: &BTreeSet<String>, have: &HashSet<String>| {
            used.iter().any(|n| mine.contains(n) && !have.contains(n))
        };
        wanted(&self.functions, &uses.functions, &defined.functions)
            || wanted(&self.globals, &uses.globals, &defined.globals)
            || wanted(&self.aliases, &uses.aliases, &defined.aliases)
    }
}

/// Links into `parsed` every library file the script needs, each parsed
/// with the script's preprocessor environment (its arguments and the
/// traced machine) and kept in its source map. Returns the files linked,
/// in order; Err: a linked file's diagnostics.
pub fn link(
    parsed: &mut Parsed,
    lib: &Library,
    env: &PpEnv,
) -> Result<Vec<String>, Vec<Diagnostic>> {
    let mut linked: Vec<String> = vec![];
    let mut defined = Defines::of(&parsed.script);
    let mut uses = Uses::default();
    uses.add(&parsed.script.items);
    loop {
        let Some(file) = lib
            .files()
            .find(|f| !linked.contains(&f.name) && f.defines.serves(&uses, &defined))
        else {
            return Ok(linked);
        };
        let (script, diags) = parse_into(&mut parsed.map, &file.name, &file.text, env);
        if !diags.is_empty() {
            return Err(diags);
        }
        defined.add(Defines::of(&script));
        uses.add(&script.items);
        parsed
            .script
            .items
            .extend(script.items.into_iter().map(|mut item| {
                if let Item::Global(g) = &mut item {
                    g.library = true;
                }
                item
            }));
        linked.push(file.name.clone());
    }
}

#[cfg(test)]
mod tests;

pub mod macros;
