//! The event tables and their Arrow schemas. docs/trace-format.md is the
//! prose version of this file; keep the two in step.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// One event table: a sub-directory of Parquet files in a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Syscalls,
    Processes,
    Net,
    Block,
    Samples,
    Vfs,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Syscalls,
        Table::Processes,
        Table::Net,
        Table::Block,
        Table::Samples,
        Table::Vfs,
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
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Stable small integer used as the record kind in the BPF ring buffer
    /// and as the index of the table's drop counter.
    pub fn index(self) -> usize {
        self as usize
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
        let mut fields = common_fields();
        fields.extend(match self {
            Table::Syscalls => {
                let mut f = vec![dict("syscall", false), int32("nr", false)];
                for i in 0..6 {
                    f.push(Field::new(format!("arg{i}"), DataType::Int64, false));
                }
                f.push(Field::new("ret", DataType::Int64, true));
                f.push(Field::new("dur_ns", DataType::Int64, true));
                f
            }
            Table::Processes => vec![
                dict("event", false),
                int32("ppid", true),
                int32("child_pid", true),
                int32("child_tid", true),
                Field::new("filename", DataType::Utf8, true),
                Field::new("argv", DataType::Utf8, true),
                int32("exit_code", true),
            ],
            Table::Net => vec![
                dict("direction", false),
                dict("dev_name", false),
                int32("ifindex", false),
                Field::new("length", DataType::UInt32, false),
                Field::new("protocol", DataType::UInt16, false),
            ],
            Table::Block => vec![
                Field::new("dev", DataType::UInt32, false),
                dict("devname", false),
                Field::new("sector", DataType::UInt64, false),
                Field::new("bytes", DataType::UInt32, false),
                dict("rwbs", false),
                int32("error", true),
                Field::new("dur_ns", DataType::Int64, true),
            ],
            Table::Samples => vec![
                Field::new("ip", DataType::UInt64, false),
                Field::new("user_mode", DataType::Boolean, false),
                address_list("kstack"),
                address_list("ustack"),
            ],
            Table::Vfs => vec![
                dict("op", false),
                Field::new("bytes", DataType::Int64, false),
                Field::new("ret", DataType::Int64, true),
                Field::new("dur_ns", DataType::Int64, true),
            ],
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
    pub fn domain(self, column: &str) -> Option<&'static [&'static str]> {
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
    pub fn completion_column(self) -> Option<&'static str> {
        match self {
            Table::Syscalls => Some("ret"),
            Table::Block | Table::Vfs => Some("dur_ns"),
            Table::Processes | Table::Net | Table::Samples => None,
        }
    }
}

/// `syscalls.syscall`: the syscall's name, which syscall probe points
/// select rows by.
pub const SYSCALL_COLUMN: &str = "syscall";

/// `net.direction`: received, transmitted.
pub mod direction {
    pub const COLUMN: &str = "direction";
    pub const RX: &str = "rx";
    pub const TX: &str = "tx";
}
/// `vfs.op`.
pub mod vfs_op {
    pub const COLUMN: &str = "op";
    pub const READ: &str = "read";
    pub const WRITE: &str = "write";
}
/// `processes.event`: a process alive when recording started, an exec, a
/// new process or thread, an exit.
pub mod process_event {
    pub const COLUMN: &str = "event";
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
pub const COMMON_COLUMNS: [&str; 6] = ["ts", "cpu", "pid", "tid", "uid", "execname"];

fn common_fields() -> Vec<Field> {
    vec![
        Field::new("ts", DataType::Int64, false),
        int32("cpu", false),
        int32("pid", false),
        int32("tid", false),
        Field::new("uid", DataType::UInt32, false),
        dict("execname", false),
    ]
}

fn int32(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int32, nullable)
}

/// Strings that repeat (names, devices) are dictionary-typed so that readers
/// that keep the Arrow schema (DataFusion, pyarrow) get dictionaries back and
/// group on integer keys.
fn dict(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        nullable,
    )
}

fn address_list(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::UInt64, false))),
        false,
    )
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
            assert_eq!(names, COMMON_COLUMNS, "{t}");
        }
    }
}
