//! `my-agents`: hosts the `greeter` and `averager` kinds (and the
//! ready-made ones) for a deployment whose manifest names it as `bin`.
//!
//! Build: `cargo build --release -p axon-example-kinds`, then from the
//! repository root: `axon up examples/custom-kinds/deploy.toml`.

use std::process::ExitCode;

const USAGE: &str = "\
my-agents hosts the agent kinds greeter and averager (and the ready-made ones).
It is not meant to be run by hand: name it as `bin` of an agent in a deployment
manifest, e.g.

    [[agent]]
    name = \"greeter\"
    kind = \"greeter\"
    bin = \"target/release/my-agents\"

and start the deployment with `axon up deploy.toml`.";

fn main() -> ExitCode {
    // Processes that axon starts from this binary become agents here and never return.
    if let Err(e) = axon::init(axon_example_kinds::registry()) {
        eprintln!("my-agents: {e}");
        return ExitCode::from(2);
    }
    println!("{USAGE}");
    println!(
        "kinds: {}",
        axon_example_kinds::registry().kinds().join(", ")
    );
    ExitCode::SUCCESS
}
