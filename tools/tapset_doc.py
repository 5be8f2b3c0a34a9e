#!/usr/bin/env python3
"""Writes docs/tapset.md: every function, probe alias and macro of stap
4.8's tapset reference (its man pages, from systemtap-doc) and what retap
does with each, as `retap run -p2` over a shipped recording answers it:
served, served when a table was recorded, refused and why, or not yet.
Nothing is written by hand, so the page cannot drift from the code;
`--check` fails (exit 1) when the page is not what retap answers today
(analyzer's tests run it under CI).

Usage: python3 tools/tapset_doc.py [--check] [--retap target/debug/retap]
"""
import argparse, gzip, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAN = "/usr/share/man/man3"
DOC = os.path.join(ROOT, "docs", "tapset.md")
TRACE = os.path.join(ROOT, "datasets", "mixed")
# Recorded with the default tracepoints, for what probes them.
SCHED = os.path.join(ROOT, "datasets", "sched")


def pages(kind):
    """(name, synopsis lines) of every `kind::NAME.3stap.gz` page."""
    out = []
    for f in sorted(os.listdir(MAN)):
        if not (f.startswith(kind + "::") and f.endswith(".3stap.gz")):
            continue
        name = f[len(kind) + 2:-len(".3stap.gz")]
        text = gzip.open(os.path.join(MAN, f), "rt", errors="replace").read()
        m = re.search(r'\.SH "SYNOPSIS"(.*?)\.SH', text, re.S)
        syn = []
        for line in (m.group(1) if m else "").splitlines():
            line = line.strip().replace("\\&", "").replace("\\-", "-")
            if line and not line.startswith("."):
                syn.append(re.sub(r"^\d+\)\s*", "", line))
        out.append((name, syn))
    return out


def overloads(synopsis, name):
    """Placeholder arguments for a call of each overload, from
    `name:type(a:long,b:string)` lines."""
    out = []
    for s in synopsis:
        m = re.match(re.escape(name) + r"(?::\w+)?\s*\((.*)\)", s)
        if not m:
            continue
        inner = m.group(1).strip()
        args = ['"x"' if p.strip().endswith(":string") else "1" for p in inner.split(",")] if inner else []
        if args not in out:
            out.append(args)
    return out or [[]]


def ask(retap, script, trace=TRACE):
    r = subprocess.run([retap, "run", "-p2", "-e", script, "--trace", trace],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        return None
    if trace == TRACE and "is not in this trace (record it with --tracepoints" in r.stderr:
        return ask(retap, script, SCHED)
    first = next((l for l in r.stderr.splitlines() if "error" in l), r.stderr.strip())
    return re.sub(r" at <input>:\d+:\d+.*$", "", first)


def verdict(err):
    if err is None:
        return "served"
    m = re.search(r"is not in this trace \(record it with --tracepoints ([\w:*]+)\)", err)
    if m:
        return f"served when {m.group(1)} is recorded (`--tracepoints {m.group(1)}`)"
    m = re.search(r"needs the (\w+) table", err)
    if m:
        return f"served when the {m.group(1)} table is recorded (`--events ...,{m.group(1)}`)"
    # What the recorder does not record yet (issues 18, 20, 24 add events).
    m = re.search(r"cannot be served: (no recorded event (serves|matches) .*|.* are not recorded)", err)
    if m:
        return "not yet: " + m.group(1)
    for pat in (r"is not available: (.*)", r"cannot be served: (.*)", r"is not supported: (.*)"):
        m = re.search(pat, err)
        if m:
            return "refused: " + m.group(1)
    if re.search(r"unresolved function|unknown macro|no recorded event serves", err):
        return "not yet"
    if re.search(r"takes \d+ argument\(s\), given", err):
        return "not yet (this number of arguments)"
    return "refused: " + re.sub(r"^semantic error: ", "", err)


# Reference pages named after no function of stap's tapset: a doc comment
# ("sfunction MKDEF") over a function of another name, so the page is
# empty. The function it documents is what is asked.
MISNAMED = {"MKDEF": "MKDEV", "sa_handler": "sa_handler_str"}
# The same for probe aliases: pages named after no alias of stap's tapset
# (signal.stp defines systkill and systgkill; its doc comments say
# sys_tkill and sys_tgkill).
MISNAMED_PROBES = {"signal.sys_tkill": "signal.systkill",
                   "signal.sys_tgkill": "signal.systgkill",
                   "signal.sys_tgkill.return": "signal.systgkill.return"}


def probe_rows(retap, name):
    real = MISNAMED_PROBES.get(name)
    v = verdict(ask(retap, f"probe {real or name} {{ }}"))
    if real:
        v = (f"{v} (as `{real}`; stap defines no `{name}`, its page comes from a "
             f"doc comment over `{real}`)")
    return [(name, v)]


def function_rows(retap, name, syn):
    """(name as shown, verdict): one row, or one per overload when they differ."""
    if name in MISNAMED:
        real = MISNAMED[name]
        v = verdict(ask(retap, f"probe syscall.read {{ {real}(1{', 1' if real == 'MKDEV' else ''}) }}"))
        return [(name, f"{v} (as `{real}`; stap defines no `{name}`, its empty page comes "
                       f"from a doc comment over `{real}`)")]
    rows = []
    for args in overloads(syn, name):
        call = f"{name}({', '.join(args)})"
        err = ask(retap, f"probe syscall.read {{ {call} }}")
        if err and "only timer.profile probes" in err:
            err = ask(retap, f"probe timer.profile {{ {call} }}")
        # A page without a synopsis (stap's fp_div): the arity retap knows.
        m = re.search(r"takes (\d+) argument\(s\), given 0", err or "")
        if not syn and m:
            args = ["1"] * int(m.group(1))
            err = ask(retap, f"probe syscall.read {{ {name}({', '.join(args)}) }}")
        rows.append((f"{name}/{len(args)}", verdict(err)))
    if len({v for _, v in rows}) == 1:
        return [(name, rows[0][1])]
    return rows


def macro_verdict(retap, name, syn):
    """A macro used where stap's are (a procfs read probe, whose $value
    the output macros write), with placeholder arguments: strings, or a
    number last."""
    params = []
    for line in syn:
        m = re.match(r"@" + re.escape(name) + r"\s*\((.*)\)", line)
        if m:
            params = [p for p in m.group(1).split(",") if p.strip()]
    tries = [['"x"'] * len(params)]
    if params:
        tries.append(['"x"'] * (len(params) - 1) + ["1"])
    first = None
    for args in tries:
        call = f"@{name}({', '.join(args)})" if args else f"@{name}"
        err = ask(retap, f'probe procfs("x").read {{ {call} }}')
        if err is None:
            return verdict(None)
        first = first or err
    return verdict(first)


def render(retap):
    out = ["# stap 4.8's tapset, and what retap does with it", "",
           "Generated by `python3 tools/tapset_doc.py` from the tapset reference",
           "(systemtap-doc's man pages): each function called, each probe alias",
           "probed, each macro used in a script that `retap run -p2` elaborates",
           "over `datasets/mixed` (or `datasets/sched`, recorded with the default",
           "tracepoints, for what probes them). \"served\": it elaborates; \"served when ... is",
           "recorded\": the recording needs that table; \"refused\": what a",
           "recording cannot answer, with retap's reason; \"not yet\": open work",
           "(issue 17).",
           "Syscall probes are not in the reference's pages; issue 23 lists them.", ""]
    counts = {}
    sections = []
    for kind, title in (("function", "Functions"), ("probe", "Probe aliases"), ("macro", "Macros")):
        rows = []
        for name, syn in pages(kind):
            if not re.match(r"^[A-Za-z_][\w.]*$", name):
                continue  # an operator's page (function::-)
            if kind == "function":
                found = function_rows(retap, name, syn)
            elif kind == "probe":
                found = probe_rows(retap, name)
            else:
                found = [(name, macro_verdict(retap, name, syn))]
            for shown, v in found:
                key = v.split(":")[0].split(" (")[0]
                key = "served when a table is recorded" if key.startswith("served when") else key
                counts[(title, key)] = counts.get((title, key), 0) + 1
                rows.append(f"| `{shown}` | {v.replace('|', '&#124;')} |")
        sections.append((title, rows))
    for title, _ in sections:
        parts = [f"{n} {k}" for (t, k), n in sorted(counts.items()) if t == title]
        out.append(f"- {title}: " + ", ".join(parts) + ".")
    for title, rows in sections:
        out += ["", f"## {title}", "", "| name | retap |", "|---|---|"] + rows
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--retap", default=os.path.join(ROOT, "target", "debug", "retap"))
    a = ap.parse_args()
    if not os.path.isdir(MAN) or not any(f.startswith("function::") for f in os.listdir(MAN)):
        sys.exit(f"{MAN}: no tapset man pages (scripts/setup.sh installs systemtap-doc)")
    text = render(a.retap)
    if a.check:
        old = open(DOC).read() if os.path.exists(DOC) else ""
        if old != text:
            sys.exit("docs/tapset.md is not what retap answers today: run python3 tools/tapset_doc.py")
        return
    open(DOC, "w").write(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
