//! Kernel symbols for backtraces of CPU samples: the recording's
//! /proc/kallsyms (symbols/kallsyms.zst).

use std::path::Path;

pub struct Kallsyms {
    /// (address, name, module) sorted by address.
    syms: Vec<(u64, String, Option<String>)>,
}

impl Kallsyms {
    pub fn load(trace: &Path) -> Option<Kallsyms> {
        let f = std::fs::File::open(trace.join("symbols/kallsyms.zst")).ok()?;
        let text = std::io::read_to_string(zstd::Decoder::new(f).ok()?).ok()?;
        let mut syms = vec![];
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(a) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if a == 0 {
                continue;
            }
            let module = it.next().map(|m| m.trim_matches(['[', ']']).to_string());
            syms.push((a, name.to_string(), module));
        }
        syms.sort_by_key(|s| s.0);
        Some(Kallsyms { syms })
    }

    /// (name, offset, size, module) of the symbol holding `addr`.
    pub fn lookup(&self, addr: u64) -> Option<(&str, u64, u64, &str)> {
        let i = self.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (a, name, module) = &self.syms[i];
        let size = self.syms.get(i + 1).map(|n| n.0 - a).unwrap_or(0);
        Some((name, addr - a, size, module.as_deref().unwrap_or("kernel")))
    }
}
