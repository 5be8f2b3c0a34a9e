//! Pass 1b: the preprocessor, on tokens as stap's is. Conditionals
//! `%( cond %? then %: else %)` keep one branch (the other is only lexed),
//! `@define name(a) %( body %)` macros expand where `@name(...)` appears,
//! and command-line arguments replace `$N` (re-lexed as script text), `@N`
//! (a string), `$#` and `@#` (their count).

use std::collections::{HashMap, HashSet};

use super::glob;
use super::lexer::{lex, parse_number, TokKind, Token};
use super::library::macros::MacroLibrary;
use super::source::{Diagnostic, SourceMap, Span};

/// What the conditions can ask about. For a run over a recording these are
/// the recorded machine's facts, not the analysing laptop's.
#[derive(Clone, Debug)]
pub struct PpEnv {
    /// `uname -r` of the traced kernel, e.g. "6.18.44-fc-v657".
    pub kernel_release: String,
    pub arch: String,
    pub args: Vec<String>,
    /// The `.stpm` files a script may take macros from.
    pub macros: MacroLibrary,
}

impl PpEnv {
    pub fn host(args: Vec<String>) -> PpEnv {
        let kernel_release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        PpEnv {
            kernel_release,
            arch: std::env::consts::ARCH.to_string(),
            args,
            macros: MacroLibrary::default(),
        }
    }
}

/// The stap release whose language and output retap follows.
pub const SYSTEMTAP_VERSION: &str = "4.8";

struct Macro {
    params: Vec<String>,
    body: Vec<Token>,
}

const MAX_EXPANSION_DEPTH: usize = 64;

pub fn preprocess(
    tokens: Vec<Token>,
    env: &PpEnv,
    map: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Token> {
    let mut pp = Pp {
        env,
        map,
        diags,
        macros: HashMap::new(),
        loaded: HashSet::new(),
        in_library: false,
    };
    let mut out = Vec::with_capacity(tokens.len());
    pp.run(&tokens, 0, &mut out);
    out
}

struct Pp<'a> {
    env: &'a PpEnv,
    map: &'a mut SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    macros: HashMap<String, Macro>,
    /// Indexes of the macro library files already loaded.
    loaded: HashSet<usize>,
    /// While a library file is read: its definitions never replace the
    /// script's own.
    in_library: bool,
}

impl Pp<'_> {
    fn run(&mut self, toks: &[Token], depth: usize, out: &mut Vec<Token>) {
        if depth > MAX_EXPANSION_DEPTH {
            let span = toks.first().map(|t| t.span).unwrap_or_default();
            self.diags.push(Diagnostic::parse(
                "macro or conditional nesting too deep",
                span,
            ));
            return;
        }
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            if t.is_op("%(") {
                i = self.conditional(toks, i, depth, out);
                continue;
            }
            if t.is_op("%?") || t.is_op("%:") || t.is_op("%)") {
                self.diags.push(Diagnostic::parse(
                    format!("'{}' without a matching '%('", t.text),
                    t.span,
                ));
                i += 1;
                continue;
            }
            if t.is_ident("@define") {
                i = self.define(toks, i);
                continue;
            }
            if t.kind == TokKind::Ident {
                if let Some(name) = t.text.strip_prefix('@') {
                    if !self.macros.contains_key(name) {
                        self.load_library(name, depth);
                    }
                    if self.macros.contains_key(name) {
                        i = self.invoke(toks, i, name.to_string(), depth, out);
                        continue;
                    }
                }
                if let Some(arg) = self.argument(t) {
                    out.extend(arg);
                    i += 1;
                    continue;
                }
            }
            out.push(t.clone());
            i += 1;
        }
    }

    /// Reads the macro library file that defines `name` (once a run), as
    /// stap reads its tapset's `.stpm` files: only `@define`s (and the
    /// conditionals around them) may be in it.
    fn load_library(&mut self, name: &str, depth: usize) {
        // The environment outlives this borrow of self.
        let env = self.env;
        let Some((i, file)) = env.macros.find(name) else {
            return;
        };
        if !self.loaded.insert(i) {
            return;
        }
        let id = self.map.add(file.name.clone(), file.text.clone());
        let toks = lex(id, &file.text, self.diags);
        let mut stray = vec![];
        let outer = std::mem::replace(&mut self.in_library, true);
        self.run(&toks, depth + 1, &mut stray);
        self.in_library = outer;
        if let Some(t) = stray.first() {
            let mut d = Diagnostic::parse("a macro library file holds only @define's", t.span);
            d.saw = Some(t.describe());
            self.diags.push(d);
        }
    }

    /// `$N`, `@N`, `$#`, `@#` → tokens; None when `t` is none of these.
    fn argument(&mut self, t: &Token) -> Option<Vec<Token>> {
        let (sigil, rest) = t.text.split_at(1);
        if sigil != "$" && sigil != "@" {
            return None;
        }
        let mk = |kind, text: String| Token {
            kind,
            text,
            span: t.span,
            spaced: t.spaced,
            line_start: t.line_start,
        };
        if rest == "#" {
            return Some(vec![mk(TokKind::Number, self.env.args.len().to_string())]);
        }
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: usize = rest.parse().unwrap_or(usize::MAX);
        if n == 0 || n > self.env.args.len() {
            self.diags.push(Diagnostic::parse(
                format!(
                    "command line argument index {} out of range [1-{}]",
                    rest,
                    self.env.args.len()
                ),
                t.span,
            ));
            return Some(vec![mk(TokKind::Number, "0".into())]);
        }
        let text = self.env.args[n - 1].clone();
        if sigil == "@" {
            return Some(vec![mk(TokKind::Str, text)]);
        }
        // `$N` is script text: `$1` of "1234" is a number, of "x+1" an
        // expression, exactly as if typed in place.
        let file = self.map.add(format!("<argument ${n}>"), text.clone());
        let mut toks = lex(file, &text, self.diags);
        for (k, tok) in toks.iter_mut().enumerate() {
            tok.span = t.span;
            tok.spaced = if k == 0 { t.spaced } else { tok.spaced };
        }
        if toks.is_empty() {
            self.diags.push(Diagnostic::parse(
                format!("command line argument ${n} is empty"),
                t.span,
            ));
        }
        Some(toks)
    }

    /// Finds the index of the token that closes the region opened at
    /// `start` (a `%(`), stopping at `stops` at nesting depth zero.
    fn scan_to(&self, toks: &[Token], from: usize, stops: &[&str]) -> Option<usize> {
        let mut depth = 0;
        for (k, t) in toks.iter().enumerate().skip(from) {
            if t.kind != TokKind::Op {
                continue;
            }
            if t.text == "%(" {
                depth += 1;
            } else if depth > 0 && t.text == "%)" {
                depth -= 1;
            } else if depth == 0 && stops.contains(&t.text.as_str()) {
                return Some(k);
            }
        }
        None
    }

    fn conditional(
        &mut self,
        toks: &[Token],
        i: usize,
        depth: usize,
        out: &mut Vec<Token>,
    ) -> usize {
        let open = toks[i].span;
        let Some(q) = self.scan_to(toks, i + 1, &["%?"]) else {
            self.diags
                .push(Diagnostic::parse("incomplete conditional: no '%?'", open));
            return toks.len();
        };
        let Some(mid) = self.scan_to(toks, q + 1, &["%:", "%)"]) else {
            self.diags
                .push(Diagnostic::parse("incomplete conditional: no '%)'", open));
            return toks.len();
        };
        let (then_end, else_range, end) = if toks[mid].is_op("%:") {
            let Some(close) = self.scan_to(toks, mid + 1, &["%)"]) else {
                self.diags
                    .push(Diagnostic::parse("incomplete conditional: no '%)'", open));
                return toks.len();
            };
            (mid, Some((mid + 1, close)), close)
        } else {
            (mid, None, mid)
        };
        let cond = &toks[i + 1..q];
        let truth = match CondParser::new(cond, self, open).eval() {
            Ok(v) => v,
            Err(d) => {
                self.diags.push(d);
                false
            }
        };
        if truth {
            self.run(&toks[q + 1..then_end], depth + 1, out);
        } else if let Some((a, b)) = else_range {
            self.run(&toks[a..b], depth + 1, out);
        }
        end + 1
    }

    fn define(&mut self, toks: &[Token], i: usize) -> usize {
        let at = toks[i].span;
        let Some(name) = toks.get(i + 1).filter(|t| t.kind == TokKind::Ident) else {
            self.diags
                .push(Diagnostic::parse("expected macro name after @define", at));
            return i + 1;
        };
        let mut k = i + 2;
        let mut params = vec![];
        if toks.get(k).is_some_and(|t| t.is_op("(")) && !toks[k].spaced {
            k += 1;
            loop {
                match toks.get(k) {
                    Some(t) if t.is_op(")") => {
                        k += 1;
                        break;
                    }
                    Some(t) if t.kind == TokKind::Ident => {
                        params.push(t.text.trim_start_matches('@').to_string());
                        k += 1;
                        if toks.get(k).is_some_and(|t| t.is_op(",")) {
                            k += 1;
                        }
                    }
                    Some(t) => {
                        let mut d = Diagnostic::parse("expected macro parameter name", t.span);
                        d.saw = Some(t.describe());
                        self.diags.push(d);
                        return k + 1;
                    }
                    None => {
                        self.diags
                            .push(Diagnostic::parse("unexpected end of @define", at));
                        return toks.len();
                    }
                }
            }
        }
        if !toks.get(k).is_some_and(|t| t.is_op("%(")) {
            let span = toks.get(k).map(|t| t.span).unwrap_or(at);
            self.diags.push(Diagnostic::parse(
                "expected '%(' starting the macro body",
                span,
            ));
            return k;
        }
        let Some(close) = self.scan_to(toks, k + 1, &["%)"]) else {
            self.diags
                .push(Diagnostic::parse("macro body has no closing '%)'", at));
            return toks.len();
        };
        if !(self.in_library && self.macros.contains_key(&name.text)) {
            self.macros.insert(
                name.text.clone(),
                Macro {
                    params,
                    body: toks[k + 1..close].to_vec(),
                },
            );
        }
        close + 1
    }

    fn invoke(
        &mut self,
        toks: &[Token],
        i: usize,
        name: String,
        depth: usize,
        out: &mut Vec<Token>,
    ) -> usize {
        let call = toks[i].span;
        let nparams = self.macros[&name].params.len();
        let mut k = i + 1;
        let mut args: Vec<Vec<Token>> = vec![];
        if nparams > 0 || toks.get(k).is_some_and(|t| t.is_op("(") && !t.spaced) {
            if !toks.get(k).is_some_and(|t| t.is_op("(")) {
                self.diags.push(Diagnostic::parse(
                    format!("macro @{name} expects {nparams} argument(s)"),
                    call,
                ));
                return k;
            }
            k += 1;
            let mut cur = vec![];
            let mut nest = 0;
            loop {
                let Some(t) = toks.get(k) else {
                    self.diags.push(Diagnostic::parse(
                        format!("unterminated arguments to macro @{name}"),
                        call,
                    ));
                    return toks.len();
                };
                k += 1;
                if t.kind == TokKind::Op {
                    match t.text.as_str() {
                        "(" | "[" | "{" => nest += 1,
                        ")" if nest == 0 => {
                            if !cur.is_empty() || !args.is_empty() {
                                args.push(std::mem::take(&mut cur));
                            }
                            break;
                        }
                        "," if nest == 0 => {
                            args.push(std::mem::take(&mut cur));
                            continue;
                        }
                        ")" | "]" | "}" => nest -= 1,
                        _ => {}
                    }
                }
                cur.push(t.clone());
            }
        }
        if args.len() != nparams {
            self.diags.push(Diagnostic::parse(
                format!(
                    "macro @{name} expects {nparams} argument(s), got {}",
                    args.len()
                ),
                call,
            ));
            return k;
        }
        let m = &self.macros[&name];
        let mut body = vec![];
        for t in &m.body {
            let param = t
                .text
                .strip_prefix('@')
                .and_then(|p| m.params.iter().position(|q| q == p));
            match param {
                Some(p) if t.kind == TokKind::Ident => body.extend(args[p].iter().cloned()),
                _ => body.push(t.clone()),
            }
        }
        self.run(&body, depth + 1, out);
        k
    }
}

/// The condition language between `%(` and `%?`.
struct CondParser<'t, 'p, 'a> {
    toks: &'t [Token],
    pos: usize,
    pp: &'p mut Pp<'a>,
    open: Span,
}

enum CondVal {
    Num(i64),
    Str(String),
    Version(String),
}

impl<'t, 'p, 'a> CondParser<'t, 'p, 'a> {
    fn new(toks: &'t [Token], pp: &'p mut Pp<'a>, open: Span) -> Self {
        CondParser {
            toks,
            pos: 0,
            pp,
            open,
        }
    }

    fn err(&self, msg: &str) -> Diagnostic {
        match self.toks.get(self.pos) {
            Some(t) => {
                let mut d = Diagnostic::parse(msg, t.span);
                d.saw = Some(t.describe());
                d
            }
            None => Diagnostic::parse(format!("{msg} (condition ended)"), self.open),
        }
    }

    fn eval(mut self) -> Result<bool, Diagnostic> {
        let v = self.disj()?;
        if self.pos < self.toks.len() {
            return Err(self.err("unexpected token in preprocessor condition"));
        }
        Ok(v)
    }

    fn peek_op(&self, op: &str) -> bool {
        self.toks.get(self.pos).is_some_and(|t| t.is_op(op))
    }

    fn disj(&mut self) -> Result<bool, Diagnostic> {
        let mut v = self.conj()?;
        while self.peek_op("||") {
            self.pos += 1;
            let r = self.conj()?;
            v = v || r;
        }
        Ok(v)
    }

    fn conj(&mut self) -> Result<bool, Diagnostic> {
        let mut v = self.atom()?;
        while self.peek_op("&&") {
            self.pos += 1;
            let r = self.atom()?;
            v = v && r;
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<bool, Diagnostic> {
        if self.peek_op("(") {
            self.pos += 1;
            let v = self.disj()?;
            if !self.peek_op(")") {
                return Err(self.err("expected ')' in preprocessor condition"));
            }
            self.pos += 1;
            return Ok(v);
        }
        if self.peek_op("!") {
            self.pos += 1;
            return Ok(!self.atom()?);
        }
        let lhs = self.operand(true)?;
        let Some(op) = self.toks.get(self.pos).filter(|t| {
            t.kind == TokKind::Op
                && matches!(t.text.as_str(), "==" | "!=" | "<" | "<=" | ">" | ">=")
        }) else {
            return Err(self.err("expected comparison operator in preprocessor condition"));
        };
        let op = op.text.clone();
        self.pos += 1;
        let rhs = self.operand(false)?;
        let ord = match (&lhs, &rhs) {
            (CondVal::Num(a), CondVal::Num(b)) => a.cmp(b),
            (CondVal::Version(a), CondVal::Str(b)) | (CondVal::Str(a), CondVal::Str(b))
                if (op == "==" || op == "!=") && glob::has_wildcard(b) =>
            {
                let m = glob::matches(b, a);
                return Ok(m == (op == "=="));
            }
            (CondVal::Version(a), CondVal::Str(b)) => version_cmp(a, b),
            (CondVal::Str(a), CondVal::Str(b)) => a.cmp(b),
            (CondVal::Num(a), CondVal::Str(b)) => a.to_string().as_str().cmp(b.as_str()),
            (CondVal::Str(a), CondVal::Num(b)) => a.as_str().cmp(b.to_string().as_str()),
            _ => return Err(self.err("preprocessor condition compares mismatched types")),
        };
        use std::cmp::Ordering::*;
        Ok(match op.as_str() {
            "==" => ord == Equal,
            "!=" => ord != Equal,
            "<" => ord == Less,
            "<=" => ord != Greater,
            ">" => ord == Greater,
            _ => ord != Less,
        })
    }

    fn operand(&mut self, lhs: bool) -> Result<CondVal, Diagnostic> {
        let Some(t) = self.toks.get(self.pos) else {
            return Err(self.err("expected a preprocessor condition"));
        };
        let t = t.clone();
        self.pos += 1;
        let env = self.pp.env;
        match t.kind {
            TokKind::Number => parse_number(&t.text)
                .map(CondVal::Num)
                .ok_or_else(|| Diagnostic::parse("number invalid or out of range", t.span)),
            TokKind::Str => Ok(CondVal::Str(t.text.clone())),
            TokKind::Op if t.text == "-" => match self.operand(lhs)? {
                CondVal::Num(n) => Ok(CondVal::Num(n.wrapping_neg())),
                _ => Err(self.err("expected a number after '-'")),
            },
            TokKind::Ident => {
                let name = t.text.as_str();
                Ok(match name {
                    "kernel_v" => CondVal::Version(
                        env.kernel_release
                            .split(['-', '+'])
                            .next()
                            .unwrap_or("")
                            .to_string(),
                    ),
                    "kernel_vr" => CondVal::Version(env.kernel_release.clone()),
                    "systemtap_v" => CondVal::Version(SYSTEMTAP_VERSION.into()),
                    "arch" => CondVal::Str(normalise_arch(&env.arch).into()),
                    "runtime" => CondVal::Str("kernel".into()),
                    "systemtap_privilege" => CondVal::Str("stapdev".into()),
                    "guru_mode" => CondVal::Num(0),
                    // The recording does not carry the kernel config; every
                    // option reads as unset.
                    n if n.starts_with("CONFIG_") => CondVal::Str(String::new()),
                    "$#" | "@#" => CondVal::Num(env.args.len() as i64),
                    _ => match self.pp.argument(&t) {
                        Some(toks) if name.starts_with('@') => {
                            CondVal::Str(toks.first().map(|t| t.text.clone()).unwrap_or_default())
                        }
                        Some(toks) => match toks.as_slice() {
                            [one] if one.kind == TokKind::Number => {
                                CondVal::Num(parse_number(&one.text).unwrap_or(0))
                            }
                            [one] => CondVal::Str(one.text.clone()),
                            _ => CondVal::Str(
                                env.args[name[1..].parse::<usize>().unwrap_or(1) - 1].clone(),
                            ),
                        },
                        None => {
                            self.pos -= 1;
                            return Err(self.err(if lhs {
                                "expected 'arch', 'kernel_v', 'kernel_vr', 'systemtap_v', 'runtime', 'CONFIG_...', '$#' or an argument"
                            } else {
                                "expected a string or number to compare with"
                            }));
                        }
                    },
                })
            }
            _ => {
                self.pos -= 1;
                Err(self.err("expected a preprocessor condition"))
            }
        }
    }
}

/// stap names x86_64 "x86_64" and aarch64 "arm64".
fn normalise_arch(a: &str) -> &str {
    match a {
        "aarch64" => "arm64",
        "i686" | "i586" | "i486" => "i386",
        other => other,
    }
}

/// Compares dotted versions numerically part by part ("6.18" > "6.9").
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '+'])
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).copied().unwrap_or(0);
        let y = pb.get(i).copied().unwrap_or(0);
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}
