//! `retap record --for SCRIPT [ARGS...] [recorder options]`: passes 1-2 of
//! the script against the running kernel, then `retap-record` with the
//! tables, syscalls, tracepoints, stacks and file names the script reads
//! (analyzer's `record_for` decides; this reads the kernel and hands over).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use retap_analyzer::record_for::{self, Kernel};
use retap_analyzer::run::{Note, RunRequest};
use retap_schema::{tracefs, Table};

/// `retap record`'s arguments with `--for` and what only it takes (`-v`,
/// `-I DIR`) taken out.
#[derive(Debug, Default, PartialEq)]
pub struct ForArgs {
    pub script: PathBuf,
    pub script_args: Vec<String>,
    pub verbose: u8,
    pub include: Vec<PathBuf>,
    /// What goes to the recorder as given.
    pub recorder: Vec<String>,
}

/// Options `--for` chooses itself.
const CHOSEN: [&str; 4] = ["--events", "--syscalls", "--tracepoints", "--stacks"];

/// `Ok(None)` when there is no `--for` (the arguments go to the recorder
/// untouched).
pub fn split(args: &[String]) -> Result<Option<ForArgs>, String> {
    let mut out = ForArgs::default();
    let mut script = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let path = match a.strip_prefix("--for=") {
            Some(p) => Some(p.to_string()),
            None if a == "--for" => Some(
                it.next()
                    .ok_or("--for needs a script: retap record --for SCRIPT [ARGS...] -o DIR")?
                    .clone(),
            ),
            None => None,
        };
        if let Some(p) = path {
            if script.is_some() {
                return Err("--for is given twice".into());
            }
            script = Some(PathBuf::from(p));
            // The script's arguments: the words up to the next option.
            while let Some(w) = it.next_if(|w| !w.starts_with('-')) {
                out.script_args.push(w.clone());
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c == 'v') {
            out.verbose += (a.len() - 1) as u8;
        } else if a == "-I" {
            let dir = it.next().ok_or("-I needs a directory")?;
            out.include.push(PathBuf::from(dir));
        } else {
            out.recorder.push(a.clone());
        }
    }
    let Some(script) = script else {
        return Ok(None);
    };
    if let Some(c) = out.recorder.iter().find_map(|a| {
        CHOSEN
            .iter()
            .find(|c| a == *c || a.starts_with(&format!("{c}=")))
    }) {
        return Err(format!(
            "{c} and --for cannot be used together: --for chooses the tables, syscalls, \
             tracepoints and stacks from what the script reads (-v says what it chose)"
        ));
    }
    out.script = script;
    Ok(Some(out))
}

/// The running kernel as `--for` elaborates against it.
pub fn kernel() -> Result<Kernel, String> {
    let fs = match tracefs::find() {
        Some(fs) => fs,
        None => {
            // As the recorder does: root can mount it.
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                let _ = Command::new("mount")
                    .args(["-t", "tracefs", "tracefs", tracefs::MOUNT_POINTS[0]])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
            tracefs::find().ok_or(
                "tracefs is not mounted and could not be mounted; \
                 mount it with `mount -t tracefs tracefs /sys/kernel/tracing`",
            )?
        }
    };
    let names = tracefs::available(&fs).map_err(|e| {
        format!(
            "--for reads the kernel's tracepoints, which needs root: {e} \
             (run it with sudo, as recording needs)"
        )
    })?;
    let mut tracepoints = Vec::with_capacity(names.len());
    for name in &names {
        let (sys, ev) = name.split_once(':').unwrap_or(("", name));
        // A format the decoder cannot read stays out; the recorder says why
        // if a script names it.
        if let Ok(mut f) = tracefs::read_format(&fs, sys, ev) {
            f.stack = true;
            tracepoints.push(f.intern());
        }
    }
    Ok(Kernel {
        tracepoints,
        signatures: tracefs::syscall_signatures(),
        target_program: None,
        hz: retap_schema::kernel_config::hz(),
    })
}

/// Whether the recorder can record here (`what`: nothing for the
/// privileges, `vfs` for that table, which takes loading a probe program
/// to know): None, or why not.
pub fn refused_by(recorder: &Path, what: &[&str]) -> Option<String> {
    match Command::new(recorder)
        .arg("--can-record")
        .args(what)
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => {
            // (libbpf's own log comes first; the reason is the last line)
            let err = String::from_utf8_lossy(&o.stderr);
            let why = err
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            Some(why.strip_prefix("--events vfs ").unwrap_or(why).to_string())
        }
        Err(e) => Some(format!("cannot run {} ({e})", recorder.display())),
    }
}

/// The program a `-c` command runs: its first word (after any
/// `VAR=value` assignments).
pub fn command_program(cmd: &str) -> Option<String> {
    cmd.split_whitespace()
        .find(|w| !w.contains('='))
        .map(str::to_string)
}

pub fn run(a: ForArgs, recorder: &Path) -> ExitCode {
    let fail = |msg: &str| {
        eprint!("{msg}");
        if !msg.ends_with('\n') {
            eprintln!();
        }
        ExitCode::FAILURE
    };
    if let Some(why) = refused_by(recorder, &[]) {
        return fail(&format!("retap record: {why}"));
    }
    let mut kernel = match kernel() {
        Ok(k) => k,
        Err(e) => return fail(&format!("retap record: {e}")),
    };
    // `process.function(...)` without a path probes -c's program.
    kernel.target_program = a
        .recorder
        .iter()
        .zip(a.recorder.iter().skip(1))
        .find(|(flag, _)| *flag == "-c" || *flag == "--command")
        .map(|(_, cmd)| cmd.as_str())
        .or_else(|| a.recorder.iter().find_map(|x| x.strip_prefix("--command=")))
        .and_then(command_program);
    let req = RunRequest {
        script_path: Some(a.script.clone()),
        args: a.script_args.clone(),
        last_pass: 2,
        include_dirs: a.include.clone(),
        verbose: a.verbose,
        ..RunRequest::default()
    };
    let mut notes = |n: Note| match n {
        Note::Verbose(line) => eprintln!("{line}"),
        Note::Warning(w) => eprintln!("WARNING: {w}"),
        Note::Script(text) | Note::Report(text) => eprint!("{text}"),
    };
    let mut refused = |t: Table| match t {
        Table::Vfs => refused_by(recorder, &["vfs"]),
        _ => None,
    };
    let needs = match record_for::plan(&req, &kernel, &mut refused, &mut notes) {
        Ok(n) => n,
        Err(f) => return fail(&f.message),
    };
    let mut args = a.recorder.clone();
    let user_string_max = args
        .iter()
        .any(|x| x == "--string-max" || x.starts_with("--string-max="));
    args.extend(
        needs
            .recorder_args()
            .into_iter()
            .filter(|x| !(user_string_max && x.starts_with("--string-max"))),
    );
    if a.verbose > 0 {
        eprintln!("retap record --for {}:", a.script.display());
        for r in &needs.reasons {
            eprintln!("  {r}");
        }
        eprintln!("  {} {}", recorder.display(), args.join(" "));
    }
    let err = Command::new(recorder).args(&args).exec();
    fail(&format!(
        "retap: cannot run {} ({err}); `retap record` needs the retap-record binary \
         (cargo build --release builds both)",
        recorder.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_script_its_arguments_and_the_recorders_options_are_told_apart() {
        let a = split(&s(&[
            "-o", "d", "--for", "x.stp", "10", "read", "-v", "-c", "ls -l", "-I", "lib",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.script, PathBuf::from("x.stp"));
        assert_eq!(a.script_args, s(&["10", "read"]));
        assert_eq!(a.verbose, 1);
        assert_eq!(a.include, vec![PathBuf::from("lib")]);
        assert_eq!(a.recorder, s(&["-o", "d", "-c", "ls -l"]));
        assert_eq!(split(&s(&["-o", "d", "-q"])).unwrap(), None);
        assert!(split(&s(&["--for"]))
            .unwrap_err()
            .contains("needs a script"));
        assert!(split(&s(&["--for=a.stp", "--syscalls=read", "-o", "d"]))
            .unwrap_err()
            .contains("--syscalls and --for cannot be used together"));
    }
}
