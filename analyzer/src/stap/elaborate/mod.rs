//! Pass 2: elaboration. Probe points resolve against the trace catalog
//! (`catalog`), names against context columns (`context`), tapset
//! functions (`tapset`) and the script's own symbols, types are inferred,
//! and the program is lowered to the IR (`ir`) that pass 5 runs.

pub mod binaries;
pub mod catalog;
pub mod context;
pub mod format;
pub mod ir;
pub mod kernel_aliases;
pub mod lower;
pub mod pretty;
pub mod syscall_args;
pub mod tapset;
pub mod walk;

pub(crate) use lower::collect_assigned;
pub use lower::{elaborate, ElabOptions};
