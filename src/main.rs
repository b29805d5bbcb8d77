//! `sluice`: the Kubernetes edge data plane.

mod admin;
mod check;
mod cli;
mod connect_latency;
mod control_metrics;
mod convert;
mod demo;
mod echo;
mod kernel;
mod publish;
mod run;

use clap::Parser;
use std::process::ExitCode;

/// A proxied request allocates about forty times (pingora's sessions,
/// header maps, buffers). Under pingora-proxy, glibc's malloc spent 24 % of
/// a request's instructions on allocation, mimalloc 17 % less in all
/// (benches/results/l7.md); vendor/mimalloc keeps larger blocks off its
/// aligned slow path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,pingora=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        cli::Command::Check(args) => check::run(&args),
        cli::Command::Run(args) => run::run(&args),
        cli::Command::Demo(args) => demo::run(
            args.http_listen,
            args.https_listen,
            args.admin_listen,
            std::time::Duration::from_millis(args.step_ms),
        ),
        cli::Command::Convert(args) => convert::run(&args),
        cli::Command::Crd => convert::print_crds(),
        cli::Command::Annotations => {
            print!("{}", sluice_controller::annotation_table());
            ExitCode::SUCCESS
        }
        cli::Command::GatewayFeatures => {
            for feature in sluice_controller::GATEWAY_FEATURES {
                println!("{feature}");
            }
            ExitCode::SUCCESS
        }
        cli::Command::ConnectLatency(args) => connect_latency::run(args.to, args.count),
        cli::Command::EchoBackend(args) => echo::run(&args.listen, &args.name, args.threads, args.status, args.tls),
    }
}

/// mimalloc asks for transparent huge pages on its arenas (unless built
/// `no_thp`, as here), so each thread's heap faults in 2 MiB for its first
/// few objects, and a freed page holds its huge page: idle, 12 of Sluice's
/// 15.7 MiB anonymous memory were that (`benches/memory`). The process's
/// flag keeps THP off too where the host's setting is `always`, which backs
/// large mappings with huge pages unasked.
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointer.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}
