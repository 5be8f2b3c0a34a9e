//! retap's recorder: the user-space half of `retap record`. Loads the BPF
//! programs (bpf.rs), drains their ring buffer into Arrow batches
//! (batches.rs) and writes them as Parquet (sink.rs) on a writer thread
//! (writer.rs), with the manifest and loss accounting of retap_schema.

pub mod batches;
pub mod bpf;
pub mod cli;
pub mod perf;
pub mod procfs;
pub mod record;
pub mod records;
pub mod sink;
pub mod tp_rows;
pub mod tracepoints;
pub mod watermark;
pub mod writer;
