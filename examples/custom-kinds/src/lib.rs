//! Agent kinds of your own, hosted from a deployment manifest.
//!
//! A kind is a typed struct implementing [`axon::Agent`]: its serde fields
//! are its attributes (set at spawn from the manifest's `attributes`, read
//! and written remotely with `get_attr` / `set_attr`), its named handlers
//! are what sockets deliver to, and its timers run on the agent's own event
//! loop. The `my-agents` binary hosts these kinds plus the ready-made ones;
//! a manifest names it as `bin` (see `deploy.toml` and the README).
//!
//! # Layout
//! - `attributes`: a kind's typed attributes from the `attributes` of its spawn spec.
//! - `greeter`: [`Greeter`], answers requests with a greeting.
//! - `averager`: [`Averager`], a moving average of the numbers it is sent, published periodically.

#![deny(missing_docs)]

mod attributes;
mod averager;
mod greeter;

pub use averager::Averager;
pub use greeter::Greeter;

/// The kinds `my-agents` hosts: this crate's, the ready-made ones, and the plain `agent`.
pub fn registry() -> axon::Registry {
    axon::registry().kind::<Greeter>().kind::<Averager>()
}

#[cfg(test)]
mod tests {
    use axon::manifest::Manifest;

    #[test]
    fn the_example_manifest_parses_and_names_only_kinds_my_agents_hosts() {
        let manifest = match Manifest::parse(include_str!("../deploy.toml"), &[]) {
            Ok(m) => m,
            Err(e) => panic!("deploy.toml: {e}"),
        };
        let hosted = super::registry().kinds();
        let names: Vec<&str> = manifest.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["greeter", "ticker", "averager", "counter"]);
        for agent in &manifest.agents {
            assert!(hosted.contains(&agent.kind), "{} is not hosted", agent.kind);
            let bin = agent.bin.as_deref().map(|p| p.to_string_lossy());
            assert_eq!(bin.as_deref(), Some("target/release/my-agents"));
        }
        let averager = &manifest.agents[2];
        assert_eq!(
            (
                averager.connects[0].agent.as_str(),
                averager.connects[0].handler.as_deref()
            ),
            ("ticker", Some("sample"))
        );
    }
}
