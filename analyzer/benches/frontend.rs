//! Passes 1 and 2 over a generated 1000-line script (probes, functions,
//! arrays, statistics, foreach, printf, two library files linked): the
//! target is under 5 ms.
//!   cargo bench -p retap-analyzer --bench frontend

use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use retap_analyzer::stap::elaborate::{elaborate, ElabOptions};
use retap_analyzer::stap::library::{self, Library};
use retap_analyzer::stap::{self, PpEnv};

fn script(lines: usize) -> String {
    let mut s = String::from(
        "global counts, lat, names, total\n\
         probe begin { start_stopwatch(\"run\"); println(thread_indent(0)) }\n",
    );
    let mut n = 0;
    while s.lines().count() < lines {
        n += 1;
        s.push_str(&format!(
            "function helper{n}(a, b) {{\n  if (a > b) return a - b\n  else return b - a\n}}\n\
             probe syscall.read{{,v}}.return, syscall.write.return {{\n  \
             counts[execname(), pid()]++\n  lat[name] <<< gettimeofday_ns() - @entry(gettimeofday_ns())\n  \
             total += helper{n}(retval, {n})\n  if (retval < 0 && retval != -11) names[tid()] = errno_str(retval)\n}}\n\
             probe timer.s({n}) {{\n  foreach ([e, p] in counts- limit 10)\n    \
             printf(\"%-16s %6d %8d\\n\", e, p, counts[e, p])\n  \
             foreach (k in lat @sum-) {{ printf(\"%s %d %d\\n\", k, @count(lat[k]), @avg(lat[k])); print(@hist_log(lat[k])) }}\n  \
             delete counts\n}}\n"
        ));
    }
    s
}

fn main() {
    let text = script(1000);
    let lines = text.lines().count();
    let env = PpEnv {
        macros: Default::default(),
        kernel_release: "6.18.0".into(),
        arch: "x86_64".into(),
        args: vec![],
    };
    let opts = ElabOptions::no_trace("x86_64");
    let t = Instant::now();
    let indexed = library::built_in().len();
    let index_time = t.elapsed();
    let mut times: Vec<Duration> = vec![];
    let mut parse_times: Vec<Duration> = vec![];
    let mut link_times: Vec<Duration> = vec![];
    for _ in 0..50 {
        let t0 = Instant::now();
        let (mut p, d) = stap::parse("bench.stp", &text, &env);
        parse_times.push(t0.elapsed());
        assert!(d.is_empty(), "{}", stap::source::render_all(&d, &p.map));
        let t1 = Instant::now();
        let linked = library::link(&mut p, &Library::new(&[]).unwrap(), &env).unwrap();
        link_times.push(t1.elapsed());
        assert_eq!(linked.len(), 2);
        let (prog, errors, _) = elaborate(&p.script, &opts);
        assert!(
            errors.is_empty(),
            "{}",
            stap::source::render_all(&errors, &p.map)
        );
        assert!(!prog.probes.is_empty());
        times.push(t0.elapsed());
    }
    times.sort();
    parse_times.sort();
    let median = times[times.len() / 2];
    println!(
        "frontend: {lines}-line script, parse + elaborate: median {:.2} ms, min {:.2} ms; parse alone median {:.2} ms (50 runs; target < 5 ms)",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        parse_times[parse_times.len() / 2].as_secs_f64() * 1e3,
    );
    link_times.sort();
    println!(
        "library: {indexed} built-in files indexed once per process in {:.2} ms; linking median {:.2} ms",
        index_time.as_secs_f64() * 1e3,
        link_times[link_times.len() / 2].as_secs_f64() * 1e3,
    );
}
