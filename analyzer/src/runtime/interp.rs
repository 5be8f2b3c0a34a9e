//! Pass 5, the reference interpreter: runs the elaborated program's
//! statements event by event with stap's semantics (insertion-ordered
//! arrays, stable sorts, 64-bit wrapping arithmetic, MAXACTION and the other
//! limits, runtime errors that stop the script and still run `end`).

use std::io::Write;
use std::rc::Rc;

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;

use crate::stap::ast::{IncOp, SortDir, StatOp, UnOp};
use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::ir::*;
use crate::stap::source::{SourceMap, Span};

use super::context::EventCtx;
use super::hist;
use super::printf;
use super::stats::{Stat, StatShape};
use super::value::{truncate, Value};

/// Most arrays have one or two keys; those stay off the heap.
pub type Key = SmallVec<[Value; 2]>;
pub type Map<V> = IndexMap<Box<[Value]>, V, FxBuildHasher>;

/// A global's elements by key text ("" for a scalar).
#[derive(Clone, Debug)]
pub struct GlobalSnapshot {
    pub name: String,
    pub rows: Vec<(String, SnapValue)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SnapValue {
    Int(i64),
    Str(String),
    Stat { count: i64, sum: i64, variance: i64 },
}

pub enum Slot {
    Scalar(Value),
    Stat(Stat),
    Arr(Map<Value>),
    StatArr(Map<Stat>),
}

/// stap's limits, overridable with -D.
#[derive(Clone, Debug)]
pub struct Limits {
    pub maxaction: u64,
    pub maxaction_interruptible: u64,
    pub maxmapentries: usize,
    pub maxnesting: usize,
    pub maxstringlen: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            maxaction: 1000,
            maxaction_interruptible: 10_000,
            maxmapentries: 2048,
            maxnesting: 10,
            maxstringlen: 512,
        }
    }
}

impl Limits {
    pub fn from_defines(defines: &[(String, String)]) -> Result<Limits, String> {
        let mut l = Limits::default();
        let mut interruptible_set = false;
        for (k, v) in defines {
            let n = || -> Result<u64, String> {
                v.parse::<u64>()
                    .map_err(|_| format!("-D {k}={v}: expected a non-negative number"))
            };
            match k.as_str() {
                "MAXACTION" => l.maxaction = n()?,
                "MAXACTION_INTERRUPTIBLE" => {
                    l.maxaction_interruptible = n()?;
                    interruptible_set = true;
                }
                "MAXMAPENTRIES" => l.maxmapentries = n()? as usize,
                "MAXNESTING" => l.maxnesting = n()? as usize,
                "MAXSTRINGLEN" => l.maxstringlen = (n()? as usize).max(1),
                // Accepted and meaningless for a replay (no kernel to
                // protect, no module to build).
                "MAXERRORS" | "MAXSKIPPED" | "STP_NO_OVERLOAD" | "STP_OVERLOAD_THRESHOLD"
                | "STP_OVERLOAD_INTERVAL" | "MAXTRYLOCK" | "MAXBACKTRACE" | "TRYLOCKDELAY"
                | "STP_NO_BUILDID_CHECK" | "KRETACTIVE" | "STP_PROCFS_BUFSIZE" => {}
                other => return Err(format!("-D {other}: not a limit retap knows (MAXACTION, MAXACTION_INTERRUPTIBLE, MAXMAPENTRIES, MAXNESTING, MAXSTRINGLEN)")),
            }
        }
        if !interruptible_set {
            l.maxaction_interruptible = l.maxaction.saturating_mul(10);
        }
        Ok(l)
    }
}

/// A runtime error as stap reports it: "ERROR: {msg} near {what} at {loc}".
#[derive(Clone, Debug)]
pub struct RtError {
    pub msg: String,
    pub near: String,
    pub span: Span,
}

pub enum Flow {
    Next,
    Break,
    Continue,
    Return(Value),
    Error(RtError),
}

pub type R<T> = Result<T, Flow>;

pub fn err<T>(msg: impl Into<String>, near: impl Into<String>, span: Span) -> R<T> {
    Err(Flow::Error(RtError {
        msg: msg.into(),
        near: near.into(),
        span,
    }))
}

pub struct Interp<'p> {
    pub prog: &'p Program,
    pub map: &'p SourceMap,
    pub globals: Vec<Slot>,
    shapes: Vec<StatShape>,
    regexes: Vec<regex::bytes::Regex>,
    pub limits: Limits,
    pub out: Vec<u8>,
    pub sink: Box<dyn Write + 'p>,
    pub exit_requested: bool,
    pub errors: u64,
    /// What goes to stderr (warn(), runtime errors), in order.
    pub stderr: Vec<String>,
    actions: u64,
    action_limit: u64,
    nesting: usize,
    pub ctx: EventCtx,
    /// The probe running, for limit errors.
    pub probe: Option<&'p Probe>,
    /// tokenize()'s saved string and position.
    tokenize_state: (String, usize),
    /// A procfs read probe's `$value` and its capacity in bytes.
    pub procfs: (String, usize),
    /// See `RunOptions`: errors ending handlers only, and how many did.
    pub suppress_handler_errors: bool,
    pub suppressed: u64,
    pub flush_each_probe: bool,
    pub switch_file: Option<super::SwitchFile>,
    /// `-t`: handler times per probe.
    pub times: Option<Vec<super::ProbeTime>>,
    /// The first failed write of the output, reported by `flush`.
    write_error: Option<std::io::Error>,
    /// The probe's last successful `=~`: the regex and its subject, for
    /// matched().
    last_match: Option<(u32, Value)>,
    pub rng: u64,
    /// The element a `foreach` over a global array is visiting: (global,
    /// its index in the array). Reading `c[k]` in the body looks there
    /// first and takes it if its key is `k` (a million elements printed
    /// in value order were a hash lookup each, a cache miss or two).
    visiting: Option<(u32, usize)>,
}

impl<'p> Interp<'p> {
    pub fn new(
        prog: &'p Program,
        map: &'p SourceMap,
        limits: Limits,
        sink: Box<dyn Write + 'p>,
        ctx: EventCtx,
        seed: u64,
    ) -> Result<Interp<'p>, String> {
        let mut shapes = vec![];
        let mut globals = vec![];
        let variance: Vec<usize> = variance_globals(prog)
            .into_iter()
            .map(|g| g as usize)
            .collect();
        for (gi, g) in prog.globals.iter().enumerate() {
            let shape = StatShape {
                hists: g.hists.clone(),
                variance: variance.contains(&gi),
                shift: 0,
            };
            let slot = match (&g.keys, g.ty) {
                (Some(_), Ty::Stat) => Slot::StatArr(Map::default()),
                (Some(_), _) => Slot::Arr(Map::default()),
                (None, Ty::Stat) => Slot::Stat(Stat::new(&shape)),
                (None, Ty::Str) => Slot::Scalar(match &g.init {
                    Some(Const::Str(s)) => Value::from_string(s.clone()),
                    _ => Value::empty_str(),
                }),
                (None, _) => Slot::Scalar(match &g.init {
                    Some(Const::Num(n)) => Value::Int(*n),
                    _ => Value::Int(0),
                }),
            };
            shapes.push(shape);
            globals.push(slot);
        }
        let regexes = prog
            .regexes
            .iter()
            .map(|r| regex::bytes::Regex::new(r).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Interp {
            prog,
            map,
            globals,
            shapes,
            regexes,
            limits,
            out: Vec::with_capacity(1 << 16),
            sink,
            exit_requested: false,
            errors: 0,
            stderr: vec![],
            actions: 0,
            action_limit: 0,
            nesting: 0,
            ctx,
            probe: None,
            tokenize_state: (String::new(), 0),
            procfs: (String::new(), 0),
            suppress_handler_errors: false,
            suppressed: 0,
            flush_each_probe: false,
            switch_file: None,
            times: None,
            write_error: None,
            last_match: None,
            rng: seed ^ 0x853c_49e6_748f_ea9b,
            visiting: None,
        })
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.write_error.take() {
            return Err(e);
        }
        if !self.out.is_empty() {
            self.sink.write_all(&self.out)?;
            self.out.clear();
        }
        self.sink.flush()
    }

    /// Hands the output so far to the sink as one write: one of stap's
    /// messages, which `-S` measures files by. A failed write surfaces
    /// at the run's final flush.
    pub fn write_out(&mut self) {
        if !self.out.is_empty() {
            if let Err(e) = self.sink.write_all(&self.out) {
                self.write_error.get_or_insert(e);
            }
            self.out.clear();
        }
    }

    /// Output a plan computed, in its place in the stream.
    pub fn emit(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.maybe_flush();
    }

    fn maybe_flush(&mut self) {
        if self.out.len() > (1 << 16) {
            self.write_out();
        }
    }

    pub fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Runs one probe body for the current event. Errors come back for the
    /// caller to report (and to stop the script).
    pub fn run_probe(&mut self, probe: &'p Probe, interruptible: bool) -> Result<(), RtError> {
        self.actions = 0;
        self.action_limit = if interruptible {
            self.limits.maxaction_interruptible
        } else {
            self.limits.maxaction
        };
        self.probe = Some(probe);
        self.last_match = None;
        let mut locals: Vec<Value> = fresh_locals(&probe.locals);
        for s in &probe.body {
            match self.exec(s, &mut locals) {
                Ok(()) => {}
                Err(Flow::Next) => return Ok(()),
                Err(Flow::Error(e)) => return Err(e),
                Err(Flow::Break | Flow::Continue | Flow::Return(_)) => return Ok(()),
            }
        }
        Ok(())
    }

    /// A point's `if (cond)`.
    pub fn condition(&mut self, x: &X) -> Result<bool, RtError> {
        self.actions = 0;
        self.action_limit = self.limits.maxaction;
        let mut locals = vec![];
        match self.eval(x, &mut locals) {
            Ok(v) => Ok(v.int() != 0),
            Err(Flow::Error(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }

    pub fn render_error(&self, e: &RtError) -> String {
        format!(
            "ERROR: {} near {} at {}\n",
            e.msg,
            e.near,
            self.map.location(e.span)
        )
    }

    fn tick(&mut self, span: Span) -> R<()> {
        self.actions += 1;
        if self.actions > self.action_limit {
            return err(
                format!(
                    "MAXACTION exceeded in probe {}",
                    self.probe.map(|p| p.text.as_str()).unwrap_or("?")
                ),
                "statement",
                span,
            );
        }
        Ok(())
    }

    // ---- statements ----------------------------------------------------

    fn exec(&mut self, s: &S, locals: &mut Vec<Value>) -> R<()> {
        match s {
            S::Expr(x) => {
                self.tick(x_span(x))?;
                self.eval(x, locals)?;
            }
            S::Block(v) => {
                for s in v {
                    self.exec(s, locals)?;
                }
            }
            S::Nop => {}
            S::If(c, t, e) => {
                self.tick(x_span(c))?;
                if self.eval(c, locals)?.int() != 0 {
                    self.exec(t, locals)?;
                } else if let Some(e) = e {
                    self.exec(e, locals)?;
                }
            }
            S::Loop { cond, step, body } => loop {
                self.tick(cond.as_ref().map(x_span).unwrap_or_default())?;
                if let Some(c) = cond {
                    if self.eval(c, locals)?.int() == 0 {
                        break;
                    }
                }
                match self.exec(body, locals) {
                    Ok(()) | Err(Flow::Continue) => {}
                    Err(Flow::Break) => break,
                    Err(e) => return Err(e),
                }
                if let Some(st) = step {
                    self.eval(st, locals)?;
                }
            },
            S::Foreach(f) => self.foreach(f, locals)?,
            S::Break => {
                self.tick(Span::default())?;
                return Err(Flow::Break);
            }
            S::Continue => {
                self.tick(Span::default())?;
                return Err(Flow::Continue);
            }
            S::Next => return Err(Flow::Next),
            S::Return(v) => {
                let val = match v {
                    Some(x) => self.eval(x, locals)?,
                    None => Value::Int(0),
                };
                return Err(Flow::Return(val));
            }
            S::DeleteLocal(i) => {
                let slot = &mut locals[*i as usize];
                *slot = match slot {
                    Value::Str(_) => Value::empty_str(),
                    Value::Int(_) => Value::Int(0),
                };
            }
            S::DeleteGlobal(g) => {
                let shape = self.shapes[*g as usize].clone();
                match &mut self.globals[*g as usize] {
                    Slot::Scalar(v) => {
                        *v = match v {
                            Value::Str(_) => Value::empty_str(),
                            Value::Int(_) => Value::Int(0),
                        }
                    }
                    Slot::Stat(s) => *s = Stat::new(&shape),
                    Slot::Arr(m) => m.clear(),
                    Slot::StatArr(m) => m.clear(),
                }
            }
            S::DeleteElem(g, keys) => {
                let mut ks: Vec<Option<Value>> = vec![];
                for k in keys {
                    ks.push(match k {
                        Some(x) => Some(self.eval(x, locals)?),
                        None => None,
                    });
                }
                let matches = |key: &[Value]| {
                    key.iter()
                        .zip(&ks)
                        .all(|(a, b)| b.as_ref().is_none_or(|b| a == b))
                };
                let exact = ks.iter().all(|k| k.is_some());
                match &mut self.globals[*g as usize] {
                    Slot::Arr(m) => {
                        if exact {
                            let key: Key = ks.into_iter().flatten().collect();
                            m.shift_remove(&key[..]);
                        } else {
                            m.retain(|k, _| !matches(k));
                        }
                    }
                    Slot::StatArr(m) => {
                        if exact {
                            let key: Key = ks.into_iter().flatten().collect();
                            m.shift_remove(&key[..]);
                        } else {
                            m.retain(|k, _| !matches(k));
                        }
                    }
                    _ => {}
                }
            }
            S::Try { body, var, catch } => {
                let mut r = Ok(());
                for s in body {
                    r = self.exec(s, locals);
                    if r.is_err() {
                        break;
                    }
                }
                match r {
                    Err(Flow::Error(e)) => {
                        if let Some(v) = var {
                            locals[*v as usize] = Value::from_string(e.msg.clone());
                        }
                        for s in catch {
                            self.exec(s, locals)?;
                        }
                    }
                    other => other?,
                }
            }
        }
        Ok(())
    }

    fn foreach(&mut self, f: &Foreach, locals: &mut Vec<Value>) -> R<()> {
        self.tick(f.span)?;
        let limit = match &f.limit {
            Some(x) => Some(self.eval(x, locals)?.int()),
            None => None,
        };
        let slice: Option<Vec<Option<Value>>> = match &f.slice {
            Some(sl) => {
                let mut v = vec![];
                for k in sl {
                    v.push(match k {
                        Some(x) => Some(self.eval(x, locals)?),
                        None => None,
                    });
                }
                Some(v)
            }
            None => None,
        };
        // A snapshot of what the loop visits (the body may change the
        // array): ordered first, then only the visited keys are copied.
        let rows: Vec<(usize, Box<[Value]>, Value)> = match &f.source {
            ForeachSource::Global(g) => {
                let sort_op = match f.sort {
                    Some(Sort::Value(_, op)) => op,
                    _ => StatOp::Count,
                };
                let keep = |k: &[Value]| {
                    slice.as_ref().is_none_or(|sl| {
                        k.iter()
                            .zip(sl)
                            .all(|(a, b)| b.as_ref().is_none_or(|b| a == b))
                    })
                };
                match &self.globals[*g as usize] {
                    Slot::Arr(m) => visited(
                        m.iter()
                            .enumerate()
                            .filter(|(_, (k, _))| keep(k))
                            .map(|(i, (k, v))| (i, &k[..], v))
                            .collect(),
                        f.sort,
                        limit,
                    )
                    .into_iter()
                    .map(owned)
                    .collect(),
                    Slot::StatArr(m) => {
                        let shift = self.shapes[*g as usize].shift;
                        visited(
                            m.iter()
                                .enumerate()
                                .filter(|(_, (k, _))| keep(k))
                                .map(|(i, (k, s))| {
                                    (i, &k[..], Value::Int(stat_value(s, sort_op, shift)))
                                })
                                .collect(),
                            f.sort,
                            limit,
                        )
                        .into_iter()
                        .map(owned)
                        .collect()
                    }
                    _ => vec![],
                }
            }
            ForeachSource::Hist(h) => {
                let counts = self.hist_counts(h, locals)?;
                let keys: Vec<[Value; 1]> =
                    (0..counts.len()).map(|i| [Value::Int(i as i64)]).collect();
                visited(
                    counts
                        .into_iter()
                        .zip(&keys)
                        .enumerate()
                        .map(|(i, (c, k))| (i, &k[..], Value::Int(c)))
                        .collect(),
                    f.sort,
                    limit,
                )
                .into_iter()
                .map(owned)
                .collect()
            }
        };
        let global = match &f.source {
            ForeachSource::Global(g) => Some(*g),
            ForeachSource::Hist(_) => None,
        };
        let outer = self.visiting;
        let r = (|| {
            for (n, (at, key, val)) in rows.into_iter().enumerate() {
                if limit.is_some_and(|l| n as i64 >= l) {
                    break;
                }
                self.tick(f.span)?;
                for (slot, k) in f.key_vars.iter().zip(key.iter()) {
                    locals[*slot as usize] = k.clone();
                }
                if let Some(v) = f.value_var {
                    locals[v as usize] = val;
                }
                self.visiting = global.map(|g| (g, at));
                match self.exec(&f.body, locals) {
                    Ok(()) | Err(Flow::Continue) => {}
                    Err(Flow::Break) => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })();
        self.visiting = outer;
        r
    }

    // ---- expressions ---------------------------------------------------

    /// Runs `f` with the evaluated key; one- and two-part keys live in a
    /// stack array (no SmallVec bookkeeping on the per-event path).
    #[inline]
    fn with_key<T>(
        &mut self,
        xs: &[X],
        locals: &mut Vec<Value>,
        f: impl FnOnce(&mut Self, &[Value]) -> R<T>,
    ) -> R<T> {
        match xs {
            [a] => {
                let k = [self.eval(a, locals)?];
                f(self, &k)
            }
            [a, b] => {
                let k = [self.eval(a, locals)?, self.eval(b, locals)?];
                f(self, &k)
            }
            _ => {
                let k = self.keys(xs, locals)?;
                f(self, &k)
            }
        }
    }

    fn keys(&mut self, xs: &[X], locals: &mut Vec<Value>) -> R<Key> {
        let mut k = Key::new();
        for x in xs {
            k.push(self.eval(x, locals)?);
        }
        Ok(k)
    }

    fn overflow(&self, g: u32, span: Span) -> Flow {
        Flow::Error(RtError {
            msg: "Array overflow, check MAXMAPENTRIES".into(),
            near: format!("identifier '{}'", self.prog.globals[g as usize].name),
            span,
        })
    }

    fn array_cap(&self, g: u32) -> usize {
        self.prog.globals[g as usize]
            .size
            .map(|n| n as usize)
            .unwrap_or(self.limits.maxmapentries)
    }

    /// The element's slot for writing, created (with `init`) if absent.
    fn elem_mut(&mut self, g: u32, key: &[Value], span: Span) -> R<&mut Value> {
        let cap = self.array_cap(g);
        let wrap = self.prog.globals[g as usize].wrap;
        let init = if self.prog.globals[g as usize].ty == Ty::Str {
            Value::empty_str()
        } else {
            Value::Int(0)
        };
        // One lookup on the hot path (the key is there); the overflow
        // error is only built when it is needed.
        let found = match &self.globals[g as usize] {
            Slot::Arr(m) => m.get_index_of(key),
            _ => return Err(self.overflow(g, span)),
        };
        if found.is_none() {
            let len = match &self.globals[g as usize] {
                Slot::Arr(m) => m.len(),
                _ => 0,
            };
            if len >= cap && (!wrap || len == 0) {
                return Err(self.overflow(g, span));
            }
        }
        let Slot::Arr(m) = &mut self.globals[g as usize] else {
            unreachable!("checked above")
        };
        if let Some(i) = found {
            return Ok(&mut m[i]);
        }
        if m.len() >= cap {
            m.shift_remove_index(0);
        }
        let (i, _) = m.insert_full(Box::from(key), init);
        Ok(&mut m[i])
    }

    fn stat_mut(&mut self, r: &StatRef, locals: &mut Vec<Value>, span: Span) -> R<&mut Stat> {
        match r {
            StatRef::Global(g) => match &mut self.globals[*g as usize] {
                Slot::Stat(s) => Ok(s),
                _ => err("internal: statistic slot", "statistic", span),
            },
            StatRef::Elem(g, keys) => {
                let key = self.keys(keys, locals)?;
                let cap = self.array_cap(*g);
                let wrap = self.prog.globals[*g as usize].wrap;
                let full = match &self.globals[*g as usize] {
                    Slot::StatArr(m) => {
                        !m.contains_key(&key[..]) && m.len() >= cap && (!wrap || m.is_empty())
                    }
                    _ => true,
                };
                if full {
                    return Err(self.overflow(*g, span));
                }
                let shape = &self.shapes[*g as usize];
                let Slot::StatArr(m) = &mut self.globals[*g as usize] else {
                    unreachable!("checked above")
                };
                if let Some(i) = m.get_index_of(&key[..]) {
                    return Ok(&mut m[i]);
                }
                if m.len() >= cap {
                    m.shift_remove_index(0);
                }
                let (i, _) = m.insert_full(key.into_vec().into_boxed_slice(), Stat::new(shape));
                Ok(&mut m[i])
            }
        }
    }

    fn stat_get(&mut self, r: &StatRef, locals: &mut Vec<Value>) -> R<Option<&Stat>> {
        Ok(match r {
            StatRef::Global(g) => match &self.globals[*g as usize] {
                Slot::Stat(s) => Some(s),
                _ => None,
            },
            StatRef::Elem(g, keys) => {
                let key = self.keys(keys, locals)?;
                match &self.globals[*g as usize] {
                    Slot::StatArr(m) => m.get(&key[..]),
                    _ => None,
                }
            }
        })
    }

    fn hist_counts(&mut self, h: &HistRef, locals: &mut Vec<Value>) -> R<Vec<i64>> {
        let g = match &h.stat {
            StatRef::Global(g) | StatRef::Elem(g, _) => *g,
        };
        let spec = match h.linear {
            Some((start, stop, interval)) => HistSpec::Linear {
                start,
                stop,
                interval,
            },
            None => HistSpec::Log,
        };
        let which = self.shapes[g as usize]
            .hists
            .iter()
            .position(|s| *s == spec)
            .unwrap_or(0);
        let empty = super::stats::empty_hist(spec);
        Ok(match self.stat_get(&h.stat, locals)? {
            Some(s) => s.hists.get(which).cloned().unwrap_or(empty),
            None => empty,
        })
    }

    fn render_hist(&mut self, h: &HistRef, locals: &mut Vec<Value>) -> R<String> {
        let counts = self.hist_counts(h, locals)?;
        let layout = match h.linear {
            Some((start, _, interval)) => hist::Layout::Linear { start, interval },
            None => hist::Layout::Log,
        };
        let mut s = String::new();
        hist::render(&counts, layout, &mut s);
        Ok(s)
    }

    fn store(&mut self, lv: &LValue, v: Value, locals: &mut Vec<Value>, span: Span) -> R<()> {
        match lv {
            LValue::Local(i) => locals[*i as usize] = v,
            LValue::Global(g) => {
                if let Slot::Scalar(s) = &mut self.globals[*g as usize] {
                    *s = v;
                }
            }
            LValue::Elem(g, keys) => {
                self.with_key(keys, locals, |me, k| {
                    *me.elem_mut(*g, k, span)? = v;
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn load(&mut self, lv: &LValue, locals: &mut Vec<Value>) -> R<Value> {
        Ok(match lv {
            LValue::Local(i) => locals[*i as usize].clone(),
            LValue::Global(g) => match &self.globals[*g as usize] {
                Slot::Scalar(v) => v.clone(),
                _ => Value::Int(0),
            },
            LValue::Elem(g, keys) => {
                let key = self.keys(keys, locals)?;
                self.elem_get(*g, &key)
            }
        })
    }

    fn elem_get(&self, g: u32, key: &[Value]) -> Value {
        match &self.globals[g as usize] {
            Slot::Arr(m) => match self.visiting {
                Some((vg, at)) if vg == g => match m.get_index(at) {
                    Some((k, v)) if k[..] == *key => Some(v),
                    _ => m.get(key),
                },
                _ => m.get(key),
            }
            .cloned()
            .unwrap_or_else(|| {
                if self.prog.globals[g as usize].ty == Ty::Str {
                    Value::empty_str()
                } else {
                    Value::Int(0)
                }
            }),
            _ => Value::Int(0),
        }
    }

    fn string(&self, s: String) -> Value {
        Value::from_string(truncate(s, self.limits.maxstringlen))
    }

    pub fn eval(&mut self, x: &X, locals: &mut Vec<Value>) -> R<Value> {
        Ok(match x {
            X::Num(n) => Value::Int(*n),
            X::Str(s) => {
                if s.len() >= self.limits.maxstringlen {
                    self.string(s.clone())
                } else {
                    Value::from_string(s.clone())
                }
            }
            X::Local(i) => locals[*i as usize].clone(),
            X::Global(g) => match &self.globals[*g as usize] {
                Slot::Scalar(v) => v.clone(),
                _ => Value::Int(0),
            },
            X::Elem(g, keys) => {
                let g = *g;
                self.with_key(keys, locals, |me, k| Ok(me.elem_get(g, k)))?
            }
            X::Ctx(c) => self.ctx_var(c),
            // The context functions every profile script calls: no
            // argument vector, no dispatch through the tapset table.
            X::Call(crate::stap::elaborate::tapset::Builtin::Pid, _, _) => {
                Value::Int(self.ctx.pid())
            }
            X::Call(crate::stap::elaborate::tapset::Builtin::Tid, _, _) => {
                Value::Int(self.ctx.tid())
            }
            X::Call(crate::stap::elaborate::tapset::Builtin::Execname, _, _) => self.ctx.execname(),
            X::Call(b, args, span) => {
                let mut vals: SmallVec<[Value; 4]> = SmallVec::new();
                for a in args {
                    vals.push(self.eval(a, locals)?);
                }
                self.builtin(*b, &vals, *span)?
            }
            X::UserCall(f, args, span) => {
                let func = &self.prog.functions[*f as usize];
                if self.nesting >= self.limits.maxnesting {
                    return err(
                        "MAXNESTING exceeded",
                        format!("identifier '{}'", func.name),
                        *span,
                    );
                }
                let mut flocals: Vec<Value> = fresh_locals(&func.locals);
                for (k, a) in args.iter().enumerate() {
                    flocals[k] = self.eval(a, locals)?;
                }
                self.nesting += 1;
                let mut ret = if func.ret == Ty::Str {
                    Value::empty_str()
                } else {
                    Value::Int(0)
                };
                for s in &func.body {
                    match self.exec(s, &mut flocals) {
                        Ok(()) => {}
                        Err(Flow::Return(v)) => {
                            ret = v;
                            break;
                        }
                        Err(e) => {
                            self.nesting -= 1;
                            return Err(e);
                        }
                    }
                }
                self.nesting -= 1;
                ret
            }
            X::Printf {
                to_string,
                fmt,
                args,
                ..
            } => {
                let mut vals: SmallVec<[Value; 8]> = SmallVec::new();
                for a in args {
                    vals.push(self.eval(a, locals)?);
                }
                if *to_string {
                    let mut buf = vec![];
                    printf::format(fmt, &vals, &mut buf);
                    self.string(String::from_utf8_lossy(&buf).into_owned())
                } else {
                    printf::format(fmt, &vals, &mut self.out);
                    self.maybe_flush();
                    Value::Int(0)
                }
            }
            X::Print { kind, args } => self.print(*kind, args, locals)?,
            X::Stat(op, r, span) => {
                let g = match r {
                    StatRef::Global(g) | StatRef::Elem(g, _) => *g,
                };
                let shift = self.shapes[g as usize].shift;
                let name = self.prog.globals[g as usize].name.clone();
                let s = self.stat_get(r, locals)?;
                let count = s.map(|s| s.count).unwrap_or(0);
                match op {
                    StatOp::Count => Value::Int(count),
                    StatOp::Sum => Value::Int(s.map(|s| s.sum).unwrap_or(0)),
                    _ if count == 0 => {
                        return err("empty aggregate", format!("identifier '{name}'"), *span)
                    }
                    StatOp::Variance if count < 2 => Value::Int(-1),
                    _ => Value::Int(stat_value(s.unwrap(), *op, shift)),
                }
            }
            X::Hist(h) => Value::from_string(self.render_hist(h, locals)?),
            X::HistBucket(h, i) => {
                let idx = self.eval(i, locals)?.int();
                let counts = self.hist_counts(h, locals)?;
                if idx < 0 || idx as usize >= counts.len() {
                    return err(
                        format!("histogram index out of range: {idx}"),
                        "operator '['",
                        h.span,
                    );
                }
                Value::Int(counts[idx as usize])
            }
            X::Unary(op, e) => {
                let v = self.eval(e, locals)?.int();
                Value::Int(match op {
                    UnOp::Neg => v.wrapping_neg(),
                    UnOp::Plus => v,
                    UnOp::Not => i64::from(v == 0),
                    UnOp::BitNot => !v,
                })
            }
            X::Arith(op, a, b, span) => {
                let l = self.eval(a, locals)?.int();
                let r = self.eval(b, locals)?.int();
                Value::Int(self.arith(*op, l, r, *span)?)
            }
            X::Concat(a, b) => {
                let l = self.eval(a, locals)?;
                let r = self.eval(b, locals)?;
                let mut s = String::with_capacity(l.str().len() + r.str().len());
                s.push_str(l.str());
                s.push_str(r.str());
                self.string(s)
            }
            X::Cmp(op, strings, a, b) => {
                let l = self.eval(a, locals)?;
                let r = self.eval(b, locals)?;
                let o = if *strings {
                    l.str().as_bytes().cmp(r.str().as_bytes())
                } else {
                    l.int().cmp(&r.int())
                };
                use std::cmp::Ordering::*;
                Value::Int(i64::from(match op {
                    CmpOp::Eq => o == Equal,
                    CmpOp::Ne => o != Equal,
                    CmpOp::Lt => o == Less,
                    CmpOp::Le => o != Greater,
                    CmpOp::Gt => o == Greater,
                    CmpOp::Ge => o != Less,
                }))
            }
            X::And(a, b) => Value::Int(i64::from(
                self.eval(a, locals)?.int() != 0 && self.eval(b, locals)?.int() != 0,
            )),
            X::Or(a, b) => Value::Int(i64::from(
                self.eval(a, locals)?.int() != 0 || self.eval(b, locals)?.int() != 0,
            )),
            X::Regex {
                negate,
                subject,
                regex,
            } => {
                let s = self.eval(subject, locals)?;
                let m = self.regexes[*regex as usize].is_match(s.str().as_bytes());
                if m {
                    self.last_match = Some((*regex, s));
                }
                Value::Int(i64::from(m != *negate))
            }
            X::Ternary(c, t, f) => {
                if self.eval(c, locals)?.int() != 0 {
                    self.eval(t, locals)?
                } else {
                    self.eval(f, locals)?
                }
            }
            X::Assign(lv, op, v, span) => {
                let rhs = self.eval(v, locals)?;
                let new = match op {
                    None => rhs,
                    Some(ArithOrConcat::Concat) => {
                        let cur = self.load(lv, locals)?;
                        self.string(format!("{}{}", cur.str(), rhs.str()))
                    }
                    Some(ArithOrConcat::Arith(a)) => {
                        let cur = self.load(lv, locals)?.int();
                        Value::Int(self.arith(*a, cur, rhs.int(), *span)?)
                    }
                };
                // Fast path for `a[k] += v`: one lookup.
                self.store(lv, new.clone(), locals, *span)?;
                new
            }
            X::Incr(op, lv, span) => {
                if let LValue::Elem(g, keys) = lv {
                    return self.with_key(keys, locals, |me, k| {
                        let slot = me.elem_mut(*g, k, *span)?;
                        let old = slot.int();
                        let new = match op {
                            IncOp::PreInc | IncOp::PostInc => old.wrapping_add(1),
                            _ => old.wrapping_sub(1),
                        };
                        *slot = Value::Int(new);
                        Ok(Value::Int(match op {
                            IncOp::PreInc | IncOp::PreDec => new,
                            _ => old,
                        }))
                    });
                }
                let old = self.load(lv, locals)?.int();
                let new = match op {
                    IncOp::PreInc | IncOp::PostInc => old.wrapping_add(1),
                    _ => old.wrapping_sub(1),
                };
                self.store(lv, Value::Int(new), locals, *span)?;
                Value::Int(match op {
                    IncOp::PreInc | IncOp::PreDec => new,
                    _ => old,
                })
            }
            X::Aggregate(r, v) => {
                let val = self.eval(v, locals)?.int();
                let g = match r {
                    StatRef::Global(g) | StatRef::Elem(g, _) => *g,
                };
                let cpu = self.ctx.cpu();
                let shape = self.shapes[g as usize].clone();
                let s = self.stat_mut(r, locals, x_span(v))?;
                s.add(val, cpu, &shape);
                Value::Int(val)
            }
            X::In(g, keys) => {
                let mut ks: Vec<Option<Value>> = vec![];
                for k in keys {
                    ks.push(match k {
                        Some(x) => Some(self.eval(x, locals)?),
                        None => None,
                    });
                }
                let exact = ks.iter().all(|k| k.is_some());
                let found = if exact {
                    let key: Key = ks.into_iter().flatten().collect();
                    match &self.globals[*g as usize] {
                        Slot::Arr(m) => m.contains_key(&key[..]),
                        Slot::StatArr(m) => m.contains_key(&key[..]),
                        _ => false,
                    }
                } else {
                    let matches = |k: &[Value]| {
                        k.iter()
                            .zip(&ks)
                            .all(|(a, b)| b.as_ref().is_none_or(|b| a == b))
                    };
                    match &self.globals[*g as usize] {
                        Slot::Arr(m) => m.keys().any(|k| matches(k)),
                        Slot::StatArr(m) => m.keys().any(|k| matches(k)),
                        _ => false,
                    }
                };
                Value::Int(i64::from(found))
            }
            X::Entry(e) => {
                let saved = self.ctx.at_entry;
                self.ctx.at_entry = true;
                let r = self.eval(e, locals);
                self.ctx.at_entry = saved;
                r?
            }
        })
    }

    fn arith(&self, op: ArithOp, l: i64, r: i64, span: Span) -> R<i64> {
        Ok(match op {
            ArithOp::Add => l.wrapping_add(r),
            ArithOp::Sub => l.wrapping_sub(r),
            ArithOp::Mul => l.wrapping_mul(r),
            ArithOp::Div => {
                if r == 0 {
                    return err("division by 0", self.op_near(span, '/'), span);
                }
                super::stats::div64(l, r)
            }
            ArithOp::Mod => {
                if r == 0 {
                    return err("division by 0", self.op_near(span, '%'), span);
                }
                if r == -1 {
                    0
                } else {
                    l % r
                }
            }
            ArithOp::Shl => l.wrapping_shl(r as u32),
            ArithOp::Shr => l.wrapping_shr(r as u32),
            ArithOp::And => l & r,
            ArithOp::Or => l | r,
            ArithOp::Xor => l ^ r,
        })
    }

    fn op_near(&self, _span: Span, op: char) -> String {
        // The span is the operator token's own.
        format!("operator '{op}'")
    }

    fn print(&mut self, kind: PrintKind, args: &[(X, Ty)], locals: &mut Vec<Value>) -> R<Value> {
        let mut s = String::new();
        let (delim, skip) = match kind {
            PrintKind::Printd | PrintKind::Printdln => {
                let d = self.eval(&args[0].0, locals)?;
                (Some(d.str().to_string()), 1)
            }
            _ => (None, 0),
        };
        for (i, (x, _)) in args.iter().enumerate().skip(skip) {
            if i > skip {
                if let Some(d) = &delim {
                    s.push_str(d);
                }
            }
            match self.eval(x, locals)? {
                Value::Int(n) => s.push_str(&n.to_string()),
                Value::Str(t) => s.push_str(&t),
            }
        }
        // A histogram ends with its own blank line; println adds nothing
        // more after one.
        let hist_only = args.len() == 1 && matches!(args[0].0, X::Hist(_));
        match kind {
            PrintKind::Println | PrintKind::Sprintln if hist_only => {}
            PrintKind::Println | PrintKind::Sprintln | PrintKind::Printdln | PrintKind::Log => {
                s.push('\n')
            }
            _ => {}
        }
        match kind {
            PrintKind::Sprint | PrintKind::Sprintln => return Ok(self.string(s)),
            PrintKind::Warn => self.stderr.push(format!("WARNING: {s}\n")),
            _ => {
                self.out.extend_from_slice(s.as_bytes());
                self.maybe_flush();
            }
        }
        Ok(Value::Int(0))
    }

    /// Adds plan results to the globals, as if the compiled probes had
    /// run over the events they cover: counts and sums add, statistics
    /// merge, new elements come after existing ones in the plans' order.
    /// A scalar long global's value (0 if it is something else).
    pub fn scalar_long(&self, g: u32) -> i64 {
        match self.globals.get(g as usize) {
            Some(Slot::Scalar(Value::Int(n))) => *n,
            _ => 0,
        }
    }

    /// Sets a scalar long global (a projection's running value).
    pub fn set_scalar_long(&mut self, g: u32, v: i64) {
        if let Some(Slot::Scalar(s)) = self.globals.get_mut(g as usize) {
            *s = Value::Int(v);
        }
    }

    pub fn merge(&mut self, globals: &[super::preload::GlobalElements]) {
        use super::preload::Acc;
        fn add_stat(s: &mut Stat, a: &Acc) {
            if let Acc::Stat {
                count,
                sum,
                min,
                max,
                hists,
            } = a
            {
                if *count == 0 {
                    return;
                }
                if s.count == 0 {
                    s.min = *min;
                    s.max = *max;
                } else {
                    s.min = s.min.min(*min);
                    s.max = s.max.max(*max);
                }
                s.count += count;
                s.sum = s.sum.wrapping_add(*sum);
                for (mine, theirs) in s.hists.iter_mut().zip(hists) {
                    for (m, t) in mine.iter_mut().zip(theirs) {
                        *m += t;
                    }
                }
            }
        }
        for (g, rows) in globals {
            let g = *g as usize;
            let shape = self.shapes[g].clone();
            match &mut self.globals[g] {
                Slot::Scalar(v) => {
                    for (_, a) in rows {
                        match a {
                            Acc::Int(n) => *v = Value::Int(v.int().wrapping_add(*n)),
                            Acc::Max(n) => *v = Value::Int(v.int().max(*n)),
                            // (minima are arrays only; see plan::analysis)
                            Acc::Min(_) | Acc::Stat { .. } => {}
                        }
                    }
                }
                Slot::Stat(st) => {
                    for (_, a) in rows {
                        add_stat(st, a);
                    }
                }
                Slot::Arr(m) => {
                    // One lookup an element: a million plan-computed
                    // elements were two hashes, two key copies and the
                    // map's growth by doubling each. (Reserved only when
                    // empty: a period's ticks bring the same keys again.)
                    if m.is_empty() {
                        m.reserve(rows.len());
                    }
                    for (k, a) in rows {
                        let key = || k.clone().into_boxed_slice();
                        match a {
                            Acc::Int(n) => {
                                let v = m.entry(key()).or_insert(Value::Int(0));
                                *v = Value::Int(v.int().wrapping_add(*n));
                            }
                            Acc::Max(n) => {
                                let v = m.entry(key()).or_insert(Value::Int(0));
                                *v = Value::Int(v.int().max(*n));
                            }
                            // A missing element takes the value (its first
                            // row always assigns); a present one keeps the min.
                            Acc::Min(n) => {
                                let v = m.entry(key()).or_insert(Value::Int(*n));
                                *v = Value::Int(v.int().min(*n));
                            }
                            Acc::Stat { .. } => {}
                        }
                    }
                }
                Slot::StatArr(m) => {
                    if m.is_empty() {
                        m.reserve(rows.len());
                    }
                    for (k, a) in rows {
                        let e = m
                            .entry(k.clone().into_boxed_slice())
                            .or_insert_with(|| Stat::new(&shape));
                        add_stat(e, a);
                    }
                }
            }
        }
    }

    /// Prints globals that were written and never read, as stap does at exit.
    /// Every global as it stands (for `retap diff --script`): arrays by
    /// key text, statistics with count, sum and variance.
    pub fn snapshot(&self) -> Vec<GlobalSnapshot> {
        let mut out = vec![];
        for (gi, g) in self.prog.globals.iter().enumerate() {
            let shift = self.shapes[gi].shift;
            let stat = |s: &Stat| SnapValue::Stat {
                count: s.count,
                sum: s.sum,
                variance: if s.count > 1 { s.variance(shift) } else { 0 },
            };
            let val = |v: &Value| match v {
                Value::Int(n) => SnapValue::Int(*n),
                Value::Str(s) => SnapValue::Str(s.to_string()),
            };
            let rows: Vec<(String, SnapValue)> = match &self.globals[gi] {
                Slot::Scalar(v) => vec![(String::new(), val(v))],
                Slot::Stat(s) => vec![(String::new(), stat(s))],
                Slot::Arr(m) => m.iter().map(|(k, v)| (key_text(k), val(v))).collect(),
                Slot::StatArr(m) => m.iter().map(|(k, s)| (key_text(k), stat(s))).collect(),
            };
            out.push(GlobalSnapshot {
                name: g.name.clone(),
                rows,
            });
        }
        out
    }

    pub fn print_unread_globals(&mut self) {
        for (gi, g) in self.prog.globals.iter().enumerate() {
            if !g.written || g.read || g.library || g.ty == Ty::Unknown {
                continue;
            }
            let shift = self.shapes[gi].shift;
            let mut o = String::new();
            match &self.globals[gi] {
                Slot::Scalar(Value::Int(n)) => o.push_str(&format!("{}={}\n", g.name, n)),
                Slot::Scalar(Value::Str(s)) => o.push_str(&format!("{}=\"{}\"\n", g.name, s)),
                Slot::Stat(s) => {
                    if s.count > 0 {
                        o.push_str(&format!("{} {}\n", g.name, stat_line(s, shift)));
                    }
                }
                Slot::Arr(m) => {
                    let mut rows: Vec<(&Box<[Value]>, &Value)> = m.iter().collect();
                    rows.sort_by(|a, b| b.1.cmp(a.1));
                    for (k, v) in rows {
                        let v = match v {
                            Value::Int(n) => n.to_string(),
                            Value::Str(s) => format!("\"{s}\""),
                        };
                        o.push_str(&format!("{}[{}]={}\n", g.name, key_text(k), v));
                    }
                }
                Slot::StatArr(m) => {
                    let mut rows: Vec<(&Box<[Value]>, &Stat)> = m.iter().collect();
                    rows.sort_by_key(|r| std::cmp::Reverse(r.1.count));
                    for (k, s) in rows {
                        o.push_str(&format!(
                            "{}[{}] {}\n",
                            g.name,
                            key_text(k),
                            stat_line(s, shift)
                        ));
                    }
                }
            }
            self.out.extend_from_slice(o.as_bytes());
        }
    }

    fn ctx_var(&mut self, c: &crate::stap::elaborate::context::CtxVar) -> Value {
        self.ctx.var(c)
    }

    fn builtin(
        &mut self,
        b: crate::stap::elaborate::tapset::Builtin,
        args: &[Value],
        span: Span,
    ) -> R<Value> {
        super::builtins::call(self, b, args, span)
    }

    /// matched(n): subexpression n of the probe's last successful match
    /// (0: the whole match; "" for a group that took no part).
    pub fn matched(&self, n: i64) -> Result<String, String> {
        let Some((re, subject)) = &self.last_match else {
            return Err("matched(): no successful regular expression match in this probe".into());
        };
        let re = &self.regexes[*re as usize];
        let groups = re.captures_len() as i64;
        if n < 0 || n >= groups {
            return Err(format!(
                "matched({n}): the expression has {} subexpression(s)",
                groups - 1
            ));
        }
        let caps = re
            .captures(subject.str().as_bytes())
            .ok_or("matched(): no successful regular expression match in this probe")?;
        Ok(caps
            .get(n as usize)
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
            .unwrap_or_default())
    }

    /// tokenize(): stap keeps the string between calls.
    /// As strsep: the text up to the next delimiter, the position moved
    /// past that delimiter. The two-argument form skips empty tokens; the
    /// one-argument form (`skip_empty` false) returns them.
    pub fn tokenize(&mut self, s: &str, delim: &str, skip_empty: bool) -> Value {
        if !s.is_empty() {
            self.tokenize_state = (s.to_string(), 0);
        }
        let (text, pos) = &mut self.tokenize_state;
        let bytes = text.as_bytes();
        let is_delim = |b: u8| delim.as_bytes().contains(&b);
        while skip_empty && *pos < bytes.len() && is_delim(bytes[*pos]) {
            *pos += 1;
        }
        let start = *pos;
        while *pos < bytes.len() && !is_delim(bytes[*pos]) {
            *pos += 1;
        }
        let tok = String::from_utf8_lossy(&bytes[start..*pos]).into_owned();
        if *pos < bytes.len() {
            *pos += 1;
        }
        Value::from_string(tok)
    }

    pub fn is_ret_family(&self) -> bool {
        matches!(
            self.ctx.family,
            Some(
                Family::Syscall { ret: true }
                    | Family::SyscallAny { ret: true }
                    | Family::Vfs { ret: true, .. }
                    | Family::BlockEnd
            )
        )
    }
}

/// A probe's or function's locals at entry: 0 or "" by type.
fn fresh_locals(decl: &[(String, Ty)]) -> Vec<Value> {
    decl.iter()
        .map(|(_, t)| {
            if *t == Ty::Str {
                Value::empty_str()
            } else {
                Value::Int(0)
            }
        })
        .collect()
}

fn key_text(k: &[Value]) -> String {
    k.iter()
        .map(|v| match v {
            Value::Int(n) => n.to_string(),
            Value::Str(s) => format!("\"{s}\""),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn stat_line(s: &Stat, _shift: u32) -> String {
    format!(
        "@count={} @min={} @max={} @sum={} @avg={}",
        s.count,
        s.min,
        s.max,
        s.sum,
        s.avg()
    )
}

pub fn stat_value(s: &Stat, op: StatOp, shift: u32) -> i64 {
    match op {
        StatOp::Count => s.count,
        StatOp::Sum => s.sum,
        StatOp::Min => s.min,
        StatOp::Max => s.max,
        StatOp::Avg => s.avg(),
        StatOp::Variance => {
            if s.count < 2 {
                -1
            } else {
                s.variance(shift)
            }
        }
    }
}

/// Where an IR expression came from, for MAXACTION's location.
fn x_span(x: &X) -> Span {
    match x {
        X::Call(_, _, s)
        | X::UserCall(_, _, s)
        | X::Arith(_, _, _, s)
        | X::Assign(_, _, _, s)
        | X::Incr(_, _, s)
        | X::Stat(_, _, s) => *s,
        X::Printf { span, .. } => *span,
        X::Hist(h) | X::HistBucket(h, _) => h.span,
        _ => Span::default(),
    }
}

#[allow(dead_code)]
fn _rc_unused(_: Rc<str>) {}

/// What a foreach visits, in its order: `rows` (array order, numbered)
/// sorted stably (ties keep array order), and with a limit only its
/// first elements, selected before they are sorted: an array of a
/// million elements printed ten at a time is not sorted whole.
fn visited<V: std::borrow::Borrow<Value> + Clone>(
    mut rows: Vec<(usize, &[Value], V)>,
    sort: Option<Sort>,
    limit: Option<i64>,
) -> Vec<(usize, &[Value], V)> {
    let keep = limit.map_or(rows.len(), |l| l.clamp(0, rows.len() as i64) as usize);
    // Integers (counts, pids) are sorted as small records of (the number,
    // negated bitwise for a descending sort; the array's order; the row),
    // not as rows compared through their values' enum: a million
    // elements printed in value order.
    if let Some(Sort::Value(dir, _) | Sort::Key(_, dir)) = sort {
        let word = |r: &(usize, &[Value], V)| {
            let v = match sort {
                Some(Sort::Key(k, _)) => r.1.get(k),
                _ => Some(r.2.borrow()),
            };
            match v {
                Some(Value::Int(n)) if dir == SortDir::Desc => Some(!*n),
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            }
        };
        let words: Option<Vec<(i64, usize, u32)>> = rows
            .iter()
            .enumerate()
            .map(|(at, r)| word(r).map(|w| (w, r.0, at as u32)))
            .collect();
        if let Some(mut words) = words.filter(|w| w.len() < u32::MAX as usize) {
            if keep > 0 && keep < words.len() {
                words.select_nth_unstable(keep - 1);
            }
            words.truncate(keep);
            words.sort_unstable();
            return words
                .into_iter()
                .map(|(.., at)| rows[at as usize].clone())
                .collect();
        }
    }
    // The array's order breaks ties: a total order, so an unstable sort
    // or selection gives what a stable sort would.
    let by =
        |dir: SortDir, o: std::cmp::Ordering| if dir == SortDir::Desc { o.reverse() } else { o };
    let cmp = |a: &(usize, &[Value], V), b: &(usize, &[Value], V)| {
        match sort {
            Some(Sort::Value(dir, _)) => by(dir, a.2.borrow().cmp(b.2.borrow())),
            Some(Sort::Key(k, dir)) => by(dir, a.1[k].cmp(&b.1[k])),
            None => std::cmp::Ordering::Equal,
        }
        .then(a.0.cmp(&b.0))
    };
    if sort.is_some() {
        if keep > 0 && keep < rows.len() {
            rows.select_nth_unstable_by(keep - 1, cmp);
        }
        rows.truncate(keep);
        rows.sort_unstable_by(cmp);
    } else {
        rows.truncate(keep);
    }
    rows
}

/// A visited element as the loop's snapshot keeps it, with its index in
/// its array.
fn owned<V: std::borrow::Borrow<Value>>(
    (i, k, v): (usize, &[Value], V),
) -> (usize, Box<[Value]>, Value) {
    (i, k.into(), v.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `visited` against what it replaces: a stable sort of every element,
    /// then the first `limit`; over values and keys with many ties.
    #[test]
    fn a_limited_foreach_visits_what_a_stable_sort_would() {
        let mut x = 7u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let keys: Vec<[Value; 2]> = (0..3000)
            .map(|_| {
                let r = next();
                [
                    Value::Int((r % 40) as i64),
                    Value::from_string(format!("p{}", r % 7)),
                ]
            })
            .collect();
        // (negative, and the extremes a bitwise negation must order)
        let values: Vec<Value> = (0..3000)
            .map(|i| match (i % 97, next() % 25) {
                (0, _) => Value::Int(i64::MIN),
                (1, _) => Value::Int(i64::MAX),
                (_, r) => Value::Int(r as i64 - 12),
            })
            .collect();
        let sorts = [
            None,
            Some(Sort::Value(SortDir::Asc, StatOp::Count)),
            Some(Sort::Value(SortDir::Desc, StatOp::Count)),
            Some(Sort::Key(0, SortDir::Asc)),
            Some(Sort::Key(1, SortDir::Desc)),
        ];
        for sort in sorts {
            for limit in [
                None,
                Some(-1),
                Some(0),
                Some(1),
                Some(10),
                Some(2999),
                Some(3000),
                Some(5000),
            ] {
                let rows: Vec<(usize, &[Value], &Value)> = keys
                    .iter()
                    .zip(&values)
                    .enumerate()
                    .map(|(i, (k, v))| (i, &k[..], v))
                    .collect();
                let mut want = rows.clone();
                match sort {
                    Some(Sort::Value(dir, _)) => want.sort_by(|a, b| {
                        let o = a.2.cmp(b.2);
                        if dir == SortDir::Desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }),
                    Some(Sort::Key(k, dir)) => want.sort_by(|a, b| {
                        let o = a.1[k].cmp(&b.1[k]);
                        if dir == SortDir::Desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }),
                    None => {}
                }
                want.truncate(limit.map_or(3000, |l| l.clamp(0, 3000) as usize));
                let got = visited(rows, sort, limit);
                let order =
                    |v: &[(usize, &[Value], &Value)]| v.iter().map(|r| r.0).collect::<Vec<_>>();
                assert_eq!(order(&got), order(&want), "{sort:?} limit {limit:?}");
            }
        }
    }
}
