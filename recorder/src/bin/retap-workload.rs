//! A workload whose every system call is known in advance, for the
//! recorder's end-to-end tests and the benchmarks. It uses raw libc calls
//! so that nothing else (buffering, retries) adds or merges syscalls.
//!
//!   retap-workload calls [--sync N] [--write N --write-base L --write-pace-us U]
//!                        [--udp M --udp-base S]
//!                        [--sleep-ms MS] [--fork-exit CODE] [--signals K]
//!                        [--pingpong N] [--paths N --dir D] [--connects N]
//!                        [--controls] [--tkills K] [--migrate K]
//!   retap-workload loop getppid|openat|udp N [RATE]
//!                                      tight loop, for cost measurements
//!                                      (getppid: RATE calls a second)
//!                                      (openat: an open and a close a round;
//!                                      udp: a sendto to itself and a
//!                                      recvfrom, both by address)
//!   retap-workload service [--requests N] [--reads R] [--sleep-us U] [--file F]
//!                          [--fifo]
//!                                      a request loop (R preads of F, one
//!                                      write to /dev/null, a U µs sleep per
//!                                      request) whose variants are the known
//!                                      changes `retap diff` must find
//!                                      (--fifo: real-time scheduling, so a
//!                                      loaded machine does not move when
//!                                      its sleeps wake)
//!
//! `calls` prints what it did as `key=value` lines on stdout (pids of forked
//! children, the UDP port) so tests can match the trace against it.

use std::ffi::CString;

fn arg_after(args: &[String], flag: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1)?.parse().ok()
}

fn fail(what: &str) -> ! {
    eprintln!(
        "retap-workload: {what}: {}",
        std::io::Error::last_os_error()
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("calls") => calls(&args),
        Some("service") => service(&args),
        Some("loop") => {
            let n = args
                .get(3)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(1_000_000);
            match args.get(2).map(String::as_str) {
                Some("getppid") => {
                    // An optional rate (calls per second): paced by the
                    // clock every thousand calls.
                    let rate = args.get(4).and_then(|s| s.parse::<u64>().ok());
                    let start = std::time::Instant::now();
                    for i in 0..n {
                        // SAFETY: getppid has no preconditions.
                        unsafe { libc::getppid() };
                        if let (Some(r), 0) = (rate, i % 1000) {
                            let due = std::time::Duration::from_secs_f64(i as f64 / r as f64);
                            if let Some(wait) = due.checked_sub(start.elapsed()) {
                                std::thread::sleep(wait);
                            }
                        }
                    }
                }
                Some("openat") => {
                    // An open and a close per round: the path is read at
                    // each openat's entry.
                    let path = c"/etc/hostname";
                    for _ in 0..n {
                        // SAFETY: openat on a static path; close of its fd.
                        unsafe {
                            let fd = libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY);
                            if fd >= 0 {
                                libc::close(fd);
                            }
                        }
                    }
                }
                Some("udp") => {
                    // A datagram to itself by address and its receipt by
                    // address a round (sendto and recvfrom read a socket
                    // address; two packets on lo).
                    let alen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                    // SAFETY: a socket bound to 127.0.0.1 sending to itself.
                    unsafe {
                        let u = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                        let any = inet_loopback(0);
                        if libc::bind(u, &any as *const _ as *const libc::sockaddr, alen) != 0 {
                            fail("bind");
                        }
                        let to = inet_loopback(local_port(u));
                        let mut from = inet_loopback(0);
                        let mut buf = [0u8; 64];
                        for _ in 0..n {
                            libc::sendto(
                                u,
                                buf.as_ptr() as *const libc::c_void,
                                32,
                                0,
                                &to as *const _ as *const libc::sockaddr,
                                alen,
                            );
                            let mut flen = alen;
                            libc::recvfrom(
                                u,
                                buf.as_mut_ptr() as *mut libc::c_void,
                                buf.len(),
                                0,
                                &mut from as *mut _ as *mut libc::sockaddr,
                                &mut flen,
                            );
                        }
                    }
                }
                _ => fail("loop: getppid, openat or udp"),
            }
        }
        _ => {
            eprintln!("usage: retap-workload calls [...] | loop getppid N | service [...]");
            std::process::exit(2)
        }
    }
}

fn calls(args: &[String]) {
    let syncs = arg_after(args, "--sync").unwrap_or(0);
    let writes = arg_after(args, "--write").unwrap_or(0);
    let write_base = arg_after(args, "--write-base").unwrap_or(100);
    // A pause after each write (µs, < 1 s): writes at a known pace.
    let write_pace_us = arg_after(args, "--write-pace-us").unwrap_or(0).min(999_999);
    let udp = arg_after(args, "--udp").unwrap_or(0);
    let udp_base = arg_after(args, "--udp-base").unwrap_or(1000);
    let sleep_ms = arg_after(args, "--sleep-ms");
    let fork_exit = arg_after(args, "--fork-exit");
    let signals = arg_after(args, "--signals").unwrap_or(0);
    let migrate = arg_after(args, "--migrate").unwrap_or(0);
    let tkills = arg_after(args, "--tkills").unwrap_or(0);
    let pingpong = arg_after(args, "--pingpong").unwrap_or(0);
    let paths = arg_after(args, "--paths").unwrap_or(0);
    let connects = arg_after(args, "--connects").unwrap_or(0);
    let controls = args.iter().any(|a| a == "--controls");
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let mut out = String::new();
    // SAFETY (whole block): plain libc calls on buffers and fds we own.
    unsafe {
        for _ in 0..syncs {
            libc::sync();
        }
        if controls {
            // prctl and ptrace calls whose arguments and results are known
            // (a pid beyond pid_max: ESRCH, without tracing anything).
            libc::prctl(libc::PR_GET_DUMPABLE);
            libc::prctl(libc::PR_SET_TIMERSLACK, 50_000 as libc::c_ulong);
            libc::prctl(libc::PR_CAPBSET_READ, 21 as libc::c_ulong);
            libc::prctl(
                0x7fff_ffff,
                1 as libc::c_ulong,
                2 as libc::c_ulong,
                3 as libc::c_ulong,
                4 as libc::c_ulong,
            );
            let nobody: libc::pid_t = i32::MAX;
            libc::ptrace(libc::PTRACE_CONT, nobody, 0usize, libc::SIGUSR1 as usize);
            libc::ptrace(libc::PTRACE_SEIZE, nobody, 0usize, 0x100001usize);
            libc::ptrace(libc::PTRACE_GETREGSET, nobody, 1usize, 0usize);
            libc::ptrace(libc::PTRACE_POKEDATA, nobody, 0x1000usize, 0x2000usize);
        }
        if writes > 0 {
            let path = CString::new("/dev/null").unwrap();
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                fail("open /dev/null");
            }
            let buf = vec![b'x'; (write_base + writes) as usize];
            let pace = libc::timespec {
                tv_sec: 0,
                tv_nsec: (write_pace_us * 1000) as libc::c_long,
            };
            for i in 0..writes {
                libc::write(
                    fd,
                    buf.as_ptr() as *const libc::c_void,
                    (write_base + i) as usize,
                );
                if write_pace_us > 0 {
                    libc::nanosleep(&pace, std::ptr::null_mut());
                }
            }
            out.push_str(&format!("null_fd={fd}\n"));
            libc::close(fd);
        }
        if udp > 0 {
            let rx = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            let tx = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            if rx < 0 || tx < 0 {
                fail("socket");
            }
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as u16;
            addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            let alen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::bind(rx, &addr as *const _ as *const libc::sockaddr, alen) != 0 {
                fail("bind");
            }
            let mut bound: libc::sockaddr_in = std::mem::zeroed();
            let mut blen = alen;
            libc::getsockname(rx, &mut bound as *mut _ as *mut libc::sockaddr, &mut blen);
            let buf = vec![b'u'; (udp_base + udp) as usize];
            let mut rbuf = vec![0u8; 65536];
            for i in 0..udp {
                let n = libc::sendto(
                    tx,
                    buf.as_ptr() as *const libc::c_void,
                    (udp_base + i) as usize,
                    0,
                    &bound as *const _ as *const libc::sockaddr,
                    alen,
                );
                if n < 0 {
                    fail("sendto");
                }
                libc::recv(rx, rbuf.as_mut_ptr() as *mut libc::c_void, rbuf.len(), 0);
            }
            out.push_str(&format!("udp_port={}\n", u16::from_be(bound.sin_port)));
            libc::close(tx);
            libc::close(rx);
        }
        if let Some(ms) = sleep_ms {
            let ts = libc::timespec {
                tv_sec: (ms / 1000) as libc::time_t,
                tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
            };
            libc::nanosleep(&ts, std::ptr::null_mut());
        }
        if let Some(code) = fork_exit {
            let pid = libc::fork();
            if pid < 0 {
                fail("fork");
            }
            if pid == 0 {
                libc::_exit(code as i32);
            }
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
            out.push_str(&format!("child_pid={pid}\n"));
        }
        if signals > 0 {
            // K SIGUSR1 to itself, each handled (generated and delivered).
            libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
            for _ in 0..signals {
                libc::kill(libc::getpid(), libc::SIGUSR1);
            }
            let got = USR1.load(std::sync::atomic::Ordering::SeqCst);
            out.push_str(&format!("signals={got}\n"));
        }
        if migrate > 0 {
            // K moves between the first two online CPUs, by its own
            // affinity: each a sched_migrate_task of this thread.
            let cpus = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
            for i in 0..migrate as usize {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(i % cpus.min(2), &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                    fail("sched_setaffinity");
                }
            }
            out.push_str(&format!("migrate={migrate}\n"));
        }
        if tkills > 0 {
            // K SIGUSR1 to its own thread by tkill, then K by tgkill: the
            // thread-directed kills stap's signal tapset names apart.
            libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
            let before = USR1.load(std::sync::atomic::Ordering::SeqCst);
            let tid = libc::gettid();
            for _ in 0..tkills {
                libc::syscall(libc::SYS_tkill, tid, libc::SIGUSR1);
            }
            for _ in 0..tkills {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGUSR1);
            }
            let got = USR1.load(std::sync::atomic::Ordering::SeqCst) - before;
            out.push_str(&format!("tkills={got}\n"));
        }
        if paths > 0 {
            // N files created and closed by name, then the first renamed:
            // each openat's and the rename's file names are known.
            let dir = dir.unwrap_or_else(|| fail("--paths needs --dir"));
            for i in 0..paths {
                let p = CString::new(format!("{dir}/file-{i}")).unwrap();
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600);
                if fd < 0 {
                    fail("open --dir file");
                }
                libc::close(fd);
            }
            let from = CString::new(format!("{dir}/file-0")).unwrap();
            let to = CString::new(format!("{dir}/renamed")).unwrap();
            if libc::rename(from.as_ptr(), to.as_ptr()) != 0 {
                fail("rename");
            }
            out.push_str(&format!("paths={paths}\n"));
        }
        if connects > 0 {
            connect_loopback(connects, &mut out);
        }
        if pingpong > 0 {
            let (a, b) = ping_pong(pingpong);
            out.push_str(&format!("pingpong_tids={a},{b}\n"));
        }
        out.push_str(&format!("pid={}\n", libc::getpid()));
        libc::write(1, out.as_ptr() as *const libc::c_void, out.len());
    }
}

static USR1: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    USR1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Two threads passing one byte back and forth over two pipes N times: each
/// blocks on its read every round, so the scheduler switches them out and
/// in. Returns (this thread's tid, the other's).
fn ping_pong(n: u64) -> (i32, i32) {
    let mut ab = [0i32; 2];
    let mut ba = [0i32; 2];
    // SAFETY: pipe(2) into arrays we own; reads and writes of one byte on
    // them; the fds stay open until both threads are done.
    unsafe {
        if libc::pipe(ab.as_mut_ptr()) != 0 || libc::pipe(ba.as_mut_ptr()) != 0 {
            fail("pipe");
        }
    }
    let (ab_r, ba_w) = (ab[0], ba[1]);
    let other = std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        for _ in 0..n {
            // SAFETY: as above.
            unsafe {
                libc::read(ab_r, byte.as_mut_ptr().cast(), 1);
                libc::write(ba_w, byte.as_ptr().cast(), 1);
            }
        }
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    });
    let mut byte = [b'p'; 1];
    for _ in 0..n {
        // SAFETY: as above.
        unsafe {
            libc::write(ab[1], byte.as_ptr().cast(), 1);
            libc::read(ba[0], byte.as_mut_ptr().cast(), 1);
        }
    }
    let theirs = other.join().unwrap_or_else(|_| fail("ping-pong thread"));
    // SAFETY: closing fds we opened; gettid has no preconditions.
    unsafe {
        for fd in ab.iter().chain(ba.iter()) {
            libc::close(*fd);
        }
        (libc::gettid(), theirs)
    }
}

fn inet_loopback(port: u16) -> libc::sockaddr_in {
    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    a.sin_family = libc::AF_INET as u16;
    a.sin_port = port.to_be();
    a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    a
}

fn local_port(fd: i32) -> u16 {
    let mut a = inet_loopback(0);
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    unsafe { libc::getsockname(fd, &mut a as *mut _ as *mut libc::sockaddr, &mut len) };
    u16::from_be(a.sin_port)
}

/// A TCP listener on 127.0.0.1, N connections to it (connect, accept4,
/// one byte each way), a UDP datagram sent and received with sendmsg and
/// recvmsg by address, and a connect to a Unix socket path that does not
/// exist: every address and port is printed.
fn connect_loopback(n: u64, out: &mut String) {
    let alen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    unsafe {
        let l = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let any = inet_loopback(0);
        if libc::bind(l, &any as *const _ as *const libc::sockaddr, alen) != 0
            || libc::listen(l, 64) != 0
        {
            fail("bind/listen");
        }
        let port = local_port(l);
        let mut clients = vec![];
        let mut peers = vec![];
        for _ in 0..n {
            let c = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            let to = inet_loopback(port);
            if libc::connect(c, &to as *const _ as *const libc::sockaddr, alen) != 0 {
                fail("connect");
            }
            clients.push(local_port(c));
            let mut peer = inet_loopback(0);
            let mut plen = alen;
            let a = libc::accept4(l, &mut peer as *mut _ as *mut libc::sockaddr, &mut plen, 0);
            if a < 0 {
                fail("accept4");
            }
            peers.push(u16::from_be(peer.sin_port));
            let mut b = [b'c'];
            libc::write(c, b.as_ptr() as *const libc::c_void, 1);
            libc::read(a, b.as_mut_ptr() as *mut libc::c_void, 1);
            libc::write(a, b.as_ptr() as *const libc::c_void, 1);
            libc::read(c, b.as_mut_ptr() as *mut libc::c_void, 1);
            libc::close(c);
            libc::close(a);
        }
        libc::close(l);
        let join = |v: &[u16]| {
            v.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        out.push_str(&format!(
            "listen_port={port}
"
        ));
        out.push_str(&format!(
            "client_ports={}
",
            join(&clients)
        ));
        out.push_str(&format!(
            "accepted_ports={}
",
            join(&peers)
        ));

        let u = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if libc::bind(u, &any as *const _ as *const libc::sockaddr, alen) != 0 {
            fail("bind udp");
        }
        let uport = local_port(u);
        let mut to = inet_loopback(uport);
        let mut byte = [b'm'];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr() as *mut libc::c_void,
            iov_len: 1,
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut to as *mut _ as *mut libc::c_void;
        msg.msg_namelen = alen;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if libc::sendmsg(u, &msg, 0) != 1 {
            fail("sendmsg");
        }
        let mut from = inet_loopback(0);
        msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
        msg.msg_namelen = alen;
        if libc::recvmsg(u, &mut msg, 0) != 1 {
            fail("recvmsg");
        }
        libc::close(u);
        out.push_str(&format!("udp_msg_port={uport}\n"));

        let s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
        let mut un: libc::sockaddr_un = std::mem::zeroed();
        un.sun_family = libc::AF_UNIX as u16;
        for (d, c) in un.sun_path.iter_mut().zip(UNIX_PATH.bytes()) {
            *d = c as libc::c_char;
        }
        let ulen = (2 + UNIX_PATH.len() + 1) as libc::socklen_t;
        libc::connect(s, &un as *const _ as *const libc::sockaddr, ulen);
        libc::close(s);
    }
}

/// The Unix socket `--connects` tries (and fails) to connect to.
const UNIX_PATH: &str = "/nonexistent/retap-workload.sock";

fn service(args: &[String]) {
    let requests = arg_after(args, "--requests").unwrap_or(200);
    let reads = arg_after(args, "--reads").unwrap_or(5);
    let sleep_us = arg_after(args, "--sleep-us").unwrap_or(1000);
    let file = args
        .iter()
        .position(|a| a == "--file")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "/proc/self/exe".into());
    let path = CString::new(file).unwrap_or_else(|_| fail("--file has a NUL byte"));
    let mut buf = vec![0u8; 4096];
    // SAFETY (whole block): plain libc calls on buffers and fds we own.
    unsafe {
        if args.iter().any(|a| a == "--fifo") {
            let p = libc::sched_param { sched_priority: 1 };
            if libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) != 0 {
                fail("--fifo: sched_setscheduler");
            }
        }
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
        if fd < 0 {
            fail("open --file");
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null < 0 {
            fail("open /dev/null");
        }
        let ts = libc::timespec {
            tv_sec: (sleep_us / 1_000_000) as libc::time_t,
            tv_nsec: ((sleep_us % 1_000_000) * 1000) as libc::c_long,
        };
        for r in 0..requests {
            for i in 0..reads {
                let off = ((r * reads + i) % 16) as libc::off_t * 4096;
                if libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) < 0 {
                    fail("pread");
                }
            }
            if libc::write(null, buf.as_ptr().cast(), 512) != 512 {
                fail("write");
            }
            if sleep_us > 0 {
                libc::nanosleep(&ts, std::ptr::null_mut());
            }
        }
        libc::close(fd);
        libc::close(null);
    }
}
