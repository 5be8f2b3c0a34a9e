//! Every column name the format has, once. Table schemas (tables.rs), the
//! interpreter's readers, the plans' expressions and the recorder's
//! builders all name columns through this enum, so a column renamed here
//! is renamed everywhere or fails to compile; nowhere spells one as a
//! string.

/// A column of some table. Tables share names where they share meaning
/// (`ts`, `dur_ns`, `bytes`); which table has which is `Table::schema`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    Ts,
    Cpu,
    Pid,
    Tid,
    Uid,
    Execname,
    Syscall,
    Nr,
    Arg0,
    Arg1,
    Arg2,
    Arg3,
    Arg4,
    Arg5,
    Ret,
    DurNs,
    Event,
    Ppid,
    ChildPid,
    ChildTid,
    Filename,
    Argv,
    ExitCode,
    Direction,
    DevName,
    Ifindex,
    Length,
    Protocol,
    Dev,
    Devname,
    Sector,
    Bytes,
    Rwbs,
    Error,
    Ip,
    UserMode,
    Kstack,
    Ustack,
    Op,
    Path,
    Path2,
    Sockaddr,
    SaFamily,
    SaAddr,
    SaPort,
    Transport,
    Saddr,
    Daddr,
    Sport,
    Dport,
    Probe,
    UserString,
    UserLong,
    Arg6,
    Arg7,
    Arg8,
    Arg9,
    Arg10,
    Arg11,
}

impl Column {
    /// How many there are: `c as usize` indexes an array of this length.
    pub const COUNT: usize = Column::Arg11 as usize + 1;

    pub const ALL: [Column; Column::COUNT] = {
        use Column::*;
        [
            Ts, Cpu, Pid, Tid, Uid, Execname, Syscall, Nr, Arg0, Arg1, Arg2, Arg3, Arg4, Arg5, Ret,
            DurNs, Event, Ppid, ChildPid, ChildTid, Filename, Argv, ExitCode, Direction, DevName,
            Ifindex, Length, Protocol, Dev, Devname, Sector, Bytes, Rwbs, Error, Ip, UserMode,
            Kstack, Ustack, Op, Path, Path2, Sockaddr, SaFamily, SaAddr, SaPort, Transport, Saddr,
            Daddr, Sport, Dport, Probe, UserString, UserLong, Arg6, Arg7, Arg8, Arg9, Arg10, Arg11,
        ]
    };

    /// The six raw syscall argument registers, in order.
    pub const ARGS: [Column; 6] = [
        Column::Arg0,
        Column::Arg1,
        Column::Arg2,
        Column::Arg3,
        Column::Arg4,
        Column::Arg5,
    ];

    /// The twelve argument columns of the uprobes table: a function's six
    /// registers, or up to twelve USDT mark arguments (stap's limit).
    pub const MARK_ARGS: [Column; 12] = [
        Column::Arg0,
        Column::Arg1,
        Column::Arg2,
        Column::Arg3,
        Column::Arg4,
        Column::Arg5,
        Column::Arg6,
        Column::Arg7,
        Column::Arg8,
        Column::Arg9,
        Column::Arg10,
        Column::Arg11,
    ];

    /// The name in Parquet files, Arrow schemas and SQL.
    pub fn name(self) -> &'static str {
        use Column::*;
        match self {
            Ts => "ts",
            Cpu => "cpu",
            Pid => "pid",
            Tid => "tid",
            Uid => "uid",
            Execname => "execname",
            Syscall => "syscall",
            Nr => "nr",
            Arg0 => "arg0",
            Arg1 => "arg1",
            Arg2 => "arg2",
            Arg3 => "arg3",
            Arg4 => "arg4",
            Arg5 => "arg5",
            Ret => "ret",
            DurNs => "dur_ns",
            Event => "event",
            Ppid => "ppid",
            ChildPid => "child_pid",
            ChildTid => "child_tid",
            Filename => "filename",
            Argv => "argv",
            ExitCode => "exit_code",
            Direction => "direction",
            DevName => "dev_name",
            Ifindex => "ifindex",
            Length => "length",
            Protocol => "protocol",
            Dev => "dev",
            Devname => "devname",
            Sector => "sector",
            Bytes => "bytes",
            Rwbs => "rwbs",
            Error => "error",
            Ip => "ip",
            UserMode => "user_mode",
            Kstack => "kstack",
            Ustack => "ustack",
            Op => "op",
            Path => "path",
            Path2 => "path2",
            Sockaddr => "sockaddr",
            SaFamily => "sa_family",
            SaAddr => "sa_addr",
            SaPort => "sa_port",
            Transport => "transport",
            Saddr => "saddr",
            Daddr => "daddr",
            Sport => "sport",
            Dport => "dport",
            Probe => "probe",
            UserString => "user_string",
            UserLong => "user_long",
            Arg6 => "arg6",
            Arg7 => "arg7",
            Arg8 => "arg8",
            Arg9 => "arg9",
            Arg10 => "arg10",
            Arg11 => "arg11",
        }
    }

    /// Argument `i` (0-based): a syscall's or function's register (0-5),
    /// or a mark's argument (0-11); clamped to the twelfth.
    pub fn arg(i: usize) -> Column {
        Column::MARK_ARGS[i.min(11)]
    }

    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order_and_names_round_trip() {
        for (i, c) in Column::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert_eq!(Column::from_name(c.name()), Some(*c));
        }
        let names: std::collections::BTreeSet<_> = Column::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), Column::COUNT);
    }
}
