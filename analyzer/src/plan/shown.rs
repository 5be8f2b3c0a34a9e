//! Arrays the interpreted code sees only through value sorts with a
//! limit (`foreach ([p, n] in c- limit 10) printf(..., c[p, n])`): of a
//! million elements the plans computed, it can observe the ten each sort
//! shows, so only those are handed to the interpreter. Building, ordering
//! and loading the others into its arrays was most of such a run's time
//! and memory (5 files of 1M processes: 750k elements, about 0.5 s of
//! 0.98 s; peak RSS 666 MB, 329 MB without them), where a query engine
//! keeps a top-N heap.
//!
//! The interpreter shows the first `limit` elements in value order, equal
//! values in the order they were created (first firing). Those of a
//! sort are among the elements whose value is at least its `limit`-th
//! best; ordered as the interpreter would create them, the first `limit`
//! of those in value order (stable) are the ones it shows, and an array
//! of only them, created in that order, shows the same.

use std::collections::BTreeSet;

use crate::stap::elaborate::ir::{Foreach, ForeachSource, LValue, Program, Sort, StatRef, S, X};
use crate::stap::elaborate::walk::{self, Access, Visit};

use super::analysis::{Compiled, ValueSort};

/// The compiled arrays every use of which outside the compiled probes is
/// a `foreach` sorted by value with a literal limit and no slice, or, in
/// such a loop's body, the element the loop is at (`c[p, n]`, its keys
/// the loop's variables, never assigned there). Anything else (another
/// read, a write, a membership test, a loop of another kind, a use in a
/// function) observes elements no sort shows.
pub(super) fn seen_through_limits(prog: &Program, c: &Compiled) -> BTreeSet<u32> {
    let mut v = Uses::default();
    for (pi, p) in prog.probes.iter().enumerate() {
        if !c.probes.contains(&pi) {
            walk::walk_probe(&mut v, p);
        }
    }
    for f in &prog.functions {
        walk::walk_stmts(&mut v, &f.body);
    }
    (v.sorted.difference(&v.other))
        .filter(|g| c.globals.contains(g) && prog.globals[**g as usize].keys.is_some())
        .copied()
        .collect()
}

#[derive(Default)]
struct Uses {
    /// Arrays iterated by a limited value sort.
    sorted: BTreeSet<u32>,
    /// Arrays used in any other way.
    other: BTreeSet<u32>,
    /// The limited sorts around the code being walked: array, key slots.
    loops: Vec<(u32, Vec<u32>)>,
}

/// Whether a loop is a value sort over an array with a literal limit.
fn limited_sort(f: &Foreach) -> Option<u32> {
    match (&f.source, &f.sort, &f.limit, &f.slice) {
        (ForeachSource::Global(g), Some(Sort::Value(..)), Some(X::Num(_)), None) => Some(*g),
        _ => None,
    }
}

impl Visit for Uses {
    fn stmt(&mut self, s: &S) {
        match s {
            S::Foreach(f) => {
                // (An inner loop's variables are written by it.)
                for slot in f.key_vars.iter().chain(&f.value_var) {
                    self.assigned(*slot);
                }
                if let Some(g) = limited_sort(f) {
                    self.sorted.insert(g);
                    self.loops.push((g, f.key_vars.clone()));
                    self.stmt(&f.body);
                    self.loops.pop();
                    return;
                }
            }
            S::DeleteLocal(slot)
            | S::Try {
                var: Some(slot), ..
            } => self.assigned(*slot),
            _ => {}
        }
        walk::walk_stmt(self, s)
    }

    fn expr(&mut self, x: &X) {
        match x {
            X::Elem(g, keys) if self.at_element(*g, keys) => return,
            X::Stat(_, StatRef::Elem(g, keys), _) if self.at_element(*g, keys) => return,
            X::Hist(h) => {
                if let StatRef::Elem(g, keys) = &h.stat {
                    if self.at_element(*g, keys) {
                        return;
                    }
                }
            }
            X::Assign(LValue::Local(slot), ..) | X::Incr(_, LValue::Local(slot), _) => {
                self.assigned(*slot)
            }
            _ => {}
        }
        walk::walk_expr(self, x)
    }

    fn global(&mut self, g: u32, _how: Access) {
        self.other.insert(g);
    }
}

impl Uses {
    /// `g[keys]` is the element an enclosing sort of `g` is at.
    fn at_element(&self, g: u32, keys: &[X]) -> bool {
        self.loops.iter().any(|(lg, slots)| {
            *lg == g
                && keys.len() == slots.len()
                && keys
                    .iter()
                    .zip(slots)
                    .all(|(k, s)| matches!(k, X::Local(l) if l == s))
        })
    }

    /// A local written: if it is a sort's key, its array's element reads
    /// may name another element.
    fn assigned(&mut self, slot: u32) {
        for (g, slots) in &self.loops {
            if slots.contains(&slot) {
                self.other.insert(*g);
            }
        }
    }
}

/// Which elements, of an array's in the order the interpreter creates
/// them, its limited sorts show: each sort's first `limit` by value (ties
/// in that order). `value(i, s)` is element `i`'s value under sort `s`.
pub(super) fn shown(
    n: usize,
    sorts: &[ValueSort],
    value: impl Fn(usize, &ValueSort) -> i64,
) -> Vec<bool> {
    let mut keep = vec![false; n];
    for s in sorts {
        let limit = s.limit.map_or(n, |l| (l.max(0) as usize).min(n));
        let key = |i: usize| match s.desc {
            true => !value(i, s),
            false => value(i, s),
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| key(i));
        for &i in &order[..limit] {
            keep[i] = true;
        }
    }
    keep
}

/// Of elements with these values under a sort, whether one with a value
/// may be among the first `limit` whatever their order: its value is at
/// least the `limit`-th best.
pub(super) fn may_be_shown(values: Vec<i64>, s: &ValueSort) -> impl Fn(i64) -> bool {
    let n = values.len();
    let limit = s.limit.map_or(n, |l| (l.max(0) as usize).min(n));
    let desc = s.desc;
    let key = move |v: i64| if desc { !v } else { v };
    let mut keys: Vec<i64> = values.into_iter().map(key).collect();
    // (None: none is shown; the greatest key: all are.)
    let bound = match limit {
        0 => None,
        l if l == n => Some(i64::MAX),
        l => Some(*keys.select_nth_unstable(l - 1).1),
    };
    move |v| bound.is_some_and(|b| key(v) <= b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stap::ast::StatOp;
    use crate::stap::elaborate::{elaborate, ElabOptions};
    use crate::stap::{self, PpEnv};

    fn limited(end: &str) -> bool {
        let text = format!(
            "global c, d\nfunction f(x:long) {{ return x }}\n\
             probe syscall.* {{ c[pid(), execname()]++; d[pid()]++ }}\n\
             probe end {{ {end} }}\n"
        );
        let (p, diags) = stap::parse("t.stp", &text, &PpEnv::host(vec![]));
        assert!(diags.is_empty(), "{text}");
        let opts = ElabOptions::no_trace("x86_64");
        let (prog, errors, _) = elaborate(&p.script, &opts);
        assert!(errors.is_empty(), "{text}: {errors:?}");
        let c = super::super::analyse(&prog);
        assert!(c.globals.contains(&0), "{text}: c is not compiled");
        seen_through_limits(&prog, &c).contains(&0)
    }

    /// Only code that can observe no element but those a limited sort
    /// shows leaves the others out.
    #[test]
    fn arrays_seen_only_through_limited_sorts() {
        let top = "foreach ([p, n] in c- limit 10) printf(\"%s %d %d\\n\", n, p, c[p, n])";
        assert!(limited(top));
        assert!(limited("foreach ([p, n] in c+ limit 3) print(p)"));
        assert!(limited(
            "foreach (v = [p, n] in c- limit 3) { printf(\"%d\", v); foreach ([q, m] in c+ limit 1) print(c[q, m]) }"
        ));
        // Its value passed on: a value, not the array.
        assert!(limited("foreach ([p, n] in c- limit 10) print(f(c[p, n]))"));
        // d is another array: its uses do not matter.
        assert!(limited(&format!("{top}; foreach (p in d) print(d[p])")));
        for other in [
            "foreach ([p, n] in c-) print(c[p, n])",
            "foreach ([p, n] in c limit 10) print(c[p, n])",
            "foreach ([p, n] in c[1, *]- limit 10) print(c[p, n])",
            "foreach ([p, n] in c- limit d[1]) print(c[p, n])",
            "foreach ([p, n] in c- limit 10) print(c[p, \"x\"])",
            "foreach ([p, n] in c- limit 10) { p = 1; print(c[p, n]) }",
            "foreach ([p, n] in c- limit 10) { p++; print(c[p, n]) }",
            "foreach ([p, n] in c- limit 10) delete c[p, n]",
            "foreach ([p, n] in c- limit 10) c[p, n] = 0",
            "foreach ([p, n] in c- limit 10) print(p); print(c[1, \"x\"])",
            "foreach ([p, n] in c- limit 10) print(p); if ([1, \"x\"] in c) print(1)",
            "foreach ([p, n] in c- limit 10) print(p); delete c",
            "foreach (p in d- limit 10) print(c[p, \"x\"])",
        ] {
            assert!(!limited(other), "{other}");
        }
        // Nothing sorted at all: printed whole at the end.
        assert!(!limited("print(1)"));
    }

    /// What `shown` keeps is each sort's first `limit` in value order,
    /// ties in creation order; `may_be_shown` keeps at least those.
    #[test]
    fn shown_elements_are_the_sorts_first() {
        let values = [5, 7, 7, 1, 7, 9, 5];
        let sort = |desc: bool, limit: i64| ValueSort {
            desc,
            op: StatOp::Count,
            limit: Some(limit),
        };
        let keep = |sorts: &[ValueSort]| -> Vec<usize> {
            let k = shown(values.len(), sorts, |i, _| values[i]);
            (0..values.len()).filter(|&i| k[i]).collect()
        };
        assert_eq!(keep(&[sort(true, 3)]), vec![1, 2, 5]);
        assert_eq!(keep(&[sort(false, 2)]), vec![0, 3]);
        assert_eq!(keep(&[sort(true, 1), sort(false, 1)]), vec![3, 5]);
        assert_eq!(keep(&[sort(true, 0)]), Vec::<usize>::new());
        assert_eq!(keep(&[sort(true, 100)]), (0..7).collect::<Vec<_>>());
        let may = |s: ValueSort| -> Vec<bool> {
            let m = may_be_shown(values.to_vec(), &s);
            values.iter().map(|&v| m(v)).collect()
        };
        assert_eq!(
            may(sort(true, 3)),
            [false, true, true, false, true, true, false]
        );
        assert_eq!(
            may(sort(false, 2)),
            [true, false, false, true, false, false, true]
        );
        assert_eq!(
            may(sort(false, 3)),
            [true, false, false, true, false, false, true]
        );
        assert_eq!(may(sort(true, 0)), [false; 7]);
        assert_eq!(may(sort(true, 7)), [true; 7]);
    }
}
