//! Pass 1c: tokens to the parse tree, by recursive descent with stap's own
//! precedence ladder (assignment, ternary, `||`, `&&`, `|`, `^`, `&`, `in`,
//! comparison and regex, shifts, `.`, additive, multiplicative, unary,
//! `++`/`--`, values). After an error the parser skips to the next statement
//! or declaration, so one run reports every error in a file.

use super::ast::*;
use super::lexer::{is_keyword, parse_number, TokKind, Token};
use super::source::{Diagnostic, Span};

/// Deeper nesting than this is refused with an error instead of risking the
/// stack; no real script comes near it.
pub const MAX_NESTING: usize = 200;

type PResult<T> = Result<T, Diagnostic>;

pub struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    /// Where "end of input" errors point.
    eof: Span,
    depth: usize,
    /// Inside an expression (its height is checked where it began).
    in_expression: bool,
    pub diags: Vec<Diagnostic>,
}

pub fn parse_tokens(toks: &[Token], eof: Span) -> (Script, Vec<Diagnostic>) {
    let mut p = Parser {
        toks,
        pos: 0,
        eof,
        depth: 0,
        in_expression: false,
        diags: vec![],
    };
    let script = p.script();
    (script, p.diags)
}

impl<'a> Parser<'a> {
    // ---- token helpers -------------------------------------------------

    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, k: usize) -> Option<&'a Token> {
        self.toks.get(self.pos + k)
    }
    fn peek_op(&self, op: &str) -> bool {
        self.peek().is_some_and(|t| t.is_op(op))
    }
    fn peek_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_ident(kw))
    }
    fn bump(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn here(&self) -> Span {
        self.peek().map(|t| t.span).unwrap_or(self.eof)
    }
    fn prev_span(&self) -> Span {
        if self.pos == 0 {
            return self.here();
        }
        self.toks[self.pos - 1].span
    }

    /// An error at the current token, saying what was there instead.
    fn error(&self, msg: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::parse(msg, self.here());
        d.saw = Some(match self.peek() {
            Some(t) => t.describe(),
            None => "end of input".into(),
        });
        d
    }

    fn expect_op(&mut self, op: &str) -> PResult<Span> {
        if self.peek_op(op) {
            Ok(self.bump().map(|t| t.span).unwrap_or_default())
        } else {
            Err(self.error(format!("expected '{op}'")))
        }
    }

    fn accept_op(&mut self, op: &str) -> bool {
        if self.peek_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek() {
            Some(t)
                if t.kind == TokKind::Ident
                    && !is_keyword(&t.text)
                    && !t.text.starts_with(['$', '@']) =>
            {
                self.pos += 1;
                Ok(Ident {
                    name: t.text.clone(),
                    span: t.span,
                })
            }
            _ => Err(self.error(format!("expected {what}"))),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(format!("nesting too deep (more than {MAX_NESTING} levels)")));
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- declarations --------------------------------------------------

    fn script(&mut self) -> Script {
        let mut items = vec![];
        while self.peek().is_some() {
            let start = self.pos;
            match self.declaration(&mut items) {
                Ok(()) => {}
                Err(d) => {
                    self.diags.push(d);
                    self.recover_declaration(start);
                }
            }
        }
        if items.is_empty() && self.diags.is_empty() {
            self.diags
                .push(Diagnostic::parse("script contains no probes", self.eof));
        }
        Script { items }
    }

    /// Skips to the next `probe`/`global`/`function` that starts a
    /// declaration: one at brace depth zero or at the start of a line.
    fn recover_declaration(&mut self, start: usize) {
        if self.pos == start {
            self.pos += 1;
        }
        let mut depth: i64 = 0;
        for t in &self.toks[start..self.pos] {
            if t.is_op("{") {
                depth += 1;
            } else if t.is_op("}") {
                depth -= 1;
            }
        }
        while let Some(t) = self.peek() {
            let decl = t.is_ident("probe") || t.is_ident("global") || t.is_ident("function");
            if decl && (depth <= 0 || self.at_line_start(self.pos)) {
                return;
            }
            if t.is_op("{") {
                depth += 1;
            } else if t.is_op("}") {
                depth -= 1;
            }
            self.pos += 1;
        }
    }

    fn at_line_start(&self, k: usize) -> bool {
        self.toks[k].line_start
    }

    fn declaration(&mut self, items: &mut Vec<Item>) -> PResult<()> {
        let t = self.peek().expect("declaration called at end");
        if t.kind == TokKind::Embedded {
            return Err(self.embedded_error());
        }
        if t.is_op(";") {
            self.pos += 1;
            return Ok(());
        }
        let private = t.is_ident("private");
        if private {
            self.pos += 1;
        }
        let t = self
            .peek()
            .ok_or_else(|| self.error("expected 'global' or 'function' after 'private'"))?;
        if t.is_ident("probe") && !private {
            self.pos += 1;
            items.push(self.probe(t.span)?);
        } else if t.is_ident("global") {
            self.pos += 1;
            self.globals(private, items)?;
        } else if t.is_ident("function") {
            self.pos += 1;
            items.push(self.function(private, t.span)?);
        } else if private {
            return Err(self.error("expected 'global' or 'function' after 'private'"));
        } else {
            return Err(self.error("expected 'probe', 'global', or 'function'"));
        }
        Ok(())
    }

    fn embedded_error(&self) -> Diagnostic {
        let mut d = Diagnostic::parse(
            "embedded C code (%{ %}) is not supported: retap runs scripts over a recording, \
             not inside the kernel",
            self.here(),
        );
        d.saw = None;
        d
    }

    fn globals(&mut self, private: bool, items: &mut Vec<Item>) -> PResult<()> {
        loop {
            let name = self.ident("identifier")?;
            let mut g = Global {
                name,
                size: None,
                wrap: false,
                init: None,
                private,
                library: false,
            };
            if self.accept_op("%") {
                g.wrap = true;
            }
            if self.accept_op("[") {
                let n = self.number_literal()?;
                if n <= 0 {
                    return Err(Diagnostic::parse(
                        "array size must be positive",
                        self.prev_span(),
                    ));
                }
                g.size = Some(n);
                self.expect_op("]")?;
                if self.accept_op("%") {
                    g.wrap = true;
                }
            } else if self.accept_op("=") {
                g.init = Some(self.literal()?);
            }
            items.push(Item::Global(g));
            if self.accept_op(",") {
                continue;
            }
            self.accept_op(";");
            return Ok(());
        }
    }

    fn number_literal(&mut self) -> PResult<i64> {
        match self.literal()? {
            Literal::Num(n) => Ok(n),
            Literal::Str(_) => Err(Diagnostic::parse("expected a number", self.prev_span())),
        }
    }

    fn literal(&mut self) -> PResult<Literal> {
        let neg = self.accept_op("-");
        match self.peek() {
            Some(t) if t.kind == TokKind::Number => {
                self.pos += 1;
                let n = self.number(t)?;
                Ok(Literal::Num(if neg { n.wrapping_neg() } else { n }))
            }
            Some(t) if t.kind == TokKind::Str && !neg => {
                let mut s = t.text.clone();
                self.pos += 1;
                while let Some(t) = self.peek().filter(|t| t.kind == TokKind::Str) {
                    s.push_str(&t.text);
                    self.pos += 1;
                }
                Ok(Literal::Str(s))
            }
            _ => Err(self.error("expected literal string or number")),
        }
    }

    fn number(&self, t: &Token) -> PResult<i64> {
        parse_number(&t.text).ok_or_else(|| {
            let mut d = Diagnostic::parse("number invalid or out of range", t.span);
            d.saw = Some(t.describe());
            d
        })
    }

    fn function(&mut self, private: bool, kw: Span) -> PResult<Item> {
        let name = self.ident("function name")?;
        let mut ret = None;
        if self.accept_op(":") {
            ret = Some(self.type_name()?);
        }
        self.expect_op("(")?;
        let mut params: Vec<Param> = vec![];
        if !self.accept_op(")") {
            loop {
                let pname = self.ident("parameter name")?;
                let mut ty = None;
                if self.accept_op(":") {
                    ty = Some(self.type_name()?);
                }
                params.push(Param { name: pname, ty });
                if self.accept_op(",") {
                    continue;
                }
                self.expect_op(")")?;
                break;
            }
        }
        if self.accept_op(":") {
            ret = Some(self.type_name()?);
        }
        if self.peek().is_some_and(|t| t.kind == TokKind::Embedded) {
            return Err(self.embedded_error());
        }
        let body = self.block()?;
        let span = kw.to(body.span);
        Ok(Item::Function(Function {
            name,
            params,
            ret,
            body,
            private,
            span,
        }))
    }

    fn type_name(&mut self) -> PResult<TypeName> {
        match self.peek() {
            Some(t) if t.is_ident("long") => {
                self.pos += 1;
                Ok(TypeName::Long)
            }
            Some(t) if t.is_ident("string") => {
                self.pos += 1;
                Ok(TypeName::String)
            }
            _ => Err(self.error("expected 'long' or 'string'")),
        }
    }

    fn probe(&mut self, kw: Span) -> PResult<Item> {
        let mut points = vec![self.probe_point()?];
        loop {
            if self.accept_op(",") {
                points.push(self.probe_point()?);
                continue;
            }
            if self.peek_op("=") || self.peek_op("+=") {
                let epilogue = self.peek_op("+=");
                self.pos += 1;
                let mut targets = vec![self.probe_point()?];
                while self.accept_op(",") {
                    targets.push(self.probe_point()?);
                }
                let body = self.block()?;
                let span = kw.to(body.span);
                return Ok(Item::Alias(Alias {
                    names: points,
                    epilogue,
                    points: targets,
                    body,
                    span,
                }));
            }
            break;
        }
        if !self.peek_op("{") {
            return Err(self.error("expected one of '. , ( ? ! { = +='"));
        }
        let body = self.block()?;
        let span = kw.to(body.span);
        Ok(Item::Probe(Probe { points, body, span }))
    }

    fn probe_point(&mut self) -> PResult<ProbePoint> {
        let start = self.here();
        let mut components = vec![];
        loop {
            components.push(self.component()?);
            if self.accept_op(".") {
                continue;
            }
            break;
        }
        let mut pp = ProbePoint {
            components,
            optional: false,
            sufficient: false,
            condition: None,
            span: start,
        };
        loop {
            if self.accept_op("?") {
                pp.optional = true;
            } else if self.accept_op("!") {
                pp.optional = true;
                pp.sufficient = true;
            } else {
                break;
            }
        }
        if self.peek_kw("if") {
            self.pos += 1;
            self.expect_op("(")?;
            pp.condition = Some(self.expression()?);
            self.expect_op(")")?;
        }
        pp.span = start.to(self.prev_span());
        Ok(pp)
    }

    /// At a `{` glued to a name (`read{,v}`): is it brace alternatives
    /// rather than the probe body? Only names, `*` and at least one comma
    /// up to the matching `}` make it alternatives.
    fn glued_alternatives(&self) -> bool {
        let mut depth = 0;
        let mut comma = false;
        for t in &self.toks[self.pos..] {
            match (&t.kind, t.text.as_str()) {
                (TokKind::Op, "{") => depth += 1,
                (TokKind::Op, "}") => {
                    depth -= 1;
                    if depth == 0 {
                        return comma;
                    }
                }
                (TokKind::Op, ",") => comma = true,
                (TokKind::Op, "*") | (TokKind::Ident | TokKind::Number, _) => {}
                _ => return false,
            }
        }
        false
    }

    /// One dotted component: glued tokens (`open*`, `*at`), or a brace
    /// alternative list (`{open,openat}`), then an optional `(literal)`.
    fn component(&mut self) -> PResult<Component> {
        let start = self.here();
        let mut name = String::new();
        let mut first = true;
        while let Some(t) = self.peek() {
            if !first && t.spaced {
                break;
            }
            let ok = match t.kind {
                TokKind::Ident | TokKind::Number => true,
                TokKind::Op => {
                    t.text == "*" || (t.text == "{" && (first || self.glued_alternatives()))
                }
                _ => false,
            };
            if !ok {
                break;
            }
            if t.is_op("{") {
                self.pos += 1;
                name.push('{');
                let mut depth = 1;
                while depth > 0 {
                    let Some(t) = self.bump() else {
                        return Err(self.error("unterminated '{' alternatives in probe point"));
                    };
                    // Alternatives may be whole point fragments
                    // (`kernel.{trace("a")!, function("b")}`); keep their
                    // text and let pass 2 expand and re-read them.
                    match (t.kind.clone(), t.text.as_str()) {
                        (TokKind::Op, "{") => depth += 1,
                        (TokKind::Op, "}") => depth -= 1,
                        (TokKind::Op, "," | "*" | "." | "(" | ")" | "!" | "?" | "-")
                        | (TokKind::Ident | TokKind::Number | TokKind::Str, _) => {}
                        _ => {
                            self.pos -= 1;
                            return Err(
                                self.error("expected a probe point in '{...}' alternatives")
                            );
                        }
                    }
                    if t.kind == TokKind::Str {
                        name.push_str(&super::lexer::quote(&t.text));
                    } else {
                        name.push_str(&t.text);
                    }
                }
            } else {
                self.pos += 1;
                name.push_str(&t.text);
            }
            first = false;
        }
        if name.is_empty() {
            return Err(self.error("expected identifier or '*'"));
        }
        let mut c = Component {
            name,
            arg: None,
            span: start,
        };
        if self.peek_op("(") {
            self.pos += 1;
            c.arg = Some(self.literal()?);
            self.expect_op(")")?;
        }
        c.span = start.to(self.prev_span());
        Ok(c)
    }

    // ---- statements ----------------------------------------------------

    fn block(&mut self) -> PResult<Block> {
        let open = self.expect_op("{")?;
        let mut stmts = vec![];
        loop {
            match self.peek() {
                None => {
                    let mut d = Diagnostic::parse("expected '}' to close this block", open);
                    d.saw = Some("end of input".into());
                    return Err(d);
                }
                Some(t) if t.is_op("}") => {
                    self.pos += 1;
                    break;
                }
                Some(_) => {}
            }
            let at = self.pos;
            match self.statement() {
                Ok(s) => {
                    stmts.push(s);
                    self.accept_op(";");
                }
                Err(d) => {
                    self.diags.push(d);
                    if !self.recover_statement(at) {
                        // The block never closed; report that once, at its start.
                        let mut d = Diagnostic::parse("expected '}' to close this block", open);
                        d.saw = Some(match self.peek() {
                            Some(t) => t.describe(),
                            None => "end of input".into(),
                        });
                        return Err(d);
                    }
                }
            }
        }
        Ok(Block {
            stmts,
            span: open.to(self.prev_span()),
        })
    }

    /// After an error inside a block: skip to just past the next `;` at this
    /// nesting level, or stop before the `}` that closes the block. Returns
    /// false at end of input.
    fn recover_statement(&mut self, start: usize) -> bool {
        if self.pos == start {
            self.pos += 1;
        }
        let mut depth: i64 = 0;
        for t in &self.toks[start..self.pos] {
            if t.is_op("{") {
                depth += 1;
            } else if t.is_op("}") {
                depth -= 1;
            }
        }
        if depth < 0 {
            // We consumed the block's own `}`; step back onto it.
            self.pos -= 1;
            return true;
        }
        while let Some(t) = self.peek() {
            if t.is_op("{") {
                depth += 1;
            } else if t.is_op("}") {
                if depth == 0 {
                    return true;
                }
                depth -= 1;
            } else if t.is_op(";") && depth == 0 {
                self.pos += 1;
                return true;
            } else if (t.is_ident("probe") || t.is_ident("function") || t.is_ident("global"))
                && depth == 0
            {
                // A new declaration: this block lost its `}`.
                return false;
            }
            self.pos += 1;
        }
        false
    }

    fn statement(&mut self) -> PResult<Stmt> {
        self.enter()?;
        let r = self.statement_inner();
        self.leave();
        r
    }

    fn statement_inner(&mut self) -> PResult<Stmt> {
        let start = self.here();
        let Some(t) = self.peek() else {
            return Err(self.error("expected statement"));
        };
        let mk = |p: &Self, kind| Stmt {
            kind,
            span: start.to(p.prev_span()),
        };
        if t.kind == TokKind::Embedded {
            return Err(self.embedded_error());
        }
        if t.is_op("{") {
            let b = self.block()?;
            return Ok(mk(self, StmtKind::Block(b)));
        }
        if t.is_op(";") {
            self.pos += 1;
            return Ok(mk(self, StmtKind::Null));
        }
        if t.kind == TokKind::Ident {
            match t.text.as_str() {
                "if" => {
                    self.pos += 1;
                    self.expect_op("(")?;
                    let cond = self.expression()?;
                    self.expect_op(")")?;
                    let then = Box::new(self.statement()?);
                    self.accept_op(";");
                    let els = if self.peek_kw("else") {
                        self.pos += 1;
                        Some(Box::new(self.statement()?))
                    } else {
                        None
                    };
                    return Ok(mk(self, StmtKind::If { cond, then, els }));
                }
                "while" => {
                    self.pos += 1;
                    self.expect_op("(")?;
                    let cond = self.expression()?;
                    self.expect_op(")")?;
                    let body = Box::new(self.statement()?);
                    return Ok(mk(self, StmtKind::While { cond, body }));
                }
                "for" => {
                    self.pos += 1;
                    self.expect_op("(")?;
                    let init = if self.peek_op(";") {
                        None
                    } else {
                        Some(self.expression()?)
                    };
                    self.expect_op(";")?;
                    let cond = if self.peek_op(";") {
                        None
                    } else {
                        Some(self.expression()?)
                    };
                    self.expect_op(";")?;
                    let step = if self.peek_op(")") {
                        None
                    } else {
                        Some(self.expression()?)
                    };
                    self.expect_op(")")?;
                    let body = Box::new(self.statement()?);
                    return Ok(mk(
                        self,
                        StmtKind::For {
                            init,
                            cond,
                            step,
                            body,
                        },
                    ));
                }
                "foreach" => {
                    self.pos += 1;
                    let f = self.foreach()?;
                    return Ok(mk(self, StmtKind::Foreach(Box::new(f))));
                }
                "break" => {
                    self.pos += 1;
                    return Ok(mk(self, StmtKind::Break));
                }
                "continue" => {
                    self.pos += 1;
                    return Ok(mk(self, StmtKind::Continue));
                }
                "next" => {
                    self.pos += 1;
                    return Ok(mk(self, StmtKind::Next));
                }
                "return" => {
                    self.pos += 1;
                    let v = if self.peek_op(";") || self.peek_op("}") || self.peek().is_none() {
                        None
                    } else {
                        Some(self.expression()?)
                    };
                    return Ok(mk(self, StmtKind::Return(v)));
                }
                "delete" => {
                    self.pos += 1;
                    let e = self.expression()?;
                    return Ok(mk(self, StmtKind::Delete(e)));
                }
                "try" => {
                    self.pos += 1;
                    let body = self.block()?;
                    if !self.peek_kw("catch") {
                        return Err(self.error("expected 'catch'"));
                    }
                    self.pos += 1;
                    let mut var = None;
                    if self.accept_op("(") {
                        var = Some(self.ident("identifier")?);
                        self.expect_op(")")?;
                    }
                    let catch = self.block()?;
                    return Ok(mk(self, StmtKind::Try { body, var, catch }));
                }
                "do" if self.peek_at(1).is_some_and(|t| t.is_op("{")) => {
                    return Err(self
                        .error("there is no do-while loop in the SystemTap language; use while"));
                }
                "else" => return Err(self.error("'else' without a matching 'if'")),
                "probe" | "global" | "function" => {
                    return Err(
                        self.error("expected statement (missing '}' before this declaration?)")
                    )
                }
                _ => {}
            }
        }
        let e = self.expression()?;
        Ok(mk(self, StmtKind::Expr(e)))
    }

    fn sort_mark(&mut self) -> Option<SortDir> {
        if self.accept_op("+") {
            Some(SortDir::Asc)
        } else if self.accept_op("-") {
            Some(SortDir::Desc)
        } else {
            None
        }
    }

    fn foreach(&mut self) -> PResult<Foreach> {
        self.expect_op("(")?;
        let mut sort: Option<ForeachSort> = None;
        let mut set_sort = |p: &Self, s: ForeachSort| -> PResult<()> {
            if sort.is_some() {
                return Err(Diagnostic::parse("multiple sort directives", p.prev_span()));
            }
            sort = Some(s);
            Ok(())
        };
        let mut value = None;
        // `v = [k] in a` / `v- = k in a`: a value variable comes first.
        if self.peek().is_some_and(|t| t.kind == TokKind::Ident)
            && !self.peek_at(1).is_some_and(|t| t.is_ident("in"))
        {
            let save = self.pos;
            let v = self.ident("identifier")?;
            let dir = self.sort_mark();
            if self.accept_op("=") {
                value = Some(v);
                if let Some(d) = dir {
                    set_sort(self, ForeachSort::Value(d))?;
                }
            } else {
                self.pos = save;
            }
        }
        let mut keys = vec![];
        let bracketed = self.accept_op("[");
        loop {
            let k = self.ident("identifier")?;
            if let Some(d) = self.sort_mark() {
                set_sort(self, ForeachSort::Key(keys.len(), d))?;
            }
            keys.push(k);
            if !bracketed {
                break;
            }
            if self.accept_op(",") {
                continue;
            }
            self.expect_op("]")?;
            break;
        }
        if !self.peek_kw("in") {
            return Err(self.error("expected 'in'"));
        }
        self.pos += 1;
        let array = self.indexable()?;
        let mut slice = None;
        if self.accept_op("[") {
            slice = Some(self.index_list()?);
        }
        let mut aggr = None;
        if let Some(t) = self.peek() {
            if let Some(op) = StatOp::from_name(&t.text).filter(|_| t.kind == TokKind::Ident) {
                self.pos += 1;
                aggr = Some(op);
            }
        }
        if let Some(d) = self.sort_mark() {
            set_sort(self, ForeachSort::Value(d))?;
        }
        let mut limit = None;
        if self.peek_kw("limit") {
            self.pos += 1;
            limit = Some(self.expression()?);
        }
        self.expect_op(")")?;
        let body = Box::new(self.statement()?);
        Ok(Foreach {
            value,
            keys,
            bracketed,
            sort,
            array,
            slice,
            aggr,
            limit,
            body,
        })
    }

    /// What `foreach` and `in` take on their right: an array name or a
    /// histogram.
    fn indexable(&mut self) -> PResult<Expr> {
        match self.peek() {
            Some(t) if t.is_ident("@hist_log") || t.is_ident("@hist_linear") => {
                self.pos += 1;
                self.hist(t)
            }
            _ => {
                let id = self.ident("array name")?;
                Ok(Expr::new(ExprKind::Var(id.name), id.span))
            }
        }
    }

    /// After `[`: comma-separated expressions or `*`, through `]`.
    fn index_list(&mut self) -> PResult<Vec<Option<Expr>>> {
        let mut v = vec![];
        loop {
            if self.accept_op("*") {
                v.push(None);
            } else {
                v.push(Some(self.expression()?));
            }
            if self.accept_op(",") {
                continue;
            }
            self.expect_op("]")?;
            return Ok(v);
        }
    }

    // ---- expressions ---------------------------------------------------

    pub fn expression(&mut self) -> PResult<Expr> {
        self.enter()?;
        let outer = !self.in_expression;
        self.in_expression = true;
        let r = self.assignment();
        if outer {
            self.in_expression = false;
        }
        self.leave();
        let e = r?;
        if outer {
            self.check_height(&e)?;
        }
        Ok(e)
    }

    /// Chains of left-associative operators (`1 + 1 + ... + 1`) are parsed
    /// by a loop, not recursion, so [`Parser::enter`] never sees how deep
    /// their trees grow; every later pass walks trees recursively, and a
    /// 100,000-term sum overflowed even the passes' 64 MiB stack. The tree
    /// under a statement is held to the same limit as nesting.
    fn check_height(&self, e: &Expr) -> PResult<()> {
        let room = MAX_NESTING.saturating_sub(self.depth);
        let mut todo = vec![(e, 1usize)];
        while let Some((x, d)) = todo.pop() {
            if d > room {
                // At the expression's start: where a chain begins.
                return Err(Diagnostic::parse(
                    format!(
                        "expression too deep (more than {MAX_NESTING} levels; each operator of \
                         a chain such as a + b + c counts as one)"
                    ),
                    Span::new(e.span.file, e.span.lo as usize, e.span.lo as usize),
                ));
            }
            x.for_each_child(|c| todo.push((c, d + 1)));
        }
        Ok(())
    }

    fn assignment(&mut self) -> PResult<Expr> {
        let l = self.ternary()?;
        let Some(t) = self.peek().filter(|t| t.kind == TokKind::Op) else {
            return Ok(l);
        };
        let op: Option<AssignOp> = match t.text.as_str() {
            "=" => Some(None),
            "+=" => Some(Some(BinOp::Add)),
            "-=" => Some(Some(BinOp::Sub)),
            "*=" => Some(Some(BinOp::Mul)),
            "/=" => Some(Some(BinOp::Div)),
            "%=" => Some(Some(BinOp::Mod)),
            "<<=" => Some(Some(BinOp::Shl)),
            ">>=" => Some(Some(BinOp::Shr)),
            "&=" => Some(Some(BinOp::BitAnd)),
            "|=" => Some(Some(BinOp::BitOr)),
            "^=" => Some(Some(BinOp::BitXor)),
            ".=" => Some(Some(BinOp::Concat)),
            "<<<" => {
                if !l.is_lvalue() || matches!(l.kind, ExprKind::Target { .. }) {
                    return Err(
                        self.error("expected a statistic (variable or array element) before '<<<'")
                    );
                }
                self.pos += 1;
                let r = self.expression()?;
                let span = l.span.to(r.span);
                return Ok(Expr::new(
                    ExprKind::Aggregate {
                        l: Box::new(l),
                        r: Box::new(r),
                    },
                    span,
                ));
            }
            _ => None,
        };
        let Some(op) = op else { return Ok(l) };
        if !l.is_lvalue() {
            return Err(self.error(format!(
                "expected an lvalue (variable or array element) on the left of '{}'",
                t.text
            )));
        }
        self.pos += 1;
        let r = self.expression()?;
        let span = l.span.to(r.span);
        Ok(Expr::new(
            ExprKind::Assign {
                op,
                l: Box::new(l),
                r: Box::new(r),
            },
            span,
        ))
    }

    fn ternary(&mut self) -> PResult<Expr> {
        let cond = self.binary(0)?;
        if !self.peek_op("?") {
            return Ok(cond);
        }
        self.pos += 1;
        let t = self.expression()?;
        self.expect_op(":")?;
        let f = self.expression()?;
        let span = cond.span.to(f.span);
        Ok(Expr::new(
            ExprKind::Ternary {
                cond: Box::new(cond),
                t: Box::new(t),
                f: Box::new(f),
            },
            span,
        ))
    }

    /// Levels from loosest: 0 `||`, 1 `&&`, 2 `|`, 3 `^`, 4 `&`, 5 `in`,
    /// 6 comparisons/regex, 7 shifts, 8 `.`, 9 additive, 10 multiplicative.
    fn binary(&mut self, level: u8) -> PResult<Expr> {
        if level == 5 {
            return self.array_in();
        }
        if level > 10 {
            return self.unary();
        }
        let mut l = self.binary(level + 1)?;
        loop {
            let Some(t) = self.peek().filter(|t| t.kind == TokKind::Op) else {
                return Ok(l);
            };
            let op = match (level, t.text.as_str()) {
                (0, "||") => BinOp::Or,
                (1, "&&") => BinOp::And,
                (2, "|") => BinOp::BitOr,
                (3, "^") => BinOp::BitXor,
                (4, "&") => BinOp::BitAnd,
                (6, "==") => BinOp::Eq,
                (6, "!=") => BinOp::Ne,
                (6, "<") => BinOp::Lt,
                (6, "<=") => BinOp::Le,
                (6, ">") => BinOp::Gt,
                (6, ">=") => BinOp::Ge,
                (6, "=~" | "!~") => {
                    let negate = t.text == "!~";
                    self.pos += 1;
                    let pattern = match self.peek() {
                        Some(p) if p.kind == TokKind::Str => {
                            self.pos += 1;
                            let mut s = p.text.clone();
                            while let Some(p) = self.peek().filter(|p| p.kind == TokKind::Str) {
                                s.push_str(&p.text);
                                self.pos += 1;
                            }
                            s
                        }
                        _ => return Err(self.error("expected literal string as regex")),
                    };
                    let span = l.span.to(self.prev_span());
                    l = Expr::new(
                        ExprKind::Regex {
                            negate,
                            l: Box::new(l),
                            pattern,
                        },
                        span,
                    );
                    continue;
                }
                (7, "<<") => BinOp::Shl,
                (7, ">>") => BinOp::Shr,
                (8, ".") => BinOp::Concat,
                (9, "+") => BinOp::Add,
                (9, "-") => BinOp::Sub,
                (10, "*") => BinOp::Mul,
                (10, "/") => BinOp::Div,
                (10, "%") => BinOp::Mod,
                _ => return Ok(l),
            };
            let op_span = t.span;
            self.pos += 1;
            let r = self.binary(level + 1)?;
            let span = l.span.to(r.span);
            l = Expr::new(
                ExprKind::Binary {
                    op,
                    l: Box::new(l),
                    r: Box::new(r),
                    op_span,
                },
                span,
            );
        }
    }

    /// `k in a`, `[k1, *] in a`, or just a comparison.
    fn array_in(&mut self) -> PResult<Expr> {
        let start = self.here();
        let keys: Vec<Option<Expr>> = if self.peek_op("[") {
            self.pos += 1;
            self.index_list()?
        } else {
            let e = self.binary(6)?;
            if !self.peek_kw("in") {
                return Ok(e);
            }
            vec![Some(e)]
        };
        if !self.peek_kw("in") {
            return Err(self.error("expected 'in' after a bracketed key list"));
        }
        self.pos += 1;
        let array = self.indexable()?;
        let span = start.to(array.span);
        Ok(Expr::new(
            ExprKind::In {
                keys,
                array: Box::new(array),
            },
            span,
        ))
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.unary_inner();
        self.leave();
        r
    }

    fn unary_inner(&mut self) -> PResult<Expr> {
        let start = self.here();
        let Some(t) = self.peek() else {
            return Err(self.error("expected expression"));
        };
        if t.kind == TokKind::Op {
            let op = match t.text.as_str() {
                "-" => Some(UnOp::Neg),
                "+" => Some(UnOp::Plus),
                "!" => Some(UnOp::Not),
                "~" => Some(UnOp::BitNot),
                _ => None,
            };
            if let Some(op) = op {
                self.pos += 1;
                // `-9223372036854775808` must be one literal.
                if op == UnOp::Neg {
                    if let Some(n) = self.peek().filter(|n| n.kind == TokKind::Number) {
                        self.pos += 1;
                        let v = self.number(n)?;
                        return Ok(Expr::new(ExprKind::Num(v.wrapping_neg()), start.to(n.span)));
                    }
                }
                let e = self.unary()?;
                let span = start.to(e.span);
                return Ok(Expr::new(ExprKind::Unary { op, e: Box::new(e) }, span));
            }
            if t.text == "++" || t.text == "--" {
                self.pos += 1;
                let op = if t.text == "++" {
                    IncOp::PreInc
                } else {
                    IncOp::PreDec
                };
                let e = self.value()?;
                if !e.is_lvalue() {
                    return Err(Diagnostic::parse(
                        format!("expected an lvalue after '{}'", t.text),
                        e.span,
                    ));
                }
                let span = start.to(e.span);
                return Ok(Expr::new(ExprKind::Incr { op, e: Box::new(e) }, span));
            }
        }
        let e = self.value()?;
        if let Some(t) = self.peek().filter(|t| t.is_op("++") || t.is_op("--")) {
            if e.is_lvalue() {
                self.pos += 1;
                let op = if t.text == "++" {
                    IncOp::PostInc
                } else {
                    IncOp::PostDec
                };
                let span = e.span.to(t.span);
                return Ok(Expr::new(ExprKind::Incr { op, e: Box::new(e) }, span));
            }
        }
        Ok(e)
    }

    fn args(&mut self) -> PResult<Vec<Expr>> {
        self.expect_op("(")?;
        let mut v = vec![];
        if self.accept_op(")") {
            return Ok(v);
        }
        loop {
            v.push(self.expression()?);
            if self.accept_op(",") {
                continue;
            }
            self.expect_op(")")?;
            return Ok(v);
        }
    }

    fn hist(&mut self, t: &Token) -> PResult<Expr> {
        let kind = if t.text == "@hist_log" {
            HistKind::Log
        } else {
            HistKind::Linear
        };
        let mut args = self.args()?;
        let want = if kind == HistKind::Log { 1 } else { 4 };
        if args.len() != want {
            return Err(Diagnostic::parse(
                format!("{} takes {want} argument(s), got {}", t.text, args.len()),
                t.span.to(self.prev_span()),
            ));
        }
        let arg = args.remove(0);
        Ok(Expr::new(
            ExprKind::Hist {
                kind,
                arg: Box::new(arg),
                params: args,
            },
            t.span.to(self.prev_span()),
        ))
    }

    fn target_path(&mut self) -> PResult<Vec<TargetPart>> {
        let mut path = vec![];
        loop {
            if self.accept_op("->") {
                let f = match self.peek() {
                    Some(t) if t.kind == TokKind::Ident => {
                        self.pos += 1;
                        t.text.clone()
                    }
                    _ => return Err(self.error("expected field name after '->'")),
                };
                path.push(TargetPart::Field(f));
            } else if self.peek_op("[") {
                self.pos += 1;
                let e = self.expression()?;
                self.expect_op("]")?;
                path.push(TargetPart::Index(e));
            } else {
                return Ok(path);
            }
        }
    }

    fn value(&mut self) -> PResult<Expr> {
        let start = self.here();
        let Some(t) = self.peek() else {
            return Err(self.error("expected expression"));
        };
        match t.kind {
            TokKind::Number => {
                self.pos += 1;
                let n = self.number(t)?;
                Ok(Expr::new(ExprKind::Num(n), t.span))
            }
            TokKind::Str => {
                let Literal::Str(s) = self.literal()? else {
                    unreachable!()
                };
                Ok(Expr::new(ExprKind::Str(s), start.to(self.prev_span())))
            }
            TokKind::Embedded => Err(self.embedded_error()),
            TokKind::Op if t.text == "(" => {
                self.pos += 1;
                let e = self.expression()?;
                self.expect_op(")")?;
                Ok(e)
            }
            TokKind::Op if t.text == "&" => {
                self.pos += 1;
                let e = self.value()?;
                if !matches!(e.kind, ExprKind::Target { .. } | ExprKind::AtOp { .. }) {
                    return Err(Diagnostic::parse(
                        "'&' applies only to $target variables and @cast",
                        start,
                    ));
                }
                let span = start.to(e.span);
                Ok(Expr::new(ExprKind::AddrOf(Box::new(e)), span))
            }
            TokKind::Ident => self.ident_value(t),
            _ => Err(self.error("expected expression")),
        }
    }

    fn ident_value(&mut self, t: &'a Token) -> PResult<Expr> {
        let start = t.span;
        let name = t.text.as_str();
        if name.starts_with('$') {
            self.pos += 1;
            let path = self.target_path()?;
            return Ok(Expr::new(
                ExprKind::Target {
                    name: name.to_string(),
                    path,
                },
                start.to(self.prev_span()),
            ));
        }
        if let Some(op) = StatOp::from_name(name) {
            self.pos += 1;
            self.expect_op("(")?;
            let arg = self.expression()?;
            let mut shift = None;
            if op == StatOp::Variance && self.accept_op(",") {
                shift = Some(Box::new(self.expression()?));
            }
            self.expect_op(")")?;
            return Ok(Expr::new(
                ExprKind::Stat {
                    op,
                    arg: Box::new(arg),
                    shift,
                },
                start.to(self.prev_span()),
            ));
        }
        if name == "@hist_log" || name == "@hist_linear" {
            self.pos += 1;
            let h = self.hist(t)?;
            if self.peek_op("[") {
                self.pos += 1;
                let indices = self.index_list()?;
                return Ok(Expr::new(
                    ExprKind::Index {
                        base: Box::new(h),
                        indices,
                    },
                    start.to(self.prev_span()),
                ));
            }
            return Ok(h);
        }
        if name == "@defined" || name == "@entry" {
            self.pos += 1;
            self.expect_op("(")?;
            let e = self.expression()?;
            self.expect_op(")")?;
            let kind = if name == "@defined" {
                ExprKind::Defined(Box::new(e))
            } else {
                ExprKind::Entry(Box::new(e))
            };
            return Ok(Expr::new(kind, start.to(self.prev_span())));
        }
        if name.starts_with('@') {
            self.pos += 1;
            // Unknown here may be a library macro or an operator pass 2
            // refuses; parse it either way so the script can be read.
            let call = self.peek_op("(") && !self.peek().is_some_and(|t| t.spaced);
            let args = if call { self.args()? } else { vec![] };
            let path = self.target_path()?;
            return Ok(Expr::new(
                ExprKind::AtOp {
                    name: name.to_string(),
                    call,
                    args,
                    path,
                },
                start.to(self.prev_span()),
            ));
        }
        if is_keyword(name) {
            return Err(self.error("expected expression"));
        }
        self.pos += 1;
        let e = if self.peek_op("(") {
            let args = self.args()?;
            Expr::new(
                ExprKind::Call {
                    name: name.to_string(),
                    args,
                },
                start.to(self.prev_span()),
            )
        } else {
            let var = Expr::new(ExprKind::Var(name.to_string()), start);
            if self.peek_op("[") {
                self.pos += 1;
                let indices = self.index_list()?;
                Expr::new(
                    ExprKind::Index {
                        base: Box::new(var),
                        indices,
                    },
                    start.to(self.prev_span()),
                )
            } else {
                var
            }
        };
        if self.peek_op("->") {
            let path = self.target_path()?;
            return Ok(Expr::new(
                ExprKind::Member {
                    base: Box::new(e),
                    path,
                },
                start.to(self.prev_span()),
            ));
        }
        Ok(e)
    }
}
