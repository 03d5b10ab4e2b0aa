//! The `axon` command: hosts the ready-made agent kinds, runs a name server,
//! and drives running deployments.

mod cli;
mod up;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Processes the name server starts from this binary become agents here.
    if let Err(e) = axon::init(axon::registry()) {
        eprintln!("axon: {e}");
        return std::process::ExitCode::from(2);
    }
    let args = cli::Args::parse();
    axon::install_tracing("axon");
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axon: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
