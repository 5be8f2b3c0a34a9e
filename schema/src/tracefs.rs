//! The running kernel's tracefs as retap reads it: its tracepoints, their
//! formats and the syscalls' signatures. The recorder records from them;
//! `retap record --for` elaborates a script against them before anything
//! is loaded, so both halves read the kernel the same way.

use std::path::{Path, PathBuf};

use crate::signatures::Signatures;
use crate::tracepoints::TracepointFormat;

/// Where tracefs is mounted on current kernels, then on older ones.
pub const MOUNT_POINTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The mounted tracefs, if any (mounting it is the caller's: it needs root).
pub fn find() -> Option<PathBuf> {
    MOUNT_POINTS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("events").is_dir())
}

/// Every tracepoint of this kernel, as `system:event`, sorted.
pub fn available(tracefs: &Path) -> Result<Vec<String>, String> {
    let events = tracefs.join("events");
    let mut out = Vec::new();
    let systems =
        std::fs::read_dir(&events).map_err(|e| format!("listing {}: {e}", events.display()))?;
    for sys in systems.flatten() {
        if !sys.path().is_dir() {
            continue;
        }
        let sname = sys.file_name().to_string_lossy().into_owned();
        for ev in std::fs::read_dir(sys.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if ev.path().join("format").is_file() {
                out.push(format!("{sname}:{}", ev.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The layout of one tracepoint, as its `format` file says.
pub fn read_format(tracefs: &Path, system: &str, event: &str) -> Result<TracepointFormat, String> {
    let path = tracefs
        .join("events")
        .join(system)
        .join(event)
        .join("format");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "reading the format of {system}:{event} ({}): {e}",
            path.display()
        )
    })?;
    TracepointFormat::parse(system, event, &text).map_err(|e| e.to_string())
}

/// The kernel's own description of each syscall's arguments (type, name),
/// from the syscall trace events. Empty when the kernel has no syscall
/// trace events (CONFIG_FTRACE_SYSCALLS off) or tracefs is absent.
pub fn syscall_signatures() -> Signatures {
    let mut out = Signatures::new();
    for base in MOUNT_POINTS {
        let Ok(rd) = std::fs::read_dir(Path::new(base).join("events/syscalls")) else {
            continue;
        };
        for e in rd.flatten() {
            let dname = e.file_name().to_string_lossy().into_owned();
            let Some(name) = dname.strip_prefix("sys_enter_") else {
                continue;
            };
            let Ok(fmt) = std::fs::read_to_string(e.path().join("format")) else {
                continue;
            };
            out.insert(name.to_string(), format_args_of(&fmt));
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// Argument fields of a sys_enter_* format file: those after __syscall_nr.
fn format_args_of(fmt: &str) -> Vec<(String, String)> {
    let mut args = Vec::new();
    let mut seen_nr = false;
    for line in fmt.lines() {
        let Some(decl) = line.trim().strip_prefix("field:") else {
            continue;
        };
        let decl = decl.split(';').next().unwrap_or("").trim();
        if decl.ends_with("__syscall_nr") {
            seen_nr = true;
            continue;
        }
        if !seen_nr {
            continue;
        }
        let split = decl.rfind([' ', '*']).map(|i| i + 1).unwrap_or(0);
        let (ty, name) = decl.split_at(split);
        args.push((ty.trim().to_string(), name.to_string()));
    }
    args
}

#[cfg(test)]
mod tests {
    #[test]
    fn format_file_arguments() {
        let fmt = "name: sys_enter_read\nformat:\n\tfield:int common_pid;\toffset:4;\n\n\tfield:int __syscall_nr;\toffset:8;\n\tfield:unsigned int fd;\toffset:16;\n\tfield:char * buf;\toffset:24;\n\tfield:size_t count;\toffset:32;\n";
        let a = super::format_args_of(fmt);
        assert_eq!(
            a,
            vec![
                ("unsigned int".to_string(), "fd".to_string()),
                ("char *".to_string(), "buf".to_string()),
                ("size_t".to_string(), "count".to_string())
            ]
        );
    }
}
