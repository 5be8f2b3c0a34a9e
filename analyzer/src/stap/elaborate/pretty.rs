//! What `-p2` prints: globals with types, functions with signatures, and
//! each probe with the table and row filter that serve it, then its body.

use std::fmt::Write;

use super::catalog::Family;
use super::ir::{Const, Program, Ty};
use crate::stap::ast;
use crate::stap::printer;

fn global_type(g: &super::ir::GlobalInfo) -> String {
    match &g.keys {
        Some(k) => {
            let keys: Vec<String> = k.iter().map(|t| t.to_string()).collect();
            format!("{}[{}]", g.ty, keys.join(", "))
        }
        None => g.ty.to_string(),
    }
}

/// Renders the elaborated program; `script` supplies the bodies as written.
pub fn render(program: &Program, script: &ast::Script) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# globals");
    for g in &program.globals {
        if g.ty == Ty::Unknown && !g.read && !g.written {
            let _ = writeln!(o, "{}  # unused, elided", g.name);
            continue;
        }
        let _ = write!(o, "{}:{}", g.name, global_type(g));
        if let Some(n) = g.size {
            let _ = write!(o, " size={n}");
        }
        if g.wrap {
            let _ = write!(o, " wrapping");
        }
        match &g.init {
            Some(Const::Num(n)) => {
                let _ = write!(o, " = {n}");
            }
            Some(Const::Str(s)) => {
                let _ = write!(o, " = {}", crate::stap::lexer::quote(s));
            }
            None => {}
        }
        if g.written && !g.read {
            let _ = write!(o, "  # written, never read: printed at exit");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "# functions");
    let bodies: Vec<&ast::Function> = script
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Function(f) => Some(f),
            _ => None,
        })
        .collect();
    for f in &program.functions {
        let params: Vec<String> = f.params.iter().map(|(n, t)| format!("{n}:{t}")).collect();
        let ret = if f.ret == Ty::Unknown {
            "unknown".to_string()
        } else {
            f.ret.to_string()
        };
        let _ = write!(o, "{}:{} ({})", f.name, ret, params.join(", "));
        let locals: Vec<String> = f
            .locals
            .iter()
            .skip(f.params.len())
            .map(|(n, t)| format!("{n}:{t}"))
            .collect();
        if !locals.is_empty() {
            let _ = write!(o, "  # locals: {}", locals.join(", "));
        }
        let _ = writeln!(o);
        if let Some(ast) = bodies
            .iter()
            .find(|b| b.name.name == f.name && b.params.len() == f.params.len())
        {
            let text = printer::print_script(&ast::Script {
                items: vec![ast::Item::Function((*ast).clone())],
            });
            for line in text.lines().skip(1) {
                let _ = writeln!(o, "{line}");
            }
        }
    }
    let _ = writeln!(o, "# probes");
    for p in &program.probes {
        let _ = writeln!(o, "{}", p.text);
        for rp in &p.points {
            let source = match rp.table() {
                Some(t) => {
                    let f = rp.rows().to_string();
                    let when = match rp.family {
                        Family::Syscall { ret: true }
                        | Family::SyscallAny { ret: true }
                        | Family::Vfs { ret: true, .. }
                        | Family::BlockEnd => " at ts + dur_ns",
                        _ => "",
                    };
                    // A lifecycle point's program, followed through the tree.
                    let whose = match &rp.process {
                        Some(p) => format!(
                            ", {} of {}",
                            if p.thread {
                                "threads but the main one"
                            } else {
                                "main threads"
                            },
                            p.exe.as_deref().map_or("any process".to_string(), |e| {
                                format!("processes running {e}")
                            })
                        ),
                        None => String::new(),
                    };
                    if f.is_empty() {
                        format!("table {t}{when}{whose}")
                    } else {
                        format!("table {t} where {f}{when}{whose}")
                    }
                }
                None => {
                    match rp.family {
                        Family::Begin => format!("begin({})", rp.order),
                        Family::End => match &rp.procfs {
                            Some(f) => format!(
                                "procfs file {:?} read once, after the events and before end",
                                f.file
                            ),
                            None => format!("end({})", rp.order),
                        },
                        Family::Error => "on runtime errors".to_string(),
                        Family::Never => "never".to_string(),
                        Family::Timer {
                            period_ns,
                            randomize_ns,
                        } => {
                            if randomize_ns > 0 {
                                format!("every {period_ns} ns of trace time, +/- up to {randomize_ns} ns")
                            } else {
                                format!("every {period_ns} ns of trace time")
                            }
                        }
                        _ => String::new(),
                    }
                }
            };
            let cond = if rp.condition.is_some() {
                " if (condition)"
            } else {
                ""
            };
            let _ = writeln!(o, "  # {} -> {source}{cond}", rp.text);
        }
        let locals: Vec<String> = p.locals.iter().map(|(n, t)| format!("{n}:{t}")).collect();
        if !locals.is_empty() {
            let _ = writeln!(o, "  # locals: {}", locals.join(", "));
        }
        if let Some(ast::Item::Probe(src)) = script.items.iter().find(|i| matches!(i, ast::Item::Probe(pr) if pr.span.lo == p.span.lo && pr.span.hi == p.span.hi && pr.span.file == p.span.file)) {
            let text = printer::print_script(&ast::Script {
                items: vec![ast::Item::Probe(src.clone())],
            });
            let body: Vec<&str> = text.lines().collect();
            if let Some((first, rest)) = body.split_first() {
                let brace = first.rfind('{').map(|i| &first[i..]).unwrap_or("{");
                let _ = writeln!(o, "{brace}");
                for line in rest {
                    let _ = writeln!(o, "{line}");
                }
            }
        }
    }
    o
}
