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
/// `parser::MAX_NESTING`, and this is far more than that depth needs even in
/// a debug build; only the pages touched are ever committed.
const PASS_STACK: usize = 256 << 20;

/// Runs `f` on a thread with a stack big enough for the deepest script the
/// parser accepts, so that no input can overflow the caller's (test
/// threads have 2 MiB).
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("retap-pass".into())
            .stack_size(PASS_STACK)
            .spawn_scoped(s, f)
            .expect("spawning the pass thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
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
