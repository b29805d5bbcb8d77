//! `sluice`: the Kubernetes edge data plane.

mod check;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Check(args) => check::run(&args),
    }
}
