//! retap's syscall table (analyzer/src/stap/elaborate/syscalls.tapset) held
//! to stap 4.8's syscall tapset as installed (systemtap-common, by
//! scripts/setup.sh): alias by alias, the kernel syscalls it fires on (its
//! tracepoint gates), `name`, the variables and their types, argstr's format
//! strings and arguments, retstr's format; on x86_64 and on aarch64 (stap's
//! arm64 conditionals, over the syscalls an aarch64 kernel has); and the
//! variable sets of its dw_syscall aliases. Any difference not in ALLOWED
//! fails, with stap's side printed.
//!
//! stap's sources are read here, as a test's oracle; nothing of them is
//! built into retap.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use retap_analyzer::stap::elaborate::ir::Ty;
use retap_analyzer::stap::elaborate::syscall_args::{self as table, Expr};

const TAPSET: &str = "/usr/share/systemtap/tapset/linux";

/// Differences retap keeps on purpose: (alias, what differs, why).
const ALLOWED: &[(&str, &str, &str)] = &[];

#[derive(Debug, Default)]
struct Stap {
    name: Option<String>,
    /// Every name it assigns (some depend on an argument).
    names: BTreeSet<String>,
    syscalls: BTreeSet<String>,
    vars: BTreeMap<String, &'static str>,
    /// (format, arguments normalised as [`norm_arg`] does)
    argstr: Vec<(String, Vec<String>)>,
    retstr: i64,
}

struct Sources {
    /// name -> (parameters, body)
    macros: HashMap<String, (Vec<String>, String)>,
    /// probe name -> (head, bodies)
    probes: HashMap<String, Vec<(String, String)>>,
}

fn read_sources(arch: &str) -> Option<Sources> {
    if !Path::new(TAPSET).is_dir() {
        retap_testkit::skip_without(TAPSET, "scripts/setup.sh installs systemtap-common");
        return None;
    }
    let mut files = vec![];
    for dir in [TAPSET.to_string(), format!("{TAPSET}/{arch}")] {
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("sysc_") && n.ends_with(".stp"))
            })
            .collect();
        v.sort();
        files.extend(v);
    }
    files.push(format!("{TAPSET}/syscalls.stpm").into());
    let mut s = Sources {
        macros: HashMap::new(),
        probes: HashMap::new(),
    };
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let text = preprocess(&strip_comments(&text), arch);
        scan(&text, &mut s);
    }
    Some(s)
}

fn strip_comments(t: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    out.push_str(rest);
    out.lines()
        .map(|l| {
            let mut in_str = false;
            for (i, c) in l.char_indices() {
                match c {
                    '"' => in_str = !in_str,
                    '#' if !in_str => return &l[..i],
                    _ => {}
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// stap's preprocessor conditionals `%( COND %? THEN %: ELSE %)` resolved
/// for what a recording is: stap 4.8 on an x86_64 kernel 6.x, 64-bit
/// tasks with CONFIG_COMPAT.
fn preprocess(t: &str, arch: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("%(") {
        out.push_str(&rest[..i]);
        let body = &rest[i + 2..];
        // The %? %: %) of this conditional, at depth 0.
        let (mut depth, mut q, mut colon, mut end) = (0, None, None, body.len());
        let mut j = 0;
        while j < body.len() {
            let r = &body[j..];
            if r.starts_with("%(") {
                depth += 1;
            } else if r.starts_with("%)") {
                if depth == 0 {
                    end = j;
                    break;
                }
                depth -= 1;
            } else if depth == 0 && r.starts_with("%?") && q.is_none() {
                q = Some(j);
            } else if depth == 0 && r.starts_with("%:") && q.is_some() {
                colon = Some(j);
            }
            j += r.chars().next().map_or(1, char::len_utf8);
        }
        match q {
            // A macro body (`@define X %( ... %)`): kept, its insides resolved.
            None => {
                out.push_str("%(");
                out.push_str(&preprocess(&body[..end], arch));
                out.push_str("\n%)");
            }
            Some(q) => {
                let cond = &body[..q];
                let then = &body[q + 2..colon.unwrap_or(end)];
                let other = colon.map_or("", |c| &body[c + 2..end]);
                out.push_str(&preprocess(
                    if holds(cond, arch) { then } else { other },
                    arch,
                ));
            }
        }
        rest = body.get(end + 2..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// A preprocessor condition; what it cannot judge holds.
fn holds(cond: &str, arch: &str) -> bool {
    if let Some((a, b)) = cond.split_once("||") {
        return holds(a, arch) || holds(b, arch);
    }
    if let Some((a, b)) = cond.split_once("&&") {
        return holds(a, arch) && holds(b, arch);
    }
    let c = cond
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    for op in ["<=", ">=", "==", "!=", "<", ">"] {
        let Some((lhs, rhs)) = c.split_once(op) else {
            continue;
        };
        let (lhs, rhs) = (lhs.trim(), rhs.trim().trim_matches('"'));
        let ord = |have: &str| {
            let v = |s: &str| -> Vec<u32> {
                s.split(['.', '-'])
                    .map(|x| x.parse().unwrap_or(0))
                    .collect()
            };
            v(have).cmp(&v(rhs))
        };
        let cmp = match lhs {
            "kernel_v" | "kernel_vr" => ord("6.18.0"),
            "systemtap_v" => ord("4.8"),
            "arch" => {
                let eq = glob_eq(rhs, arch);
                return if op == "==" { eq } else { !eq };
            }
            "runtime" => {
                let eq = rhs == "kernel";
                return if op == "==" { eq } else { !eq };
            }
            l if l.starts_with("CONFIG_") => {
                let eq = rhs == "y" || rhs == "m";
                return if op == "==" { eq } else { !eq };
            }
            _ => return true,
        };
        use std::cmp::Ordering::*;
        return match op {
            "<=" => cmp != Greater,
            ">=" => cmp != Less,
            "==" => cmp == Equal,
            "!=" => cmp != Equal,
            "<" => cmp == Less,
            _ => cmp == Greater,
        };
    }
    true
}

fn glob_eq(pat: &str, s: &str) -> bool {
    match pat.strip_suffix('*') {
        Some(p) => s.starts_with(p),
        None => pat == s,
    }
}

/// The text between a `{` at `open` and its matching `}`.
fn braced(t: &str, open: usize) -> (String, usize) {
    let mut depth = 0;
    for (i, c) in t[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (t[open + 1..open + i].to_string(), open + i + 1);
                }
            }
            _ => {}
        }
    }
    (t[open + 1..].to_string(), t.len())
}

fn scan(t: &str, s: &mut Sources) {
    let mut at = 0;
    while at < t.len() {
        let rest = &t[at..];
        if let Some(r) = rest.strip_prefix("@define ") {
            let name: String = r
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let Some(b) = r.find("%(") else { break };
            // The matching %) (macros hold %( ... %) conditionals).
            let (mut depth, mut i) = (1, b + 2);
            while depth > 0 && i < r.len() {
                if r[i..].starts_with("%(") {
                    depth += 1;
                    i += 2;
                } else if r[i..].starts_with("%)") {
                    depth -= 1;
                    i += 2;
                } else {
                    i += r[i..].chars().next().map_or(1, char::len_utf8);
                }
            }
            let params = r[name.len()..b]
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            s.macros
                .insert(name, (params, r[b + 2..i.saturating_sub(2)].to_string()));
            at += "@define ".len() + i;
            continue;
        }
        if let Some(r) = rest.strip_prefix("probe ") {
            let Some(eq) = r.find('=') else { break };
            let name = r[..eq].trim().to_string();
            let Some(ob) = r.find('{') else { break };
            let head = r[eq + 1..ob].to_string();
            let (body, end) = braced(r, ob);
            s.probes.entry(name).or_default().push((head, body));
            at += "probe ".len() + end;
            continue;
        }
        at += rest.find('\n').map_or(rest.len(), |i| i + 1);
    }
}

impl Sources {
    fn expand(&self, body: &str) -> String {
        let mut out = body.to_string();
        for _ in 0..4 {
            let mut next = String::new();
            let mut rest = out.as_str();
            while let Some(i) = rest.find("@_") {
                next.push_str(&rest[..i]);
                let name: String = rest[i + 1..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                match self.macros.get(&name) {
                    Some((params, body)) => {
                        rest = &rest[i + 1 + name.len()..];
                        let mut body = body.clone();
                        if rest.starts_with('(') {
                            let (args, close) = call_args(rest);
                            rest = &rest[close..];
                            // Longest parameter names first (`@uaddr2` before `@uaddr`).
                            let mut pairs: Vec<_> = params.iter().zip(args).collect();
                            pairs.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
                            for (p, a) in pairs {
                                body = body.replace(&format!("@{p}"), &a);
                            }
                        }
                        next.push_str(&body);
                    }
                    None => {
                        next.push('@');
                        rest = &rest[i + 1..];
                    }
                }
            }
            next.push_str(rest);
            out = next;
        }
        out
    }

    /// The x86_64 syscalls whose numbers the tracepoint probes gate on.
    fn gated(&self, probe: &str, out: &mut BTreeSet<String>, depth: u32) {
        let Some(defs) = self.probes.get(probe) else {
            return;
        };
        for (head, body) in defs {
            let text = format!("{head}{}", self.expand(body));
            for (i, _) in text.match_indices("__NR_") {
                let n: String = text[i + 5..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !n.starts_with("compat_") && !n.starts_with("ia32_") {
                    out.insert(n);
                }
            }
            if depth < 3 {
                // `A !, B`: B only if A does not resolve (A always does here).
                for part in head.split(',') {
                    let w = part.trim().trim_end_matches(['!', '?']).trim();
                    if w.contains("tp_syscall.") {
                        self.gated(w, out, depth + 1);
                    }
                    if part.trim().ends_with('!') {
                        break;
                    }
                }
            }
        }
    }

    /// The expanded body of the first register-reading probe of an alias
    /// (tp_, else nd2_, nd1_, dw_), after the body of the first helper its
    /// head names (`__tp_syscall.socket`), which often holds the reads.
    fn body(&self, alias: &str, suffix: &str) -> String {
        ["tp_syscall", "nd2_syscall", "nd1_syscall", "dw_syscall"]
            .iter()
            .find_map(|p| {
                let (head, body) = &self.probes.get(&format!("{p}.{alias}{suffix}"))?[0];
                let helper = head
                    .split([',', ' ', '\n', '\t'])
                    .map(|w| w.trim().trim_end_matches(['!', '?']))
                    .find(|w| w.starts_with(&format!("__{p}.")));
                let pre = helper
                    .and_then(|h| self.probes.get(h))
                    .map_or(String::new(), |h| self.expand(&h[0].1));
                Some(pre + "\n" + &self.expand(body))
            })
            .unwrap_or_default()
    }

    fn alias(&self, alias: &str) -> Stap {
        let mut st = Stap {
            retstr: 1,
            ..Default::default()
        };
        self.gated(&format!("tp_syscall.{alias}"), &mut st.syscalls, 0);
        // The register-reading probes are what a recording is: tp_, else nd2_, nd1_, dw_.
        st.fill(&self.body(alias, ""), &self.body(alias, ".return"));
        st
    }

    /// What the tracepoint helper for one syscall of an alias sets
    /// (`__tp_syscall.pipe2` of `syscall.pipe`).
    fn helper(&self, syscall: &str) -> Stap {
        let mut st = Stap {
            retstr: 1,
            ..Default::default()
        };
        let get = |n: &str| {
            self.probes
                .get(n)
                .map_or(String::new(), |d| self.expand(&d[0].1))
        };
        st.fill(
            &get(&format!("__tp_syscall.{syscall}")),
            &get(&format!("__tp_syscall.{syscall}.return")),
        );
        st
    }
}

impl Stap {
    fn fill(&mut self, body: &str, ret: &str) {
        for (lhs, rhs) in statements(body) {
            match lhs.as_str() {
                "name" => {
                    let n = rhs.trim_matches(['"', ';']).to_string();
                    self.names.insert(n.clone());
                    self.name = Some(n);
                }
                "argstr" => {
                    // Branches for other kinds of task often repeat it.
                    let a = argstr(&rhs);
                    if !self.argstr.contains(&a) {
                        self.argstr.push(a);
                    }
                }
                l if l.starts_with("__") => {}
                l => {
                    self.vars
                        .entry(l.to_string())
                        .or_insert_with(|| stap_ty(&rhs));
                }
            }
        }
        if ret.contains("SYSC_RETVALSTR2") {
            self.retstr = 2;
        } else if ret.contains("SYSC_RETVALSTR3") {
            self.retstr = 3;
        }
    }
}

/// The arguments of a call starting at `(`, and where it closes.
fn call_args(s: &str) -> (Vec<String>, usize) {
    let (mut depth, mut cur, mut out) = (0, String::new(), vec![]);
    for (i, c) in s.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    out.push(cur.trim().to_string());
                    return (out, i + 1);
                }
            }
            ',' if depth == 1 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    (out, s.len())
}

/// `x = expr` statements (joined over continuation lines), skipping
/// preprocessor lines and conditions.
fn statements(body: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    let mut open = 0i32;
    for line in body.lines() {
        let l = line.trim();
        // `x = ` with its value on the next line (a macro expanded there).
        if out.last().is_some_and(|(_, r)| r.is_empty()) && !l.is_empty() {
            if let Some(last) = out.last_mut() {
                last.1.push_str(l);
            }
            open = parens(l);
            continue;
        }
        if open > 0 {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(l);
            }
            open += parens(l);
            continue;
        }
        let l = l.trim_start_matches("else").trim();
        let Some(eq) = l.find('=') else { continue };
        let lhs = l[..eq].trim();
        if lhs.is_empty()
            || !lhs.chars().all(|c| c.is_alphanumeric() || c == '_')
            || l[eq..].starts_with("==")
        {
            continue;
        }
        let rhs = l[eq + 1..].trim().to_string();
        open = parens(&rhs);
        out.push((lhs.to_string(), rhs));
    }
    out
}

fn parens(s: &str) -> i32 {
    let mut n = 0;
    let mut in_str = false;
    for c in s.chars() {
        match c {
            '"' => in_str = !in_str,
            '(' if !in_str => n += 1,
            ')' if !in_str => n -= 1,
            _ => {}
        }
    }
    n
}

/// stap's type of a tapset variable, from the expression assigned.
fn stap_ty(rhs: &str) -> &'static str {
    const LONG: &[&str] = &[
        "int_arg",
        "uint_arg",
        "long_arg",
        "ulong_arg",
        "pointer_arg",
        "longlong_arg",
        "ulonglong_arg",
        "u32_arg",
        "s32_arg",
        "__int32",
        "__uint32",
        "__short",
        "__ushort",
        "__ulong",
        "__long",
        "user_int",
        "user_uint32",
        "user_long",
        "user_ulong",
        "@__pointer",
        "@const",
        "@choose_defined",
        "@__pos_from_hilo",
        "@__compat_task",
        "_fildes_index_u",
        "_struct_utimbuf_actime",
        "_struct_utimbuf_modtime",
        "_stp_compat_msgrcv_msgtyp",
        "@entry",
    ];
    // A 64-bit task's side of `(@__compat_task ? A : B)`.
    if let Some(rest) = rhs.trim().strip_prefix("(@__compat_task") {
        if let Some((_, b)) = rest.split_once(':') {
            return stap_ty(b);
        }
    }
    let r = rhs.trim_start_matches('(').trim();
    if r.starts_with('"') {
        return "string";
    }
    if r.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        return "long";
    }
    if LONG.iter().any(|f| r.starts_with(f)) {
        return "long";
    }
    "string"
}

/// `sprintf("FMT", a, b)` or `sprint(x)` as (format, normalised args).
fn argstr(rhs: &str) -> (String, Vec<String>) {
    let r = rhs.trim().trim_end_matches(';');
    if let Some(x) = r.strip_prefix("sprint(").and_then(|x| x.strip_suffix(')')) {
        return ("%d".into(), vec![norm_arg(x)]);
    }
    if r.starts_with('"') {
        return (r.trim_matches('"').to_string(), vec![]);
    }
    if r.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return ("%s".into(), vec![r.to_string()]);
    }
    // A string function's value (`_inotify_init1_flag_str(flags)`).
    if r.starts_with('_') && r.ends_with(')') && !r.starts_with("sprintf(") {
        return ("%s".into(), vec![norm_arg(r)]);
    }
    let Some(inner) = r.strip_prefix("sprintf(").and_then(|x| x.strip_suffix(')')) else {
        return (format!("?{r}"), vec![]);
    };
    let inner = inner.trim();
    let end = inner[1..].find('"').map_or(inner.len(), |i| i + 1);
    let fmt = inner[1..end].to_string();
    let mut args = vec![];
    let mut depth = 0;
    let mut cur = String::new();
    for c in inner[end + 1..].chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                if !cur.trim().is_empty() {
                    args.push(norm_arg(&cur));
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        args.push(norm_arg(&cur));
    }
    (fmt, args)
}

/// An argument as an identifier, or `(v)` for a call over variable v; of
/// `(@__compat_task ? A : B)`, B (what a 64-bit task gets).
fn norm_arg(a: &str) -> String {
    let a: String = a.split_whitespace().collect();
    if let Some(rest) = a.strip_prefix("(@__compat_task?") {
        if let Some((_, b)) = rest.split_once(':') {
            return norm_arg(b.strip_suffix(')').unwrap_or(b));
        }
    }
    match a.split_once('(') {
        Some((_, rest)) => format!("({}", rest.split([',', ')']).next().unwrap_or("")) + ")",
        None => a,
    }
}

fn retap_arg(a: &table::Alias, e: &Expr) -> String {
    match e {
        Expr::Var(i) => a.vars[*i].name.to_string(),
        Expr::Decode { of, .. } | Expr::User { of, .. } => format!("({})", a.vars[*of].name),
        // An argument register read in place: as the variable holding it
        // (`__long(arg2)`), else by number (`int_arg(1)`).
        Expr::Reg { reg, .. } => match a
            .vars
            .iter()
            .find(|v| matches!(v.expr, Expr::Reg { reg: r, .. } if r == *reg))
        {
            Some(v) => format!("({})", v.name),
            None => format!("({})", reg + 1),
        },
        // Read from the pointer argument at that register.
        Expr::Addr { reg, .. } | Expr::Path { reg, .. } | Expr::UserAt { reg, .. } => match a
            .vars
            .iter()
            .find(|v| matches!(v.expr, Expr::Reg { reg: r, .. } if r == *reg))
        {
            Some(v) => format!("({})", v.name),
            None => format!("(register {reg})"),
        },
        other => format!("{other:?}"),
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Str => "string",
        _ => "long",
    }
}

#[test]
fn syscall_table_matches_stap_4_8_tapset() {
    matches_stap("x86_64", "x86_64");
}

#[test]
fn syscall_table_matches_stap_4_8_tapset_on_aarch64() {
    matches_stap("arm64", "aarch64");
}

/// The table against stap's sources as preprocessed for `stap_arch`, over
/// the syscalls a kernel of `arch` has.
fn matches_stap(stap_arch: &str, arch: &str) {
    let Some(src) = read_sources(stap_arch) else {
        return;
    };
    let kernel = retap_schema::syscalls::all_names(arch);
    let mut stap_aliases: Vec<String> = src
        .probes
        .keys()
        .filter_map(|k| k.strip_prefix("syscall.").map(str::to_string))
        .filter(|a| !a.contains('.'))
        .collect();
    stap_aliases.sort();
    let t = table::tapset();
    let mut problems = vec![];
    let allowed = |alias: &str, what: &str| {
        ALLOWED
            .iter()
            .any(|(a, w, _)| *a == alias && what.starts_with(w))
    };
    let mut report = |alias: &str, what: String| {
        if !allowed(alias, &what) {
            problems.push(format!("syscall.{alias}: {what}"));
        }
    };
    let mut served = BTreeSet::new();
    for alias in &stap_aliases {
        let st = src.alias(alias);
        let x86: BTreeSet<String> = st
            .syscalls
            .iter()
            .filter(|s| kernel.contains(&s.as_str()))
            .cloned()
            .collect();
        let entries: Vec<&table::Alias> = t.entries(alias).collect();
        if entries.is_empty() {
            if !x86.is_empty() {
                report(alias, format!("missing (stap's fires on {x86:?})"));
                // RETAP_STAP_SOURCES=1: what stap's tapset does for each
                // alias missing, as a reference for writing it.
                if std::env::var_os("RETAP_STAP_SOURCES").is_some() {
                    eprintln!("## {alias} {x86:?} retstr={}", st.retstr);
                    for (l, r) in statements(&src.body(alias, "")) {
                        eprintln!("    {l} = {r}");
                    }
                }
            }
            continue;
        }
        served.insert(alias.clone());
        let mine: BTreeSet<String> = entries
            .iter()
            .flat_map(|a| a.syscalls.iter().map(|s| s.to_string()))
            .filter(|s| kernel.contains(&s.as_str()))
            .collect();
        if !x86.is_empty() && x86 != mine {
            report(alias, format!("syscalls {mine:?}, stap's {x86:?}"));
        }
        for ours in &entries {
            // An entry per syscall is held to that syscall's helper probe.
            let st = if entries.len() > 1 {
                src.helper(ours.syscalls[0])
            } else {
                src.alias(alias)
            };
            let stap_name = st.name.clone().unwrap_or_default();
            if ours.name != stap_name {
                report(alias, format!("name {:?}, stap's {stap_name:?}", ours.name));
            }
            if let Some((_, _, other)) = ours.name_if {
                if !st.names.contains(other) {
                    report(
                        alias,
                        format!("name {other:?} is not one stap sets ({:?})", st.names),
                    );
                }
            }
            let vars: BTreeMap<String, &str> = ours
                .vars
                .iter()
                .map(|v| (v.name.to_string(), ty_name(v.ty)))
                .collect();
            if vars != st.vars {
                report(alias, format!("vars {vars:?}, stap's {:?}", st.vars));
            }
            // (compared as stap's side is collected: each form once)
            let mut argstr: Vec<(String, Vec<String>)> = vec![];
            for s in &ours.argstr {
                let form = (
                    s.text.to_string(),
                    s.args.iter().map(|e| retap_arg(ours, e)).collect(),
                );
                if !argstr.contains(&form) {
                    argstr.push(form);
                }
            }
            if argstr != st.argstr {
                report(alias, format!("argstr {argstr:?}, stap's {:?}", st.argstr));
            }
            if ours.retstr != st.retstr {
                report(
                    alias,
                    format!("retstr {}, stap's {}", ours.retstr, st.retstr),
                );
            }
        }
    }
    for a in &t.aliases {
        // (x86_64's own syscalls, arch_prctl and iopl, on aarch64)
        let here = a.syscalls.iter().any(|s| kernel.contains(s));
        if here && !served.contains(a.alias) {
            report(a.alias, "stap 4.8 has no such alias".into());
        }
    }
    for (a, w, why) in ALLOWED {
        assert!(!why.is_empty(), "{a} {w}: an allowed difference says why");
    }
    eprintln!(
        "{} of stap's aliases over {arch} syscalls compared",
        served.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// syscall_any's `name` and syscall_name() come from stap's syscall number
/// table: the kernel's names, but for the syscalls newer than stap 4.8.
#[test]
fn syscall_numbers_name_as_stap_4_8_does() {
    numbers_as_stap("x86_64", "x86_64");
}

#[test]
fn syscall_numbers_name_as_stap_4_8_does_on_aarch64() {
    numbers_as_stap("arm64", "aarch64");
}

fn numbers_as_stap(stap_arch: &str, arch: &str) {
    let path = format!("{TAPSET}/{stap_arch}/syscall_num.stp");
    let Ok(text) = std::fs::read_to_string(&path) else {
        retap_testkit::skip_without(&path, "scripts/setup.sh installs systemtap-common");
        return;
    };
    let mut stap: HashMap<usize, String> = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("__syscall_64_num2name[") else {
            continue;
        };
        let Some((num, name)) = rest.split_once("]=") else {
            continue;
        };
        let num: usize = num.trim_start_matches("0+").parse().unwrap();
        stap.insert(num, name.trim_matches('"').to_string());
    }
    let kernel = retap_schema::syscalls::all_names(arch);
    assert!(stap.len() > 280 && kernel.len() > 280);
    for nr in 0..460 {
        let Some(k) = retap_schema::syscalls::name(arch, nr as i64) else {
            continue;
        };
        let want = stap.get(&nr).map_or("", |s| s.as_str());
        assert_eq!(table::stap_kernel_name(k), want, "syscall {nr}");
    }
}

/// stap's other families of syscall aliases, dw_syscall (DWARF), nd1_,
/// nd2_ and tp_syscall (registers), set what its syscall.* aliases set
/// but for a few variables (syscall_args::in_family); retap serves each
/// family over the same recorded events, with those sets.
#[test]
fn every_family_sets_the_variables_stap_sets_there() {
    let Some(src) = read_sources("x86_64") else {
        return;
    };
    let kernel = retap_schema::syscalls::all_names("x86_64");
    let t = table::tapset();
    for family in ["dw_syscall", "nd1_syscall", "nd2_syscall", "tp_syscall"] {
        let mut checked = 0;
        for (probe, defs) in &src.probes {
            let Some(alias) = probe.strip_prefix(&format!("{family}.")) else {
                continue;
            };
            if alias.contains('.') {
                continue;
            }
            let entries: Vec<&table::Alias> = t
                .entries(alias)
                .filter(|a| a.syscalls.iter().any(|s| kernel.contains(s)))
                .collect();
            if entries.is_empty() {
                continue;
            }
            // The body, after the helpers its head names (`__syscall.pipe2`,
            // `__nd1_syscall.epoll_create1`).
            let (head, body) = &defs[0];
            let mut text = String::new();
            for w in head.split([',', ' ', '\n', '\t']) {
                let w = w.trim().trim_end_matches(['!', '?']);
                if w.starts_with("__syscall.") || w.starts_with(&format!("__{family}.")) {
                    if let Some(h) = src.probes.get(w) {
                        text += &src.expand(&h[0].1);
                        text.push('\n');
                    }
                }
            }
            text += &src.expand(body);
            let mut st = Stap::default();
            st.fill(&text, "");
            // (stap's own helpers, `_func_name`)
            let stap: BTreeSet<String> = st
                .vars
                .into_keys()
                .filter(|v| !v.starts_with('_'))
                .collect();
            if stap.is_empty() && family != "dw_syscall" {
                continue; // an alias made only of other probes (`nd_syscall.x = nd1 !, nd2 !, tp`)
            }
            let ours: BTreeSet<String> = entries
                .iter()
                .flat_map(|a| a.vars.iter())
                .filter(|v| table::in_family(family, alias, v.name))
                .map(|v| v.name.to_string())
                .collect();
            assert_eq!(ours, stap, "{family}.{alias}");
            checked += 1;
        }
        eprintln!("{family}: {checked} aliases compared");
        assert!(checked > 250, "{family}: {checked} aliases checked");
    }
}
