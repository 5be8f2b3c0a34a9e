//! `retap`: the command users type. Analysis subcommands run here; `record`
//! hands over to the standalone `retap-record` binary so that this one
//! carries no libbpf and builds anywhere.

mod cluster;
mod live;
mod record_for;
mod terminal;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The analyzer allocates many small strings and tree nodes; mimalloc
/// halves the front end's time against glibc malloc (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "retap",
    version,
    about = "SystemTap's power over recorded eBPF traces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    s3: S3Flags,
}

/// Where traces named `s3://bucket/prefix` are read from. Each flag
/// overrides its AWS environment variable (AWS_ENDPOINT_URL, AWS_REGION,
/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); the environment is the
/// better place for keys, which flags show to `ps`.
#[derive(clap::Args)]
#[command(next_help_heading = "Object storage (s3:// traces)")]
struct S3Flags {
    /// An S3-compatible server's URL (http:// is allowed for it);
    /// requests are path-style unless --s3-virtual-hosted.
    #[arg(long, global = true, value_name = "URL")]
    s3_endpoint: Option<String>,
    #[arg(long, global = true, value_name = "REGION")]
    s3_region: Option<String>,
    #[arg(long, global = true, value_name = "KEY")]
    s3_access_key_id: Option<String>,
    #[arg(long, global = true, value_name = "SECRET")]
    s3_secret_access_key: Option<String>,
    /// Bucket names in host names (bucket.endpoint), as AWS prefers.
    #[arg(long, global = true)]
    s3_virtual_hosted: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Record a trace (root). Same options as retap-record; see `retap record --help`.
    #[command(disable_help_flag = true)]
    Record {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Summarise a trace: host, time range, rows and losses per table, damage.
    Info {
        /// The trace: a directory or s3://bucket/prefix.
        dir: PathBuf,
        /// Also read every page of every file and check it against its
        /// checksums (exit status 1 when something is damaged).
        #[arg(long)]
        verify: bool,
    },
    /// Run a SystemTap script over a recorded trace (--trace DIR) or live, printing what stap would have.
    Run(RunArgs),
    /// Query traces with SQL: one statement, a file of them, or an interactive shell.
    Sql(SqlArgs),
    /// Compare two recordings of a workload; exit 1 when something changed.
    Diff(DiffArgs),
    /// Ask a running recording for a snapshot (SIGUSR1): what it holds now
    /// becomes a trace of its own, DIR/snapshot-TIME/, whose path is printed.
    Snapshot {
        /// The recording's directory (-o), or the recorder's pid.
        target: String,
    },
    /// Copy a finished trace to object storage (or another directory),
    /// the manifest last, so that readers never see a manifest naming a
    /// file not yet there.
    Push {
        /// The trace directory.
        dir: PathBuf,
        /// Where to: s3://bucket/prefix (or a directory).
        to: PathBuf,
    },
    /// Run an Apache DataFusion Ballista scheduler or executor that knows
    /// retap's trace stores (local paths, s3:// with this process's AWS
    /// settings), for `retap sql --cluster` and `retap run --cluster`.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Write a synthetic trace in the real format (for benchmarks and tests).
    Synth {
        /// The new trace directory.
        #[arg(short = 'o', value_name = "DIR")]
        output: PathBuf,
        /// Number of syscall events (net packets come on top, ~4%).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seed: the same seed writes the same trace.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of processes.
        #[arg(long, default_value_t = 300)]
        processes: usize,
        /// Trace length in seconds.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Write no checksums, as recorders before them did (to measure
        /// what checking them costs).
        #[arg(long)]
        no_checksums: bool,
        /// The recording machine's architecture: its syscall numbers and
        /// names
        #[arg(long, default_value = "x86_64", value_parser = ["x86_64", "aarch64"])]
        arch: String,
        /// Rows per file, as the recorder's rotation makes them (many small
        /// files: the shape of long recordings and of fleets)
        #[arg(long, default_value_t = 8 << 20)]
        rows_per_file: u64,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Script text instead of a file (then every positional is a script argument).
    #[arg(short = 'e', value_name = "TEXT")]
    script_text: Option<String>,
    /// Stop after pass N: 1 parse, 2 elaborate, 3 translate, 4 build, 5 run.
    #[arg(short = 'p', value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    pass: u8,
    /// The recording to run over. Without it, the script runs live (as
    /// root): what it reads is recorded and its probes fire as events happen.
    #[arg(long, value_name = "DIR")]
    trace: Option<PathBuf>,
    /// With --trace naming a set of traces (a directory or prefix holding
    /// them): run the script once per trace, each output headed
    /// `==> TRACE (HOST) <==`, instead of over all of them as one.
    #[arg(long, requires = "trace", conflicts_with = "output")]
    per_trace: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Live: run CMD and trace it and its children (target() is its pid);
    /// the run ends when it exits.
    #[arg(short = 'c', value_name = "CMD", conflicts_with = "trace")]
    command: Option<String>,
    /// Live: stop after SECONDS, as stap's -T.
    #[arg(short = 'T', value_name = "SECONDS", conflicts_with = "trace")]
    timeout: Option<f64>,
    /// Live: also keep the events as a trace in DIR (then run other
    /// scripts, SQL or diff over it).
    #[arg(long, value_name = "DIR", conflicts_with = "trace")]
    keep: Option<PathBuf>,
    /// Live: the recorder's ring buffer, in MB as stap's -s (or with a K
    /// or M suffix; a power of two).
    #[arg(short = 's', value_name = "SIZE", conflicts_with = "trace")]
    buffer: Option<String>,
    /// Write the script's output to FILE instead of stdout.
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Set a limit or macro, as stap: -D MAXACTION=10000.
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    defines: Vec<String>,
    /// Start a scalar global with a value, as stap: -G limit=10.
    #[arg(short = 'G', value_name = "NAME=VALUE")]
    globals: Vec<String>,
    /// Add a directory of library .stp files (functions, probe aliases,
    /// globals), searched before the built-in library, as stap's -I.
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
    /// Report pass timings and per-probe event counts on stderr.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Seed for `.randomize` timers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run every probe in the interpreter, compiling nothing to plans.
    #[arg(long, conflicts_with = "cluster")]
    interpret_only: bool,
    /// Plans scan every file's rows rather than answer from the rollups
    /// syscalls files carry (the same answer; for comparing).
    #[arg(long)]
    no_rollups: bool,
    /// With -o: rotate the output over FILE.0, FILE.1, ... of SIZE
    /// megabytes, keeping the newest COUNT, as stap's -S.
    #[arg(short = 'S', value_name = "SIZE[,COUNT]")]
    rotate: Option<String>,
    /// A runtime error ends its probe handler only; the run goes on
    /// (stap's --suppress-handler-errors).
    #[arg(long)]
    suppress_handler_errors: bool,
    /// After the run, stap's probe hit report on stderr: hits per probe
    /// and each interpreted handler's time in ns.
    #[arg(short = 't')]
    timing: bool,
    /// Suppress warnings from the passes (unused variables).
    #[arg(short = 'w')]
    suppress_warnings: bool,
    /// Unoptimized: elide nothing, so warn of nothing elided.
    #[arg(short = 'u')]
    unoptimized: bool,
    /// target() is PID (stap's -x); by default the pid the recording was
    /// filtered to (-x) or -c's command ran as, else 0. Live, only PID is
    /// traced and the run ends when it exits.
    #[arg(short = 'x', value_name = "PID")]
    target: Option<i64>,
    /// SCRIPT [ARGS...] (with -e: ARGS... only); put `--` before arguments that start with `-`
    #[arg(value_name = "SCRIPT ARGS")]
    rest: Vec<String>,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    retap sql DIR 'SELECT execname, count(*) FROM syscalls GROUP BY 1 ORDER BY 2 DESC LIMIT 10'\n  \
    retap sql DIR                       (interactive; .help inside)\n  \
    retap sql base=DIR1 new=DIR2 'SELECT count(*) FROM base.syscalls'\n  \
    retap sql DIR -f query.sql --format parquet -o out.parquet")]
struct SqlArgs {
    /// Traces (DIR, or NAME=DIR to query them as NAME.syscalls …), then optionally the SQL.
    #[arg(value_name = "TRACE... [SQL]", required = true)]
    args: Vec<String>,
    /// Run the statements in FILE.
    #[arg(short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
    /// Output format: table, csv, json or parquet (parquet needs -o).
    #[arg(long, default_value = "table")]
    format: String,
    /// Write the result to FILE instead of stdout.
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Rows the table format shows before eliding the middle (0: all).
    #[arg(long, default_value_t = 40)]
    max_rows: usize,
    /// After the statements, say on stderr what was fetched from object
    /// storage (bytes and requests), if anything was.
    #[arg(short = 'v')]
    verbose: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `--cluster` and its wait, as `retap sql`, `run` and `diff` take them.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Run the queries (`retap run`: the aggregating probes' plans; `retap
    /// diff`: both sides' GROUP BYs) on an Apache DataFusion Ballista
    /// cluster: its scheduler's df://HOST:PORT (`retap cluster scheduler`
    /// starts one). The rest runs here, over their results.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// With --cluster: how long each query or plan may wait for its answer.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 600,
        requires = "cluster"
    )]
    cluster_timeout: u64,
}

impl ClusterArgs {
    fn get(&self) -> Option<(String, std::time::Duration)> {
        let wait = std::time::Duration::from_secs(self.cluster_timeout);
        self.cluster.clone().map(|url| (url, wait))
    }
}

fn sql(a: SqlArgs) -> ExitCode {
    use retap_analyzer::sql::{render::Format, shell, split_positionals, SqlSession};
    use std::io::IsTerminal;
    let fail = |m: String| {
        eprintln!("retap sql: {m}");
        ExitCode::FAILURE
    };
    let format = match Format::parse(&a.format) {
        Ok(f) => f,
        Err(e) => return fail(e.to_string()),
    };
    let (traces, text) = match split_positionals(&a.args) {
        Ok(x) => x,
        Err(e) => return fail(e.to_string()),
    };
    let text = match (text, &a.file) {
        (Some(_), Some(_)) => {
            return fail("give the SQL either as text or with -f, not both".into())
        }
        (Some(t), None) => Some(t),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t),
            Err(e) => return fail(format!("{}: {e}", f.display())),
        },
        (None, None) => None,
    };
    if format == Format::Parquet && a.output.is_none() {
        return fail("--format parquet writes a file: give it with -o FILE".into());
    }
    let opened = match a.cluster.get() {
        Some((url, wait)) => SqlSession::open_cluster(&traces, &url, wait),
        None => SqlSession::open(&traces),
    };
    let sess = match opened {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    for w in &sess.warnings {
        eprintln!("retap sql: warning: {w}");
    }
    let mut sh = shell::Shell::new(&sess, format, a.max_rows);
    sh.output = a.output;
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    match text {
        Some(t) => sh.run_text(&t, &mut stdout.lock(), &mut stderr.lock()),
        None if std::io::stdin().is_terminal() => {
            if let Err(e) = terminal::sql_shell(&mut sh) {
                return fail(e);
            }
        }
        None => {
            let mut t = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut t) {
                return fail(format!("reading stdin: {e}"));
            }
            sh.run_text(&t, &mut stdout.lock(), &mut stderr.lock())
        }
    }
    let (bytes, requests) = retap_analyzer::store::fetched();
    if a.verbose && requests > 0 {
        eprintln!("Object storage: {bytes} bytes fetched in {requests} requests.");
    }
    if sh.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "A change must be significant (Poisson test on counts, Mann-Whitney U on \
latency and bytes per call; p < alpha / number of tests) and large (beyond --threshold, and for \
latency beyond --min-latency at p50 or p90). Exit status: 0 no change, 1 change, 2 error."
)]
struct DiffArgs {
    /// The baseline trace.
    base: PathBuf,
    /// The trace to compare with it.
    new: PathBuf,
    /// Key columns, comma-separated (any column of --table).
    #[arg(long, value_delimiter = ',', default_value = "execname,syscall")]
    by: Vec<String>,
    /// Table to compare: syscalls, net, block, processes, samples.
    #[arg(long, default_value = "syscalls")]
    table: String,
    /// What may be called a change: count, rate (count per second), latency, bytes, all.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    metric: Vec<String>,
    /// table (for people) or json (for machines).
    #[arg(long, default_value = "table")]
    format: String,
    /// Also write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Smallest relative change reported: 0.25 means x1.25 up or x0.8 down.
    #[arg(long, default_value_t = 0.25)]
    threshold: f64,
    /// False-alarm rate over the whole comparison (split over every test).
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
    /// Latency changes smaller than this are noise (ns, us, ms, s).
    #[arg(long, default_value = "20us")]
    min_latency: String,
    /// Compare totals (total) or per-second rates (duration); default:
    /// totals when both traces recorded one command (-c), else rates.
    #[arg(long)]
    normalize: Option<String>,
    /// Run this stap script over both traces and compare its globals key by key.
    #[arg(long, value_name = "SCRIPT")]
    script: Option<PathBuf>,
    /// With --script: the smallest change of a statistic's mean that counts, in the script's units.
    #[arg(long, default_value_t = 0.0)]
    min_mean_change: f64,
    /// List every key, not only the changed ones.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `--table`: a fixed table, or a tracepoint the base trace recorded
/// (`sched.sched_switch`, or `sched_switch` as retap sql names it).
fn diff_table(name: &str, base: &std::path::Path) -> Result<retap_schema::Table, String> {
    if let Some(t) = retap_schema::Table::from_name(name) {
        return Ok(t);
    }
    let m = retap_schema::Manifest::load(base).map_err(|e| e.to_string())?;
    let found = m.table(name).or_else(|| {
        let f = m.tracepoints.values().find(|f| f.event == name)?;
        Some(retap_schema::Table::Tracepoint(f.clone().intern()))
    });
    found.ok_or_else(|| {
        let mut known: Vec<&str> = retap_schema::Table::ALL.iter().map(|t| t.name()).collect();
        known.extend(m.tracepoints.keys().map(String::as_str));
        format!(
            "unknown table {name:?} (this trace has: {})",
            known.join(", ")
        )
    })
}

fn diff(a: DiffArgs) -> ExitCode {
    use retap_analyzer::diff;
    use std::io::IsTerminal;
    let fail = |m: String| {
        eprintln!("retap diff: {m}");
        ExitCode::from(2)
    };
    let table = match diff_table(&a.table, &a.base) {
        Ok(t) => t,
        Err(m) => return fail(m),
    };
    let mut o = diff::DiffOptions {
        table,
        by: a.by.clone(),
        cluster: a.cluster.get(),
        ..Default::default()
    };
    let mut metrics = vec![];
    for m in &a.metric {
        match m.as_str() {
            "all" => metrics.extend(["count", "latency", "bytes"]),
            "count" | "latency" | "bytes" => metrics.push(m.as_str()),
            "rate" => {
                metrics.push("count");
                o.normalize = Some(diff::Normalize::Duration);
            }
            _ => return fail(format!("--metric {m}: count, rate, latency, bytes or all")),
        }
    }
    o.metrics = metrics.into_iter().map(String::from).collect();
    match a.normalize.as_deref() {
        None => {}
        Some("total") => o.normalize = Some(diff::Normalize::Total),
        Some("duration") => o.normalize = Some(diff::Normalize::Duration),
        Some(x) => return fail(format!("--normalize {x}: total or duration")),
    }
    if !(a.threshold >= 0.0 && a.alpha > 0.0 && a.alpha < 1.0) {
        return fail("--threshold must be >= 0 and --alpha in (0, 1)".into());
    }
    o.threshold = a.threshold;
    o.min_mean_change = a.min_mean_change;
    o.alpha = a.alpha;
    o.min_latency_ns = match diff::parse_duration_ns(&a.min_latency) {
        Some(v) => v,
        None => {
            return fail(format!(
                "--min-latency {}: e.g. 20us, 1ms, 0",
                a.min_latency
            ))
        }
    };
    if a.format != "table" && a.format != "json" {
        return fail(format!("--format {}: table or json", a.format));
    }
    let progress: std::sync::Arc<dyn diff::Progress> = if std::io::stderr().is_terminal() {
        terminal::Bar::new()
    } else {
        std::sync::Arc::new(diff::NoProgress)
    };
    let result = match &a.script {
        Some(s) => diff::script::diff_script(s, &a.base, &a.new, &o),
        None => diff::collect(&a.base, &a.new, &o, progress).map(|c| diff::compare(c, &o)),
    };
    let d = match result {
        Ok(d) => d,
        Err(e) => return fail(e.to_string()),
    };
    for w in &d.warnings {
        eprintln!("retap diff: warning: {w}");
    }
    let text = if a.format == "json" {
        serde_json::to_string_pretty(&diff::report::to_json(&d)).expect("json") + "\n"
    } else {
        diff::report::to_text(&d, a.all)
    };
    // A closed pipe (| head) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if let Some(h) = &a.html {
        if let Err(e) = std::fs::write(h, diff::html::render(&d)) {
            return fail(format!("{}: {e}", h.display()));
        }
    }
    if d.changed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether `p` is a local trace directory or a set of them (traces one or
/// two levels down, as `host/run`). Bounded, unlike a set's own discovery
/// (`TraceSet::open` lists every depth): a script argument may be any
/// directory, `/` included.
fn holds_traces(p: &std::path::Path) -> bool {
    use retap_schema::manifest::MANIFEST_FILE;
    let children = |d: &std::path::Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|r| {
                r.flatten()
                    .map(|e| e.path())
                    .filter(|c| c.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    if !p.is_dir() {
        return false;
    }
    p.join(MANIFEST_FILE).is_file()
        || children(p).iter().any(|c| {
            c.join(MANIFEST_FILE).is_file()
                || children(c).iter().any(|g| g.join(MANIFEST_FILE).is_file())
        })
}

fn recorder_binary() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("retap-record")));
    match beside {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("retap-record"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    retap_analyzer::store::configure(retap_analyzer::store::S3Settings {
        endpoint: cli.s3.s3_endpoint,
        region: cli.s3.s3_region,
        access_key_id: cli.s3.s3_access_key_id,
        secret_access_key: cli.s3.s3_secret_access_key,
        virtual_hosted: cli.s3.s3_virtual_hosted,
    });
    match cli.cmd {
        Cmd::Record { args } => {
            use std::os::unix::process::CommandExt;
            let bin = recorder_binary();
            if let Some(at) = upload::url_output(&args) {
                if args.iter().any(|a| a == "--for" || a.starts_with("--for=")) {
                    eprintln!(
                        "retap record: --for with -o {}: record to a directory, then retap push it",
                        at.1
                    );
                    return ExitCode::FAILURE;
                }
                return upload::record(args, &bin);
            }
            match record_for::split(&args) {
                Ok(Some(a)) => return record_for::run(a, &bin),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("retap record: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let err = std::process::Command::new(&bin).args(&args).exec();
            eprintln!(
                "retap: cannot run {} ({err}); `retap record` needs the retap-record binary \
                 (cargo build --release builds both)",
                bin.display()
            );
            ExitCode::FAILURE
        }
        Cmd::Run(a) => run(a),
        Cmd::Cluster(c) => cluster::main(c),
        Cmd::Sql(a) => sql(a),
        Cmd::Diff(a) => diff(a),
        Cmd::Synth {
            output,
            events,
            seed,
            processes,
            seconds,
            no_checksums,
            arch,
            rows_per_file,
        } => {
            let opts = retap_analyzer::synth::SynthOptions {
                events,
                seed,
                processes: processes.max(1),
                seconds: seconds.max(0.001),
                checksums: !no_checksums,
                arch,
                rows_per_file: rows_per_file.max(1),
            };
            match retap_analyzer::synth::synth(&output, &opts) {
                Ok(m) => {
                    println!(
                        "retap synth: {} events ({}) -> {}",
                        m.total_events(),
                        retap_schema::summary::human_bytes(m.total_bytes()),
                        output.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("retap synth: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Push { dir, to } => match retap_analyzer::store::push(&dir, &to) {
            Ok((files, bytes)) => {
                println!(
                    "pushed {files} files ({}) to {}",
                    retap_schema::summary::human_bytes(bytes),
                    to.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("retap push: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Snapshot { target } => match snapshot(&target) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("retap snapshot: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Info { dir, verify: false } if retap_analyzer::trace_set::TraceSet::is_set(&dir) => {
            match retap_analyzer::trace_set::TraceSet::open(&dir)
                .and_then(retap_analyzer::info::render_set)
            {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("retap: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Info { dir, verify } => match retap_analyzer::trace::Trace::open(&dir) {
            Ok(t) => {
                print!("{}", retap_analyzer::info::render(&t));
                if !verify {
                    return ExitCode::SUCCESS;
                }
                let v = retap_analyzer::integrity::verify(&t, &[]);
                print!("{}", retap_analyzer::info::render_verified(&v));
                if v.damage.is_empty() && t.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("retap: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(a: RunArgs) -> ExitCode {
    use retap_analyzer::output_files::Rotation;
    use retap_analyzer::run::{run, Note, RunRequest};
    let mut rest = a.rest.into_iter();
    let script_path = if a.script_text.is_none() {
        rest.next().map(PathBuf::from)
    } else {
        None
    };
    let mut defines = vec![];
    for d in a.defines {
        match d.split_once('=') {
            Some((k, v)) => defines.push((k.to_string(), v.to_string())),
            None => defines.push((d, String::new())),
        }
    }
    let mut globals = vec![];
    for g in a.globals {
        match g.split_once('=') {
            Some((k, v)) => globals.push((k.to_string(), v.to_string())),
            None => {
                eprintln!("retap run: -G {g}: give NAME=VALUE");
                return ExitCode::FAILURE;
            }
        }
    }
    let rotation = match a.rotate.as_deref().map(Rotation::parse).transpose() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("retap run: {e}");
            return ExitCode::FAILURE;
        }
    };
    if a.cluster.cluster.is_some() && a.trace.is_none() {
        eprintln!("retap run: --cluster runs the plans over a recording: give --trace");
        return ExitCode::FAILURE;
    }
    let rest: Vec<String> = rest.collect();
    if a.trace.is_none() {
        // `retap run script.stp DIR` reads as "over DIR" but passes DIR to
        // the script as $1 and runs live: a user who meant the recording
        // would get a live run (or a root error) instead of an answer.
        if let Some(dir) = rest.iter().find(|r| holds_traces(std::path::Path::new(r))) {
            eprintln!(
                "retap run: {dir} is a recording, given as a script argument ($1, @1...); \
                 to run the script over it, give --trace {dir} (without --trace the script runs live)"
            );
            return ExitCode::FAILURE;
        }
    }
    let req = RunRequest {
        script_path,
        script_text: a.script_text,
        args: rest,
        last_pass: a.pass,
        trace: a.trace,
        output: a.output,
        defines,
        verbose: a.verbose,
        seed: a.seed,
        interpret_only: a.interpret_only,
        no_rollups: a.no_rollups,
        // Tests run retap with plan failures fatal (a failure is a bug).
        strict_plans: std::env::var_os("RETAP_STRICT_PLANS").is_some_and(|v| v == "1"),
        include_dirs: a.include,
        globals,
        snapshot: false,
        quiet: false,
        rotation,
        suppress_handler_errors: a.suppress_handler_errors,
        timing: a.timing,
        suppress_warnings: a.suppress_warnings,
        unoptimized: a.unoptimized,
        target: a.target,
        cluster: a.cluster.get(),
    };
    let mut notes = |n: Note| match n {
        Note::Verbose(line) => eprintln!("{line}"),
        Note::Warning(w) => eprintln!("WARNING: {w}"),
        Note::Script(text) | Note::Report(text) => eprint!("{text}"),
    };
    let result = if a.per_trace {
        per_trace(req, &mut notes)
    } else if req.trace.is_none() {
        let live = live::LiveArgs {
            command: a.command,
            pid: a.target,
            timeout: a.timeout,
            keep: a.keep,
            buffer: a.buffer.map(|b| {
                // A bare number is megabytes, as stap's -s.
                if b.chars().all(|c| c.is_ascii_digit()) {
                    format!("{b}M")
                } else {
                    b
                }
            }),
        };
        live::run(&req, &live, &recorder_binary(), &mut notes)
    } else {
        run(&req, &mut notes).map(|_| ())
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(f) => {
            eprint!("{}", f.message);
            if !f.message.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(f.code)
        }
    }
}

/// `retap run --per-trace`: the request over each trace of the set in
/// turn, each output under a header; the first failure ends it.
fn per_trace(
    req: retap_analyzer::run::RunRequest,
    notes: &mut dyn FnMut(retap_analyzer::run::Note),
) -> Result<(), retap_analyzer::run::RunFailure> {
    use std::io::Write;
    let dir = req.trace.clone().unwrap_or_default();
    let set = retap_analyzer::trace_set::TraceSet::open(&dir).map_err(|e| {
        retap_analyzer::run::RunFailure {
            message: format!("retap: {e}"),
            code: 1,
        }
    })?;
    for (i, m) in set.members.iter().enumerate() {
        let mut out = std::io::stdout().lock();
        if i > 0 {
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "==> {} ({}) <==", m.name, m.trace.manifest.host);
        let _ = out.flush();
        drop(out);
        let one = retap_analyzer::run::RunRequest {
            trace: Some(m.trace.dir.clone()),
            ..req.clone()
        };
        retap_analyzer::run::run(&one, notes)?;
    }
    Ok(())
}

/// `retap snapshot DIR|PID`: signals the recorder and, given its directory,
/// waits for the snapshot to be complete and says where it is.
fn snapshot(target: &str) -> Result<String, String> {
    use retap_schema::manifest::{MANIFEST_FILE, RECORDER_PID_FILE};
    let dir = std::path::Path::new(target);
    let (pid, dir) = match target.parse::<i32>() {
        Ok(pid) if !dir.is_dir() => (pid, None),
        _ => {
            let f = dir.join(RECORDER_PID_FILE);
            let text = std::fs::read_to_string(&f)
                .map_err(|e| format!("{}: {e} (is a recording running there?)", f.display()))?;
            let pid = text
                .trim()
                .parse::<i32>()
                .map_err(|_| format!("{}: not a pid: {text:?}", f.display()))?;
            (pid, Some(dir))
        }
    };
    let before = |d: &std::path::Path| -> std::collections::BTreeSet<std::path::PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("snapshot-"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let had = dir.map(before).unwrap_or_default();
    // SAFETY: kill(2) with a pid and a signal number.
    if unsafe { libc::kill(pid, libc::SIGUSR1) } != 0 {
        return Err(format!(
            "signalling the recorder (pid {pid}): {}",
            std::io::Error::last_os_error()
        ));
    }
    let Some(dir) = dir else {
        return Ok(format!("asked the recorder (pid {pid}) for a snapshot"));
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < end {
        for p in before(dir).difference(&had) {
            if p.join(MANIFEST_FILE).exists() {
                return Ok(p.display().to_string());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!(
        "the recorder (pid {pid}) wrote no snapshot in {} within a minute",
        dir.display()
    ))
}
