//! Scripts over tracepoints a trace recorded by name (datasets/sched, the
//! default set), checked against DuckDB over the same files and against
//! the interpreter; and the errors for what a trace does not hold.

mod common;
use common::{duck, run};

const SCHED: &str = "datasets/sched";

/// The script's output through plans, and the interpreter's, which must
/// be the same.
fn stap(script: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "--trace", SCHED, "-e", script];
    args.extend(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let mut interp = args.clone();
    interp.push("--interpret-only");
    let (code, out2, err2) = run(&interp);
    assert_eq!(code, 0, "{err2}");
    assert_eq!(out, out2, "plans and the interpreter differ");
    out
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(String::from).collect()
}

/// The script's output lines (plans and interpreter agreeing) equal, as a
/// set, DuckDB's rows for `sql` over the same dataset; both sorted, or
/// None when DuckDB is missing (which fails under CI).
fn same_as_duckdb(script: &str, sql: &str) -> Option<Vec<String>> {
    let mut got = lines(&stap(script, &[]));
    let mut want = duck("sched", sql)?;
    got.sort();
    want.sort();
    assert_eq!(got, want);
    Some(got)
}

#[test]
fn fields_of_a_tracepoint_count_as_duckdb_counts() {
    let out = stap(
        r#"global n
probe kernel.trace("sched:sched_switch") { n[$prev_comm, $next_comm]++ }
probe end { foreach ([a, b] in n- limit 20) printf("%s|%s|%d\n", a, b, n[a, b]) }"#,
        &[],
    );
    let Some(want) = duck(
        "sched",
        "select prev_comm, next_comm, count(*) c from sched_switch group by all \
         order by c desc, min(ts) limit 20",
    ) else {
        return;
    };
    assert_eq!(lines(&out), want);
}

#[test]
fn signal_send_and_signal_generate_agree_with_duckdb() {
    // sig_pid is the receiving thread's process: from the process tree.
    let Some(want) = duck(
        "sched",
        "with tg as (select distinct tid, pid from processes where event = 'snapshot' \
           union select distinct child_tid, child_pid from processes where event in ('fork', 'thread')) \
         select g.pid, coalesce(tg.pid, 0), g.sig, count(*) from signal_generate g \
           left join tg on tg.tid = g.tp_pid group by all order by 1, 2, 3",
    ) else {
        return;
    };
    let out = stap(
        r#"global c
probe signal.send { c[pid(), sig_pid, sig] <<< 1 }
probe end { foreach ([s, r, n+] in c) printf("%d|%d|%d|%d\n", s, r, n, @count(c[s, r, n])) }"#,
        &[],
    );
    let mut got = lines(&out);
    got.sort_by_key(|l| {
        l.split('|')
            .map(|x| x.parse::<i64>().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(got, want);
    assert!(
        want.iter().any(|l| l.ends_with("|10|40")),
        "the recipe's 40 SIGUSR1: {want:?}"
    );

    // The raw tracepoint with stap's argument names, and the signal names.
    let out = stap(
        r#"global s
probe kernel.trace("signal_generate") { s[_signal_name($sig), $info->si_code, $task->comm] <<< 1 }
probe end { foreach ([a, b, c] in s) printf("%s|%d|%s|%d\n", a, b, c, @count(s[a, b, c])) }"#,
        &[],
    );
    let mut got = lines(&out);
    got.sort();
    let Some(mut want) = duck(
        "sched",
        "select case sig when 10 then 'SIGUSR1' when 12 then 'SIGUSR2' when 17 then 'SIGCHLD' \
         when 9 then 'SIGKILL' when 15 then 'SIGTERM' when 14 then 'SIGALRM' \
         else 'other' end, code, comm, count(*) from signal_generate group by all",
    ) else {
        return;
    };
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn cpu_off_counts_equal_the_rows_and_ctxswitch_names_the_next_process() {
    let Some(_) = same_as_duckdb(
        r#"global off, sw
probe scheduler.cpu_off { off[tid(), idle]++ }
probe scheduler.ctxswitch { sw[prev_pid, prev_tid, next_pid, next_tid, prevtsk_state] <<< 1 }
probe end {
  foreach ([t, i+] in off) printf("off|%d|%d|%d\n", t, i, off[t, i])
  foreach ([a, b, c, d, e] in sw) printf("sw|%d|%d|%d|%d|%d|%d\n", a, b, c, d, e, @count(sw[a, b, c, d, e]))
}"#,
        "with tg as (select distinct tid, pid from processes where event = 'snapshot' \
           union select distinct child_tid, child_pid from processes where event in ('fork', 'thread')) \
         select 'off|' || tid || '|' || (tid = 0)::int || '|' || count(*) from sched_switch group by tid \
         union all \
         select concat_ws('|', 'sw', a, b, c, d, e, count(*)) from ( \
           select s.pid a, prev_pid b, coalesce(tg.pid, 0) c, next_pid d, \
             case when prev_state & 256 <> 0 then 0 else prev_state & 255 end e \
           from sched_switch s left join tg on tg.tid = s.next_pid) group by a, b, c, d, e",
    ) else {
        return;
    };
    // The ping-pong's two threads were switched out hundreds of times.
    let pingpong = duck(
        "sched",
        "select count(distinct prev_pid) from sched_switch where prev_comm in ('pingpong', 'pong') \
         having count(*) > 1000",
    )
    .unwrap();
    assert_eq!(pingpong, ["2"]);
}

#[test]
fn cpu_on_is_the_task_switched_in() {
    // stap's cpu_on runs in the context of the task switched in: its
    // thread, process and name are sched_switch's next_* (the process from
    // the recorded process tree), and task_current() is that task.
    let Some(_) = same_as_duckdb(
        r#"global on, idle_n
probe scheduler.cpu_on {
  if (idle) idle_n++
  else on[execname(), pid(), tid(), task_execname(task_current()), task_tid(task_prev)]++
}
probe end {
  foreach ([e, p, t, c, prev] in on) printf("%s|%d|%d|%s|%d|%d\n", e, p, t, c, prev, on[e, p, t, c, prev])
  printf("idle|%d\n", idle_n)
}"#,
        "with tg as (select distinct tid, pid from processes where event = 'snapshot' \
           union select distinct child_tid, child_pid from processes where event in ('fork', 'thread')) \
         select concat_ws('|', next_comm, coalesce(tg.pid, 0), next_pid, next_comm, prev_pid, count(*)) \
           from sched_switch s left join tg on tg.tid = s.next_pid where next_pid <> 0 \
           group by next_comm, tg.pid, next_pid, prev_pid \
         union all select 'idle|' || count(*) from sched_switch where next_pid = 0",
    ) else {
        return;
    };
    // What the record does not say of the task switched in is refused,
    // before the run when the probe asks, at run time through a function.
    common::refused(
        &[
            "run",
            "--trace",
            SCHED,
            "-e",
            "probe scheduler.cpu_on { println(uid()) }",
        ],
        "uid() is not known at scheduler.cpu_on: the recording knows the task switched in by its thread id and name (sched_switch's next_pid, next_comm), not this",
    );
    let (code, _, err) = run(&[
        "run",
        "--trace",
        SCHED,
        "-e",
        "function f() { return uid() } probe scheduler.cpu_on { println(f()) }",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("uid() at scheduler.cpu_on: the recording knows the task switched in"),
        "{err}"
    );
}

#[test]
fn migrations_and_task_functions_match_the_rows() {
    let out = stap(
        r#"probe kernel.trace("sched_migrate_task") {
  if (task_execname($p) == "spinner")
    printf("%d|%s|%d|%d|%d\n", task_tid($p), task_execname($p), task_cpu($p), $dest_cpu, task_prio($p))
}"#,
        &[],
    );
    let Some(want) = duck(
        "sched",
        "select tp_pid, comm, orig_cpu, dest_cpu, prio - 100 from sched_migrate_task \
         where comm = 'spinner' order by ts, file_row_number",
    ) else {
        return;
    };
    assert!(
        want.len() >= 5,
        "the recipe moves the spinner ten times: {want:?}"
    );
    assert_eq!(lines(&out), want);
}

#[test]
fn irq_and_softirq_probes_count_as_duckdb() {
    let out = stap(
        r#"global v, h
probe softirq.entry { v[vec_nr]++ }
probe irq_handler.entry { h[irq, dev_name]++ }
probe end {
  foreach (k+ in v) printf("softirq|%d|%d\n", k, v[k])
  foreach ([i+, d] in h) printf("irq|%d|%s|%d\n", i, d, h[i, d])
}"#,
        &[],
    );
    let Some(want) = duck(
        "sched",
        "select concat_ws('|', 'softirq', vec, count(*)) from softirq_entry group by vec order by vec",
    ) else {
        return;
    };
    let irqs = duck(
        "sched",
        "select concat_ws('|', 'irq', irq, name, count(*)) from irq_handler_entry \
         group by irq, name order by irq, min(ts)",
    )
    .unwrap();
    assert!(!irqs.is_empty() && want.len() >= 2, "{want:?} {irqs:?}");
    assert_eq!(lines(&out), [want, irqs].concat());
}

#[test]
fn what_a_trace_does_not_hold_is_refused_with_what_to_record() {
    let cases: [(&str, &str); 6] = [
        (
            r#"probe kernel.trace("sched_switch") { print_backtrace() }"#,
            "print_backtrace() needs a recorded stack: kernel.trace(\"sched:sched_switch\") was recorded without stacks (record it with --stacks sched_switch)",
        ),
        (
            r#"probe kernel.trace("kmem:mm_page_alloc") { }"#,
            "kernel.trace(\"kmem:mm_page_alloc\") is not in this trace (record it with --tracepoints kmem:mm_page_alloc)",
        ),
        (
            r#"probe kernel.trace("sched_switch") { println($prev->tgid) }"#,
            "'$prev->tgid' is not recorded at kernel.trace(\"sched:sched_switch\"): the tracepoint records only its own fields ($prev_comm, $prev_pid, $prev_prio, $prev_state, $next_comm, $next_pid, $next_prio)",
        ),
        (
            r#"probe kernel.trace("sched_wakeup") { println($nosuch) }"#,
            "tracepoint sched:sched_wakeup records no \"nosuch\": the recording holds its fields ($comm, $pid, $prio, $target_cpu)",
        ),
        (
            r#"probe scheduler.wakeup { println(task) }"#,
            "records no \"p\"",
        ),
        (
            r#"probe signal.send { println(si_code) }"#,
            "records no \"info\"",
        ),
    ];
    for (script, msg) in cases {
        common::refused(&["run", "--trace", SCHED, "-e", script], msg);
    }
    // Without a trace and without root (which would elaborate against the
    // running kernel, tests/live_cli.rs): what to record, then --trace.
    let args = [
        "run",
        "-p2",
        "-e",
        r#"probe kernel.trace("sched_switch") { }"#,
    ];
    let err = if unsafe { libc::geteuid() } == 0 {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_retap"))
            .args(args)
            .current_dir("/")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    } else {
        run(&args).2
    };
    assert!(
        err.contains("needs a recording that holds it (retap record --tracepoints sched_switch, then --trace DIR)"),
        "{err}"
    );
}

#[test]
fn sql_lists_tracepoint_tables_by_event_name_and_diff_takes_them() {
    let (code, out, err) = run(&[
        "sql",
        SCHED,
        "select count(*) from sched_switch where prev_comm = 'spinner'",
    ]);
    assert_eq!(code, 0, "{err}");
    let Some(want) = duck(
        "sched",
        "select count(*) from sched_switch where prev_comm = 'spinner'",
    ) else {
        return;
    };
    assert!(out.contains(&want[0]), "{out}");
    let (code, out, err) = run(&["sql", SCHED, ".tables"]);
    assert_eq!(code, 0, "{err}");
    for t in [
        "sched_switch",
        "signal_generate",
        "softirq_entry",
        "syscalls",
    ] {
        assert!(out.contains(t), "{out}");
    }
    let (code, out, err) = run(&[
        "diff",
        SCHED,
        SCHED,
        "--table",
        "sched_switch",
        "--by",
        "prev_comm",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sched.sched_switch by prev_comm"), "{out}");
    assert!(out.contains("0 changed"), "{out}");
    let (code, _, err) = run(&["diff", SCHED, SCHED, "--table", "sched_swtch"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown table \"sched_swtch\" (this trace has: "),
        "{err}"
    );
}

#[test]
fn socket_addresses_print_as_stap_shows_them_and_as_duckdb_finds_them() {
    // Who connects where: connect's address variables, by the recorded
    // bytes, against DuckDB's columns over the same files.
    let Some(got) = same_as_duckdb(
        r#"global n
probe syscall.connect { n[execname(), uaddr_af, uaddr_ip, uaddr_ip_port]++ }
probe end { foreach ([e, f, a, p] in n) printf("%s|%s|%s|%s|%d\n", e, f, a, p, n[e, f, a, p]) }"#,
        "select execname, sa_family, sa_addr, sa_port, count(*) from syscalls \
         where syscall = 'connect' group by all",
    ) else {
        return;
    };
    assert!(
        got.iter().any(|l| l.contains("|AF_INET|127.0.0.1|")),
        "{got:?}"
    );
    // argstr of connect and sendto as stap's _struct_sockaddr_u prints
    // them; the port from DuckDB.
    let port = |sys: &str| {
        duck(
            "sched",
            &format!("select min(sa_port) from syscalls where syscall = '{sys}' and sa_family = 'AF_INET'"),
        )
        .unwrap()[0]
            .clone()
    };
    let out = stap(
        r#"probe syscall.connect { if (uaddr_af == "AF_INET") { println(argstr); exit() } }"#,
        &[],
    );
    let fd = duck(
        "sched",
        "select arg0 from syscalls where syscall = 'connect' and sa_family = 'AF_INET' order by ts limit 1",
    )
    .unwrap()[0]
        .clone();
    assert_eq!(
        out,
        format!("{fd}, {{AF_INET, 127.0.0.1, {}}}, 16\n", port("connect"))
    );
    let out = stap(
        r#"global to
probe syscall.sendto { if (to_str != "NULL") to[execname(), to_str]++ }
probe end { foreach ([e, t] in to) printf("%s|%s|%d\n", e, t, to[e, t]) }"#,
        &[],
    );
    let mut got = lines(&out);
    got.sort();
    let mut want = duck(
        "sched",
        "select execname, '{AF_INET, ' || sa_addr || ', ' || sa_port || '}', count(*) from syscalls \
         where syscall = 'sendto' and sockaddr is not null group by all",
    )
    .unwrap();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 2, "the udpecho pair: {got:?}");
    // The packets of those datagrams, by port, in SQL.
    let (code, out, err) = run(&[
        "sql",
        SCHED,
        "select count(*) from net where transport = 'udp' and saddr = '127.0.0.1' and sport is not null",
    ]);
    assert_eq!(code, 0, "{err}");
    let want = duck(
        "sched",
        "select count(*) from net where transport = 'udp' and saddr = '127.0.0.1' and sport is not null",
    )
    .unwrap();
    assert!(out.contains(&want[0]), "{out} vs {want:?}");
    assert_ne!(want[0], "0");
}

#[test]
fn file_names_of_syscalls_print_as_duckdb_finds_them() {
    // stap's open-family probes with their filename variable, argstr with
    // the name quoted, and user_string($filename).
    let Some(got) = same_as_duckdb(
        r#"global n
probe syscall.openat { n[execname(), filename, user_string($filename)]++ }
probe end { foreach ([e, f, u] in n) printf("%s|%s|%s|%d\n", e, f, u, n[e, f, u]) }"#,
        // stap's `filename` is user_string_quoted's (these names need no escapes).
        "select execname, coalesce('\"' || path || '\"', ''), coalesce(path, ''), count(*) \
         from syscalls where syscall = 'openat' group by all",
    ) else {
        return;
    };
    assert!(got.len() > 20, "{got:?}");
    // argstr as stap builds it for openat: dfd, the quoted name, flags.
    let out = stap(
        r#"probe syscall.openat { if (filename_unquoted == "/etc/ld.so.cache") { println(argstr); exit() } }"#,
        &[],
    );
    assert_eq!(out, "AT_FDCWD, \"/etc/ld.so.cache\", O_RDONLY|O_CLOEXEC\n");
    // A syscall's second name (the old, the new).
    let out = stap(
        r#"global c
probe syscall.access, syscall.faccessat2 { c[pathname] <<< 1 }
probe end { foreach (p in c) printf("%s|%d\n", p, @count(c[p])) }"#,
        &[],
    );
    let mut got = lines(&out);
    got.sort();
    let mut want = duck(
        "sched",
        "select '\"' || path || '\"', count(*) from syscalls \
         where syscall in ('access', 'faccessat2') group by all",
    )
    .unwrap();
    want.sort();
    assert_eq!(got, want);
    // Other user memory stays refused.
    let (code, _, err) = run(&[
        "run",
        "--trace",
        SCHED,
        "-e",
        "probe syscall.write { println(user_string($buf)) }",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("but for the file-name arguments of syscalls")
            && err.contains("socket addresses"),
        "{err}"
    );
}

/// stap's tapset aliases over tracepoints a recording takes when asked
/// (kmem, the scheduler's process tracepoints, the block requests) and over
/// the kill system calls, for a child that makes known calls: counts and
/// sums as DuckDB finds them in the same files, the kills exactly as made,
/// plans as the interpreter, kernel call sites named.
#[test]
fn tapset_aliases_over_recorded_tracepoints_and_kills() {
    if !common::is_root() {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let files = tmp.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let cmd = format!(
        "{} calls --signals 3 --tkills 4 --fork-exit 7 --paths 3 --dir {} --sync 2 --write 5",
        common::workload().display(),
        files.display()
    );
    let tps = "kmem:kmalloc,kmem:kfree,kmem:kmem_cache_alloc,kmem:kmem_cache_free,\
               sched:sched_process_free,sched:sched_process_wait,\
               block:block_rq_insert,block:block_rq_issue,block:block_rq_complete,\
               block:block_rq_requeue,block:block_plug";
    let d = dir.display().to_string();
    let (code, out, err) = run(&[
        "record",
        "-o",
        &d,
        "-c",
        &cmd,
        "-q",
        "--events",
        "syscalls,processes,tracepoints",
        "--tracepoints",
        tps,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tkills=8"), "{out}");
    let pid: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .unwrap()
        .parse()
        .unwrap();

    let script = r#"global k, t
probe signal.syskill, signal.systkill, signal.systgkill { k[name, sig_name, sig_pid] <<< 1 }
probe signal.syskill.return, signal.systkill.return, signal.systgkill.return { k[name, retstr, -1] <<< 1 }
probe vm.kmalloc, vm.kfree, vm.kmem_cache_alloc, vm.kmem_cache_free,
      scheduler.process_free, scheduler.process_wait,
      ioscheduler.elv_add_request, ioscheduler_trace.elv_issue_request,
      ioscheduler_trace.elv_completed_request, ioscheduler_trace.elv_requeue_request,
      ioscheduler_trace.plug { t[name] <<< 1 }
probe vm.kmalloc, vm.kmem_cache_alloc { t[name . " bytes"] <<< bytes_alloc }
probe vm.kmalloc { if (substr(caller_function, 0, 2) == "0x") t["unnamed call site"] <<< 1 }
probe ioscheduler_trace.elv_issue_request { t[sprintf("disk %d:%d", disk_major, disk_minor)] <<< 1 }
probe end {
  foreach ([a, b, c] in k) printf("%s %s %d %d\n", a, b, c, @count(k[a, b, c]))
  foreach (n in t) printf("%s|%d|%d\n", n, @count(t[n]), @sum(t[n]))
}"#;
    let plans = run(&["run", "-e", script, "--trace", &d]);
    let interp = run(&["run", "-e", script, "--trace", &d, "--interpret-only"]);
    assert_eq!(plans.0, 0, "{}", plans.2);
    assert_eq!(plans.1, interp.1, "plans and the interpreter differ");
    let got = plans.1;
    for want in [
        format!("syskill SIGUSR1 {pid} 3"),
        format!("systkill SIGUSR1 {pid} 4"),
        format!("systgkill SIGUSR1 {pid} 4"),
        "syskill 0 -1 3".into(),
        "systkill 0 -1 4".into(),
        "systgkill 0 -1 4".into(),
    ] {
        assert!(got.lines().any(|l| l == want), "{want:?} not in\n{got}");
    }
    assert!(
        !got.contains("unnamed call site"),
        "kallsyms names kmalloc's call sites: {got}"
    );
    // Every alias's count (and the allocations' bytes) as DuckDB finds them.
    let Some(want) = common::duck_at(
        &dir,
        "select 'kmalloc', count(*), count(*) from kmalloc \
         union all select 'kfree', count(*), count(*) from kfree \
         union all select 'kmem_cache_alloc', count(*), count(*) from kmem_cache_alloc \
         union all select 'kmem_cache_free', count(*), count(*) from kmem_cache_free \
         union all select 'process_free', count(*), count(*) from sched_process_free \
         union all select 'process_wait', count(*), count(*) from sched_process_wait \
         union all select 'elv_add_request', count(*), count(*) from block_rq_insert \
         union all select 'elv_issue_request', count(*), count(*) from block_rq_issue \
         union all select 'elv_completed_request', count(*), count(*) from block_rq_complete \
         union all select 'elv_requeue_request', count(*), count(*) from block_rq_requeue \
         union all select 'plug', count(*), count(*) from block_plug \
         union all select 'kmalloc bytes', count(*), sum(bytes_alloc) from kmalloc \
         union all select 'kmem_cache_alloc bytes', count(*), sum(bytes_alloc) from kmem_cache_alloc \
         union all select 'disk -1:-1', count(*), count(*) from block_rq_issue",
    ) else {
        return;
    };
    let mut table: Vec<String> = got
        .lines()
        .filter(|l| l.contains('|'))
        .map(String::from)
        .collect();
    // An alias whose tracepoint fired for none of the child's work prints
    // no element; DuckDB's count is 0 then.
    let mut want: Vec<String> = want.into_iter().filter(|l| !l.contains("|0|")).collect();
    table.sort();
    want.sort();
    assert_eq!(table, want);
    // The child's own allocations and its wait for its child are there.
    for name in ["kmalloc|", "kmem_cache_alloc|", "kfree|", "process_wait|"] {
        assert!(
            table.iter().any(|l| l.starts_with(name)),
            "no {name} rows: {table:?}"
        );
    }

    // What the recording cannot answer, named.
    let (code, _, err) = run(&[
        "run",
        "-e",
        "probe vm.kmalloc { println(gfp_flag_name) }",
        "--trace",
        &d,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("'__gfp_flag_str' is not available: stap names allocation flags by the traced kernel's own headers"), "{err}");
    let (code, _, err) = run(&["run", "-e", "probe vm.kmalloc_node { }", "--trace", &d]);
    assert_eq!(code, 1);
    assert!(err.contains("Linux 6.1 folded into kmalloc"), "{err}");
}

/// stap's memory/vm.tracepoints.stp over datasets/kmem (kmem_cache_alloc
/// recorded by name): its one 10-second report, slab allocations by
/// process and requested size, as DuckDB counts the rows before the
/// timer.
#[test]
fn the_slab_allocation_example_counts_as_duckdb() {
    let script = "/usr/share/systemtap/examples/memory/vm.tracepoints.stp";
    if !std::path::Path::new(script).exists() {
        return retap_testkit::skip_without("systemtap-doc", "scripts/setup.sh installs it");
    }
    let (code, out, err) = run(&["run", script, "--trace", "datasets/kmem"]);
    assert_eq!(code, 0, "{err}");
    let Some(mut want) = duck(
        "kmem",
        "select execname, bytes_req, count(*) from kmem_cache_alloc where ts < $stop10 group by all",
    ) else {
        return;
    };
    let mut got = vec![];
    let mut process = String::new();
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("Process:") {
            process = p.to_string();
        } else if let Some(rest) = line.strip_prefix("Slab_size:") {
            let (size, count) = rest.split_once("\tCount:").unwrap();
            got.push(format!("{process}|{size}|{count}"));
        }
    }
    assert_eq!(out.matches("-----\n").count(), 1, "one report: {out}");
    assert!(got.len() > 10, "{out}");
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// `$rq->__data_len` at block_rq_insert (stap's bitesize-nd.stp) is the
/// recorded `bytes` (blk_rq_bytes), over datasets/kmem.
#[test]
fn a_block_requests_length_is_its_recorded_bytes() {
    let (code, out, err) = run(&[
        "run",
        "--trace",
        "datasets/kmem",
        "-e",
        r#"global sz
probe kernel.trace("block_rq_insert") { sz[execname()] <<< $rq->__data_len }
probe end { foreach (n+ in sz) printf("%s|%d|%d|%d\n", n, @count(sz[n]), @sum(sz[n]), @max(sz[n])) }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let Some(want) = duck(
        "kmem",
        "select execname, count(*), sum(bytes), max(bytes) from block_rq_insert group by 1 order by 1",
    ) else {
        return;
    };
    assert!(!want.is_empty());
    assert_eq!(lines(&out), want);
}
