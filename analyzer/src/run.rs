//! `retap run`: the five passes in order, stopping where `-p` says, with
//! stap's `-v` timings. Pass 3/4 (plans) come with the plan compiler; until
//! then pass 5 is the interpreter.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::stap::{self, source::render_all, PpEnv};

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
    let env = PpEnv::host(req.args.clone());
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
        return write_output(req, &out);
    }
    Err(RunFailure::new(
        "retap run: passes after 1 are not built yet",
    ))
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
