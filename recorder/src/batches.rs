//! Turns decoded records into Arrow record batches, one builder per table.
//! This runs on the ring buffer reader's thread, so it only appends; names
//! are looked up from small caches and sorting happens on the writer thread.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, StringDictionaryBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use retap_schema::tables::{NET_DIRECTIONS, VFS_OPS};
use retap_schema::{syscalls, Table};

use crate::records::{self, cstr, Hdr, Record};
use crate::tp_rows::TracepointCols;

type Dict = StringDictionaryBuilder<Int32Type>;

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

#[derive(Default)]
struct Common {
    ts: Int64Builder,
    cpu: Int32Builder,
    pid: Int32Builder,
    tid: Int32Builder,
    uid: UInt32Builder,
    execname: Dict,
}

impl Common {
    fn push(&mut self, h: &Hdr) {
        self.push_raw(
            h.ts as i64,
            h.cpu as i32,
            h.pid as i32,
            h.tid as i32,
            h.uid,
            cstr(&h.comm),
        );
    }

    fn push_raw(&mut self, ts: i64, cpu: i32, pid: i32, tid: i32, uid: u32, comm: &[u8]) {
        self.ts.append_value(ts);
        self.cpu.append_value(cpu);
        self.pid.append_value(pid);
        self.tid.append_value(tid);
        self.uid.append_value(uid);
        self.execname.append_value(lossy(comm));
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.cpu.finish()),
            Arc::new(self.pid.finish()),
            Arc::new(self.tid.finish()),
            Arc::new(self.uid.finish()),
            Arc::new(self.execname.finish()),
        ]
    }
}

/// A paired operation's return value and duration: set when it completed,
/// null when it was still in flight.
fn push_completion(ret: &mut Int64Builder, dur: &mut Int64Builder, done: bool, r: i64, d: u64) {
    if done {
        ret.append_value(r);
        dur.append_value(d as i64);
    } else {
        ret.append_null();
        dur.append_null();
    }
}

/// Builders for one table. Columns follow `Table::schema()` order.
pub struct TableRows {
    pub table: Table,
    rows: usize,
    c: Common,
    cols: Cols,
}

// One value per table of a recording: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Cols {
    Syscalls {
        arch: &'static str,
        /// Arguments each syscall really takes, by number; registers past
        /// that hold leftovers, which are stored as 0 (they are not
        /// arguments, and noise costs bytes on disk).
        arity: Vec<u8>,
        syscall: Dict,
        nr: Int32Builder,
        args: [Int64Builder; 6],
        ret: Int64Builder,
        dur: Int64Builder,
        path: StringBuilder,
        path2: StringBuilder,
        addr: AddrCols,
        /// The next row's file names (set just before it is pushed).
        next_paths: [Option<(Vec<u8>, bool)>; 2],
    },
    Processes {
        event: Dict,
        ppid: Int32Builder,
        child_pid: Int32Builder,
        child_tid: Int32Builder,
        filename: StringBuilder,
        argv: StringBuilder,
        exit_code: Int32Builder,
    },
    Net {
        direction: Dict,
        dev_name: Dict,
        ifindex: Int32Builder,
        length: UInt32Builder,
        protocol: UInt16Builder,
        ip: PacketCols,
    },
    Block {
        dev: UInt32Builder,
        devname: Dict,
        sector: UInt64Builder,
        bytes: UInt32Builder,
        rwbs: Dict,
        error: Int32Builder,
        dur: Int64Builder,
        names: HashMap<u32, String>,
    },
    Samples {
        ip: UInt64Builder,
        user_mode: BooleanBuilder,
        kstack: ListBuilder<UInt64Builder>,
        ustack: ListBuilder<UInt64Builder>,
    },
    Vfs {
        op: Dict,
        bytes: Int64Builder,
        ret: Int64Builder,
        dur: Int64Builder,
    },
    Uprobes {
        /// The `probe` column's value per slot (the recording's list).
        names: Vec<String>,
        probe: Dict,
        args: [Int64Builder; 12],
        ret: Int64Builder,
        dur: Int64Builder,
        string: StringBuilder,
        word: Int64Builder,
        ip: UInt64Builder,
        ustack: ListBuilder<UInt64Builder>,
    },
    Tracepoint(TracepointCols),
}

/// The syscalls table's socket address columns (`sockaddr`, `sa_family`,
/// `sa_addr`, `sa_port`, in that order): the bytes and what
/// schema::sockaddr::columns says of them.
#[derive(Default)]
struct AddrCols {
    bytes: BinaryBuilder,
    family: Dict,
    addr: StringBuilder,
    port: UInt16Builder,
}

impl AddrCols {
    fn push(&mut self, bytes: Option<&Vec<u8>>) {
        let Some(bytes) = bytes else {
            self.bytes.append_null();
            self.family.append_null();
            self.addr.append_null();
            self.port.append_null();
            return;
        };
        let (family, addr, port) = retap_schema::sockaddr::columns(bytes);
        self.bytes.append_value(bytes);
        self.family.append_option(family);
        self.addr.append_option(addr);
        self.port.append_option(port);
    }

    fn finish(&mut self, cols: &mut Vec<ArrayRef>) {
        cols.push(Arc::new(self.bytes.finish()));
        cols.push(Arc::new(self.family.finish()));
        cols.push(Arc::new(self.addr.finish()));
        cols.push(Arc::new(self.port.finish()));
    }
}

/// The net table's columns parsed from a packet's headers (`transport`,
/// `saddr`, `daddr`, `sport`, `dport`, in that order); null when not IP.
#[derive(Default)]
struct PacketCols {
    transport: Dict,
    saddr: StringBuilder,
    daddr: StringBuilder,
    sport: UInt16Builder,
    dport: UInt16Builder,
}

impl PacketCols {
    fn push(&mut self, n: &records::Net) {
        use retap_schema::sockaddr::{ip_text, transport_name};
        self.transport
            .append_option((n.ipver != 0).then(|| transport_name(n.l4)));
        self.saddr.append_option(ip_text(n.ipver, &n.saddr));
        self.daddr.append_option(ip_text(n.ipver, &n.daddr));
        self.sport.append_option(n.ports.then_some(n.sport));
        self.dport.append_option(n.ports.then_some(n.dport));
    }

    fn finish(&mut self, cols: &mut Vec<ArrayRef>) {
        cols.push(Arc::new(self.transport.finish()));
        cols.push(Arc::new(self.saddr.finish()));
        cols.push(Arc::new(self.daddr.finish()));
        cols.push(Arc::new(self.sport.finish()));
        cols.push(Arc::new(self.dport.finish()));
    }
}

fn stack_builder() -> ListBuilder<UInt64Builder> {
    ListBuilder::new(UInt64Builder::new()).with_field(retap_schema::tables::address_item())
}

/// Block device name for a kernel dev_t, from sysfs ("vda", "nvme0n1p2").
fn block_dev_name(dev: u32) -> String {
    let (major, minor) = (dev >> 20, dev & 0xfffff);
    let path = format!("/sys/dev/block/{major}:{minor}/uevent");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_string))
        })
        .unwrap_or_else(|| format!("{major}:{minor}"))
}

impl TableRows {
    pub fn new(table: Table, arch: &'static str) -> TableRows {
        let cols = match table {
            Table::Syscalls => Cols::Syscalls {
                arch,
                arity: Vec::new(),
                syscall: Dict::new(),
                nr: Int32Builder::new(),
                args: Default::default(),
                ret: Int64Builder::new(),
                dur: Int64Builder::new(),
                path: StringBuilder::new(),
                path2: StringBuilder::new(),
                addr: AddrCols::default(),
                next_paths: [None, None],
            },
            Table::Processes => Cols::Processes {
                event: Dict::new(),
                ppid: Int32Builder::new(),
                child_pid: Int32Builder::new(),
                child_tid: Int32Builder::new(),
                filename: StringBuilder::new(),
                argv: StringBuilder::new(),
                exit_code: Int32Builder::new(),
            },
            Table::Net => Cols::Net {
                direction: Dict::new(),
                dev_name: Dict::new(),
                ifindex: Int32Builder::new(),
                length: UInt32Builder::new(),
                protocol: UInt16Builder::new(),
                ip: PacketCols::default(),
            },
            Table::Block => Cols::Block {
                dev: UInt32Builder::new(),
                devname: Dict::new(),
                sector: UInt64Builder::new(),
                bytes: UInt32Builder::new(),
                rwbs: Dict::new(),
                error: Int32Builder::new(),
                dur: Int64Builder::new(),
                names: HashMap::new(),
            },
            Table::Samples => Cols::Samples {
                ip: UInt64Builder::new(),
                user_mode: BooleanBuilder::new(),
                kstack: stack_builder(),
                ustack: stack_builder(),
            },
            Table::Vfs => Cols::Vfs {
                op: Dict::new(),
                bytes: Int64Builder::new(),
                ret: Int64Builder::new(),
                dur: Int64Builder::new(),
            },
            Table::Uprobes => Cols::Uprobes {
                names: vec![],
                probe: Dict::new(),
                args: Default::default(),
                ret: Int64Builder::new(),
                dur: Int64Builder::new(),
                string: StringBuilder::new(),
                word: Int64Builder::new(),
                ip: UInt64Builder::new(),
                ustack: stack_builder(),
            },
            Table::Tracepoint(f) => Cols::Tracepoint(TracepointCols::new(f)),
        };
        TableRows {
            table,
            rows: 0,
            c: Common::default(),
            cols,
        }
    }

    /// Sets how many arguments each syscall number takes (syscalls table
    /// only); numbers not covered keep all six registers.
    pub fn set_syscall_arity(&mut self, table: Vec<u8>) {
        if let Cols::Syscalls { arity, .. } = &mut self.cols {
            *arity = table;
        }
    }

    /// Names the uprobes table's slots (its `probe` column, by the slot
    /// each record carries).
    pub fn set_uprobe_names(&mut self, list: Vec<String>) {
        if let Cols::Uprobes { names, .. } = &mut self.cols {
            *names = list;
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a record of this table's kind; records of other kinds are a
    /// caller bug and are ignored.
    pub fn push(&mut self, rec: &Record) {
        let done = |h: &Hdr| h.flags & records::F_DONE != 0;
        match (&mut self.cols, rec) {
            (
                Cols::Syscalls {
                    arch,
                    arity,
                    syscall,
                    nr,
                    args,
                    ret,
                    dur,
                    path,
                    path2,
                    addr,
                    next_paths,
                },
                Record::Syscall(s),
            ) => {
                // An address that could not be read is null (and counted).
                addr.push(s.addr.as_ref().and_then(|a| a.as_ref().ok()));
                for (b, p) in [path, path2].into_iter().zip(next_paths.iter_mut()) {
                    match p.take() {
                        Some((bytes, cut)) => {
                            let text = lossy(&bytes);
                            if cut {
                                b.append_value(format!(
                                    "{text}{}",
                                    retap_schema::tracepoints::CUT_MARK
                                ));
                            } else {
                                b.append_value(text);
                            }
                        }
                        None => b.append_null(),
                    }
                }
                let n = arity.get(s.nr as usize).copied().unwrap_or(6) as usize;
                self.c.push(&s.h);
                match syscalls::name(arch, s.nr as i64) {
                    Some(n) => syscall.append_value(n),
                    None => syscall.append_value(format!("syscall_{}", s.nr)),
                }
                nr.append_value(s.nr as i32);
                for (i, (b, a)) in args.iter_mut().zip(s.args).enumerate() {
                    b.append_value(if i < n { a as i64 } else { 0 });
                }
                push_completion(ret, dur, done(&s.h), s.ret, s.dur);
            }
            (
                Cols::Processes {
                    event,
                    ppid,
                    child_pid,
                    child_tid,
                    filename,
                    argv,
                    exit_code,
                },
                Record::Proc(p),
            ) => {
                use records::ProcEvent::*;
                self.c.push(&p.h);
                event.append_value(p.event.name());
                ppid.append_option((p.ppid >= 0).then_some(p.ppid));
                let fork = matches!(p.event, Fork | Thread);
                child_pid.append_option(fork.then_some(p.child_pid));
                child_tid.append_option(fork.then_some(p.child_tid));
                if p.event == Exec {
                    filename.append_value(lossy(&p.filename));
                    argv.append_value(records::argv_line(&p.argv));
                } else {
                    filename.append_null();
                    argv.append_null();
                }
                exit_code.append_option((p.event == Exit).then_some(p.exit_code));
            }
            (
                Cols::Net {
                    direction,
                    dev_name,
                    ifindex,
                    length,
                    protocol,
                    ip,
                },
                Record::Net(n),
            ) => {
                ip.push(n);
                self.c.push(&n.h);
                let [rx, tx] = NET_DIRECTIONS;
                direction.append_value(if n.rx { rx } else { tx });
                dev_name.append_value(lossy(cstr(&n.dev)));
                ifindex.append_value(n.ifindex);
                length.append_value(n.len);
                protocol.append_value(n.protocol);
            }
            (
                Cols::Block {
                    dev,
                    devname,
                    sector,
                    bytes,
                    rwbs,
                    error,
                    dur,
                    names,
                },
                Record::Block(b),
            ) => {
                self.c.push(&b.h);
                dev.append_value(b.dev);
                let name = names.entry(b.dev).or_insert_with(|| block_dev_name(b.dev));
                devname.append_value(name.as_str());
                sector.append_value(b.sector);
                bytes.append_value(b.bytes);
                rwbs.append_value(records::rwbs(b.op, b.rwbs));
                if done(&b.h) {
                    error.append_value(b.error);
                    dur.append_value(b.dur as i64);
                } else {
                    error.append_null();
                    dur.append_null();
                }
            }
            (
                Cols::Samples {
                    ip,
                    user_mode,
                    kstack,
                    ustack,
                },
                Record::Sample(s),
            ) => {
                self.c.push(&s.h);
                let user = s.kstack.is_empty();
                let top = if user {
                    s.ustack.first()
                } else {
                    s.kstack.first()
                };
                ip.append_value(top.copied().unwrap_or(0));
                user_mode.append_value(user);
                kstack.append_value(s.kstack.iter().map(|&a| Some(a)));
                ustack.append_value(s.ustack.iter().map(|&a| Some(a)));
            }
            (
                Cols::Vfs {
                    op,
                    bytes,
                    ret,
                    dur,
                },
                Record::Vfs(v),
            ) => {
                self.c.push(&v.h);
                let [read, write] = VFS_OPS;
                op.append_value(if v.write { write } else { read });
                bytes.append_value(v.bytes as i64);
                push_completion(ret, dur, done(&v.h), v.ret, v.dur);
            }
            (
                Cols::Uprobes {
                    names,
                    probe,
                    args,
                    ret,
                    dur,
                    string,
                    word,
                    ip,
                    ustack,
                },
                Record::Uprobe(u),
            ) => {
                // A slot the recording did not attach is a malformed record.
                let Some(name) = names.get(u.slot as usize) else {
                    return;
                };
                self.c.push(&u.h);
                probe.append_value(name);
                for (b, v) in args.iter_mut().zip(u.args) {
                    b.append_value(v as i64);
                }
                push_completion(ret, dur, done(&u.h), u.ret, u.dur);
                match &u.string {
                    Some(Ok(s)) => string.append_value(lossy(s)),
                    _ => string.append_null(),
                }
                word.append_option(u.word);
                ip.append_value(u.ip);
                ustack.append_value(u.ustack.iter().map(|&a| Some(a)));
            }
            _ => return,
        }
        self.rows += 1;
    }

    /// The file names the next syscall row carries (syscalls table only).
    pub fn set_next_paths(&mut self, paths: [Option<(Vec<u8>, bool)>; 2]) {
        if let Cols::Syscalls { next_paths, .. } = &mut self.cols {
            *next_paths = paths;
        }
    }

    /// Appends one tracepoint record: its header and the kernel's raw bytes
    /// (tracepoint tables only).
    pub fn push_tracepoint(&mut self, h: &Hdr, raw: &[u8], stack: &[u8]) {
        if let Cols::Tracepoint(t) = &mut self.cols {
            self.c.push(h);
            t.push(raw, stack);
            self.rows += 1;
        }
    }

    /// A process seen in /proc when recording started (processes table only).
    #[allow(clippy::too_many_arguments)]
    pub fn push_snapshot(
        &mut self,
        ts: i64,
        pid: i32,
        tid: i32,
        ppid: i32,
        uid: u32,
        comm: &str,
        exe: Option<&str>,
        cmdline: &str,
    ) {
        let Cols::Processes {
            event,
            ppid: pp,
            child_pid,
            child_tid,
            filename,
            argv,
            exit_code,
        } = &mut self.cols
        else {
            return;
        };
        self.c.push_raw(ts, -1, pid, tid, uid, comm.as_bytes());
        event.append_value(retap_schema::tables::process_event::SNAPSHOT);
        pp.append_value(ppid);
        child_pid.append_null();
        child_tid.append_null();
        filename.append_option(exe);
        argv.append_value(cmdline);
        exit_code.append_null();
        self.rows += 1;
    }

    /// Hands over what was built as one batch and starts afresh.
    pub fn finish(&mut self) -> RecordBatch {
        let mut cols = self.c.finish();
        match &mut self.cols {
            Cols::Syscalls {
                syscall,
                nr,
                args,
                ret,
                dur,
                path,
                path2,
                addr,
                ..
            } => {
                cols.push(Arc::new(syscall.finish()));
                cols.push(Arc::new(nr.finish()));
                for a in args.iter_mut() {
                    cols.push(Arc::new(a.finish()));
                }
                cols.push(Arc::new(ret.finish()));
                cols.push(Arc::new(dur.finish()));
                cols.push(Arc::new(path.finish()));
                cols.push(Arc::new(path2.finish()));
                addr.finish(&mut cols);
            }
            Cols::Processes {
                event,
                ppid,
                child_pid,
                child_tid,
                filename,
                argv,
                exit_code,
            } => {
                cols.push(Arc::new(event.finish()));
                cols.push(Arc::new(ppid.finish()));
                cols.push(Arc::new(child_pid.finish()));
                cols.push(Arc::new(child_tid.finish()));
                cols.push(Arc::new(filename.finish()));
                cols.push(Arc::new(argv.finish()));
                cols.push(Arc::new(exit_code.finish()));
            }
            Cols::Net {
                direction,
                dev_name,
                ifindex,
                length,
                protocol,
                ip,
            } => {
                cols.push(Arc::new(direction.finish()));
                cols.push(Arc::new(dev_name.finish()));
                cols.push(Arc::new(ifindex.finish()));
                cols.push(Arc::new(length.finish()));
                cols.push(Arc::new(protocol.finish()));
                ip.finish(&mut cols);
            }
            Cols::Block {
                dev,
                devname,
                sector,
                bytes,
                rwbs,
                error,
                dur,
                ..
            } => {
                cols.push(Arc::new(dev.finish()));
                cols.push(Arc::new(devname.finish()));
                cols.push(Arc::new(sector.finish()));
                cols.push(Arc::new(bytes.finish()));
                cols.push(Arc::new(rwbs.finish()));
                cols.push(Arc::new(error.finish()));
                cols.push(Arc::new(dur.finish()));
            }
            Cols::Samples {
                ip,
                user_mode,
                kstack,
                ustack,
            } => {
                cols.push(Arc::new(ip.finish()));
                cols.push(Arc::new(user_mode.finish()));
                cols.push(Arc::new(kstack.finish()));
                cols.push(Arc::new(ustack.finish()));
            }
            Cols::Vfs {
                op,
                bytes,
                ret,
                dur,
            } => {
                cols.push(Arc::new(op.finish()));
                cols.push(Arc::new(bytes.finish()));
                cols.push(Arc::new(ret.finish()));
                cols.push(Arc::new(dur.finish()));
            }
            Cols::Uprobes {
                names: _,
                probe,
                args,
                ret,
                dur,
                string,
                word,
                ip,
                ustack,
            } => {
                cols.push(Arc::new(probe.finish()));
                for a in args {
                    cols.push(Arc::new(a.finish()));
                }
                cols.push(Arc::new(ret.finish()));
                cols.push(Arc::new(dur.finish()));
                cols.push(Arc::new(string.finish()));
                cols.push(Arc::new(word.finish()));
                cols.push(Arc::new(ip.finish()));
                cols.push(Arc::new(ustack.finish()));
            }
            Cols::Tracepoint(t) => t.finish(&mut cols),
        }
        self.rows = 0;
        RecordBatch::try_new(self.table.schema(), cols)
            .expect("builders follow Table::schema(); a mismatch is a bug caught by tests")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::*;

    fn hdr(kind: u8, ts: u64) -> Hdr {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"test");
        Hdr {
            ts,
            pid: 10,
            tid: 11,
            uid: 0,
            cpu: 1,
            kind,
            flags: F_DONE,
            comm,
        }
    }

    #[test]
    fn every_table_builds_a_batch_matching_its_schema() {
        let recs = [
            Record::Syscall(Syscall {
                h: hdr(0, 5),
                dur: 3,
                ret: 0,
                args: [1; 6],
                nr: 0,
                addr: None,
            }),
            Record::Proc(Proc {
                h: hdr(1, 6),
                event: ProcEvent::Exec,
                ppid: 1,
                child_pid: -1,
                child_tid: -1,
                exit_code: 0,
                filename: b"/bin/ls".to_vec(),
                argv: b"ls\0-l\0".to_vec(),
            }),
            Record::Net(Net {
                h: hdr(2, 7),
                len: 100,
                ifindex: 1,
                protocol: 0x800,
                rx: true,
                dev: *b"lo\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                ipver: 4,
                l4: 6,
                ports: true,
                sport: 80,
                dport: 41000,
                saddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                daddr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            }),
            Record::Block(Block {
                h: hdr(3, 8),
                dur: 9,
                sector: 8,
                dev: (254 << 20),
                bytes: 4096,
                error: 0,
                op: 1,
                rwbs: 1,
            }),
            Record::Sample(Sample {
                h: hdr(4, 9),
                kstack: vec![],
                ustack: vec![0x400000, 0x400100],
            }),
            Record::Vfs(Vfs {
                h: hdr(5, 10),
                dur: 1,
                ret: 5,
                bytes: 5,
                write: true,
            }),
            Record::Uprobe(records::Uprobe {
                h: hdr(6, 11),
                dur: 3,
                ret: 0x1000,
                args: [1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0],
                slot: 0,
                string: Some(Ok(b"hello".to_vec())),
                ip: 0x401000,
                ustack: vec![0x401000, 0x402000],
                word: Some(7),
            }),
        ];
        for (t, r) in Table::ALL.into_iter().zip(recs.iter()) {
            let mut rows = TableRows::new(t, "x86_64");
            rows.set_uprobe_names(vec!["process(\"/x\").function(\"f\").return".into()]);
            rows.push(r);
            // A record of another kind is ignored.
            rows.push(&recs[(t.index() + 1) % recs.len()]);
            assert_eq!(rows.len(), 1);
            let b = rows.finish();
            assert_eq!(b.num_rows(), 1, "{t}");
            assert_eq!(b.schema(), t.schema());
            assert!(rows.is_empty());
        }
    }

    #[test]
    fn arguments_past_the_arity_are_zero() {
        let mut rows = TableRows::new(Table::Syscalls, "x86_64");
        rows.set_syscall_arity(vec![3]);
        for nr in [0, 1] {
            rows.push(&Record::Syscall(Syscall {
                h: hdr(0, 1),
                dur: 1,
                ret: 0,
                args: [7; 6],
                nr,
                addr: None,
            }));
        }
        let b = rows.finish();
        let arg = |i: usize| {
            let a = b.column_by_name(&format!("arg{i}")).unwrap();
            let a = a
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap();
            (a.value(0), a.value(1))
        };
        assert_eq!(arg(2), (7, 7));
        assert_eq!(
            arg(3),
            (0, 7),
            "read takes 3 arguments; nr 1 is unknown here"
        );
    }

    #[test]
    fn in_flight_syscalls_have_null_ret_and_duration() {
        let mut rows = TableRows::new(Table::Syscalls, "x86_64");
        let mut h = hdr(0, 1);
        h.flags = 0;
        rows.push(&Record::Syscall(Syscall {
            h,
            dur: 0,
            ret: 0,
            args: [0; 6],
            nr: 231,
            addr: None,
        }));
        let b = rows.finish();
        assert!(b
            .column_by_name(retap_schema::Column::Ret.name())
            .unwrap()
            .is_null(0));
        assert!(b
            .column_by_name(retap_schema::Column::DurNs.name())
            .unwrap()
            .is_null(0));
    }
}
