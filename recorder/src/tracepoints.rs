//! Which kernel tracepoints a recording takes: the `--tracepoints` list
//! (globs as bpftrace takes them) resolved against the running kernel's
//! tracefs, each read into the layout its table is written with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use retap_schema::names::distance;
use retap_schema::tracefs;
use retap_schema::tracepoints::{FieldKind, TracepointFormat, RAW_MAX};

/// Recorded without being asked (unless `--events` leaves `tracepoints`
/// out): what stap's scheduler, signal and interrupt tapsets are built on,
/// and each fires at most at the rate of context switches.
pub const DEFAULT: [&str; 10] = [
    "sched:sched_switch",
    "sched:sched_wakeup",
    "sched:sched_wakeup_new",
    "sched:sched_migrate_task",
    "signal:signal_generate",
    "signal:signal_deliver",
    "irq:irq_handler_entry",
    "irq:irq_handler_exit",
    "irq:softirq_entry",
    "irq:softirq_exit",
];

/// How many `__data_loc` fields the BPF side follows per tracepoint
/// (bpf/records.h TP_DYN).
pub const MAX_DYNAMIC: usize = 8;

/// Where tracefs is, mounting it if it is not (root can).
pub fn tracefs() -> Result<PathBuf> {
    if let Some(d) = tracefs::find() {
        return Ok(d);
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: mount(2) with static NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 && Path::new("/sys/kernel/tracing/events").is_dir() {
        return Ok(PathBuf::from("/sys/kernel/tracing"));
    }
    bail!(
        "tracepoints need tracefs, which is not mounted and could not be mounted ({}); \
         mount it with `mount -t tracefs tracefs /sys/kernel/tracing`",
        std::io::Error::last_os_error()
    )
}

/// Every tracepoint of this kernel, as `system:event`, sorted.
pub fn available(fs: &Path) -> Result<Vec<String>> {
    tracefs::available(fs).map_err(anyhow::Error::msg)
}

/// The tracepoints to record: the default set when `defaults`, then each
/// item of `spec` (comma-separated `system:event` or `event`, with `*` and
/// `?` globs) added, or removed when it starts with `-`.
pub fn resolve(tracefs: &Path, defaults: bool, spec: &[String]) -> Result<Vec<TracepointFormat>> {
    let all = available(tracefs)?;
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    if defaults {
        // A default the kernel lacks (built without IRQ tracepoints, say)
        // is left out, not an error: nobody asked for it by name.
        chosen.extend(
            DEFAULT
                .iter()
                .filter(|d| all.binary_search(&d.to_string()).is_ok())
                .map(|d| d.to_string()),
        );
    }
    for item in spec.iter().flat_map(|s| s.split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (remove, pat) = match item.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, item),
        };
        let matches = matching(&all, pat);
        if matches.is_empty() {
            bail!("--tracepoints: {}", no_match(&all, pat));
        }
        for m in matches {
            if remove {
                chosen.remove(&m);
            } else {
                chosen.insert(m);
            }
        }
    }
    chosen
        .iter()
        .map(|name| {
            let (sys, ev) = name.split_once(':').expect("system:event");
            read_format(tracefs, sys, ev)
        })
        .collect()
}

/// Marks the formats `--stacks` names (names or globs, as --tracepoints)
/// as recording the kernel stack. Each item must match a recorded
/// tracepoint: one the kernel has but the recording leaves out says how to
/// add it.
pub fn mark_stacks(
    tracefs: &Path,
    formats: &mut [TracepointFormat],
    spec: &[String],
) -> Result<()> {
    let recorded: Vec<String> = formats
        .iter()
        .map(|f| format!("{}:{}", f.system, f.event))
        .collect();
    for item in spec.iter().flat_map(|s| s.split(',')) {
        let pat = item.trim();
        if pat.is_empty() {
            continue;
        }
        let hits = matching(&recorded, pat);
        if hits.is_empty() {
            let all = available(tracefs)?;
            let exists = matching(&all, pat);
            if exists.is_empty() {
                bail!("--stacks: {}", no_match(&all, pat));
            }
            bail!(
                "--stacks {pat}: {} is not recorded (add --tracepoints {})",
                exists[0],
                exists[0]
            );
        }
        for f in formats.iter_mut() {
            if hits.contains(&format!("{}:{}", f.system, f.event)) {
                f.stack = true;
            }
        }
    }
    Ok(())
}

/// The layout of one tracepoint, checked against what the BPF side can
/// copy.
pub fn read_format(fs: &Path, system: &str, event: &str) -> Result<TracepointFormat> {
    let f = tracefs::read_format(fs, system, event).map_err(anyhow::Error::msg)?;
    check_copyable(&f)?;
    Ok(f)
}

/// What the one BPF program cannot copy whole, refused before recording.
pub fn check_copyable(f: &TracepointFormat) -> Result<()> {
    let dynamic = f.fields.iter().filter(|x| x.kind.is_dynamic()).count();
    if dynamic > MAX_DYNAMIC {
        bail!(
            "tracepoint {}:{} has {dynamic} variable-length fields; retap follows at most {MAX_DYNAMIC}",
            f.system,
            f.event
        );
    }
    if f.size as usize > RAW_MAX {
        bail!(
            "tracepoint {}:{}'s records are {} bytes; retap keeps at most {RAW_MAX}",
            f.system,
            f.event,
            f.size
        );
    }
    if f.fields.iter().any(|x| x.offset >= 0x8000) {
        bail!("tracepoint {}:{}: a field past 32 KiB", f.system, f.event);
    }
    Ok(())
}

/// Offsets of the `__data_loc` words the BPF side reads to find a record's
/// end (bit 15 set for `__rel_loc`).
pub fn dynamic_offsets(f: &TracepointFormat) -> Vec<u16> {
    f.fields
        .iter()
        .filter_map(|x| match x.kind {
            FieldKind::DynChars { relative } | FieldKind::DynArray { relative, .. } => {
                Some(x.offset as u16 | if relative { 0x8000 } else { 0 })
            }
            _ => None,
        })
        .collect()
}

/// `pat` against `system:event` names; a pattern without `:` matches the
/// event name in any system.
fn matching(all: &[String], pat: &str) -> Vec<String> {
    all.iter()
        .filter(|name| {
            if pat.contains(':') {
                glob(pat, name)
            } else {
                glob(pat, name.split_once(':').map_or(name.as_str(), |x| x.1))
            }
        })
        .cloned()
        .collect()
}

/// What to say when a pattern matches nothing: for a plain name, the
/// closest existing ones.
fn no_match(all: &[String], pat: &str) -> String {
    if pat.contains(['*', '?']) {
        return format!("{pat:?} matches no tracepoint of this kernel");
    }
    let mut near: Vec<(usize, &String)> = all
        .iter()
        .map(|n| {
            let against = if pat.contains(':') {
                n.as_str()
            } else {
                n.split_once(':').map_or(n.as_str(), |x| x.1)
            };
            (distance(pat, against), n)
        })
        .collect();
    near.sort();
    let best: Vec<&str> = near
        .iter()
        .take(3)
        .filter(|(d, _)| *d <= 3.max(pat.len() / 6))
        .map(|(_, n)| n.as_str())
        .collect();
    if best.is_empty() {
        format!("no tracepoint {pat:?} in this kernel")
    } else {
        format!(
            "no tracepoint {pat:?} in this kernel (closest: {})",
            best.join(", ")
        )
    }
}

/// Shell-style matching with `*` and `?`.
pub fn glob(pat: &str, s: &str) -> bool {
    let (p, s) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "irq:irq_handler_entry",
            "irq:irq_handler_exit",
            "sched:sched_switch",
            "sched:sched_wakeup",
            "signal:signal_generate",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn globs_and_plain_event_names() {
        assert_eq!(
            matching(&names(), "irq:irq_handler_*"),
            ["irq:irq_handler_entry", "irq:irq_handler_exit"]
        );
        assert_eq!(matching(&names(), "sched_switch"), ["sched:sched_switch"]);
        assert_eq!(matching(&names(), "signal:*").len(), 1);
        assert_eq!(matching(&names(), "*").len(), 5);
        assert!(glob("a?c", "abc") && !glob("a?c", "abbc"));
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        assert_eq!(
            no_match(&names(), "sched:sched_swtich"),
            "no tracepoint \"sched:sched_swtich\" in this kernel (closest: sched:sched_switch)"
        );
        assert_eq!(
            no_match(&names(), "kmem:*"),
            "\"kmem:*\" matches no tracepoint of this kernel"
        );
        assert_eq!(
            no_match(&names(), "zzzzzzzzzzzz"),
            "no tracepoint \"zzzzzzzzzzzz\" in this kernel"
        );
    }
}
