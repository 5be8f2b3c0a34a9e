//! Links `retap` as a position-dependent executable.
//!
//! Why: as a PIE the binary carries ~218K relative relocations (DataFusion's
//! and arrow's vtables and static tables), which the dynamic loader applies
//! at every start, copying ~430 pages: `retap --version` took 4.4 ms and
//! 1154 page faults, against 1.4 ms and 137 without PIE. Analysis runs are
//! often tens of milliseconds, so that was a tenth of a small run. The cost
//! is that the binary's own code is not address-randomised (libraries,
//! stack and heap still are); it reads trace files and runs no network
//! service.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
