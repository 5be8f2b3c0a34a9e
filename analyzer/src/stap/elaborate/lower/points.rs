//! Declarations and probe points: globals and functions declared, aliases
//! and brace alternatives expanded into one IR probe per concrete point, as
//! stap derives them, each point resolved against the catalog.

use crate::stap::ast::{self, Literal};
use crate::stap::source::{Diagnostic, Span};

use super::*;
use crate::stap::elaborate::catalog::ResolvedPoint;

impl<'a> Elab<'a> {
    // ---- declarations --------------------------------------------------

    pub(super) fn declare(&mut self, script: &ast::Script) {
        for item in &script.items {
            match item {
                ast::Item::Global(g) => {
                    if self.gix.contains_key(&g.name.name) {
                        self.diags.push(Diagnostic::semantic(
                            format!("duplicate global variable '{}'", g.name.name),
                            g.name.span,
                        ));
                        continue;
                    }
                    let (ty, init) = match &g.init {
                        Some(Literal::Num(n)) => (Ty::Long, Some(Const::Num(*n))),
                        Some(Literal::Str(s)) => (Ty::Str, Some(Const::Str(s.clone()))),
                        None => (Ty::Unknown, None),
                    };
                    self.gix
                        .insert(g.name.name.clone(), self.globals.len() as u32);
                    self.globals.push(GlobalInfo {
                        name: g.name.name.clone(),
                        span: g.name.span,
                        ty,
                        keys: g.size.map(|_| vec![]),
                        size: g.size,
                        wrap: g.wrap,
                        init,
                        read: false,
                        library: g.library,
                        written: g.init.is_some(),
                        hists: vec![],
                    });
                }
                ast::Item::Function(f) => {
                    let key = (f.name.name.clone(), f.params.len());
                    if self.fix.contains_key(&key) {
                        self.diags.push(Diagnostic::semantic(
                            format!(
                                "duplicate function '{}' with {} parameter(s)",
                                f.name.name,
                                f.params.len()
                            ),
                            f.name.span,
                        ));
                        continue;
                    }
                    let ty = |t: Option<ast::TypeName>| match t {
                        Some(ast::TypeName::Long) => Ty::Long,
                        Some(ast::TypeName::String) => Ty::Str,
                        None => Ty::Unknown,
                    };
                    self.fix.insert(key, self.funcs.len() as u32);
                    self.funcs.push(FuncSig {
                        name: f.name.name.clone(),
                        span: f.name.span,
                        params: f.params.iter().map(|p| ty(p.ty)).collect(),
                        ret: ty(f.ret),
                    });
                }
                _ => {}
            }
        }
    }

    // ---- probe points --------------------------------------------------

    pub(super) fn expand_probes<'s>(&mut self, script: &'s ast::Script) -> Vec<Expanded<'s>> {
        let aliases: Vec<&ast::Alias> = script
            .items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Alias(a) => Some(a),
                _ => None,
            })
            .collect();
        let mut out = vec![];
        for item in &script.items {
            let ast::Item::Probe(p) = item else { continue };
            // Groups by the chain of aliases used, which decides the body.
            let mut groups: Vec<Expanded<'s>> = vec![];
            let mut sufficient_done = false;
            for pp in &p.points {
                if sufficient_done {
                    break;
                }
                let mut resolved: Vec<(ResolvedPoint, Vec<&'s ast::Block>, Vec<&'s ast::Block>)> =
                    vec![];
                let mut errors = vec![];
                self.resolve_point(pp, &aliases, 0, &mut resolved, &mut errors);
                if resolved.is_empty() {
                    if !pp.optional {
                        let why = if errors.is_empty() {
                            "nothing matches".to_string()
                        } else {
                            errors.join("; ")
                        };
                        self.diags.push(Diagnostic::semantic(
                            format!("probe point {} cannot be served: {why}", pp.text()),
                            pp.span,
                        ));
                    }
                    continue;
                }
                if pp.sufficient {
                    sufficient_done = true;
                }
                for (rp, pro, epi) in resolved {
                    let mut bodies: Vec<&ast::Block> = pro.clone();
                    bodies.push(&p.body);
                    bodies.extend(epi.iter().copied());
                    // Each concrete point is elaborated on its own, as stap
                    // derives one probe per point: `@defined` and context
                    // variables can differ between them.
                    groups.push(Expanded {
                        points: vec![rp],
                        conditions: vec![pp.condition.as_ref()],
                        own: pro.len(),
                        bodies,
                        span: p.span,
                        text: p
                            .points
                            .iter()
                            .map(|x| x.text())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
            if let Some(tables) = &self.opts.tables {
                for g in &mut groups {
                    let before = g.points.len();
                    let mut missing = vec![];
                    let keep: Vec<bool> = g
                        .points
                        .iter()
                        .map(|rp| match rp.table() {
                            Some(t) if !tables.contains(&t) => {
                                missing.push((rp.text.clone(), t));
                                false
                            }
                            _ => true,
                        })
                        .collect();
                    let mut k = keep.iter();
                    g.points.retain(|_| *k.next().unwrap_or(&true));
                    let mut k = keep.iter();
                    g.conditions.retain(|_| *k.next().unwrap_or(&true));
                    let optional = p.points.iter().all(|x| x.optional);
                    if !missing.is_empty() && !optional {
                        let recorded: Vec<&str> = tables.iter().map(|t| t.name()).collect();
                        let (text, t) = &missing[0];
                        self.diags.push(Diagnostic::semantic(
                            format!(
                                "{text} needs the {t} table; this trace was recorded with --events {}",
                                recorded.join(",")
                            ),
                            p.span,
                        ));
                    }
                    let _ = before;
                }
                groups.retain(|g| !g.points.is_empty());
            }
            out.extend(groups);
        }
        out
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn resolve_point<'s>(
        &mut self,
        pp: &ast::ProbePoint,
        aliases: &[&'s ast::Alias],
        depth: usize,
        out: &mut Vec<(ResolvedPoint, Vec<&'s ast::Block>, Vec<&'s ast::Block>)>,
        errors: &mut Vec<String>,
    ) {
        if depth > 16 {
            errors.push("probe aliases nest too deeply (recursive alias?)".into());
            return;
        }
        // Brace alternatives: expand the text and read each alternative.
        if pp.components.iter().any(|c| c.name.contains('{')) {
            let text = pp.text();
            for alt in crate::stap::glob::expand_braces(&text) {
                match parse_point(&alt) {
                    Some(mut p) => {
                        p.span = pp.span;
                        p.condition = pp.condition.clone();
                        p.optional |= pp.optional;
                        self.resolve_point(&p, aliases, depth + 1, out, errors);
                    }
                    None => errors.push(format!("cannot read alternative {alt}")),
                }
            }
            return;
        }
        // User aliases: an alias whose name matches a prefix of the point.
        let matching = |name: &ast::ProbePoint| {
            name.components.len() <= pp.components.len()
                && name.components.iter().zip(&pp.components).all(|(an, pc)| {
                    crate::stap::glob::matches(&pc.name, &an.name) && an.arg == pc.arg
                })
        };
        // An alias named by a longer part of the point wins over a shorter
        // one extended by the rest as a suffix, as in stap's tree of probe
        // points (`signal.syskill.return` is not `signal.syskill` + return).
        let longer = |name: &ast::ProbePoint| {
            aliases.iter().flat_map(|a| &a.names).any(|m| {
                m.components.len() > name.components.len()
                    && matching(m)
                    && m.components
                        .iter()
                        .zip(&name.components)
                        .all(|(x, y)| x == y)
            })
        };
        let mut via_alias = false;
        for a in aliases {
            for name in &a.names {
                let k = name.components.len();
                if !matching(name) || (k < pp.components.len() && longer(name)) {
                    continue;
                }
                via_alias = true;
                let suffix = &pp.components[k..];
                for target in &a.points {
                    let mut t = target.clone();
                    t.components.extend(suffix.iter().cloned());
                    t.optional |= pp.optional;
                    let mut sub = vec![];
                    self.resolve_point(&t, aliases, depth + 1, &mut sub, errors);
                    for (rp, mut pro, mut epi) in sub {
                        if a.epilogue {
                            epi.push(&a.body);
                        } else {
                            pro.insert(0, &a.body);
                        }
                        out.push((rp, pro, epi));
                    }
                }
            }
        }
        if via_alias {
            return;
        }
        match self.catalog.resolve(pp) {
            Ok(v) => out.extend(v.into_iter().map(|rp| (rp, vec![], vec![]))),
            Err(e) => errors.push(e),
        }
    }
}

/// Reads a probe point from text (a brace alternative).
pub(super) fn parse_point(text: &str) -> Option<ast::ProbePoint> {
    let src = format!("probe {text} {{}}");
    let mut diags = vec![];
    let toks = crate::stap::lexer::lex(0, &src, &mut diags);
    let (script, d) = crate::stap::parser::parse_tokens(&toks, Span::default());
    if !diags.is_empty() || !d.is_empty() {
        return None;
    }
    match script.items.into_iter().next() {
        Some(ast::Item::Probe(p)) => p.points.into_iter().next(),
        _ => None,
    }
}
