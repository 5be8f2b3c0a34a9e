//! Decoding of the ring buffer records laid out in bpf/records.h. Offsets
//! are written out rather than transmuting, so a malformed or short record
//! is an error, never undefined behaviour.

pub const HDR_LEN: usize = 40;
/// Offset of the record kind in the header.
pub const KIND_AT: usize = 22;
/// Kind of a syscall's file names (bpf/records.h KIND_PATHS), after the
/// tables' kinds and tracepoints'.
pub const KIND_PATHS: u8 = 8;
/// Record kinds, and the loss counters' stride (bpf/records.h NR_KINDS).
pub const NR_KINDS: usize = 9;
/// Offset of a paths record's strings (bpf/records.h struct paths_rec).
const PATHS_DATA: usize = 56;

/// A syscall's file-name arguments as read at its entry: each the string
/// (without its NUL) and whether it was cut at the recorder's maximum, or
/// None when the caller's memory could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Paths {
    pub tid: u32,
    pub entry_ts: u64,
    pub strings: [Option<(Vec<u8>, bool)>; 2],
}

/// Decodes a paths record; `max` is the recording's string maximum (NUL
/// included), which tells a cut string from one that just fits.
pub fn decode_paths(b: &[u8], max: u32) -> Result<Paths, String> {
    let h = decode_hdr(b)?;
    if b.len() < PATHS_DATA {
        return Err(format!("paths record of {} bytes", b.len()));
    }
    let entry_ts = u64_at(b, 40);
    let lens = [i32_at(b, 48), i32_at(b, 52)];
    let mut at = PATHS_DATA;
    let mut strings: [Option<(Vec<u8>, bool)>; 2] = [None, None];
    for (i, len) in lens.into_iter().enumerate() {
        if len <= 0 {
            continue;
        }
        let n = len as usize;
        let bytes = b
            .get(at..at + n)
            .ok_or_else(|| format!("paths record cut at {} of {} bytes", b.len(), at + n))?;
        at += n;
        strings[i] = Some((cstr(bytes).to_vec(), len as u32 >= max));
    }
    Ok(Paths {
        tid: h.tid,
        entry_ts,
        strings,
    })
}

/// bpf/records.h F_ADDR: a syscall record followed by its socket address.
pub const F_ADDR: u8 = 2;

/// bpf/records.h F_STACK: a tracepoint record ending in a kernel stack.
pub const F_STACK: u8 = 4;

/// A tracepoint record with F_STACK (bpf/records.h tp_rec): the raw record
/// (padded to 8) and the stack's bytes; None when the lengths do not add
/// up.
pub fn split_stack(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = data.len().checked_sub(4)?;
    let n = u32::from_ne_bytes(data[end..].try_into().ok()?) as usize;
    let at = end.checked_sub(n)?;
    Some((&data[..at], &data[at..end]))
}

/// A socket address as the BPF side keeps it (struct syscall_addr_rec's
/// and struct inflight's addr_len, addr_err, addr): the bytes read, or the
/// error of reading them.
pub fn sockaddr(len: i32, err: i32, addr: &[u8]) -> Result<Vec<u8>, i32> {
    if err != 0 {
        return Err(err);
    }
    let n = (len.max(0) as usize).min(addr.len());
    Ok(addr[..n].to_vec())
}

pub const SYSCALL_LEN: usize = 112;
/// struct syscall_addr_rec: a syscall_rec, addr_len, addr_err, addr.
pub const SYSCALL_ADDR_LEN: usize = 248;
pub const PROC_LEN: usize = 584;
pub const NET_LEN: usize = 112;
pub const BLOCK_LEN: usize = 72;
pub const SAMPLE_LEN: usize = 560;
pub const VFS_LEN: usize = 72;
/// A uprobe record without its stack and string (bpf/records.h struct
/// uprobe_rec).
pub const UPROBE_LEN: usize = 192;
/// bpf/records.h F_WORD: a uprobe record's word was read.
pub const F_WORD: u8 = 16;
const STACK_DEPTH: usize = 32;

pub const F_DONE: u8 = 1;
/// bpf/records.h F_ENTRY: a syscall as it is entered (live streams only).
pub const F_ENTRY: u8 = 8;

#[derive(Clone, Debug, PartialEq)]
pub struct Hdr {
    pub ts: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub cpu: u16,
    pub kind: u8,
    pub flags: u8,
    pub comm: [u8; 16],
}

#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    pub h: Hdr,
    pub dur: u64,
    pub ret: i64,
    pub args: [u64; 6],
    pub nr: u32,
    /// Its socket address, when one was read (F_ADDR): the bytes, or the
    /// error of reading them.
    pub addr: Option<Result<Vec<u8>, i32>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    Exec,
    Fork,
    Thread,
    Exit,
}

impl ProcEvent {
    /// The value of `processes.event` it is written as.
    pub fn name(self) -> &'static str {
        use retap_schema::tables::process_event as ev;
        match self {
            ProcEvent::Exec => ev::EXEC,
            ProcEvent::Fork => ev::FORK,
            ProcEvent::Thread => ev::THREAD,
            ProcEvent::Exit => ev::EXIT,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Proc {
    pub h: Hdr,
    pub event: ProcEvent,
    pub ppid: i32,
    pub child_pid: i32,
    pub child_tid: i32,
    pub exit_code: i32,
    pub filename: Vec<u8>,
    pub argv: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    pub h: Hdr,
    pub len: u32,
    pub ifindex: i32,
    pub protocol: u16,
    pub rx: bool,
    pub dev: [u8; 16],
    /// 4 or 6 when the IP header was read; 0 otherwise.
    pub ipver: u8,
    /// The IP protocol number (tcp 6, udp 17, ...).
    pub l4: u8,
    /// Whether the ports were read (host order).
    pub ports: bool,
    pub sport: u16,
    pub dport: u16,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub h: Hdr,
    pub dur: u64,
    pub sector: u64,
    pub dev: u32,
    pub bytes: u32,
    pub error: i32,
    pub op: u8,
    pub rwbs: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub h: Hdr,
    pub kstack: Vec<u64>,
    pub ustack: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Vfs {
    pub h: Hdr,
    pub dur: u64,
    pub ret: i64,
    pub bytes: u64,
    pub write: bool,
}

/// A user-space probe's firing. `string`: the user string its probe
/// reads (without the NUL), Err the error reading it, None when the probe
/// reads none.
#[derive(Clone, Debug, PartialEq)]
pub struct Uprobe {
    pub h: Hdr,
    pub dur: u64,
    pub ret: i64,
    /// A function's six registers, or a mark's first twelve arguments.
    pub args: [u64; 12],
    pub slot: u32,
    pub string: Option<Result<Vec<u8>, i32>>,
    /// Where it fired (a user address).
    pub ip: u64,
    /// The user stack, when its probe keeps it (else empty).
    pub ustack: Vec<u64>,
    /// The 8 bytes of user memory its probe keeps, when they were read.
    pub word: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Syscall(Syscall),
    Proc(Proc),
    Net(Net),
    Block(Block),
    Sample(Sample),
    Vfs(Vfs),
    Uprobe(Uprobe),
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes(b[o..o + 4].try_into().unwrap())
}
fn i32_at(b: &[u8], o: usize) -> i32 {
    u32_at(b, o) as i32
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_ne_bytes(b[o..o + 8].try_into().unwrap())
}
fn comm_at(b: &[u8], o: usize) -> [u8; 16] {
    b[o..o + 16].try_into().unwrap()
}

/// The bytes of a fixed C string field up to its first NUL.
pub fn cstr(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

fn stack(b: &[u8], o: usize, bytes: i32) -> Vec<u64> {
    let n = if bytes > 0 {
        (bytes as usize / 8).min(STACK_DEPTH)
    } else {
        0
    };
    (0..n).map(|i| u64_at(b, o + 8 * i)).collect()
}

pub fn decode_hdr(b: &[u8]) -> Result<Hdr, String> {
    if b.len() < HDR_LEN {
        return Err(format!(
            "record of {} bytes is shorter than its header",
            b.len()
        ));
    }
    Ok(Hdr {
        ts: u64_at(b, 0),
        pid: u32_at(b, 8),
        tid: u32_at(b, 12),
        uid: u32_at(b, 16),
        cpu: u16_at(b, 20),
        kind: b[22],
        flags: b[23],
        comm: comm_at(b, 24),
    })
}

pub fn decode(b: &[u8]) -> Result<Record, String> {
    let h = decode_hdr(b)?;
    let need = match h.kind {
        0 => SYSCALL_LEN,
        1 => PROC_LEN,
        2 => NET_LEN,
        3 => BLOCK_LEN,
        4 => SAMPLE_LEN,
        5 => VFS_LEN,
        6 => UPROBE_LEN,
        k => return Err(format!("unknown record kind {k}")),
    };
    if b.len() < need {
        return Err(format!(
            "record of kind {} is {} bytes, expected {need}",
            h.kind,
            b.len()
        ));
    }
    Ok(match h.kind {
        0 => Record::Syscall(Syscall {
            dur: u64_at(b, 40),
            ret: u64_at(b, 48) as i64,
            args: std::array::from_fn(|i| u64_at(b, 56 + 8 * i)),
            nr: u32_at(b, 104),
            addr: (h.flags & F_ADDR != 0)
                .then(|| {
                    b.get(SYSCALL_LEN + 8..SYSCALL_ADDR_LEN)
                        .map(|a| sockaddr(i32_at(b, SYSCALL_LEN), i32_at(b, SYSCALL_LEN + 4), a))
                })
                .flatten(),
            h,
        }),
        1 => {
            let fl = (u32_at(b, 60) as usize).min(256);
            let al = (u32_at(b, 64) as usize).min(256);
            let event = match u32_at(b, 40) {
                1 => ProcEvent::Exec,
                2 => ProcEvent::Fork,
                3 => ProcEvent::Thread,
                4 => ProcEvent::Exit,
                e => return Err(format!("unknown process event {e}")),
            };
            Record::Proc(Proc {
                event,
                ppid: i32_at(b, 44),
                child_pid: i32_at(b, 48),
                child_tid: i32_at(b, 52),
                exit_code: i32_at(b, 56),
                filename: b[72..72 + fl].to_vec(),
                argv: b[328..328 + al].to_vec(),
                h,
            })
        }
        2 => Record::Net(Net {
            len: u32_at(b, 40),
            ifindex: i32_at(b, 44),
            protocol: u16_at(b, 48),
            rx: b[50] != 0,
            ipver: b[51],
            l4: b[52],
            ports: b[53] != 0,
            dev: comm_at(b, 56),
            sport: u16::from_be_bytes([b[72], b[73]]),
            dport: u16::from_be_bytes([b[74], b[75]]),
            saddr: b[80..96].try_into().expect("16 bytes"),
            daddr: b[96..112].try_into().expect("16 bytes"),
            h,
        }),
        3 => Record::Block(Block {
            dur: u64_at(b, 40),
            sector: u64_at(b, 48),
            dev: u32_at(b, 56),
            bytes: u32_at(b, 60),
            error: i32_at(b, 64),
            op: b[68],
            rwbs: b[69],
            h,
        }),
        4 => Record::Sample(Sample {
            kstack: stack(b, 48, i32_at(b, 40)),
            ustack: stack(b, 48 + 8 * STACK_DEPTH, i32_at(b, 44)),
            h,
        }),
        6 => {
            let n = i32_at(b, 108);
            let stack_len = (u32_at(b, 120) as usize).min(8 * STACK_DEPTH);
            if b.len() < UPROBE_LEN + stack_len {
                return Err(format!(
                    "uprobe record of {} bytes holds no {stack_len}-byte stack",
                    b.len()
                ));
            }
            let at = UPROBE_LEN + stack_len;
            let string = match n {
                0 => None,
                n if n < 0 => Some(Err(n)),
                n => {
                    let s = b.get(at..at + n as usize).ok_or_else(|| {
                        format!(
                            "uprobe record of {} bytes holds no {n}-byte string",
                            b.len()
                        )
                    })?;
                    Some(Ok(cstr(s).to_vec()))
                }
            };
            Record::Uprobe(Uprobe {
                dur: u64_at(b, 40),
                ret: u64_at(b, 48) as i64,
                // (arguments 7-12 of a mark after the fixed fields)
                args: std::array::from_fn(|i| {
                    u64_at(b, if i < 6 { 56 + 8 * i } else { 144 + 8 * (i - 6) })
                }),
                slot: u32_at(b, 104),
                string,
                ip: u64_at(b, 112),
                word: (h.flags & F_WORD != 0).then(|| u64_at(b, 128) as i64),
                // (frames past the last one unwound are 0)
                ustack: stack(b, UPROBE_LEN, stack_len as i32)
                    .into_iter()
                    .filter(|&a| a != 0)
                    .collect(),
                h,
            })
        }
        _ => Record::Vfs(Vfs {
            dur: u64_at(b, 40),
            ret: u64_at(b, 48) as i64,
            bytes: u64_at(b, 56),
            write: u32_at(b, 64) != 0,
            h,
        }),
    })
}

/// argv as the kernel lays it out (NUL-separated) -> one space-separated
/// line, as `ps` shows it.
pub fn argv_line(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    let parts: Vec<String> = trimmed
        .split(|&c| c == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    parts.join(" ")
}

/// rwbs as the kernel's blk_fill_rwbs() spells it: [F]{W,R,D,E,N}[F][A][S][M].
pub fn rwbs(op: u8, bits: u8) -> String {
    let mut s = String::new();
    if bits & 8 != 0 {
        s.push('F');
    }
    match op {
        1 | 7 => s.push('W'),
        0 => s.push('R'),
        3 => s.push('D'),
        5 => s.push_str("DE"),
        2 => s.push('F'),
        9 => s.push_str("WZ"),
        _ => s.push('N'),
    }
    if bits & 4 != 0 {
        s.push('F');
    }
    if bits & 16 != 0 {
        s.push('A');
    }
    if bits & 1 != 0 {
        s.push('S');
    }
    if bits & 2 != 0 {
        s.push('M');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers rely on the format's fixed values (a plan for
    /// netdev.receive and netdev.transmit reads no direction column).
    #[test]
    fn process_events_are_the_formats_values() {
        let domain = retap_schema::Table::Processes
            .domain(retap_schema::Column::Event)
            .unwrap();
        for e in [
            ProcEvent::Exec,
            ProcEvent::Fork,
            ProcEvent::Thread,
            ProcEvent::Exit,
        ] {
            assert!(domain.contains(&e.name()), "{}", e.name());
        }
        // (The snapshot rows written at start, batches.rs.)
        assert!(domain.contains(&"snapshot"));
    }

    fn hdr(kind: u8) -> Vec<u8> {
        let mut b = vec![0u8; HDR_LEN];
        b[0..8].copy_from_slice(&123u64.to_ne_bytes());
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        b[12..16].copy_from_slice(&8u32.to_ne_bytes());
        b[16..20].copy_from_slice(&1000u32.to_ne_bytes());
        b[20..22].copy_from_slice(&1u16.to_ne_bytes());
        b[22] = kind;
        b[23] = F_DONE;
        b[24..28].copy_from_slice(b"bash");
        b
    }

    #[test]
    fn uprobe_records_with_and_without_their_string() {
        let mut b = hdr(6);
        b.extend_from_slice(&5u64.to_ne_bytes()); // dur
        b.extend_from_slice(&(-2i64).to_ne_bytes()); // ret
        for a in 1..=6u64 {
            b.extend_from_slice(&a.to_ne_bytes());
        }
        b.extend_from_slice(&3u32.to_ne_bytes()); // slot
        let with_len = |b: &Vec<u8>, str_len: i32, stack: &[u64]| {
            let mut p = b.clone();
            p.extend_from_slice(&str_len.to_ne_bytes());
            p.extend_from_slice(&0x401000u64.to_ne_bytes()); // ip
            p.extend_from_slice(&(8 * stack.len() as u32).to_ne_bytes());
            p.extend_from_slice(&0u32.to_ne_bytes());
            p.extend_from_slice(&42u64.to_ne_bytes()); // word (F_WORD unset)
            p.extend_from_slice(&0u64.to_ne_bytes());
            for a in 7..=12u64 {
                p.extend_from_slice(&a.to_ne_bytes()); // a mark's 7th.. 12th
            }
            for a in stack {
                p.extend_from_slice(&a.to_ne_bytes());
            }
            p
        };
        let plain = with_len(&b, 0, &[]);
        let Record::Uprobe(u) = decode(&plain).unwrap() else {
            panic!("not a uprobe")
        };
        assert_eq!(
            (u.dur, u.ret, u.args, u.slot),
            (5, -2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 3)
        );
        assert_eq!(u.string, None);
        assert_eq!((u.ip, u.ustack.len(), u.word), (0x401000, 0, None));
        let mut with = with_len(&b, 6, &[0x401000, 0x402000]);
        with.extend_from_slice(b"hello\0");
        let Record::Uprobe(u) = decode(&with).unwrap() else {
            panic!("not a uprobe")
        };
        assert_eq!(u.string, Some(Ok(b"hello".to_vec())));
        assert_eq!(u.ustack, vec![0x401000, 0x402000]);
        let fault = with_len(&b, -14, &[]);
        let Record::Uprobe(u) = decode(&fault).unwrap() else {
            panic!("not a uprobe")
        };
        assert_eq!(u.string, Some(Err(-14)));
        // A string longer than the record is malformed, not read past.
        let mut short = with_len(&b, 60, &[]);
        short.extend_from_slice(b"hi\0");
        assert!(decode(&short).is_err());
        // So is a stack longer than the record.
        let mut cut = with_len(&b, 0, &[1, 2]);
        cut.truncate(cut.len() - 8);
        assert!(decode(&cut).is_err());
    }

    #[test]
    fn syscall_record() {
        let mut b = hdr(0);
        b.resize(SYSCALL_LEN, 0);
        b[40..48].copy_from_slice(&55u64.to_ne_bytes());
        b[48..56].copy_from_slice(&(-2i64).to_ne_bytes());
        b[56..64].copy_from_slice(&3u64.to_ne_bytes());
        b[104..108].copy_from_slice(&1u32.to_ne_bytes());
        let Record::Syscall(s) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.h.ts, s.h.pid, s.h.tid, s.h.uid, s.h.cpu),
            (123, 7, 8, 1000, 1)
        );
        assert_eq!(cstr(&s.h.comm), b"bash");
        assert_eq!((s.dur, s.ret, s.args[0], s.nr), (55, -2, 3, 1));
    }

    #[test]
    fn a_syscall_carries_its_socket_address_when_flagged() {
        let mut b = hdr(0);
        b.resize(SYSCALL_ADDR_LEN, 0);
        b[23] = F_ADDR;
        b[112..116].copy_from_slice(&16i32.to_ne_bytes());
        b[120..122].copy_from_slice(&2u16.to_ne_bytes());
        let Record::Syscall(s) = decode(&b).unwrap() else {
            panic!()
        };
        let a = s.addr.unwrap().unwrap();
        assert_eq!((a.len(), &a[..2]), (16, &2u16.to_ne_bytes()[..]));
        // Unreadable: the error, no bytes.
        b[116..120].copy_from_slice(&(-14i32).to_ne_bytes());
        let Record::Syscall(s) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(s.addr, Some(Err(-14)));
        // Without the flag there is none, whatever follows.
        b[23] = 0;
        let Record::Syscall(s) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(s.addr, None);
    }

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert!(decode(&[0u8; 10]).unwrap_err().contains("shorter"));
        let mut b = hdr(0);
        b.resize(50, 0);
        assert!(decode(&b).unwrap_err().contains("expected 112"));
        let b = hdr(9);
        assert!(decode(&b).unwrap_err().contains("unknown record kind 9"));
    }

    #[test]
    fn sample_stacks_are_cut_to_what_the_kernel_returned() {
        let mut b = hdr(4);
        b.resize(SAMPLE_LEN, 0);
        b[40..44].copy_from_slice(&16i32.to_ne_bytes());
        b[44..48].copy_from_slice(&(-14i32).to_ne_bytes());
        b[48..56].copy_from_slice(&0xffff_1234u64.to_ne_bytes());
        let Record::Sample(s) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(s.kstack, vec![0xffff_1234, 0]);
        assert!(s.ustack.is_empty());
    }

    #[test]
    fn argv_and_rwbs() {
        assert_eq!(argv_line(b"ls\0-l\0/tmp\0"), "ls -l /tmp");
        assert_eq!(rwbs(1, 1), "WS");
        assert_eq!(rwbs(0, 16), "RA");
        assert_eq!(rwbs(1, 8 | 4 | 1), "FWFS");
        assert_eq!(rwbs(2, 0), "F");
    }
}
