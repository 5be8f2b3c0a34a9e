//! The stap language front end: pass 1 (lex, preprocess, parse) and pass 2
//! (elaborate against the trace catalog). See ARCHITECTURE.md.

pub mod ast;
pub mod elaborate;
pub mod glob;
pub mod lexer;
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

/// Stack for the recursive passes: the parser refuses nesting beyond
/// `parser::MAX_NESTING`, and at that depth a debug build needs between 4
/// and 6 MiB (measured over ten nesting constructs), so this is ten times
/// that. Only the pages touched are committed, but mapping and unmapping
/// cost grows with the size (256 MiB took 49 us a pass, this 33 us).
const PASS_STACK: usize = 64 << 20;

/// Runs `f` on a stack big enough for the deepest script the parser
/// accepts, so that no input can overflow the caller's (test threads have
/// 2 MiB). The stack is a fresh mapping switched to on this same thread
/// (stacker, as rustc does), not a new thread: spawning one cost ~140 us
/// per pass in a process with DataFusion's threads about (mimalloc sets up
/// and tears down a heap per thread), ~9% of a small plan's whole run.
pub fn on_big_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::grow(PASS_STACK, f)
}

/// Pass 1. Diagnostics come back with whatever tree could be built; the
/// caller decides (any error means the script does not run).
pub fn parse(name: &str, text: &str, env: &PpEnv) -> (Parsed, Vec<Diagnostic>) {
    on_big_stack(|| parse_here(name, text, env))
}

fn parse_here(name: &str, text: &str, env: &PpEnv) -> (Parsed, Vec<Diagnostic>) {
    let mut map = SourceMap::default();
    let file = map.add(name, text);
    let mut diags = vec![];
    let toks = lexer::lex(file, text, &mut diags);
    let toks = preprocess::preprocess(toks, env, &mut map, &mut diags);
    let eof = Span::new(file, text.len(), text.len());
    let (script, pdiags) = parser::parse_tokens(&toks, eof);
    diags.extend(pdiags);
    (Parsed { script, map }, diags)
}
