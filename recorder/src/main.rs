//! `retap-record`: the standalone recorder for production boxes. It carries
//! no query engine; `retap record` on a full install hands over to it.

use clap::Parser;
use retap_recorder::{cli::RecordArgs, record};

fn main() {
    let args = RecordArgs::parse();
    if let Err(e) = record::run(args) {
        eprintln!("retap-record: {e:#}");
        std::process::exit(1);
    }
}
