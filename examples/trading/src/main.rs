//! `trading-floor`: hosts the trading kinds (and the ready-made ones) for
//! the deployment `floor.toml`, whose agents all name it as `bin`.
//!
//! From the repository root: `cargo build --release -p axon-example-trading`,
//! then `axon up examples/trading/floor.toml`.

use std::process::ExitCode;

const USAGE: &str = "\
trading-floor hosts the agent kinds of the trading-floor example (and the
ready-made ones). It is not meant to be run by hand: the deployment
examples/trading/floor.toml names it as `bin` of every agent. From the
repository root:

    cargo build --release -p axon-example-trading
    cargo run --release -- up examples/trading/floor.toml";

fn main() -> ExitCode {
    // Processes that axon starts from this binary become agents here and never return.
    if let Err(e) = axon::init(axon_example_trading::registry()) {
        eprintln!("trading-floor: {e}");
        return ExitCode::from(2);
    }
    println!("{USAGE}");
    println!(
        "kinds: {}",
        axon_example_trading::registry().kinds().join(", ")
    );
    ExitCode::SUCCESS
}
