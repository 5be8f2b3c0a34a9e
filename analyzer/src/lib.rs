//! retap's analysis half. Reads traces written by the recorder; never
//! depends on it (only on retap_schema), so it builds on machines without
//! libbpf.

pub mod diff;
pub mod engine;
pub mod info;
pub mod integrity;
pub mod live;
pub mod output_files;
pub mod plan;
pub mod record_for;
pub mod run;
pub mod runtime;
pub mod sql;
pub mod stap;
pub mod store;
pub mod synth;
pub mod trace;
pub mod trace_set;

/// The cores this process may use, asked once: the standard library reads
/// the cgroup's files for it every time (three opens, ~35 us a call).
pub fn cores() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    })
}

/// `f` of each item, on up to `threads` scoped threads (a contiguous
/// share each), in the items' order: footers read, traces listed,
/// rollups decoded a few at a time. A worker's panic is the caller's.
pub fn map_on_threads<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len()).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The process's async threads, made on first use and kept: DataFusion's
/// plans and queries (see [`engine::runtime`]) and the object stores'
/// requests run on them. A runtime per run cost ~60 us to make and ~200 us
/// to shut down (joining its workers), a tenth of a small plan's run.
pub fn async_runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        // Timers and sockets: the S3 client's requests and time-outs.
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(cores())
            .build()
            .expect("tokio runtime")
    })
}
