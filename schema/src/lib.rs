//! The retap trace format, shared by the recorder (which writes it) and the
//! analyzer (which reads it). Kept free of heavy dependencies so that a
//! production recorder and a laptop analyzer agree on one definition.

pub mod columns;
pub mod files;
pub mod kernel_config;
pub mod manifest;
pub mod names;
pub mod rollups;
pub mod rows;
pub mod signatures;
pub mod sockaddr;
pub mod stream;
pub mod summary;
mod syscall_table;
pub mod syscalls;
pub mod tables;
pub mod tracefs;
pub mod tracepoints;
pub mod uprobes;
pub mod wallclock;

pub use columns::Column;
pub use manifest::{FileEntry, Manifest, ManifestError, TableStats, FORMAT_NAME, FORMAT_VERSION};
pub use tables::Table;
pub use tracepoints::TracepointFormat;
pub use uprobes::{Uprobe, UprobeKind};
