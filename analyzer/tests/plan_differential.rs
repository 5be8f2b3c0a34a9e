//! Differential tests of the plan compiler: for the shipped queries and
//! hundreds of generated aggregate scripts over generated traces, the run
//! with DataFusion plans prints exactly what the interpreter alone prints.

use std::path::Path;

use retap_analyzer::plan;
use retap_analyzer::runtime::{self, Limits, RunOptions};
use retap_analyzer::stap::elaborate::{elaborate, ElabOptions};
use retap_analyzer::stap::source::render_all;
use retap_analyzer::stap::{self, PpEnv};
use retap_analyzer::synth::{synth, SynthOptions};
use retap_analyzer::trace::Trace;

/// (output with plans, output interpreted, probes compiled)
fn both(script: &str, trace: &Trace) -> (String, String, usize) {
    let env = PpEnv {
        kernel_release: "6.18.0".into(),
        arch: "x86_64".into(),
        args: vec!["syslogd".into()],
    };
    let (p, d) = stap::parse("gen.stp", script, &env);
    assert!(d.is_empty(), "{}\n{script}", render_all(&d, &p.map));
    let opts = ElabOptions {
        arch: "x86_64".into(),
        signatures: None,
        tables: Some(trace.tables.iter().map(|f| f.table).collect()),
    };
    let (prog, errors, _) = elaborate(&p.script, &opts);
    assert!(
        errors.is_empty(),
        "{}\n{script}",
        render_all(&errors, &p.map)
    );
    let go = |preload, skip| {
        let mut out: Vec<u8> = vec![];
        let o = {
            let sink: Box<dyn std::io::Write> = Box::new(&mut out);
            let opts = RunOptions {
                limits: Limits::default(),
                seed: 1,
                skip,
                preload,
                snapshot: false,
            };
            runtime::run(&prog, &p.map, Some(trace), &opts, sink).unwrap()
        };
        let mut s = String::from_utf8_lossy(&out).into_owned();
        for l in o.stderr {
            s.push_str(&l);
        }
        s
    };
    let interpreted = go(None, Default::default());
    let compiled = plan::analyse(&prog);
    let n = compiled.probes.len();
    let (plans, rt) = plan::build_plans(&prog, &compiled, trace).unwrap();
    let with_plans = match plan::execute(
        &prog,
        &compiled,
        plans,
        &rt,
        Limits::default().maxmapentries,
    ) {
        Ok(l) => go(Some(l), compiled.probes.clone()),
        // Overflowing arrays fall back to the interpreter by design.
        Err(_) => interpreted.clone(),
    };
    (with_plans, interpreted, n)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// One random aggregate script: a probe updating a global (keys, guard,
/// ++ / += / <<< / running maximum or minimum), and an end probe printing it in a
/// random way.
fn gen_script(r: &mut Rng) -> String {
    let net = r.chance(30);
    let (point, ret) = if net {
        (
            r.pick(&["netdev.receive", "netdev.transmit", "netdev.*"]),
            false,
        )
    } else {
        let p = r.pick(&[
            "syscall.*",
            "syscall.*.return",
            "syscall.{read,write}",
            "syscall.read.return",
            "syscall.{futex,epoll_wait,poll}.return",
            "kernel.function(\"sys_close\")",
            "syscall_any",
        ]);
        (p, p.ends_with(".return"))
    };
    let mut key_pool = vec!["pid()", "tid()", "execname()", "uid()", "cpu()"];
    if !net && point != "syscall_any" {
        key_pool.push("name");
    }
    if net {
        key_pool.push("dev_name");
    }
    let nkeys = (r.next() % 3) as usize;
    let keys: Vec<&str> = (0..nkeys).map(|_| r.pick(&key_pool)).collect();
    let mut guards = vec![
        "execname() == \"nginx\"",
        "execname() != \"postgres\"",
        "pid() > 1100",
        "pid() % 2 == 0",
        "uid() == 0 && cpu() == 1",
        "!(tid() == pid())",
        "pid() > 1050 || execname() == \"java\"",
    ];
    // (a "%" guard is not a plan: it checks that fallback stays correct)
    let mut values = vec!["pid()", "tid() - pid()", "cpu() * 7 + 1"];
    if net {
        guards.push("length > 500");
        values.push("length");
        values.push("length * 2 - 100");
    }
    if ret {
        guards.push("retval < 0");
        guards.push("retval > 100");
        values.push("retval");
        values.push("gettimeofday_ns() - @entry(gettimeofday_ns())");
        values.push("gettimeofday_us() - @entry(gettimeofday_us())");
    }
    let guard = if r.chance(50) {
        Some(r.pick(&guards))
    } else {
        None
    };
    let idx = if keys.is_empty() {
        String::new()
    } else {
        format!("[{}]", keys.join(", "))
    };
    let kind = r.next() % 4;
    let value = r.pick(&values);
    let update = match kind {
        0 => format!("a{idx}{}", r.pick(&["++", "--"])),
        1 => format!("a{idx} {} {value}", r.pick(&["+=", "-="])),
        2 => format!("a{idx} <<< {value}"),
        // the running-maximum and (for arrays) running-minimum idioms,
        // in their spellings
        _ => match r.next() % if keys.is_empty() { 3 } else { 6 } {
            0 => format!("if ({value} > a{idx}) a{idx} = {value}"),
            1 => format!("if (a{idx} < {value}) {{ a{idx} = {value} }}"),
            2 => format!("if ({value} >= a{idx}) a{idx} = {value}"),
            3 => format!("if (!({idx} in a) || {value} < a{idx}) a{idx} = {value}"),
            4 => format!("if (!({idx} in a) || a{idx} > {value}) {{ a{idx} = {value} }}"),
            _ => format!("if (!({idx} in a) || {value} <= a{idx}) a{idx} = {value}"),
        },
    };
    // A second count or sum with the same keys and guard: the two share
    // one plan (one scan); b is printed automatically at the end.
    let update = if r.chance(30) {
        let second = match r.next() % 2 {
            0 => format!("b{idx}++"),
            _ => format!("b{idx} += {}", r.pick(&values)),
        };
        format!("{update}; {second}")
    } else {
        update
    };
    let body = match guard {
        Some(g) => format!("if ({g}) {{ {update} }}"),
        None => update,
    };
    let mut s = format!("global a, b\nprobe {point} {{ {body} }}\n");
    // Timers over plan results: print and reset, print cumulatively, or
    // report once and exit (Listing 4's shape).
    if r.chance(35) {
        let period = r.pick(&["300", "700", "1000"]);
        let report = if kind == 2 {
            if keys.is_empty() {
                "printf(\"t %d\\n\", @count(a))".to_string()
            } else {
                "foreach (k in a- limit 3) printf(\"t %d\\n\", @count(a[k]))".to_string()
            }
        } else if keys.is_empty() {
            "printf(\"t %d\\n\", a)".to_string()
        } else {
            "foreach (k in a- limit 3) printf(\"t %d\\n\", a[k])".to_string()
        };
        let report = if keys.len() > 1 {
            report
                .replace("(k in a-", "([k, k2] in a-")
                .replace("a[k]", "a[k, k2]")
        } else {
            report
        };
        let tail = r.pick(&["delete a", "exit()", ""]);
        s.push_str(&format!(
            "probe timer.ms({period}) {{ {report}; {tail} }}\n"
        ));
    }
    if r.chance(20) {
        return s; // auto-printed at the end
    }
    let vars: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
    let bracket = if vars.is_empty() {
        String::new()
    } else {
        format!("[{}]", vars.join(", "))
    };
    let limit = if r.chance(50) {
        format!(" limit {}", 1 + r.next() % 8)
    } else {
        String::new()
    };
    let stat = kind == 2;
    let ex = r.pick(&["@count", "@sum", "@min", "@max", "@avg"]);
    let fmt_keys: String = keys
        .iter()
        .map(|k| {
            if k.contains("execname") || *k == "name" || *k == "dev_name" {
                "%s "
            } else {
                "%d "
            }
        })
        .collect();
    s.push_str("probe end {\n");
    if vars.is_empty() {
        if stat {
            s.push_str("  printf(\"%d %d\\n\", @count(a), @sum(a))\n");
            if r.chance(50) {
                s.push_str("  if (@count(a)) print(@hist_log(a))\n");
            } else {
                s.push_str("  if (@count(a)) print(@hist_linear(a, -200, 4000, 100))\n");
            }
        } else {
            s.push_str("  printf(\"%d\\n\", a)\n");
        }
    } else {
        let sort = if stat {
            r.pick(&["", "-", "+", " @sum-", " @max+", " @avg-"])
                .to_string()
        } else {
            r.pick(&["", "-", "+"]).to_string()
        };
        let keysort = if sort.is_empty() && r.chance(50) {
            "+"
        } else {
            ""
        };
        let first = if keysort.is_empty() {
            vars[0].clone()
        } else {
            format!("{}{keysort}", vars[0])
        };
        let mut kv = vec![first];
        kv.extend(vars[1..].iter().cloned());
        let value = if stat {
            format!("{ex}(a{bracket})")
        } else {
            format!("a{bracket}")
        };
        s.push_str(&format!(
            "  foreach ([{}] in a{sort}{limit}) printf(\"{fmt_keys}%d\\n\", {}, {value})\n",
            kv.join(", "),
            vars.join(", ")
        ));
        if stat && r.chance(30) {
            s.push_str(&format!(
                "  foreach ([{}] in a @count- limit 1) print(@hist_log(a{bracket}))\n",
                vars.join(", ")
            ));
        }
    }
    s.push_str("}\n");
    s
}

#[test]
fn shipped_queries_give_the_same_output_with_plans() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut compiled_any = 0;
    for ds in ["mixed", "web"] {
        let trace = Trace::open(&root.join("datasets").join(ds)).unwrap();
        for q in std::fs::read_dir(root.join("queries")).unwrap() {
            let path = q.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let (a, b, n) = both(&text, &trace);
            assert_eq!(a, b, "{} over {ds}", path.display());
            compiled_any += n;
        }
    }
    assert!(
        compiled_any >= 6,
        "net, nethist and syscall_latency compile ({compiled_any} probes)"
    );
}

#[test]
fn generated_aggregate_scripts_give_the_same_output_with_plans() {
    let cases: usize = std::env::var("RETAP_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let traces: Vec<Trace> = (0..3u64)
        .map(|i| {
            let d = dir.path().join(format!("t{i}"));
            let opts = SynthOptions {
                events: 5_000 + 4_000 * i,
                seed: 11 + i,
                processes: [12, 40, 200][i as usize],
                seconds: 2.0,
                rows_per_file: 3_000,
            };
            synth(&d, &opts).unwrap();
            Trace::open(&d).unwrap()
        })
        .collect();
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut compiled = 0;
    for i in 0..cases {
        let script = gen_script(&mut r);
        let trace = &traces[i % traces.len()];
        let (a, b, n) = both(&script, trace);
        assert_eq!(a, b, "case {i} differs:\n{script}");
        compiled += usize::from(n > 0);
    }
    assert!(
        compiled * 10 >= cases * 9,
        "only {compiled} of {cases} scripts compiled to plans"
    );
}
