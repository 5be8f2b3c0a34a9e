//! `retap-record`: the standalone recorder for production boxes. It carries
//! no query engine; `retap record` on a full install hands over to it.

use clap::Parser;
use retap_recorder::{bpf, cli::RecordArgs, record};

fn main() {
    // `retap record --for` asks, before anything is loaded, whether this
    // process may record (`--can-record`) and whether this kernel can hook
    // the vfs table (`--can-record vfs`: only loading a program tells):
    // exit 0, or 1 with the reason.
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().is_some_and(|a| a == "--can-record") {
        let can = match &argv[1..] {
            [] => record::check_privileges(),
            [t] if t == "vfs" => {
                record::check_privileges().and_then(|()| bpf::choose_vfs_hook().map(|_| ()))
            }
            _ => Err(anyhow::anyhow!("--can-record takes nothing or `vfs`")),
        };
        if let Err(e) = can {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
        return;
    }
    let args = RecordArgs::parse();
    if let Err(e) = record::run(args) {
        eprintln!("retap-record: {e:#}");
        std::process::exit(1);
    }
}
