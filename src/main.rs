//! The `axon` command: hosts the ready-made agent kinds, runs a name server,
//! and drives running deployments.

mod cli;
mod commands;
mod graph;
mod logs;
#[cfg(feature = "cluster")]
mod node;
mod reach;
mod signals;
mod status;
mod top;
mod tree;
mod up;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Processes the name server starts from this binary become agents here.
    if let Err(e) = axon::init(axon::registry()) {
        eprintln!("axon: {e}");
        return std::process::ExitCode::from(2);
    }
    let args = cli::Args::parse();
    // A name server run here forwards its events to the deployment's logger, as a spawned one does.
    match args.runs_a_name_server() {
        true => axon::install_nameserver_tracing(),
        false => axon::install_tracing(args.process_name()),
    }
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match refusal(&e) {
            Some(r) => {
                eprintln!(
                    "axon: refused: {} ({} refused {})",
                    r.message, r.agent, r.method
                );
                std::process::ExitCode::from(EX_NOPERM)
            }
            None => {
                eprintln!("axon: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// Exit status of a request the receiver refused (bad key, not authorised): sysexits' EX_NOPERM.
const EX_NOPERM: u8 = 77;

/// The refusal behind `e`, if a receiver refused the request.
fn refusal(e: &anyhow::Error) -> Option<&axon::RemoteError> {
    e.chain()
        .find_map(|cause| match cause.downcast_ref::<axon::Error>() {
            Some(axon::Error::Remote(r)) if r.kind == axon::ErrorKind::Refused => Some(r),
            _ => None,
        })
}
