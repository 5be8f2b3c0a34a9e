//! The seed article's listings (queries/) run over the shipped datasets,
//! and every number they print equals an independent DuckDB query over the
//! same Parquet files. Outputs are compared whole, text for text, where
//! DuckDB can produce the text; the histogram is compared row by row.

mod common;
use common::{duck, root, stap_syscall_sql};

fn retap(args: &[&str]) -> String {
    let out = common::retap()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run retap");
    assert!(
        out.status.success(),
        "retap {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Rows in the order the replay meets them: by ts, ties by file and row.
const FIRST_SEEN: &str = "min(struct_pack(t := ts, f := file, r := file_row_number))";

#[test]
fn listing3_sync_count() {
    let Some(rows) = duck(
        "mixed",
        "select pid from syscalls where syscall = 'sync' order by ts",
    ) else {
        return;
    };
    assert!(
        !rows.is_empty(),
        "the mixed dataset calls sync(2) each second"
    );
    let want: String = rows
        .iter()
        .enumerate()
        .map(|(i, pid)| format!("sys_sync called {} times, currently by pid {pid}\n", i + 1))
        .collect();
    assert_eq!(
        retap(&["run", "queries/sync_count.stp", "--trace", "datasets/mixed"]),
        want
    );
}

#[test]
fn listing4_profile_first_ten_seconds() {
    let (_, probed) = stap_syscall_sql();
    let sql = format!(
        "select execname, pid, count(*) from syscalls where ts <= $stop10 and {probed} \
         group by pid, execname order by {FIRST_SEEN}"
    );
    let Some(rows) = duck("mixed", &sql) else {
        return;
    };
    let mut want = String::from("System Call Monitoring Started (10 seconds)...\n");
    for r in &rows {
        let f: Vec<&str> = r.split('|').collect();
        want.push_str(&format!("{}[{}] = {}\n", f[0], f[1], f[2]));
    }
    let got = retap(&["run", "queries/profile.stp", "--trace", "datasets/mixed"]);
    assert_eq!(got, want);
    assert!(rows.len() > 10, "Listing 5's shape: many processes");
}

#[test]
fn listing6_syslog_profile() {
    // stap's tapset names a few syscalls differently from the kernel.
    let (name, probed) = stap_syscall_sql();
    let sql = format!(
        "select {name} n, count(*) from syscalls \
         where execname = 'syslogd' and ts <= $stop10 and {probed} \
         group by n order by {FIRST_SEEN}"
    );
    let Some(rows) = duck("mixed", &sql) else {
        return;
    };
    let mut want = String::from("Syslog Monitoring Started (10 seconds)...\n");
    for r in &rows {
        let f: Vec<&str> = r.split('|').collect();
        want.push_str(&format!("{} = {}\n", f[0], f[1]));
    }
    let got = retap(&[
        "run",
        "queries/syslog_profile.stp",
        "syslogd",
        "--trace",
        "datasets/mixed",
    ]);
    assert_eq!(got, want);
    for call in ["writev = ", "rt_sigprocmask = ", "pselect6 = "] {
        assert!(got.contains(call), "Listing 7's calls: {got}");
    }
}

#[test]
fn listing8_net_table() {
    for dataset in ["mixed", "web"] {
        let sql = format!(
            "with r as (select dev_name, pid, execname, count(*) n, {FIRST_SEEN} first \
               from net where direction = 'rx' group by all), \
             x as (select dev_name, pid, execname, count(*) n from net where direction = 'tx' group by all) \
             select r.dev_name, r.execname, r.pid, r.n, coalesce(x.n, 0) from r left join x \
             using (dev_name, pid, execname) order by r.first"
        );
        let Some(rows) = duck(dataset, &sql) else {
            return;
        };
        let mut want = String::from(
            "Starting network capture (Ctl-C to end)\n\nEnd Capture\n\nIface Process........ PID.. RcvPktCnt XmtPktCnt\n",
        );
        for r in &rows {
            let f: Vec<&str> = r.split('|').collect();
            let pid: i64 = f[2].parse().unwrap();
            let (rx, tx): (i64, i64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
            want.push_str(&format!(
                "{:>5} {:<15} {:<5} {:>9} {:>9}\n",
                f[0], f[1], pid, rx, tx
            ));
        }
        let got = retap(&[
            "run",
            "queries/net.stp",
            "--trace",
            &format!("datasets/{dataset}"),
        ]);
        assert_eq!(got, want, "{dataset}");
    }
}

#[test]
fn listing10_nethist_counts() {
    let sql = "select case when length = 0 then 0 else cast(pow(2, floor(log2(length))) as bigint) end b, \
               count(*) from net group by b order by b";
    let Some(rows) = duck("mixed", sql) else {
        return;
    };
    let got = retap(&["run", "queries/nethist.stp", "--trace", "datasets/mixed"]);
    let mut printed = std::collections::BTreeMap::new();
    for line in got
        .lines()
        .filter(|l| l.contains(" |") && !l.contains("value |"))
    {
        let (label, rest) = line.split_once(" |").unwrap();
        let count: i64 = rest.split_whitespace().last().unwrap().parse().unwrap();
        let bar = rest.chars().filter(|c| *c == '@').count() as i64;
        printed.insert(label.trim().parse::<i64>().unwrap(), (count, bar));
    }
    let max = rows
        .iter()
        .map(|r| r.split('|').nth(1).unwrap().parse::<i64>().unwrap())
        .max()
        .unwrap();
    let scale = if max <= 50 { 1 } else { (max + 49) / 50 };
    for r in &rows {
        let f: Vec<i64> = r.split('|').map(|x| x.parse().unwrap()).collect();
        let (count, bar) = printed
            .get(&f[0])
            .copied()
            .unwrap_or_else(|| panic!("bucket {} missing:\n{got}", f[0]));
        assert_eq!(count, f[1], "bucket {}", f[0]);
        assert_eq!(bar, f[1] / scale, "bar of bucket {}", f[0]);
    }
    let nonzero = printed.values().filter(|(c, _)| *c > 0).count();
    assert_eq!(
        nonzero,
        rows.len(),
        "every printed non-empty row is a DuckDB bucket"
    );
    assert!(got.starts_with("Capturing...\n\nvalue |-----"), "{got}");
}
