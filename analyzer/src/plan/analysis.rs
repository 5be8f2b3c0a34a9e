//! Which probes and globals can be plans (pass 3's analysis).

use super::error::{unsupported, PlanError};
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::stap::ast::SortDir;

use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::ir::*;
use crate::stap::elaborate::tapset::Builtin;
use crate::stap::elaborate::walk;

use super::translate;

#[derive(Clone, Debug)]
pub enum UpdateKind {
    /// `a[k]++` (+1) / `a[k]--` (-1)
    Count(i64),
    /// `a[k] += e` (+1) / `a[k] -= e` (-1)
    Sum(i64, X),
    /// `s[k] <<< e`
    Stat(X),
    /// `if (e > a[k]) a[k] = e` (strict) or `if (e >= a[k]) a[k] = e`: a
    /// running maximum. Missing elements read 0, so only rows with e > 0
    /// (e >= 0) ever assign, and the result is their max.
    Max(X, bool),
    /// `if (!(k in a) || e < a[k]) a[k] = e` (also `<=`, `a[k] > e`): a
    /// running minimum. The first row of a key always assigns, so every
    /// row counts and the result is their min.
    Min(X),
}

/// One commutative update of a global under guards, in one probe point.
#[derive(Clone, Debug)]
pub struct Update {
    pub probe: usize,
    pub point: usize,
    pub global: u32,
    pub keys: Vec<X>,
    pub guards: Vec<X>,
    pub kind: UpdateKind,
}

/// A probe whose whole effect is one `printf` per firing (under `if`
/// guards): its output is an ordered projection of its table's rows.
#[derive(Clone, Debug)]
pub struct Projection {
    pub probe: usize,
    pub guards: Vec<X>,
    pub fmt: crate::stap::elaborate::format::Format,
    /// Event expressions, or a running global (`X::Global`) as it stands
    /// when the printf runs.
    pub args: Vec<X>,
    /// What the body does per firing, in order: updates of running
    /// globals (`count++; printf(..., count)`, a probe reading what it
    /// updates) and the printf.
    pub steps: Vec<Step>,
}

/// One statement of a projection's body.
#[derive(Clone, Debug)]
pub enum Step {
    /// `g++` / `g--` (value None) or `g += e` / `g -= e` on a scalar long
    /// global: a running value, kept in firing order as the merge goes.
    Add {
        global: u32,
        sign: i64,
        value: Option<X>,
    },
    Print,
}

impl Projection {
    /// The globals it keeps running.
    pub fn running(&self) -> Vec<u32> {
        let mut g: Vec<u32> = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Add { global, .. } => Some(*global),
                Step::Print => None,
            })
            .collect();
        g.sort();
        g.dedup();
        g
    }
}

impl Compiled {
    /// A probe the interpreter runs: because plans do not support it, or
    /// because translating it failed.
    fn fall_back(&mut self, text: &str, e: PlanError) {
        match e {
            PlanError::Unsupported(why) => self.interpreted.push((text.to_string(), why)),
            other => self.failed.push((text.to_string(), other.to_string())),
        }
    }
}

#[derive(Debug, Default)]
pub struct Compiled {
    /// Probes whose every effect is a plan (the interpreter skips them).
    pub probes: BTreeSet<usize>,
    pub globals: BTreeSet<u32>,
    pub updates: Vec<Update>,
    /// (probe text, why it runs in the interpreter) for -v.
    pub interpreted: Vec<(String, String)>,
    /// (probe text, the error) where translating to a plan failed rather
    /// than met something plans do not support: a bug, which the run
    /// reports (and a strict run stops on); the interpreter runs them.
    pub failed: Vec<(String, String)>,
    /// With timer probes: their period. Plan results are then grouped by
    /// timer interval and merged into the globals tick by tick, so timers
    /// that print and reset (or exit) see what they would have.
    pub period: Option<i64>,
    /// The probes that print per event, in program order, when they can
    /// be projections: every other event probe compiles to aggregates,
    /// there are no timers, and they print rows of one table, so their
    /// lines merge in the interpreter's order and nothing else interleaves.
    pub projections: Vec<Projection>,
    /// How the interpreted code orders each compiled array's elements,
    /// when it never needs their insertion (first-firing) order: plans
    /// then read no timestamps, and each sort must find no ties where the
    /// output would show their order. None: plans keep first firing times.
    pub order: Option<HashMap<u32, Vec<ValueSort>>>,
    /// Arrays (of those `order` has) the interpreted code sees only
    /// through value sorts with a limit: it is given only the elements
    /// they show (see shown.rs).
    pub seen_through_limits: BTreeSet<u32>,
    /// For compiled statistics: the moments something can read. A
    /// statistic read only through @count and histograms is computed as
    /// counts per bucket.
    pub moments: HashMap<u32, Moments>,
}

/// Which of a statistic's sum, min and max can be read (its count always
/// is, and comes from the counts per bucket).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub sum: bool,
    pub min: bool,
    pub max: bool,
}

impl Moments {
    pub const ALL: Moments = Moments {
        sum: true,
        min: true,
        max: true,
    };

    fn add(&mut self, op: crate::stap::ast::StatOp) {
        use crate::stap::ast::StatOp;
        match op {
            StatOp::Count => {}
            StatOp::Sum | StatOp::Avg => self.sum = true,
            StatOp::Min => self.min = true,
            StatOp::Max => self.max = true,
            StatOp::Variance => *self = Moments::ALL,
        }
    }
}

/// What the program can read of each statistic in `globals`: extractors,
/// value sorts, and everything for one printed at the end because nothing
/// reads it (or named whole, which pass 2 refuses today).
fn moments_read(prog: &Program, globals: &BTreeSet<u32>) -> HashMap<u32, Moments> {
    let mut out: HashMap<u32, Moments> = globals
        .iter()
        .filter(|&&g| prog.globals[g as usize].ty == Ty::Stat)
        .map(|&g| {
            let info = &prog.globals[g as usize];
            let m = if info.written && !info.read {
                Moments::ALL
            } else {
                Moments::default()
            };
            (g, m)
        })
        .collect();
    prog.for_each_global(&mut |g, how| {
        let Some(m) = out.get_mut(&g) else {
            return;
        };
        match how {
            Access::Extract(op) => m.add(op),
            Access::Value | Access::Iterate { value: true, .. } => *m = Moments::ALL,
            _ => {}
        }
        if let Access::Iterate {
            sort: Some(Sort::Value(_, op)),
            ..
        } = how
        {
            m.add(op);
        }
    });
    out
}

/// A `foreach` (or end-of-run print) ordering an array by value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueSort {
    pub desc: bool,
    /// For statistics: the extractor it sorts by.
    pub op: crate::stap::ast::StatOp,
    /// Elements shown (None: all of them).
    pub limit: Option<i64>,
}

/// How code outside the compiled probes orders the compiled arrays: None
/// if some array is iterated in insertion order (unsorted, by one key of
/// several, by an average or variance, ...).
fn orders(prog: &Program, c: &Compiled) -> Option<HashMap<u32, Vec<ValueSort>>> {
    use crate::stap::ast::StatOp;
    if c.period.is_some() {
        return None;
    }
    let mut out: HashMap<u32, Vec<ValueSort>> = HashMap::new();
    let mut ok = true;
    let mut sorts = |f: &Foreach| {
        let ForeachSource::Global(g) = f.source else {
            return;
        };
        if !c.globals.contains(&g) {
            return;
        }
        let arity = prog.globals[g as usize]
            .keys
            .as_ref()
            .map_or(0, |k| k.len());
        match f.sort {
            // One key orders them completely.
            Some(Sort::Key(_, _)) if arity == 1 => {}
            Some(Sort::Value(dir, op)) if !matches!(op, StatOp::Avg | StatOp::Variance) => {
                // A literal limit over the whole array; else every
                // element counts (a slice's first N are not the array's).
                let limit = match (&f.limit, &f.slice) {
                    (Some(X::Num(n)), None) => Some(*n),
                    _ => None,
                };
                out.entry(g).or_default().push(ValueSort {
                    desc: dir == SortDir::Desc,
                    op,
                    limit,
                });
            }
            _ => ok = false,
        }
    };
    let mut v = walk::Each {
        expr: |_: &X| {},
        global: |_, _| {},
        foreach: &mut sorts,
    };
    for (pi, p) in prog.probes.iter().enumerate() {
        if !c.probes.contains(&pi) {
            walk::walk_probe(&mut v, p);
        }
    }
    for f in &prog.functions {
        walk::walk_stmts(&mut v, &f.body);
    }
    // Arrays nothing reads are printed at the end, largest value (count)
    // first.
    for &g in &c.globals {
        let info = &prog.globals[g as usize];
        if info.keys.is_some() && info.written && !info.read {
            out.entry(g).or_default().push(ValueSort {
                desc: true,
                op: StatOp::Count,
                limit: None,
            });
        }
    }
    ok.then_some(out)
}

/// The guards, steps and printf of a body that is `[if (g)] { ... }` around
/// one printf and updates of scalar globals (`n++`, `n += e`) before or
/// after it.
fn printf_of(
    body: &[S],
    guards: &mut Vec<X>,
) -> Option<(crate::stap::elaborate::format::Format, Vec<X>, Vec<Step>)> {
    let live: Vec<&S> = body.iter().filter(|s| !matches!(s, S::Nop)).collect();
    match live.as_slice() {
        [S::Block(v)] => return printf_of(v, guards),
        [S::If(c, t, None)] => {
            guards.push(c.clone());
            return printf_of(std::slice::from_ref(t), guards);
        }
        _ => {}
    }
    let mut steps = vec![];
    let mut printf = None;
    for s in live {
        match s {
            S::Expr(X::Printf {
                to_string: false,
                fmt,
                args,
                ..
            }) if printf.is_none() => {
                printf = Some((fmt.clone(), args.clone()));
                steps.push(Step::Print);
            }
            S::Expr(X::Incr(op, LValue::Global(g), _)) => {
                let sign = match op {
                    crate::stap::ast::IncOp::PreInc | crate::stap::ast::IncOp::PostInc => 1,
                    _ => -1,
                };
                steps.push(Step::Add {
                    global: *g,
                    sign,
                    value: None,
                });
            }
            S::Expr(X::Assign(LValue::Global(g), Some(ArithOrConcat::Arith(op)), v, _))
                if matches!(op, ArithOp::Add | ArithOp::Sub) =>
            {
                steps.push(Step::Add {
                    global: *g,
                    sign: if *op == ArithOp::Add { 1 } else { -1 },
                    value: Some((**v).clone()),
                });
            }
            _ => return None,
        }
    }
    let (fmt, args) = printf?;
    Some((fmt, args, steps))
}

/// The updates a probe body is made of, or why it is something else.
fn updates_of(
    s: &S,
    guards: &mut Vec<X>,
    out: &mut Vec<(Vec<X>, u32, Vec<X>, UpdateKind)>,
) -> Result<(), PlanError> {
    match s {
        S::Block(v) => {
            for s in v {
                updates_of(s, guards, out)?;
            }
            Ok(())
        }
        S::Nop => Ok(()),
        S::If(c, t, None) => {
            if let Some((g, keys, v, strict)) = max_update(c, t) {
                out.push((guards.clone(), g, keys, UpdateKind::Max(v, strict)));
                return Ok(());
            }
            if let Some((g, keys, v)) = min_update(c, t) {
                out.push((guards.clone(), g, keys, UpdateKind::Min(v)));
                return Ok(());
            }
            guards.push(c.clone());
            let r = updates_of(t, guards, out);
            guards.pop();
            r
        }
        S::If(_, _, Some(_)) => Err(unsupported("an if with an else")),
        S::Expr(x) => {
            let (g, keys, kind) = match x {
                X::Incr(op, lv, _) => {
                    let sign = match op {
                        crate::stap::ast::IncOp::PreInc | crate::stap::ast::IncOp::PostInc => 1,
                        _ => -1,
                    };
                    let (g, k) = lvalue(lv)?;
                    (g, k, UpdateKind::Count(sign))
                }
                X::Assign(lv, Some(ArithOrConcat::Arith(op)), v, _) => {
                    let sign = match op {
                        ArithOp::Add => 1,
                        ArithOp::Sub => -1,
                        _ => return Err(unsupported("an assignment that is not += or -=")),
                    };
                    let (g, k) = lvalue(lv)?;
                    (g, k, UpdateKind::Sum(sign, (**v).clone()))
                }
                X::Aggregate(r, v) => {
                    let (g, k) = match r {
                        StatRef::Global(g) => (*g, vec![]),
                        StatRef::Elem(g, k) => (*g, k.clone()),
                    };
                    (g, k, UpdateKind::Stat((**v).clone()))
                }
                _ => {
                    return Err(unsupported(
                        "a statement that is not a commutative update (++, +=, <<<)",
                    ))
                }
            };
            out.push((guards.clone(), g, keys, kind));
            Ok(())
        }
        _ => Err(unsupported(
            "a statement that is not a commutative update (++, +=, <<<)",
        )),
    }
}

/// The assignment `g[k] = e` a running minimum or maximum makes.
fn assignment(t: &S) -> Option<(u32, &[X], &X)> {
    let body = match t {
        S::Expr(x) => x,
        S::Block(v) if v.len() == 1 => match &v[0] {
            S::Expr(x) => x,
            _ => return None,
        },
        _ => return None,
    };
    let X::Assign(lv, None, v, _) = body else {
        return None;
    };
    match lv {
        LValue::Global(g) => Some((*g, &[], v)),
        LValue::Elem(g, k) => Some((*g, k, v)),
        LValue::Local(_) => None,
    }
}

/// Recognises `if (!(k in g) || e < g[k]) g[k] = e` (also `<=` and the
/// mirrored `g[k] > e`): the running-minimum idiom. Arrays only: a scalar
/// has no "not yet set".
fn min_update(c: &X, t: &S) -> Option<(u32, Vec<X>, X)> {
    let X::Or(absent, less) = c else {
        return None;
    };
    let X::Unary(crate::stap::ast::UnOp::Not, inx) = &**absent else {
        return None;
    };
    let X::In(ig, ik) = &**inx else {
        return None;
    };
    let (e, target) = match &**less {
        X::Cmp(CmpOp::Lt | CmpOp::Le, false, a, b) => (a, b),
        X::Cmp(CmpOp::Gt | CmpOp::Ge, false, a, b) => (b, a),
        _ => return None,
    };
    let X::Elem(g, keys) = &**target else {
        return None;
    };
    let (lg, lk, v) = assignment(t)?;
    let same_keys =
        |ks: &[X]| ks.len() == keys.len() && ks.iter().zip(keys).all(|(a, b)| same(a, b));
    let in_keys: Option<Vec<X>> = ik.iter().cloned().collect();
    let ok = *ig == *g
        && lg == *g
        && in_keys.is_some_and(|k| same_keys(&k))
        && same_keys(lk)
        && same(v, e);
    ok.then(|| (*g, keys.clone(), (**e).clone()))
}

/// Recognises `if (e > g[k]) g[k] = e` (also `>=`, and written as
/// `g[k] < e`): the running-maximum idiom of stap scripts.
fn max_update(c: &X, t: &S) -> Option<(u32, Vec<X>, X, bool)> {
    let (e, target, strict) = match c {
        X::Cmp(CmpOp::Gt, false, a, b) => (a, b, true),
        X::Cmp(CmpOp::Ge, false, a, b) => (a, b, false),
        X::Cmp(CmpOp::Lt, false, a, b) => (b, a, true),
        X::Cmp(CmpOp::Le, false, a, b) => (b, a, false),
        _ => return None,
    };
    let (g, keys) = match &**target {
        X::Global(g) => (*g, vec![]),
        X::Elem(g, k) => (*g, k.clone()),
        _ => return None,
    };
    let (lg, lk, v) = assignment(t)?;
    let ok = lg == g
        && lk.len() == keys.len()
        && lk.iter().zip(&keys).all(|(a, b)| same(a, b))
        && same(v, e);
    ok.then(|| (g, keys, (**e).clone(), strict))
}

/// Structural equality of pure expressions, ignoring source spans; any
/// form not listed (calls to user functions, assignments…) is unequal.
fn same(a: &X, b: &X) -> bool {
    let all = |x: &[X], y: &[X]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q));
    match (a, b) {
        (X::Num(x), X::Num(y)) => x == y,
        (X::Str(x), X::Str(y)) => x == y,
        (X::Ctx(x), X::Ctx(y)) => x == y,
        (X::Call(f, xa, _), X::Call(g, ya, _)) => f == g && all(xa, ya),
        (X::Unary(o, x), X::Unary(p, y)) => o == p && same(x, y),
        (X::Arith(o, x1, x2, _), X::Arith(p, y1, y2, _)) => o == p && same(x1, y1) && same(x2, y2),
        (X::Concat(x1, x2), X::Concat(y1, y2)) => same(x1, y1) && same(x2, y2),
        (X::Entry(x), X::Entry(y)) => same(x, y),
        _ => false,
    }
}

fn lvalue(lv: &LValue) -> Result<(u32, Vec<X>), PlanError> {
    match lv {
        LValue::Global(g) => Ok((*g, vec![])),
        LValue::Elem(g, k) => Ok((*g, k.clone())),
        LValue::Local(_) => Err(unsupported("it writes a local variable")),
    }
}

/// What code does to globals, from the shared walk over the IR.
#[derive(Default)]
struct Uses {
    /// Every global it uses in any way.
    all: HashSet<u32>,
    /// Those it writes other than by deleting them whole.
    written: HashSet<u32>,
    /// Whether it calls exit() itself.
    exits: bool,
    /// Whether it calls a function of the script.
    calls: bool,
}

impl Uses {
    fn of(stmts: &[S]) -> Uses {
        Uses::collect(|v| walk::walk_stmts(v, stmts))
    }

    /// A probe's uses: its body's and its points' conditions'.
    fn of_probe(p: &Probe) -> Uses {
        Uses::collect(|v| walk::walk_probe(v, p))
    }

    fn collect(walk: impl FnOnce(&mut dyn walk::Visit)) -> Uses {
        let mut u = Uses::default();
        let (mut exits, mut calls) = (false, false);
        let mut v = walk::Each {
            expr: |x: &X| match x {
                X::Call(Builtin::Exit | Builtin::Abort, _, _) => exits = true,
                X::UserCall(..) => calls = true,
                _ => {}
            },
            global: |g, how: Access| {
                u.all.insert(g);
                if how.writes() && how != Access::DeleteWhole {
                    u.written.insert(g);
                }
            },
            foreach: |_: &Foreach| {},
        };
        walk(&mut v);
        u.exits = exits;
        u.calls = calls;
        u
    }
}

/// @variance follows stap's per-CPU integer Welford in event order: not a
/// commutative aggregate, so statistics of a program that asks for it stay
/// in the interpreter.
fn uses_variance(prog: &Program) -> bool {
    !variance_globals(prog).is_empty()
}

/// Decides what becomes a plan. (Arrays whose results would overflow
/// MAXMAPENTRIES are found when the plans run; the caller then interprets.)
pub fn analyse(prog: &Program) -> Compiled {
    let mut c = Compiled::default();
    // Programs that can stop early at an event (exit() in an event probe)
    // replay a prefix of the trace only: the interpreter decides where.
    let mut early_exit = false;
    // Timers must share one fixed period for interval grouping.
    let periods: BTreeSet<(i64, i64)> = prog
        .probes
        .iter()
        .flat_map(|p| &p.points)
        .filter_map(|pt| match pt.family {
            Family::Timer {
                period_ns,
                randomize_ns,
            } => Some((period_ns, randomize_ns)),
            _ => None,
        })
        .collect();
    let period = match periods.iter().collect::<Vec<_>>().as_slice() {
        [(p, 0)] => Some(*p),
        _ => None,
    };
    c.period = period;
    let mut other_touch: HashSet<u32> = HashSet::new();
    // Functions may read or write any global from any probe; whatever they
    // touch stays in the interpreter. A probe calling one may exit() if
    // any of them can (calls are not followed: the cheap, safe answer).
    let mut functions_exit = false;
    for f in &prog.functions {
        let u = Uses::of(&f.body);
        other_touch.extend(u.all);
        functions_exit |= u.exits;
    }
    let function_touch = other_touch.clone();
    let mut candidates: Vec<(usize, Vec<Update>)> = vec![];
    let mut projections: Vec<Projection> = vec![];
    for (pi, p) in prog.probes.iter().enumerate() {
        let fam = p.points.first().map(|pt| pt.family);
        let is_event = p.points.iter().all(|pt| pt.table().is_some());
        let uses = Uses::of_probe(p);
        let exits = uses.exits || (uses.calls && functions_exit);
        let t = uses.all;
        let timer = matches!(fam, Some(Family::Timer { .. }));
        if is_event && exits {
            early_exit = true;
        }
        if timer {
            // Timers may read plan results and reset them (delete g): the
            // results arrive per interval. Any other write keeps g out.
            if period.is_none() {
                early_exit = true;
            }
            other_touch.extend(uses.written);
            continue;
        }
        if !is_event {
            // begin/end/timers: end probes only read after every event, so
            // they may read plan results; begin and timers may not touch them.
            if !matches!(fam, Some(Family::End | Family::Never)) {
                other_touch.extend(t);
            }
            continue;
        }
        let why = (|| -> Result<Vec<Update>, PlanError> {
            if p.points.iter().any(|pt| pt.condition.is_some()) {
                return Err(unsupported("its probe point has an if (condition)"));
            }
            if p.points.iter().any(|pt| pt.switched_in) {
                return Err(unsupported(
                    "its context is the task switched in (scheduler.cpu_on), which plans do not model",
                ));
            }
            if p.points.iter().any(|pt| pt.process.is_some()) {
                return Err(unsupported(
                    "it follows the programs processes run through the process tree, which plans do not model",
                ));
            }
            let mut found = vec![];
            let mut guards = vec![];
            for s in &p.body {
                updates_of(s, &mut guards, &mut found)?;
            }
            if found.is_empty() {
                return Err(unsupported("it has no effect a plan could compute"));
            }
            let mut ups = vec![];
            for (k, pt) in p.points.iter().enumerate() {
                for (guards, g, keys, kind) in &found {
                    for e in guards.iter().chain(keys.iter()).chain(match kind {
                        UpdateKind::Count(_) => None,
                        UpdateKind::Sum(_, v)
                        | UpdateKind::Stat(v)
                        | UpdateKind::Max(v, _)
                        | UpdateKind::Min(v) => Some(v),
                    }) {
                        translate::check(e, pt)?;
                    }
                    ups.push(Update {
                        probe: pi,
                        point: k,
                        global: *g,
                        keys: keys.clone(),
                        guards: guards.clone(),
                        kind: kind.clone(),
                    });
                }
            }
            Ok(ups)
        })();
        match why {
            Ok(ups) => candidates.push((pi, ups)),
            Err(e) => {
                match projection_of(prog, pi, p) {
                    Some(Ok(pr)) => {
                        // Its running globals are never plan results (and
                        // if it ends up interpreted, it touches them).
                        other_touch.extend(pr.running());
                        projections.push(pr);
                        continue;
                    }
                    // printf-shaped, but not translatable: say why.
                    Some(Err(why)) => c.fall_back(&p.text, why),
                    None => c.fall_back(&p.text, e),
                }
                other_touch.extend(t);
            }
        }
    }
    if early_exit {
        for pi in projections
            .iter()
            .map(|p| p.probe)
            .chain(candidates.iter().map(|c| c.0))
        {
            c.interpreted.push((
                prog.probes[pi].text.clone(),
                "the script can exit() before the trace ends".into(),
            ));
        }
        return c;
    }
    // A global is a plan result only if nothing else touches it and every
    // update of it is in a compiled probe; iterate until stable.
    let mut bad: HashSet<u32> = other_touch;
    let variance = uses_variance(prog);
    for (gi, g) in prog.globals.iter().enumerate() {
        if g.init.is_some() || (variance && g.ty == Ty::Stat) {
            bad.insert(gi as u32);
        }
    }
    // Running maxima merge by max, minima by min, everything else by
    // addition: a global updated in two of these ways stays interpreted.
    let mut kinds: std::collections::HashMap<u32, BTreeSet<u8>> = Default::default();
    for (_, ups) in &candidates {
        for u in ups {
            let merge = match u.kind {
                UpdateKind::Max(..) => 0,
                UpdateKind::Min(_) => 1,
                _ => 2,
            };
            kinds.entry(u.global).or_default().insert(merge);
        }
    }
    bad.extend(kinds.iter().filter(|(_, m)| m.len() > 1).map(|(g, _)| *g));
    loop {
        let mut changed = false;
        candidates.retain(|(pi, ups)| {
            let ok = ups.iter().all(|u| !bad.contains(&u.global));
            if !ok {
                for u in ups {
                    changed |= bad.insert(u.global);
                }
                c.interpreted.push((
                    prog.probes[*pi].text.clone(),
                    "a global it updates is also read or written elsewhere (or has an initialiser, or uses @variance)".into(),
                ));
            }
            ok
        });
        if !changed {
            break;
        }
    }
    // Projections' lines stand in for their firings only when nothing else
    // runs per event in the interpreter (which could stop the run with an
    // error) and no timer can print between them; they are merged in the
    // interpreter's firing order, which is known within one table.
    let one_table = projections
        .iter()
        .map(|p| prog.probes[p.probe].points[0].table())
        .collect::<BTreeSet<_>>()
        .len()
        == 1;
    // Running globals are the projections' alone among event probes (begin
    // may set them, end read them).
    let running: HashSet<u32> = projections.iter().flat_map(|p| p.running()).collect();
    let shared = running.iter().any(|g| {
        function_touch.contains(g)
            || candidates
                .iter()
                .any(|(_, ups)| ups.iter().any(|u| u.global == *g))
    });
    if one_table && !shared && c.interpreted.is_empty() && periods.is_empty() {
        c.projections = std::mem::take(&mut projections);
    }
    for pr in projections {
        c.interpreted.push((
            prog.probes[pr.probe].text.clone(),
            "printf probes run as plans only when they print rows of one table, with no timers, no other interpreted event probe, and globals they update nothing else updates".into(),
        ));
    }
    for pr in &c.projections {
        c.probes.insert(pr.probe);
    }
    for (pi, ups) in candidates {
        c.probes.insert(pi);
        for u in &ups {
            c.globals.insert(u.global);
        }
        c.updates.extend(ups);
    }
    c.order = orders(prog, &c);
    if c.order.is_some() {
        c.seen_through_limits = super::shown::seen_through_limits(prog, &c);
    }
    c.moments = moments_read(prog, &c.globals);
    c
}

/// The probe as a projection: one point on a table, a body that is a
/// printf under guards, with updates of scalar long globals around it,
/// every guard, argument and update value translatable. None when it is
/// not such a probe; Err(why) when only translation fails.
fn projection_of(prog: &Program, pi: usize, p: &Probe) -> Option<Result<Projection, PlanError>> {
    let [pt] = p.points.as_slice() else {
        return None;
    };
    if pt.table().is_none() || pt.condition.is_some() || pt.process.is_some() {
        return None;
    }
    let mut guards = vec![];
    let (fmt, args, steps) = printf_of(&p.body, &mut guards)?;
    let pr = Projection {
        probe: pi,
        guards,
        fmt,
        args,
        steps,
    };
    let running = pr.running();
    for &g in &running {
        let info = &prog.globals[g as usize];
        if info.keys.is_some() || info.ty != Ty::Long {
            return None;
        }
    }
    let values = pr.steps.iter().filter_map(|s| match s {
        Step::Add { value, .. } => value.as_ref(),
        Step::Print => None,
    });
    for e in pr.guards.iter().chain(values) {
        if let Err(why) = translate::check(e, pt) {
            return Some(Err(why));
        }
    }
    for a in &pr.args {
        if matches!(a, X::Global(g) if running.contains(g)) {
            continue;
        }
        if let Err(why) = translate::check(a, pt) {
            return Some(Err(why));
        }
    }
    Some(Ok(pr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::error::failed;

    /// What plans do not support is a reason shown with -v; a failure to
    /// translate is a bug, kept apart for the run to report.
    #[test]
    fn failures_are_not_reasons() {
        let mut c = Compiled::default();
        c.fall_back("probe a", unsupported("it divides or shifts"));
        c.fall_back("probe b", failed("Arrow error: boom"));
        assert_eq!(
            c.interpreted,
            [("probe a".to_string(), "it divides or shifts".to_string())]
        );
        assert_eq!(
            c.failed,
            [("probe b".to_string(), "Arrow error: boom".to_string())]
        );
    }
}
