//! `retap run`: the five passes in order, stopping where `-p` says, with
//! stap's `-v` reports. Everything besides the script's output (pass
//! timings, decisions, warnings, the script's stderr) goes to the caller
//! as [`Note`]s, in the order it happens; the CLI prints them.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::output_files::{OutputFiles, Rotation};
use crate::plan::{self, Compiled, Plan, PlanError, ProjectionPlans};
use crate::runtime::interp::GlobalSnapshot;
use crate::runtime::preload::Preload;
use crate::runtime::{self, Limits, Outcome, Projector, RunError, RunOptions};
use crate::stap::elaborate::catalog::UserProbes;
use crate::stap::elaborate::ir::{Program, X};
use crate::stap::elaborate::tapset::Builtin;
use crate::stap::elaborate::{elaborate, ElabOptions};
use crate::stap::library::{self, Library};
use crate::stap::source::SourceMap;
use crate::stap::{self, source::render_all, Parsed, PpEnv};
use crate::trace::Trace;

/// Everything `retap run` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// Script file, or None with `-e`.
    pub script_path: Option<PathBuf>,
    pub script_text: Option<String>,
    pub args: Vec<String>,
    pub last_pass: u8,
    pub trace: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub defines: Vec<(String, String)>,
    pub verbose: u8,
    pub seed: u64,
    /// Run every probe in the interpreter (no plans): the reference.
    pub interpret_only: bool,
    /// Plans scan every file's rows, not the rollups they carry.
    pub no_rollups: bool,
    /// A plan that fails stops the run instead of being reported and
    /// replaced by the interpreter (tests run this way).
    pub strict_plans: bool,
    /// `-G NAME=VALUE`: initial values of the script's scalar globals, as
    /// if it declared `global NAME = VALUE`.
    pub globals: Vec<(String, String)>,
    /// `-I DIR`: directories of library `.stp` files, searched before
    /// the built-in library.
    pub include_dirs: Vec<PathBuf>,
    /// Keep the globals before `end` (retap diff --script).
    pub snapshot: bool,
    /// Discard the script's output (with no `output` file).
    pub quiet: bool,
    /// `-S size[,count]` with `output`: the files it rotates over.
    pub rotation: Option<Rotation>,
    /// `--suppress-handler-errors`: a runtime error ends its probe
    /// handler only, and the run goes on.
    pub suppress_handler_errors: bool,
    /// `-t`: stap's probe hit report, with each handler's time.
    pub timing: bool,
    /// `-w`: no warnings from the passes.
    pub suppress_warnings: bool,
    /// `-u`: nothing is elided, so nothing is warned about as elided.
    pub unoptimized: bool,
    /// `-x PID`: what target() returns.
    pub target: Option<i64>,
    /// `--cluster df://HOST:PORT`: the aggregate plans run on this Ballista
    /// cluster, each answered within the duration or an error.
    pub cluster: Option<(String, std::time::Duration)>,
}

/// What a run tells its user besides the script's output.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// `-v`: a pass's timing, or what it decided and why.
    Verbose(String),
    /// Something the user must know: damaged files, a plan that failed.
    Warning(String),
    /// The script's own stderr (`warn()`, runtime errors), as stap
    /// prints it.
    Script(String),
    /// A report asked for (`-t`'s probe hit report), printed as is.
    Report(String),
}

/// What went wrong, already rendered for the user (stderr) and the exit code.
#[derive(Debug)]
pub struct RunFailure {
    pub message: String,
    pub code: u8,
}

impl RunFailure {
    pub(crate) fn new(message: impl Into<String>) -> RunFailure {
        RunFailure {
            message: message.into(),
            code: 1,
        }
    }
}

type Notes<'a> = &'a mut dyn FnMut(Note);

/// Why a program cannot run over a set of traces as one: what it reads
/// answers per host (symbols, the process tree, the traced command), and
/// the hosts' pids and addresses are not one space.
fn per_trace_reason(prog: &Program, req: &RunRequest) -> Option<String> {
    let mut why = None;
    prog.for_each_expr(&mut |x| {
        if let X::Call(b, _, _) = x {
            let given = *b == Builtin::Target && req.target.is_some();
            if why.is_none() && b.answers_per_trace() && !given {
                why = Some(format!(
                    "{}() answers per host (symbols, the process tree or the traced command)",
                    crate::stap::elaborate::tapset::name(*b)
                ));
            }
        }
    });
    why.or_else(|| {
        prog.probes
            .iter()
            .flat_map(|p| &p.points)
            .find(|pt| pt.switched_in || pt.process.is_some())
            .map(|pt| format!("{} reads each host's process tree", pt.text))
    })
}

/// Runs the request; the globals as they stood before `end` come back
/// when `req.snapshot` is set (what `retap diff --script` compares).
pub fn run(req: &RunRequest, notes: Notes) -> Result<Vec<GlobalSnapshot>, RunFailure> {
    let (name, text) = script_text(req)?;
    let mut trace = match &req.trace {
        // A set of traces runs as one trace on a common clock.
        Some(dir) if crate::trace_set::TraceSet::is_set(dir) => Some(
            crate::trace_set::TraceSet::open(dir)
                .and_then(crate::trace_set::TraceSet::merged)
                .map_err(|e| RunFailure::new(format!("retap: {e}")))?,
        ),
        Some(dir) => Some(Trace::list(dir).map_err(|e| RunFailure::new(format!("retap: {e}")))?),
        None => None,
    };
    let lib =
        Library::new(&req.include_dirs).map_err(|e| RunFailure::new(format!("retap: {e}")))?;
    let env = match &trace {
        // Conditions ask about the machine that was traced.
        Some(t) => PpEnv {
            kernel_release: t.manifest.kernel.clone(),
            arch: t.manifest.arch.clone(),
            args: req.args.clone(),
            macros: lib.macros.clone(),
        },
        None => PpEnv {
            macros: lib.macros.clone(),
            ..PpEnv::host(req.args.clone())
        },
    };
    let mut parsed = pass1(&name, &text, &env, req, notes)?;
    if req.last_pass == 1 {
        return write_output(req, &stap::printer::print_script(&parsed.script));
    }
    let opts = ElabOptions {
        arch: env.arch.clone(),
        signatures: trace.as_ref().and_then(|t| t.signatures()),
        tables: trace
            .as_ref()
            .map(|t| t.tables.iter().map(|f| f.table).collect()),
        syscall_strings: trace
            .as_ref()
            .is_some_and(|t| t.manifest.string_max.is_some()),
        socket_addresses: trace.as_ref().is_some_and(|t| t.manifest.socket_addresses),
        user_probes: match &trace {
            Some(t) => UserProbes::Recorded(t.manifest.uprobes.clone()),
            None => UserProbes::Unavailable,
        },
        hz: trace.as_ref().and_then(|t| t.manifest.hz),
    };
    let mut program = pass2(&mut parsed, &lib, &env, &opts, req, notes)?;
    set_globals(&mut program, &req.globals)?;
    if let Some(why) = trace
        .as_ref()
        .filter(|t| t.members.len() > 1)
        .and_then(|_| per_trace_reason(&program, req))
    {
        return Err(RunFailure::new(format!(
            "retap run: {}: {why}; over a set of traces run it with --per-trace",
            req.trace.as_deref().unwrap_or(Path::new("")).display()
        )));
    }
    if req.last_pass == 2 {
        let out = stap::elaborate::pretty::render(&program, &parsed.script);
        return write_output(req, &out);
    }
    // Only the tables the probes read: their files' footers, and their
    // damage reported.
    if let Some(t) = &mut trace {
        t.check(&program.tables());
    }
    let Some(trace) = trace else {
        if req.last_pass < 5 {
            return Err(RunFailure::new(
                "retap run: -p3/-p4 show the plans built over a recording; give --trace DIR",
            ));
        }
        return interpret(&program, &parsed.map, None, Handoff::default(), req, notes);
    };
    // What the trace does not hold though it was recorded: the script's
    // answer covers less than the recording did.
    let m = &trace.manifest;
    for line in [
        retap_schema::summary::stop_line(m),
        m.complete_from_ns
            .and(retap_schema::summary::retention_line(m)),
    ]
    .into_iter()
    .flatten()
    {
        notes(Note::Warning(format!("{}: {line}", trace.dir.display())));
    }
    let compiled = pass3(&program, req, notes)?;
    let built = pass4(&program, &compiled, &trace, req, notes)?;
    if req.last_pass == 3 || req.last_pass == 4 {
        return write_output(req, &show_plans(built, req.last_pass)?);
    }
    let handoff = run_plans(&program, &compiled, &trace, built, req, notes)?;
    interpret(&program, &parsed.map, Some(&trace), handoff, req, notes)
}

/// Passes 1-2 on the machine this runs on, against `opts` (`retap record
/// --for` and live runs elaborate against the running kernel), `-G`'s
/// values set: the program and the source map its messages point into.
pub(crate) fn front_on_host(
    req: &RunRequest,
    opts: &ElabOptions,
    notes: Notes,
) -> Result<(Program, SourceMap), RunFailure> {
    let (program, parsed) = passes_on_host(req, opts, notes)?;
    Ok((program, parsed.map))
}

/// `-p2` on the machine this runs on, against `opts` (a live run's
/// `-p2`: elaborated against the running kernel, as stap's is).
pub(crate) fn pass2_on_host(
    req: &RunRequest,
    opts: &ElabOptions,
    notes: Notes,
) -> Result<(), RunFailure> {
    let (program, parsed) = passes_on_host(req, opts, notes)?;
    let out = stap::elaborate::pretty::render(&program, &parsed.script);
    write_output(req, &out).map(|_| ())
}

fn passes_on_host(
    req: &RunRequest,
    opts: &ElabOptions,
    notes: Notes,
) -> Result<(Program, Parsed), RunFailure> {
    let (name, text) = script_text(req)?;
    let lib =
        Library::new(&req.include_dirs).map_err(|e| RunFailure::new(format!("retap: {e}")))?;
    let env = PpEnv {
        macros: lib.macros.clone(),
        ..PpEnv::host(req.args.clone())
    };
    let mut parsed = pass1(&name, &text, &env, req, notes)?;
    let mut program = pass2(&mut parsed, &lib, &env, opts, req, notes)?;
    set_globals(&mut program, &req.globals)?;
    Ok((program, parsed))
}

fn script_text(req: &RunRequest) -> Result<(String, String), RunFailure> {
    match (&req.script_text, &req.script_path) {
        (Some(t), _) => Ok(("<input>".to_string(), t.clone())),
        (None, Some(p)) => {
            let t = std::fs::read_to_string(p).map_err(|e| {
                RunFailure::new(format!("retap: cannot read script {}: {e}", p.display()))
            })?;
            Ok((p.display().to_string(), t))
        }
        (None, None) => Err(RunFailure::new(
            "retap run: give a script file or -e 'TEXT'",
        )),
    }
}

/// stap's `-v` line for a pass: its time in ms.
fn pass_line(n: u8, what: &str, since: Instant) -> Note {
    let ms = since.elapsed().as_millis();
    Note::Verbose(format!("Pass {n}: {what} in {ms}usr/0sys/{ms}real ms."))
}

fn pass1(
    name: &str,
    text: &str,
    env: &PpEnv,
    req: &RunRequest,
    notes: Notes,
) -> Result<Parsed, RunFailure> {
    let t = Instant::now();
    let (parsed, diags) = stap::parse(name, text, env);
    if !diags.is_empty() {
        return Err(RunFailure::new(render_all(&diags, &parsed.map)));
    }
    if req.verbose > 0 {
        let macro_files: Vec<&str> = parsed
            .map
            .files
            .iter()
            .map(|f| f.name.as_str())
            .filter(|n| library::macros::is_macro_file(n))
            .collect();
        let what = format!(
            "parsed user script and {} library macro file(s)",
            macro_files.len()
        );
        notes(pass_line(1, &what, t));
        for f in macro_files {
            notes(Note::Verbose(format!("  library: {f}")));
        }
    }
    Ok(parsed)
}

/// Pass 2: the library files the script needs linked in, then
/// elaboration against the recording.
fn pass2(
    parsed: &mut Parsed,
    lib: &Library,
    env: &PpEnv,
    opts: &ElabOptions,
    req: &RunRequest,
    notes: Notes,
) -> Result<Program, RunFailure> {
    let t = Instant::now();
    let linked = library::link(parsed, lib, env)
        .map_err(|diags| RunFailure::new(render_all(&diags, &parsed.map)))?;
    let (program, errors, warnings) = elaborate(&parsed.script, opts);
    // As stap: shown unless -w, and -u elides nothing to warn about.
    if !warnings.is_empty() && !req.suppress_warnings && !req.unoptimized {
        notes(Note::Script(render_all(&warnings, &parsed.map)));
    }
    if !errors.is_empty() {
        return Err(RunFailure::new(render_all(&errors, &parsed.map)));
    }
    if req.verbose > 0 {
        let what = format!(
            "analyzed script: {} probe(s), {} function(s), {} global(s), {} library file(s)",
            program.probes.iter().map(|p| p.points.len()).sum::<usize>(),
            program.functions.len(),
            program.globals.len(),
            linked.len(),
        );
        notes(pass_line(2, &what, t));
        for f in &linked {
            notes(Note::Verbose(format!("  library: {f}")));
        }
    }
    Ok(program)
}

/// `-G NAME=VALUE`: the value a scalar global starts with, read as the
/// global's type (a number for a long, the text for a string).
fn set_globals(program: &mut Program, values: &[(String, String)]) -> Result<(), RunFailure> {
    use crate::stap::elaborate::ir::{Const, Ty};
    for (name, value) in values {
        let fail = |why: String| RunFailure::new(format!("retap run: -G {name}={value}: {why}"));
        let Some(g) = program.globals.iter_mut().find(|g| g.name == *name) else {
            return Err(fail("the script has no global of that name".into()));
        };
        if g.keys.is_some() || g.ty == Ty::Stat {
            return Err(fail("-G sets scalar longs and strings".into()));
        }
        g.init = Some(match g.ty {
            Ty::Str => Const::Str(value.clone()),
            Ty::Long | Ty::Unknown | Ty::Stat => match crate::stap::lexer::parse_number(value) {
                Some(n) => Const::Num(n),
                None => return Err(fail("not a number, and the global is a long".into())),
            },
        });
        if g.ty == Ty::Unknown {
            g.ty = Ty::Long;
        }
        g.written = true;
    }
    Ok(())
}

/// Pass 3: which probes become plans (none with --interpret-only).
fn pass3(program: &Program, req: &RunRequest, notes: Notes) -> Result<Compiled, RunFailure> {
    let t = Instant::now();
    let compiled = if req.interpret_only {
        Compiled::default()
    } else {
        plan::analyse(program)
    };
    if req.verbose > 0 {
        let what = format!(
            "translated to {} plan-computed probe(s)",
            compiled.probes.len()
        );
        notes(pass_line(3, &what, t));
        for pi in &compiled.probes {
            let what = if compiled.projections.iter().any(|p| p.probe == *pi) {
                "an ordered DataFusion projection (printf per event)"
            } else {
                "a DataFusion plan"
            };
            let text = &program.probes[*pi].text;
            notes(Note::Verbose(format!("  {text}: compiled to {what}")));
        }
        for (text, why) in &compiled.interpreted {
            notes(Note::Verbose(format!("  {text}: interpreted: {why}")));
        }
    }
    for (text, e) in &compiled.failed {
        plan_failed(req, notes, &format!("translating `{text}`"), e)?;
    }
    Ok(compiled)
}

/// Pass 4's plans: None where they were needed and failed to build (a
/// bug, already reported).
#[derive(Default)]
struct Built {
    aggregates: Option<Vec<Plan>>,
    projection: Option<ProjectionPlans>,
    /// Where the aggregates run.
    session: Option<plan::PlanSession>,
}

fn pass4(
    program: &Program,
    compiled: &Compiled,
    trace: &Trace,
    req: &RunRequest,
    notes: Notes,
) -> Result<Built, RunFailure> {
    let mut built = Built::default();
    let showing = req.last_pass < 5;
    if !compiled.updates.is_empty() || showing {
        let t = Instant::now();
        let mut session = match &req.cluster {
            Some((url, timeout)) => plan::PlanSession::cluster(url, *timeout)
                .map_err(|e| RunFailure::new(format!("retap run: {e}")))?,
            None => plan::PlanSession::local(&trace.store),
        };
        session.rollups &= !req.no_rollups;
        let built_plans = plan::build_plans(program, compiled, trace, false, None, &session);
        built.session = Some(session);
        match built_plans {
            Ok(p) => built.aggregates = Some(p),
            Err(e) if showing => return Err(RunFailure::new(format!("retap: {e}"))),
            Err(e) => plan_failed(req, notes, "building the plans", &e)?,
        }
        // A file's rollup that does not decode (written by another
        // version of the format, or damaged) costs a scan, said once a
        // file though several plans read it.
        let mut unreadable: Vec<&String> = built
            .aggregates
            .iter()
            .flatten()
            .flat_map(|p| &p.unreadable_rollups)
            .collect();
        unreadable.sort();
        unreadable.dedup();
        for line in unreadable.iter().take(3) {
            notes(Note::Warning(line.to_string()));
        }
        if unreadable.len() > 3 {
            let more = unreadable.len() - 3;
            notes(Note::Warning(format!(
                "and {more} more files whose rollups are unreadable"
            )));
        }
        if req.verbose > 0 {
            let n = built.aggregates.as_ref().map_or(0, Vec::len);
            notes(pass_line(4, &format!("built {n} plan(s)"), t));
            for p in built.aggregates.iter().flatten() {
                let (k, n, g) = p.unread;
                if k + g > 0 {
                    let groups = match g {
                        0 => String::new(),
                        1 => ", and 1 row group of the rest".to_string(),
                        g => format!(", and {g} row groups of the rest"),
                    };
                    notes(Note::Verbose(format!(
                        "  {}: {k} of {n} files left unread{groups}: no value in their \
                         dictionaries passes the probe's filter",
                        p.text
                    )));
                }
                if let Some(r) = p.from_rollups {
                    let (text, by, k, n) = (&p.text, r.grain.name(), r.answered, r.files);
                    let filtered = match r.filtered_finest {
                        0 => String::new(),
                        f => format!(
                            "; {f} from their groups by process and syscall that the probe's \
                             filter passes"
                        ),
                    };
                    let by_arg = match r.by_arg_scanned {
                        None => String::new(),
                        Some(s) => format!(
                            "; the rows of syscalls stap names by an argument read from \
                             {s} of them{}",
                            match r.by_arg_filtered_decoding {
                                true => ", filtered as they were decoded (few rows)",
                                false => "",
                            }
                        ),
                    };
                    notes(Note::Verbose(format!(
                        "  {text}: {k} of {n} files answered from the rollups they carry \
                         (their groups by {by}{filtered}){by_arg}"
                    )));
                }
            }
        }
    }
    if !compiled.projections.is_empty() {
        match plan::build_projection(program, &compiled.projections, trace) {
            Ok(p) => built.projection = Some(p),
            Err(e) if showing => return Err(RunFailure::new(format!("retap: {e}"))),
            Err(e) => plan_failed(req, notes, "building the projection", &e)?,
        }
    }
    Ok(built)
}

/// A plan that failed is a bug: a strict run stops with it; any other says
/// so in one line, and the interpreter (the reference) runs the probes
/// instead.
fn plan_failed(
    req: &RunRequest,
    notes: Notes,
    what: &str,
    e: &dyn std::fmt::Display,
) -> Result<(), RunFailure> {
    if req.strict_plans {
        return Err(RunFailure::new(format!("retap: {what} failed: {e}")));
    }
    notes(Note::Warning(format!(
        "{what} failed ({e}); the interpreter ran those probes instead (a bug in retap: please report it)"
    )));
    Ok(())
}

/// `-p3`/`-p4`: the logical or physical plans.
fn show_plans(built: Built, pass: u8) -> Result<String, RunFailure> {
    let fail = |e: datafusion::error::DataFusionError| RunFailure::new(format!("retap: {e}"));
    let show = |df: datafusion::prelude::DataFrame| -> Result<String, RunFailure> {
        if pass == 3 {
            let plan = df.into_optimized_plan().map_err(fail)?;
            Ok(format!("{}\n", plan.display_indent()))
        } else {
            let phys = crate::engine::runtime()
                .block_on(df.create_physical_plan())
                .map_err(fail)?;
            Ok(format!(
                "{}\n",
                datafusion::physical_plan::displayable(phys.as_ref()).indent(true)
            ))
        }
    };
    let mut out = String::new();
    let aggregates = built.aggregates.unwrap_or_default();
    if let Some(p) = &built.projection {
        // One plan per file, all alike: the first stands for them.
        out.push_str(&format!(
            "# {} ({} file(s), one plan each)\n",
            p.text,
            p.files.len()
        ));
        if let Some(df) = p.files.first() {
            out.push_str(&show(df.clone())?);
        }
    }
    if aggregates.is_empty() && built.projection.is_none() {
        out.push_str("# no probe compiles to a plan; every probe runs in the interpreter\n");
    }
    for p in aggregates {
        out.push_str(&format!("# {}\n", p.text));
        for df in p.dfs {
            out.push_str(&show(df)?);
        }
    }
    Ok(out)
}

/// What the plans hand the interpreter: the probes it skips, the results
/// it loads after `begin`, the lines a projection writes.
#[derive(Default)]
struct Handoff {
    skip: BTreeSet<usize>,
    preload: Option<Preload>,
    projector: Option<Box<dyn Projector>>,
}

fn run_plans(
    program: &Program,
    compiled: &Compiled,
    trace: &Trace,
    built: Built,
    req: &RunRequest,
    notes: Notes,
) -> Result<Handoff, RunFailure> {
    let limits = limits(req)?;
    let mut handoff = Handoff::default();
    // Aggregates that were needed but are not there leave every probe to
    // the interpreter.
    let mut aggregates_ok = built.aggregates.is_some() || compiled.updates.is_empty();
    let session = built
        .session
        .unwrap_or_else(|| plan::PlanSession::local(&trace.store));
    if let Some(plans) = built.aggregates.filter(|_| !compiled.updates.is_empty()) {
        let t = Instant::now();
        match plan::run_plans(
            program,
            compiled,
            trace,
            plans,
            limits.maxmapentries,
            &session,
            req.snapshot,
        ) {
            Ok((loaded, rebuilt)) => {
                handoff.preload = Some(loaded);
                if req.verbose > 0 {
                    if let Some(how) = rebuilt {
                        notes(Note::Verbose(format!("  {how}")));
                    }
                    let ms = t.elapsed().as_millis();
                    let on = match &req.cluster {
                        Some((url, _)) => format!(" on the cluster at {url}"),
                        None => String::new(),
                    };
                    notes(Note::Verbose(format!("  plans ran{on} in {ms} ms")));
                }
            }
            // The cluster asked for did not answer: said, not replaced by a
            // local run.
            Err(PlanError::Cluster(e)) => {
                let url = req.cluster.as_ref().map_or("", |(u, _)| u.as_str());
                return Err(RunFailure::new(format!("retap run: {url}: {e}")));
            }
            Err(PlanError::Unsupported(why)) => {
                aggregates_ok = false;
                if req.verbose > 0 {
                    notes(Note::Verbose(format!(
                        "  plan results not used ({why}); every probe runs in the interpreter"
                    )));
                }
            }
            Err(e) => {
                aggregates_ok = false;
                // A damaged file is not a bug: the interpreter reads around
                // damaged rows and says where they are. Damage it reads past
                // (a page index, which only plans' scans read) is said here.
                let damage = crate::integrity::verify(trace, &program.tables()).damage;
                for d in &damage {
                    let in_rows = damage
                        .iter()
                        .any(|o| o.path == d.path && o.row_group.is_some());
                    if !in_rows {
                        notes(Note::Warning(format!("DAMAGED: {d}")));
                    }
                }
                if !damage.is_empty() {
                    if req.verbose > 0 {
                        notes(Note::Verbose(format!(
                            "  plans not used ({e}): the trace is damaged; every probe runs in the interpreter"
                        )));
                    }
                } else {
                    plan_failed(req, notes, "running the plans", &e)?;
                }
            }
        }
    }
    if !aggregates_ok {
        return Ok(Handoff::default());
    }
    handoff.skip = compiled.probes.clone();
    match built.projection {
        Some(p) => handoff.projector = Some(Box::new(plan::Projected::new(p))),
        None => {
            for pr in &compiled.projections {
                handoff.skip.remove(&pr.probe);
            }
        }
    }
    Ok(handoff)
}

/// `DAMAGED: ...` for each damaged part of the tables the program reads.
fn damage_lines(trace: &Trace, program: &Program) -> Vec<String> {
    crate::integrity::verify(trace, &program.tables())
        .damage
        .iter()
        .map(|d| format!("DAMAGED: {d}"))
        .collect()
}

pub(crate) fn limits(req: &RunRequest) -> Result<Limits, RunFailure> {
    Limits::from_defines(&req.defines).map_err(|e| RunFailure::new(format!("retap run: {e}")))
}

/// Pass 5: the interpreter, over what the plans did not compute.
fn interpret(
    program: &Program,
    map: &SourceMap,
    trace: Option<&Trace>,
    handoff: Handoff,
    req: &RunRequest,
    notes: Notes,
) -> Result<Vec<GlobalSnapshot>, RunFailure> {
    if trace.is_none() && runtime::needs_trace(program) {
        return Err(RunFailure::new(
            "retap run: this script has event or timer probes; give the recording to run \
             over with --trace DIR, or run it live: as root, without --trace",
        ));
    }
    let (sink, switch_file) = output_sink(req)?;
    let t = Instant::now();
    let opts = RunOptions {
        limits: limits(req)?,
        seed: req.seed,
        skip: handoff.skip,
        preload: handoff.preload,
        snapshot: req.snapshot,
        projection: handoff.projector,
        suppress_handler_errors: req.suppress_handler_errors,
        timing: req.timing,
        flush_each_probe: req.rotation.is_some(),
        switch_file,
        target: req.target,
    };
    let outcome = runtime::run(program, map, trace, &opts, sink).map_err(|e| match e {
        // The lines before it are out: no quiet fallback is possible.
        RunError::Projection(e) => match trace.map(|t| damage_lines(t, program)) {
            Some(lines) if !lines.is_empty() => RunFailure::new(format!(
                "{}\nretap: the trace is damaged and the per-event output stops where it is",
                lines.join("\n")
            )),
            _ => RunFailure::new(format!(
                "retap: the ordered projection failed: {e} (a bug in retap: please report it; \
                 --interpret-only runs without plans)"
            )),
        },
        other => RunFailure::new(format!("retap: {other}")),
    })?;
    conclude(program, map, trace, &opts.skip, outcome, t, req, notes)
}

/// Where the script's output goes: stdout, or `-o FILE` (with `-S`'s
/// rotation and `switch_file()`).
pub(crate) fn output_sink(
    req: &RunRequest,
) -> Result<(Box<dyn Write>, Option<runtime::SwitchFile>), RunFailure> {
    Ok(match &req.output {
        Some(p) => {
            let files = OutputFiles::create(p, req.rotation)
                .map_err(|e| RunFailure::new(format!("retap: cannot create {e}")))?;
            let (sink, switch) = files.into_sink();
            (sink, Some(switch))
        }
        None if req.rotation.is_some() => {
            return Err(RunFailure::new(
                "retap run: -S needs -o FILE (the files it switches between)",
            ))
        }
        None if req.quiet => (Box::new(std::io::sink()), None),
        None => (Box::new(std::io::stdout().lock()), None),
    })
}

/// What a run says after its output: warnings, the script's stderr, `-v`
/// and `-t` reports, damage, and the exit status stap would give.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conclude(
    program: &Program,
    map: &SourceMap,
    trace: Option<&Trace>,
    skip: &BTreeSet<usize>,
    mut outcome: runtime::Outcome,
    elapsed: Instant,
    req: &RunRequest,
    notes: Notes,
) -> Result<Vec<GlobalSnapshot>, RunFailure> {
    if outcome.replayed && req.verbose > 0 {
        notes(Note::Verbose(
            "  an interpreted probe stopped the run early: the interpreter replayed every probe up to there for end"
                .into(),
        ));
    }
    if let (Some(t), true) = (
        trace,
        (req.verbose > 0 || req.timing) && !skip.is_empty() && !outcome.replayed,
    ) {
        count_compiled_hits(program, skip, t, &mut outcome, req, notes)?;
    }
    for w in &outcome.warnings {
        notes(Note::Warning(w.clone()));
    }
    for line in std::mem::take(&mut outcome.stderr) {
        notes(Note::Script(line));
    }
    if req.verbose > 0 {
        let ms = elapsed.elapsed().as_millis();
        notes(Note::Verbose(format!(
            "Pass 5: run completed in {ms}usr/0sys/{ms}real ms ({} rows replayed).",
            outcome.rows
        )));
        for (text, n) in &outcome.probe_hits {
            notes(Note::Verbose(format!("  {text}: {n} hit(s)")));
        }
        let (bytes, requests) = crate::store::fetched();
        if requests > 0 {
            notes(Note::Verbose(format!(
                "Object storage: {bytes} bytes fetched in {requests} requests."
            )));
        }
    }
    if req.timing {
        notes(Note::Report(hit_report(program, map, skip, &outcome)));
    }
    if outcome.suppressed > 0 && req.verbose > 0 {
        notes(Note::Verbose(format!(
            "  --suppress-handler-errors: {} handler(s) ended by a runtime error",
            outcome.suppressed
        )));
    }
    for line in &outcome.damage {
        notes(Note::Warning(line.clone()));
    }
    if !outcome.damage.is_empty() && outcome.errors == 0 {
        let dir = trace
            .map(|t| t.dir.display().to_string())
            .unwrap_or_default();
        return Err(RunFailure::new(format!(
            "retap: the trace is damaged and the results above are partial; `retap info --verify {dir}` lists every damaged part"
        )));
    }
    if outcome.errors > 0 {
        return Err(RunFailure {
            message: format!(
                "WARNING: Number of errors: {}, skipped probes: 0\nPass 5: run failed.  [man error::pass5]\n",
                outcome.errors
            ),
            code: 1,
        });
    }
    Ok(outcome.globals)
}

/// `-t`: stap's probe hit report, one line per probe that ran. stap
/// counts CPU cycles in the kernel; a run over a recording can only time
/// its own interpreter, so times are in nanoseconds (`ns:`), and probes
/// a plan computed say so instead.
fn hit_report(
    program: &Program,
    map: &crate::stap::source::SourceMap,
    planned: &BTreeSet<usize>,
    outcome: &runtime::Outcome,
) -> String {
    let mut out = String::from("----- probe hit report: \n");
    for (i, p) in program.probes.iter().enumerate() {
        let hits = outcome.probe_hits.get(i).map_or(0, |h| h.1);
        if hits == 0 {
            continue;
        }
        let point = p.points.first().map_or("", |rp| rp.text.as_str());
        let time = match outcome.probe_times.get(i) {
            Some(t) if t.runs > 0 && !planned.contains(&i) => {
                format!("ns: {}min/{}avg/{}max", t.min, t.sum / t.runs, t.max)
            }
            _ => "computed by a plan".to_string(),
        };
        out.push_str(&format!(
            "{point} ({}), hits: {hits}, {time}, from: {}, index: {i}\n",
            map.location(p.span),
            p.text
        ));
    }
    out
}

/// `-v`'s hit counts: plans count their guarded rows per update, not how
/// often each probe fired, so one more scan per table counts that.
fn count_compiled_hits(
    program: &Program,
    skip: &BTreeSet<usize>,
    trace: &Trace,
    outcome: &mut Outcome,
    req: &RunRequest,
    notes: Notes,
) -> Result<(), RunFailure> {
    match plan::probe_hits(program, skip, trace, outcome.stopped_at) {
        Ok(hits) => {
            for (pi, n) in hits {
                outcome.probe_hits[pi].1 += n;
            }
            Ok(())
        }
        Err(e) => plan_failed(req, notes, "counting the compiled probes' hits", &e),
    }
}

fn write_output(req: &RunRequest, text: &str) -> Result<Vec<GlobalSnapshot>, RunFailure> {
    let res = match &req.output {
        Some(p) => std::fs::write(p, text),
        None if req.quiet => Ok(()),
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        }
    };
    res.map_err(|e| RunFailure::new(format!("retap: cannot write output: {e}")))?;
    Ok(vec![])
}
