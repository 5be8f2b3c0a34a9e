//! retap's analysis half. Reads traces written by the recorder; never
//! depends on it (only on retap_schema), so it builds on machines without
//! libbpf.

pub mod diff;
pub mod info;
pub mod integrity;
pub mod plan;
pub mod run;
pub mod runtime;
pub mod sql;
pub mod stap;
pub mod synth;
pub mod trace;
pub mod wallclock;
