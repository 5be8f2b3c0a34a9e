//! The event tables and their Arrow schemas. docs/trace-format.md is the
//! prose version of this file; keep the two in step.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::tracepoints::TracepointFormat;
use crate::Column;

/// One event table: a sub-directory of Parquet files in a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Syscalls,
    Processes,
    Net,
    Block,
    Samples,
    Vfs,
    /// User-space probes (uprobes, USDT marks): a row per firing, the
    /// probe in the `probe` column (uprobes.rs).
    Uprobes,
    /// A kernel tracepoint recorded by name (`sched.sched_switch`), laid
    /// out as the recording kernel's format says (tracepoints.rs).
    Tracepoint(&'static TracepointFormat),
}

/// The record kind of every tracepoint in the BPF ring buffer (after the
/// fixed tables' kinds); which tracepoint is in the record itself.
pub const TRACEPOINT_KIND: usize = 7;

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Syscalls,
        Table::Processes,
        Table::Net,
        Table::Block,
        Table::Samples,
        Table::Vfs,
        Table::Uprobes,
    ];

    /// The tables recorded when `--events` is not given. `vfs` needs kprobes
    /// or fentry, which not every kernel has, so it is opt-in.
    pub const DEFAULT: [Table; 5] = [
        Table::Syscalls,
        Table::Processes,
        Table::Net,
        Table::Block,
        Table::Samples,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Syscalls => "syscalls",
            Table::Processes => "processes",
            Table::Net => "net",
            Table::Block => "block",
            Table::Samples => "samples",
            Table::Vfs => "vfs",
            Table::Uprobes => "uprobes",
            Table::Tracepoint(f) => f.table_name(),
        }
    }

    /// One of the fixed tables, by name (tracepoint tables are named by
    /// their trace's manifest).
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Stable small integer used as the record kind in the BPF ring buffer
    /// and as the index of the table's drop counter; every tracepoint
    /// shares [`TRACEPOINT_KIND`].
    pub fn index(self) -> usize {
        match self {
            Table::Syscalls => 0,
            Table::Processes => 1,
            Table::Net => 2,
            Table::Block => 3,
            Table::Samples => 4,
            Table::Vfs => 5,
            Table::Uprobes => 6,
            Table::Tracepoint(_) => TRACEPOINT_KIND,
        }
    }

    /// The tracepoint's layout, for tracepoint tables.
    pub fn tracepoint(self) -> Option<&'static TracepointFormat> {
        match self {
            Table::Tracepoint(f) => Some(f),
            _ => None,
        }
    }

    /// Every column name some table has (what readers may name).
    pub fn all_column_names() -> std::collections::BTreeSet<String> {
        Table::ALL
            .iter()
            .flat_map(|t| {
                let schema = t.schema();
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn schema(self) -> SchemaRef {
        use Column as C;
        let mut fields = common_fields();
        fields.extend(match self {
            Table::Syscalls => {
                let mut f = vec![dict(C::Syscall, false), int32(C::Nr, false)];
                for arg in C::ARGS {
                    f.push(field(arg, DataType::Int64, false));
                }
                f.push(field(C::Ret, DataType::Int64, true));
                f.push(field(C::DurNs, DataType::Int64, true));
                f.push(field(C::Path, DataType::Utf8, true));
                f.push(field(C::Path2, DataType::Utf8, true));
                f.push(field(C::Sockaddr, DataType::Binary, true));
                f.push(dict(C::SaFamily, true));
                f.push(field(C::SaAddr, DataType::Utf8, true));
                f.push(field(C::SaPort, DataType::UInt16, true));
                f
            }
            Table::Tracepoint(tp) => {
                let mut f: Vec<Field> = tp.fields.iter().map(|f| f.arrow_field()).collect();
                if tp.stack {
                    f.push(address_list(C::Kstack));
                }
                f
            }
            Table::Processes => vec![
                dict(C::Event, false),
                int32(C::Ppid, true),
                int32(C::ChildPid, true),
                int32(C::ChildTid, true),
                field(C::Filename, DataType::Utf8, true),
                field(C::Argv, DataType::Utf8, true),
                int32(C::ExitCode, true),
            ],
            Table::Net => vec![
                dict(C::Direction, false),
                dict(C::DevName, false),
                int32(C::Ifindex, false),
                field(C::Length, DataType::UInt32, false),
                field(C::Protocol, DataType::UInt16, false),
                dict(C::Transport, true),
                field(C::Saddr, DataType::Utf8, true),
                field(C::Daddr, DataType::Utf8, true),
                field(C::Sport, DataType::UInt16, true),
                field(C::Dport, DataType::UInt16, true),
            ],
            Table::Block => vec![
                field(C::Dev, DataType::UInt32, false),
                dict(C::Devname, false),
                field(C::Sector, DataType::UInt64, false),
                field(C::Bytes, DataType::UInt32, false),
                dict(C::Rwbs, false),
                int32(C::Error, true),
                field(C::DurNs, DataType::Int64, true),
            ],
            Table::Samples => vec![
                field(C::Ip, DataType::UInt64, false),
                field(C::UserMode, DataType::Boolean, false),
                address_list(C::Kstack),
                address_list(C::Ustack),
            ],
            Table::Vfs => vec![
                dict(C::Op, false),
                field(C::Bytes, DataType::Int64, false),
                field(C::Ret, DataType::Int64, true),
                field(C::DurNs, DataType::Int64, true),
            ],
            Table::Uprobes => {
                let mut f = vec![dict(C::Probe, false)];
                for arg in C::MARK_ARGS {
                    f.push(field(arg, DataType::Int64, false));
                }
                f.push(field(C::Ret, DataType::Int64, true));
                f.push(field(C::DurNs, DataType::Int64, true));
                f.push(field(C::UserString, DataType::Utf8, true));
                f.push(field(C::UserLong, DataType::Int64, true));
                f.push(field(C::Ip, DataType::UInt64, false));
                f.push(address_list(C::Ustack));
                f
            }
        });
        Arc::new(Schema::new(fields))
    }
}

impl Table {
    /// Every value a dictionary column of this table may hold, where the
    /// format fixes them (docs/trace-format.md lists the same). The
    /// recorder writes nothing else, so readers may rely on it: probe
    /// points that together take every value (netdev.receive and
    /// netdev.transmit) need not read the column at all.
    pub fn domain(self, column: Column) -> Option<&'static [&'static str]> {
        match (self, column) {
            (Table::Net, direction::COLUMN) => Some(&NET_DIRECTIONS),
            (Table::Vfs, vfs_op::COLUMN) => Some(&VFS_OPS),
            (Table::Processes, process_event::COLUMN) => Some(&PROCESS_EVENTS),
            _ => None,
        }
    }

    /// The column set exactly on rows of operations that completed (a
    /// syscall that returned, a block request or vfs call that finished);
    /// null on those still in flight when recording stopped.
    pub fn completion_column(self) -> Option<Column> {
        match self {
            Table::Syscalls => Some(Column::Ret),
            Table::Block | Table::Vfs => Some(Column::DurNs),
            Table::Processes
            | Table::Net
            | Table::Samples
            | Table::Uprobes
            | Table::Tracepoint(_) => None,
        }
    }
}

/// `syscalls.syscall`: the syscall's name, which syscall probe points
/// select rows by.
pub const SYSCALL_COLUMN: Column = Column::Syscall;

/// `net.direction`: received, transmitted.
pub mod direction {
    use crate::Column;
    pub const COLUMN: Column = Column::Direction;
    pub const RX: &str = "rx";
    pub const TX: &str = "tx";
}
/// `vfs.op`.
pub mod vfs_op {
    use crate::Column;
    pub const COLUMN: Column = Column::Op;
    pub const READ: &str = "read";
    pub const WRITE: &str = "write";
}
/// `processes.event`: a process alive when recording started, an exec, a
/// new process or thread, an exit.
pub mod process_event {
    use crate::Column;
    pub const COLUMN: Column = Column::Event;
    pub const SNAPSHOT: &str = "snapshot";
    pub const EXEC: &str = "exec";
    pub const FORK: &str = "fork";
    pub const THREAD: &str = "thread";
    pub const EXIT: &str = "exit";
}
/// `net.direction`'s values.
pub const NET_DIRECTIONS: [&str; 2] = [direction::RX, direction::TX];
/// `vfs.op`'s values.
pub const VFS_OPS: [&str; 2] = [vfs_op::READ, vfs_op::WRITE];
/// `processes.event`'s values.
pub const PROCESS_EVENTS: [&str; 5] = [
    process_event::SNAPSHOT,
    process_event::EXEC,
    process_event::FORK,
    process_event::THREAD,
    process_event::EXIT,
];

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Columns every table starts with, in this order.
pub const COMMON_COLUMNS: [Column; 6] = [
    Column::Ts,
    Column::Cpu,
    Column::Pid,
    Column::Tid,
    Column::Uid,
    Column::Execname,
];

fn common_fields() -> Vec<Field> {
    vec![
        field(Column::Ts, DataType::Int64, false),
        int32(Column::Cpu, false),
        int32(Column::Pid, false),
        int32(Column::Tid, false),
        field(Column::Uid, DataType::UInt32, false),
        dict(Column::Execname, false),
    ]
}

fn field(c: Column, t: DataType, nullable: bool) -> Field {
    Field::new(c.name(), t, nullable)
}

fn int32(c: Column, nullable: bool) -> Field {
    field(c, DataType::Int32, nullable)
}

/// Strings that repeat (names, devices) are dictionary-typed so that readers
/// that keep the Arrow schema (DataFusion, pyarrow) get dictionaries back and
/// group on integer keys.
fn dict(c: Column, nullable: bool) -> Field {
    Field::new(
        c.name(),
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        nullable,
    )
}

fn address_list(c: Column) -> Field {
    Field::new(c.name(), DataType::List(address_item()), false)
}

/// The element field of `kstack` and `ustack` lists, which writers must
/// build their lists with for batches to match the schema.
pub fn address_item() -> arrow_schema::FieldRef {
    Arc::new(Field::new("item", DataType::UInt64, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_dense() {
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(Table::from_name(t.name()), Some(*t));
            assert_eq!(t.index(), i);
        }
        assert_eq!(Table::from_name("nope"), None);
    }

    #[test]
    fn every_table_starts_with_the_common_columns() {
        for t in Table::ALL {
            let s = t.schema();
            let names: Vec<_> = s
                .fields()
                .iter()
                .take(6)
                .map(|f| f.name().as_str())
                .collect();
            let common: Vec<_> = COMMON_COLUMNS.iter().map(|c| c.name()).collect();
            assert_eq!(names, common, "{t}");
        }
    }

    #[test]
    fn every_field_is_a_column() {
        for t in Table::ALL {
            for f in t.schema().fields() {
                assert!(Column::from_name(f.name()).is_some(), "{t}.{}", f.name());
            }
        }
    }
}
