//! Compiles bpf/retap.bpf.c with clang and generates its libbpf-rs
//! skeleton. clang comes from scripts/setup.sh (Debian's clang package).

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let bpf_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../bpf");
    let src = bpf_dir.join("retap.bpf.c");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("retap.skel.rs");
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").unwrap().as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        other => panic!("retap's BPF programs support x86_64 and aarch64, not {other}"),
    };
    SkeletonBuilder::new()
        .source(&src)
        .clang_args([
            format!("-I{}", bpf_dir.display()),
            format!("-D__TARGET_ARCH_{arch}"),
            // v3: atomic exchange, used to hand over in-flight syscalls
            // exactly once at stop (kernel >= 5.12).
            "-mcpu=v3".to_string(),
            "-Wall".to_string(),
            "-Wno-unused-function".to_string(),
        ])
        .build_and_generate(&out)
        .unwrap_or_else(|e| {
            panic!(
                "building {}: {e:#}\n(is clang installed? run scripts/setup.sh)",
                src.display()
            )
        });
    for f in ["retap.bpf.c", "records.h", "vmlinux_min.h", "asm/errno.h"] {
        println!("cargo:rerun-if-changed={}", bpf_dir.join(f).display());
    }
}
