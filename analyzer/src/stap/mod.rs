//! The stap language front end: pass 1 (lex, preprocess, parse) and pass 2
//! (elaborate against the trace catalog). See ARCHITECTURE.md.

pub mod ast;
pub mod elaborate;
pub mod glob;
pub mod lexer;
pub mod library;
pub mod parser;
pub mod preprocess;
pub mod printer;
pub mod source;

use source::{Diagnostic, SourceMap, Span};

pub use preprocess::PpEnv;

/// Pass 1's result: the tree and the text it came from (for diagnostics).
pub struct Parsed {
    pub script: ast::Script,
    pub map: SourceMap,
}

/// Stack for the recursive passes when the caller's is short: the parser
/// refuses nesting (and expression trees) beyond `parser::MAX_NESTING`, and
/// at that depth a debug build needs between 4 and 8 MiB (measured over
/// twelve constructs), so this is eight times that. Only the pages touched
/// are committed, but mapping and unmapping cost grows with the size.
const PASS_STACK: usize = 64 << 20;

/// What the passes may use at the nesting limit, with room to spare: the
/// same twelve constructs needed 0.5-1 MiB in a release build, 4-8 MiB in
/// a debug one. `tests/pass_stack.rs` runs them in exactly this much.
pub const PASS_RED_ZONE: usize = if cfg!(debug_assertions) {
    32 << 20
} else {
    4 << 20
};

/// Runs `f` where no script the parser accepts can overflow the stack: in
/// place when the caller has [`PASS_RED_ZONE`] left (a release build's
/// main thread, 8 MiB), else on a fresh [`PASS_STACK`] mapping switched to
/// on this same thread (stacker, as rustc does; test threads have 2 MiB).
/// Not a new thread: spawning one cost ~140 us a pass with DataFusion's
/// threads about (mimalloc sets up and tears down a heap per thread); and
/// not always the mapping: mapping, then unmapping it with a TLB flush on
/// every core cost ~40 us a pass, 4% of a small plan's warm run.
pub fn on_big_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(PASS_RED_ZONE, PASS_STACK, f)
}

/// Pass 1. Diagnostics come back with whatever tree could be built; the
/// caller decides (any error means the script does not run).
pub fn parse(name: &str, text: &str, env: &PpEnv) -> (Parsed, Vec<Diagnostic>) {
    on_big_stack(|| parse_here(name, text, env))
}

fn parse_here(name: &str, text: &str, env: &PpEnv) -> (Parsed, Vec<Diagnostic>) {
    let mut map = SourceMap::default();
    let (script, diags) = parse_into(&mut map, name, text, env);
    (Parsed { script, map }, diags)
}

/// Pass 1 of one more file of a program (a library file), its text kept
/// in `map` with the others so diagnostics can point into it.
pub fn parse_into(
    map: &mut SourceMap,
    name: &str,
    text: &str,
    env: &PpEnv,
) -> (ast::Script, Vec<Diagnostic>) {
    let file = map.add(name, text);
    let mut diags = vec![];
    let toks = lexer::lex(file, text, &mut diags);
    let toks = preprocess::preprocess(toks, env, map, &mut diags);
    let eof = Span::new(file, text.len(), text.len());
    let (script, pdiags) = parser::parse_tokens(&toks, eof);
    diags.extend(pdiags);
    (script, diags)
}
