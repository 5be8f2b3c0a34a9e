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

/// Pass 1. Diagnostics come back with whatever tree could be built; the
/// caller decides (any error means the script does not run).
pub fn parse(name: &str, text: &str, env: &PpEnv) -> (Parsed, Vec<Diagnostic>) {
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
