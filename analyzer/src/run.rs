//! `retap run`: the five passes in order, stopping where `-p` says, with
//! stap's `-v` timings. Pass 3/4 (plans) come with the plan compiler; until
//! then pass 5 is the interpreter.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::runtime::interp::GlobalSnapshot;
use crate::runtime::{Limits, RunOptions};
use crate::stap::elaborate::{elaborate, ElabOptions};
use crate::stap::{self, source::render_all, PpEnv};
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
    /// Keep the globals before `end` (retap diff --script).
    pub snapshot: bool,
    /// Discard the script's output (with no `output` file).
    pub quiet: bool,
}

/// What went wrong, already rendered for the user (stderr) and the exit code.
pub struct RunFailure {
    pub message: String,
    pub code: u8,
}

impl RunFailure {
    fn new(message: impl Into<String>) -> RunFailure {
        RunFailure {
            message: message.into(),
            code: 1,
        }
    }
}

pub fn run(req: &RunRequest) -> Result<(), RunFailure> {
    run_keeping_globals(req).map(|_| ())
}

/// `run`, returning the globals as they stood before `end` when
/// `req.snapshot` is set (what `retap diff --script` compares).
pub fn run_keeping_globals(req: &RunRequest) -> Result<Vec<GlobalSnapshot>, RunFailure> {
    let (name, text) = match (&req.script_text, &req.script_path) {
        (Some(t), _) => ("<input>".to_string(), t.clone()),
        (None, Some(p)) => {
            let t = std::fs::read_to_string(p).map_err(|e| {
                RunFailure::new(format!("retap: cannot read script {}: {e}", p.display()))
            })?;
            (p.display().to_string(), t)
        }
        (None, None) => {
            return Err(RunFailure::new(
                "retap run: give a script file or -e 'TEXT'",
            ))
        }
    };
    let mut trace = match &req.trace {
        Some(dir) => Some(Trace::list(dir).map_err(|e| RunFailure::new(format!("retap: {e}")))?),
        None => None,
    };
    let env = match &trace {
        // Conditions ask about the machine that was traced.
        Some(t) => PpEnv {
            kernel_release: t.manifest.kernel.clone(),
            arch: t.manifest.arch.clone(),
            args: req.args.clone(),
        },
        None => PpEnv::host(req.args.clone()),
    };
    let t0 = Instant::now();
    let (parsed, diags) = stap::parse(&name, &text, &env);
    let elapsed = t0.elapsed();
    if !diags.is_empty() {
        return Err(RunFailure::new(render_all(&diags, &parsed.map)));
    }
    if req.verbose > 0 {
        eprintln!(
            "Pass 1: parsed user script and 0 library scripts in {}usr/0sys/{}real ms.",
            elapsed.as_millis(),
            elapsed.as_millis()
        );
    }
    if req.last_pass == 1 {
        let out = stap::printer::print_script(&parsed.script);
        return write_output(req, &out).map(|_| vec![]);
    }
    let t1 = Instant::now();
    let signatures = trace.as_ref().and_then(|t| t.signatures());
    let opts = ElabOptions {
        arch: env.arch.clone(),
        signatures,
        tables: trace
            .as_ref()
            .map(|t| t.tables.iter().map(|f| f.table).collect()),
    };
    let (program, errors, warnings) = elaborate(&parsed.script, &opts);
    let elapsed = t1.elapsed();
    if !warnings.is_empty() && req.verbose > 0 {
        eprint!("{}", render_all(&warnings, &parsed.map));
    }
    if !errors.is_empty() {
        return Err(RunFailure::new(render_all(&errors, &parsed.map)));
    }
    if req.verbose > 0 {
        eprintln!(
            "Pass 2: analyzed script: {} probe(s), {} function(s), {} global(s) in {}usr/0sys/{}real ms.",
            program.probes.iter().map(|p| p.points.len()).sum::<usize>(),
            program.functions.len(),
            program.globals.len(),
            elapsed.as_millis(),
            elapsed.as_millis()
        );
    }
    if req.last_pass == 2 {
        let out = stap::elaborate::pretty::render(&program, &parsed.script);
        return write_output(req, &out).map(|_| vec![]);
    }
    // Only the tables the probes read: their files' footers, and their
    // damage reported.
    if let Some(t) = &mut trace {
        let tables: Vec<_> = program
            .probes
            .iter()
            .flat_map(|p| &p.points)
            .filter_map(|pt| pt.table())
            .collect();
        t.check(&tables);
    }
    let trace = trace;
    // Passes 3 and 4: what becomes DataFusion plans.
    let t3 = Instant::now();
    let compiled = match (&trace, req.interpret_only) {
        (Some(_), false) => crate::plan::analyse(&program),
        _ => crate::plan::Compiled::default(),
    };
    if req.verbose > 0 {
        let ms = t3.elapsed().as_millis();
        eprintln!(
            "Pass 3: translated to {} plan-computed probe(s) in {ms}usr/0sys/{ms}real ms.",
            compiled.probes.len()
        );
        for pi in &compiled.probes {
            let what = if compiled.projections.iter().any(|p| p.probe == *pi) {
                "an ordered DataFusion projection (printf per event)"
            } else {
                "a DataFusion plan"
            };
            eprintln!("  {}: compiled to {what}", program.probes[*pi].text);
        }
        for (text, why) in &compiled.interpreted {
            eprintln!("  {text}: interpreted: {why}");
        }
    }
    let limits = Limits::from_defines(&req.defines)
        .map_err(|e| RunFailure::new(format!("retap run: {e}")))?;
    let mut plans = None;
    if let Some(t) = &trace {
        if !compiled.updates.is_empty() || req.last_pass < 5 {
            let t4 = Instant::now();
            match crate::plan::build_plans(&program, &compiled, t, false) {
                Ok(p) => plans = Some(p),
                Err(e) if req.last_pass < 5 => return Err(RunFailure::new(format!("retap: {e}"))),
                Err(e) => {
                    if req.verbose > 0 {
                        eprintln!("  plans not built ({e}); every probe runs in the interpreter");
                    }
                }
            }
            if req.verbose > 0 {
                let ms = t4.elapsed().as_millis();
                eprintln!(
                    "Pass 4: built {} plan(s) in {ms}usr/0sys/{ms}real ms.",
                    plans.as_ref().map_or(0, Vec::len)
                );
            }
        }
    }
    let mut projection = None;
    if let (Some(t), false) = (&trace, compiled.projections.is_empty()) {
        match crate::plan::build_projection(&program, &compiled.projections, t) {
            Ok(p) => projection = Some(p),
            Err(e) if req.last_pass < 5 => return Err(RunFailure::new(format!("retap: {e}"))),
            Err(e) => {
                if req.verbose > 0 {
                    eprintln!("  projection not built ({e}); its probes run in the interpreter");
                }
            }
        }
    }
    if req.last_pass == 3 || req.last_pass == 4 {
        if trace.is_none() {
            return Err(RunFailure::new(
                "retap run: -p3/-p4 show the plans built over a recording; give --trace DIR",
            ));
        }
        let rt = crate::plan::runtime();
        let ps = plans.unwrap_or_default();
        let mut out = String::new();
        if let Some(p) = &projection {
            // One plan per file, all alike: the first stands for them.
            out.push_str(&format!(
                "# {} ({} file(s), one plan each)\n",
                p.text,
                p.files.len()
            ));
            if let Some(df) = p.files.first() {
                if req.last_pass == 3 {
                    let plan = df
                        .clone()
                        .into_optimized_plan()
                        .map_err(|e| RunFailure::new(format!("retap: {e}")))?;
                    out.push_str(&format!("{}\n", plan.display_indent()));
                } else {
                    let phys = rt
                        .block_on(df.clone().create_physical_plan())
                        .map_err(|e| RunFailure::new(format!("retap: {e}")))?;
                    out.push_str(&format!(
                        "{}\n",
                        datafusion::physical_plan::displayable(phys.as_ref()).indent(true)
                    ));
                }
            }
        }
        if ps.is_empty() && projection.is_none() {
            out.push_str("# no probe compiles to a plan; every probe runs in the interpreter\n");
        }
        for p in ps {
            out.push_str(&format!("# {}\n", p.text));
            if req.last_pass == 3 {
                let plan =
                    p.df.into_optimized_plan()
                        .map_err(|e| RunFailure::new(format!("retap: {e}")))?;
                out.push_str(&format!("{}\n", plan.display_indent()));
            } else {
                let phys = rt
                    .block_on(p.df.create_physical_plan())
                    .map_err(|e| RunFailure::new(format!("retap: {e}")))?;
                out.push_str(&format!(
                    "{}\n",
                    datafusion::physical_plan::displayable(phys.as_ref()).indent(true)
                ));
            }
        }
        return write_output(req, &out).map(|_| vec![]);
    }
    let mut preload = None;
    let mut skip = std::collections::BTreeSet::new();
    // Plans that were needed but not built (or not usable) leave every
    // probe to the interpreter.
    let mut plans_ok = plans.is_some() || compiled.updates.is_empty();
    if let (Some(ps), Some(tr)) = (plans, &trace) {
        let t = Instant::now();
        match crate::plan::run_plans(&program, &compiled, tr, ps, limits.maxmapentries) {
            Ok((l, rebuilt)) => {
                preload = Some(l);
                if req.verbose > 0 {
                    let ms = t.elapsed().as_millis();
                    if let Some(why) = rebuilt {
                        eprintln!("  {why}: plans ran again keeping first firing times");
                    }
                    eprintln!("  plans ran in {ms} ms");
                }
            }
            Err(e) => {
                plans_ok = false;
                if req.verbose > 0 {
                    eprintln!("  plan results not used ({e}); every probe runs in the interpreter");
                }
            }
        }
    }
    let mut projector: Option<Box<dyn crate::runtime::Projector>> = None;
    if plans_ok && trace.is_some() {
        skip = compiled.probes.clone();
        match projection {
            Some(p) => {
                projector = Some(Box::new(crate::plan::Projected(std::cell::RefCell::new(
                    Some(p),
                ))))
            }
            None => {
                for pr in &compiled.projections {
                    skip.remove(&pr.probe);
                }
            }
        }
    }
    if trace.is_none() && crate::runtime::needs_trace(&program) {
        return Err(RunFailure::new(
            "retap run: this script has event or timer probes; give the recording to run \
             over with --trace DIR (running live, without a recording, is not built)",
        ));
    }
    let sink: Box<dyn std::io::Write> = match &req.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| RunFailure::new(format!("retap: cannot create {}: {e}", p.display())),
        )?)),
        None if req.quiet => Box::new(std::io::sink()),
        None => Box::new(std::io::stdout().lock()),
    };
    let t5 = Instant::now();
    let opts = RunOptions {
        limits,
        seed: req.seed,
        skip,
        preload,
        snapshot: req.snapshot,
        projection: projector,
    };
    let mut outcome = crate::runtime::run(&program, &parsed.map, trace.as_ref(), &opts, sink)
        .map_err(|e| RunFailure::new(format!("retap: {e}")))?;
    let ms5 = t5.elapsed().as_millis();
    // -v's hit counts: plans count their guarded rows per update, not how
    // often each probe fired, so one more scan per table counts that.
    if let (Some(t), true) = (&trace, req.verbose > 0 && !opts.skip.is_empty()) {
        match crate::plan::probe_hits(&program, &opts.skip, t, outcome.stopped_at) {
            Ok(h) => {
                for (pi, n) in h {
                    outcome.probe_hits[pi].1 += n;
                }
            }
            Err(e) => eprintln!("  hits of compiled probes not counted: {e}"),
        }
    }
    for w in &outcome.warnings {
        eprintln!("WARNING: {w}");
    }
    for line in &outcome.stderr {
        eprint!("{line}");
    }
    if req.verbose > 0 {
        let ms = ms5;
        eprintln!(
            "Pass 5: run completed in {ms}usr/0sys/{ms}real ms ({} rows replayed).",
            outcome.rows
        );
        for (text, n) in &outcome.probe_hits {
            eprintln!("  {text}: {n} hit(s)");
        }
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

fn write_output(req: &RunRequest, text: &str) -> Result<(), RunFailure> {
    let res = match &req.output {
        Some(p) => std::fs::write(p, text),
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        }
    };
    res.map_err(|e| RunFailure::new(format!("retap: cannot write output: {e}")))
}
