//! `retap synth`: traces in the real format at any size, for benchmarks
//! and differential tests, with realistic shapes: a few hundred processes
//! whose activity is Zipf-like, a Zipf-like syscall mix, log-normal
//! latencies and lengths, a little network traffic. Deterministic for a
//! given seed.

use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, StringArray, UInt16Array, UInt32Array,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use parquet::file::properties::WriterPropertiesBuilder;
use retap_schema::files::{writer_properties, FileWriter};
use retap_schema::manifest::{FileEntry, TableStats};
use retap_schema::{signatures, Manifest, Table};

pub struct SynthOptions {
    pub events: u64,
    pub seed: u64,
    pub processes: usize,
    /// Trace length; events spread evenly over it.
    pub seconds: f64,
    /// Rows per file (the recorder rotates files too).
    pub rows_per_file: u64,
    /// Page checksums and the manifest's file checksums (false: as traces
    /// written before them, to measure what checking them costs).
    pub checksums: bool,
    /// The recording machine's architecture (`x86_64` or `aarch64`): its
    /// syscall numbers, and its syscalls where x86_64's are not there
    /// (aarch64 has epoll_pwait, ppoll and pselect6 only).
    pub arch: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            events: 1_000_000,
            seed: 1,
            processes: 300,
            seconds: 60.0,
            rows_per_file: 8 << 20,
            checksums: true,
            arch: "x86_64".into(),
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }
}

/// Picks index i with weight 1/(i+1)^s: a Zipf-like draw by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf = Vec::with_capacity(n);
        for i in 0..n {
            acc += 1.0 / ((i + 1) as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }
    fn draw(&self, r: &mut Rng) -> usize {
        let u = r.unit();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

/// (syscall, median latency ns, typical return)
const MIX: &[(&str, f64, i64)] = &[
    ("read", 2_000.0, 512),
    ("write", 3_000.0, 256),
    ("futex", 20_000.0, 0),
    ("epoll_wait", 200_000.0, 1),
    ("recvfrom", 4_000.0, 1024),
    ("sendto", 6_000.0, 1024),
    ("close", 800.0, 0),
    ("openat", 5_000.0, 3),
    ("fstat", 600.0, 0),
    ("mmap", 2_500.0, 0x7f00_0000_0000),
    ("poll", 50_000.0, 1),
    ("clock_gettime", 150.0, 0),
    ("rt_sigprocmask", 300.0, 0),
    ("newfstatat", 1_500.0, 0),
    ("lseek", 400.0, 0),
    ("ioctl", 1_200.0, 0),
    ("getpid", 100.0, 1000),
    ("writev", 4_000.0, 300),
    ("nanosleep", 1_000_000.0, 0),
    ("munmap", 3_000.0, 0),
    ("brk", 1_000.0, 0),
    ("select", 100_000.0, 0),
    ("accept4", 30_000.0, 5),
    ("connect", 40_000.0, 0),
    ("fsync", 2_000_000.0, 0),
    // Its stap name depends on its flags ("epoll_create" with none): what
    // plans must name as the interpreter does.
    ("epoll_create1", 5_000.0, 7),
];

/// The kernel's signatures of the syscalls in [`MIX`] (from this
/// machine's tracefs, as `retap record` saves them), so `$fd`-style
/// arguments resolve as in a real trace. `fstat` is left out, as the
/// kernel names it `newfstat`: its arguments read 0.
const SIGNATURES: &[(&str, &[(&str, &str)])] = &[
    (
        "read",
        &[
            ("unsigned int", "fd"),
            ("char *", "buf"),
            ("size_t", "count"),
        ],
    ),
    (
        "write",
        &[
            ("unsigned int", "fd"),
            ("const char *", "buf"),
            ("size_t", "count"),
        ],
    ),
    (
        "futex",
        &[
            ("u32 *", "uaddr"),
            ("int", "op"),
            ("u32", "val"),
            ("const struct __kernel_timespec *", "utime"),
            ("u32 *", "uaddr2"),
            ("u32", "val3"),
        ],
    ),
    (
        "epoll_wait",
        &[
            ("int", "epfd"),
            ("struct epoll_event *", "events"),
            ("int", "maxevents"),
            ("int", "timeout"),
        ],
    ),
    (
        "recvfrom",
        &[
            ("int", "fd"),
            ("void *", "ubuf"),
            ("size_t", "size"),
            ("unsigned int", "flags"),
            ("struct sockaddr *", "addr"),
            ("int *", "addr_len"),
        ],
    ),
    (
        "sendto",
        &[
            ("int", "fd"),
            ("void *", "buff"),
            ("size_t", "len"),
            ("unsigned int", "flags"),
            ("struct sockaddr *", "addr"),
            ("int", "addr_len"),
        ],
    ),
    ("close", &[("unsigned int", "fd")]),
    ("epoll_create1", &[("int", "flags")]),
    (
        "openat",
        &[
            ("int", "dfd"),
            ("const char *", "filename"),
            ("int", "flags"),
            ("umode_t", "mode"),
        ],
    ),
    (
        "mmap",
        &[
            ("unsigned long", "addr"),
            ("unsigned long", "len"),
            ("unsigned long", "prot"),
            ("unsigned long", "flags"),
            ("unsigned long", "fd"),
            ("unsigned long", "off"),
        ],
    ),
    (
        "poll",
        &[
            ("struct pollfd *", "ufds"),
            ("unsigned int", "nfds"),
            ("int", "timeout_msecs"),
        ],
    ),
    (
        "clock_gettime",
        &[
            ("const clockid_t", "which_clock"),
            ("struct __kernel_timespec *", "tp"),
        ],
    ),
    (
        "rt_sigprocmask",
        &[
            ("int", "how"),
            ("sigset_t *", "nset"),
            ("sigset_t *", "oset"),
            ("size_t", "sigsetsize"),
        ],
    ),
    (
        "newfstatat",
        &[
            ("int", "dfd"),
            ("const char *", "filename"),
            ("struct stat *", "statbuf"),
            ("int", "flag"),
        ],
    ),
    (
        "lseek",
        &[
            ("unsigned int", "fd"),
            ("off_t", "offset"),
            ("unsigned int", "whence"),
        ],
    ),
    (
        "ioctl",
        &[
            ("unsigned int", "fd"),
            ("unsigned int", "cmd"),
            ("unsigned long", "arg"),
        ],
    ),
    ("getpid", &[]),
    (
        "writev",
        &[
            ("unsigned long", "fd"),
            ("const struct iovec *", "vec"),
            ("unsigned long", "vlen"),
        ],
    ),
    (
        "nanosleep",
        &[
            ("struct __kernel_timespec *", "rqtp"),
            ("struct __kernel_timespec *", "rmtp"),
        ],
    ),
    ("munmap", &[("unsigned long", "addr"), ("size_t", "len")]),
    ("brk", &[("unsigned long", "brk")]),
    (
        "select",
        &[
            ("int", "n"),
            ("fd_set *", "inp"),
            ("fd_set *", "outp"),
            ("fd_set *", "exp"),
            ("struct __kernel_old_timeval *", "tvp"),
        ],
    ),
    (
        "accept4",
        &[
            ("int", "fd"),
            ("struct sockaddr *", "upeer_sockaddr"),
            ("int *", "upeer_addrlen"),
            ("int", "flags"),
        ],
    ),
    (
        "connect",
        &[
            ("int", "fd"),
            ("struct sockaddr *", "uservaddr"),
            ("int", "addrlen"),
        ],
    ),
    ("fsync", &[("unsigned int", "fd")]),
];

const COMMS: &[&str] = &[
    "nginx",
    "postgres",
    "python3",
    "java",
    "node",
    "redis-server",
    "sshd",
    "systemd",
    "bash",
    "cron",
    "syslogd",
    "dockerd",
    "containerd",
    "kubelet",
    "envoy",
    "haproxy",
    "memcached",
    "mysqld",
    "chronyd",
    "journald",
    "udevd",
    "dbus-daemon",
    "rsyslogd",
    "prometheus",
    "grafana",
    "vector",
    "fluent-bit",
    "sidekiq",
    "puma",
    "gunicorn",
];

/// `cols` followed by nulls for the table's remaining (nullable) columns.
fn null_rest(table: Table, mut cols: Vec<ArrayRef>) -> Vec<ArrayRef> {
    let rows = cols.first().map_or(0, |c| c.len());
    let schema = table.schema();
    for f in schema.fields().iter().skip(cols.len()) {
        cols.push(arrow::array::new_null_array(f.data_type(), rows));
    }
    cols
}

fn dict(values: &[&str], keys: Vec<i32>) -> ArrayRef {
    let v = Arc::new(StringArray::from(values.to_vec()));
    Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), v).expect("dictionary"))
}

/// One table's files, written as the recorder writes them.
struct Writer {
    table: Table,
    checksums: bool,
    dir: std::path::PathBuf,
    open: Option<(FileWriter<File>, String)>,
    file_index: usize,
    files: Vec<FileEntry>,
}

impl Writer {
    fn new(dir: &Path, table: Table, checksums: bool) -> std::io::Result<Writer> {
        std::fs::create_dir_all(dir.join(table.name()))?;
        Ok(Writer {
            table,
            checksums,
            dir: dir.to_path_buf(),
            open: None,
            file_index: 0,
            files: vec![],
        })
    }

    fn write(&mut self, batch: RecordBatch, rows_per_file: u64) -> anyhow::Result<()> {
        if self
            .open
            .as_ref()
            .is_some_and(|(w, _)| w.rows() >= rows_per_file)
        {
            self.finish_file()?;
        }
        if self.open.is_none() {
            let rel = format!("{}/part-{:06}.parquet", self.table.name(), self.file_index);
            self.file_index += 1;
            let f = File::create(self.dir.join(&rel)).with_context(|| rel.clone())?;
            let props =
                writer_properties(1, &format!("retap-synth {}", env!("CARGO_PKG_VERSION")))?;
            let props = WriterPropertiesBuilder::from(props)
                .set_page_checksum_enabled(self.checksums)
                .build();
            let w = FileWriter::new(f, self.table, props)?;
            self.open = Some((w, rel));
        }
        let (w, _) = self.open.as_mut().expect("opened above");
        Ok(w.write(&batch)?)
    }

    fn finish_file(&mut self) -> anyhow::Result<()> {
        if let Some((w, rel)) = self.open.take() {
            let (_, mut entry) = w.finish(rel)?;
            if !self.checksums {
                (entry.crc32, entry.tail) = (None, None);
            }
            self.files.push(entry);
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<TableStats> {
        self.finish_file()?;
        Ok(TableStats {
            events: self.files.iter().map(|f| f.rows).sum(),
            dropped: 0,
            unpaired: 0,
            strings_lost: 0,
            files: self.files,
            ..Default::default()
        })
    }
}

/// Writes a synthetic trace to `dir` (which must not exist yet).
pub fn synth(dir: &Path, o: &SynthOptions) -> anyhow::Result<Manifest> {
    if dir.exists() {
        anyhow::bail!("{}: already exists; give a new directory", dir.display());
    }
    // (before anything is written: an architecture without these syscalls
    // leaves no directory behind)
    let arch = o.arch.as_str();
    let syscall_names: Vec<&str> = MIX
        .iter()
        .map(|m| match (arch, m.0) {
            ("aarch64", "epoll_wait") => "epoll_pwait",
            ("aarch64", "poll") => "ppoll",
            ("aarch64", "select") => "pselect6",
            (_, n) => n,
        })
        .collect();
    let nrs: Vec<i32> = syscall_names
        .iter()
        .map(|n| {
            retap_schema::syscalls::number(arch, n)
                .map(|n| n as i32)
                .ok_or_else(|| {
                    anyhow::anyhow!("{arch} has no syscall {n} (x86_64 and aarch64 are known)")
                })
        })
        .collect::<anyhow::Result<_>>()?;
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let mut rng = Rng(o.seed);
    let start: i64 = 1_000_000_000_000;
    let span = (o.seconds * 1e9) as i64;
    let procs: Vec<(i32, usize, Vec<i32>)> = (0..o.processes)
        .map(|i| {
            let pid = 1000 + i as i32 * 7;
            let comm = i % COMMS.len();
            let threads = 1 + (rng.next() % 6) as usize;
            (pid, comm, (0..threads).map(|t| pid + t as i32).collect())
        })
        .collect();
    let proc_zipf = Zipf::new(procs.len(), 1.1);
    let sys_zipf = Zipf::new(MIX.len(), 1.0);

    let mut sys_w = Writer::new(dir, Table::Syscalls, o.checksums)?;
    let mut net_w = Writer::new(dir, Table::Net, o.checksums)?;
    const BATCH: usize = 64 * 1024;
    let mut produced = 0u64;
    let step = span as f64 / o.events.max(1) as f64;
    let mut t = start as f64;
    while produced < o.events {
        // Batches no larger than a file, so that files hold rows_per_file
        // rows (a file takes whole batches).
        let n = BATCH
            .min(o.rows_per_file.max(1) as usize)
            .min((o.events - produced) as usize);
        let mut ts = Vec::with_capacity(n);
        let (mut cpu, mut pid, mut tid, mut uid, mut comm) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut sys, mut nr, mut ret, mut dur) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut args: [Vec<i64>; 6] = Default::default();
        let mut net: Vec<(i64, i32, i32, i32, usize, bool, u32)> = vec![];
        for _ in 0..n {
            t += step * (0.5 + rng.unit());
            let now = t as i64;
            let p = &procs[proc_zipf.draw(&mut rng)];
            let th = p.2[(rng.next() % p.2.len() as u64) as usize];
            let s = sys_zipf.draw(&mut rng);
            let (_, median, typical) = MIX[s];
            ts.push(now);
            cpu.push((rng.next() % 2) as i32);
            pid.push(p.0);
            tid.push(th);
            uid.push(if p.1.is_multiple_of(3) { 0 } else { 1000 });
            comm.push(p.1 as i32);
            sys.push(s as i32);
            nr.push(nrs[s]);
            let d = rng.lognormal(median.ln(), 1.0).min(5e9) as i64;
            dur.push(Some(d));
            let r = if rng.unit() < 0.05 {
                -[11i64, 2, 4, 13][(rng.next() % 4) as usize]
            } else if typical > 100 && typical < 100_000 {
                rng.lognormal((typical as f64).ln(), 0.8) as i64
            } else {
                typical
            };
            ret.push(Some(r));
            // An fd; openat's directory fd is AT_FDCWD half the time, in
            // a 32-bit register as a C int is passed.
            let fd = (rng.next() % 64) as i64;
            args[0].push(if syscall_names[s] == "openat" && fd % 2 == 0 {
                0xFFFF_FF9C
            } else {
                fd
            });
            args[1].push(0x7ffd_0000_0000 + (rng.next() % 0x1_0000_0000) as i64);
            args[2].push(rng.lognormal(7.0, 1.5) as i64);
            for a in args.iter_mut().skip(3) {
                a.push(0);
            }
            if (s == 4 || s == 5) && rng.unit() < 0.5 {
                let len = rng.lognormal(6.5, 1.2).clamp(40.0, 65535.0) as u32;
                net.push((
                    now,
                    cpu.last().copied().unwrap_or(0),
                    p.0,
                    th,
                    p.1,
                    s == 4,
                    len,
                ));
            }
        }
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ts)),
            Arc::new(Int32Array::from(cpu)),
            Arc::new(Int32Array::from(pid)),
            Arc::new(Int32Array::from(tid)),
            Arc::new(UInt32Array::from(uid)),
            dict(COMMS, comm),
            dict(&syscall_names, sys),
            Arc::new(Int32Array::from(nr)),
        ];
        for a in args {
            cols.push(Arc::new(Int64Array::from(a)));
        }
        cols.push(Arc::new(Int64Array::from(ret)));
        cols.push(Arc::new(Int64Array::from(dur)));
        // The generated syscalls take no file names nor addresses.
        let batch =
            RecordBatch::try_new(Table::Syscalls.schema(), null_rest(Table::Syscalls, cols))?;
        sys_w.write(batch, o.rows_per_file)?;
        if !net.is_empty() {
            let m = net.len();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(
                    net.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int32Array::from(
                    net.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int32Array::from(
                    net.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(Int32Array::from(
                    net.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
                Arc::new(UInt32Array::from(vec![0u32; m])),
                dict(COMMS, net.iter().map(|r| r.4 as i32).collect()),
                dict(
                    &retap_schema::tables::NET_DIRECTIONS,
                    net.iter().map(|r| i32::from(!r.5)).collect(),
                ),
                dict(&["eth0"], vec![0; m]),
                Arc::new(Int32Array::from(vec![2; m])),
                Arc::new(UInt32Array::from(
                    net.iter().map(|r| r.6).collect::<Vec<_>>(),
                )),
                Arc::new(UInt16Array::from(vec![0x0800u16; m])),
            ];
            // No packet headers were parsed.
            let batch = RecordBatch::try_new(Table::Net.schema(), null_rest(Table::Net, cols))?;
            net_w.write(batch, o.rows_per_file)?;
        }
        produced += n as u64;
    }
    let mut tables = BTreeMap::new();
    tables.insert("syscalls".to_string(), sys_w.finish()?);
    tables.insert("net".to_string(), net_w.finish()?);
    let mut m = Manifest::new();
    m.state = "complete".into();
    m.host = "synth".into();
    m.kernel = "6.18.0-synth".into();
    m.arch = arch.into();
    m.recorder_version = format!("retap-synth {}", env!("CARGO_PKG_VERSION"));
    m.command_line = vec![
        "retap".into(),
        "synth".into(),
        format!("--events={}", o.events),
        format!("--seed={}", o.seed),
    ];
    m.wall_clock_offset_ns = 1_790_000_000_000_000_000;
    m.start_ns = start;
    m.end_ns = Some(start + span + (step as i64) * 2);
    m.probes = vec!["synthetic".into()];
    m.tables = tables;
    let sigs: signatures::Signatures = SIGNATURES
        .iter()
        .map(|(n, args)| {
            let args = args.iter().map(|(t, a)| (t.to_string(), a.to_string()));
            (n.to_string(), args.collect())
        })
        .collect();
    let path = dir.join(signatures::FILE);
    std::fs::write(&path, signatures::to_json(&sigs))
        .with_context(|| path.display().to_string())?;
    m.store(dir).with_context(|| dir.display().to_string())?;
    Ok(m)
}
