//! `retap`: the command users type. Analysis subcommands run here; `record`
//! hands over to the standalone `retap-record` binary so that this one
//! carries no libbpf and builds anywhere.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "retap",
    version,
    about = "SystemTap's power over recorded eBPF traces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Record a trace (root). Same options as retap-record; see `retap record --help`.
    #[command(disable_help_flag = true)]
    Record {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Summarise a trace: host, time range, rows and losses per table, damage.
    Info { dir: PathBuf },
}

fn recorder_binary() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("retap-record")));
    match beside {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("retap-record"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Record { args } => {
            use std::os::unix::process::CommandExt;
            let bin = recorder_binary();
            let err = std::process::Command::new(&bin).args(&args).exec();
            eprintln!(
                "retap: cannot run {} ({err}); `retap record` needs the retap-record binary \
                 (cargo build --release builds both)",
                bin.display()
            );
            ExitCode::FAILURE
        }
        Cmd::Info { dir } => match retap_analyzer::trace::Trace::open(&dir) {
            Ok(t) => {
                print!("{}", retap_analyzer::info::render(&t));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("retap: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
