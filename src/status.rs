//! `axon status`: the node at a glance, its supervisor first: which process
//! it is, since when, and whether it took over from one that died.

use anyhow::{Context, Result};
use axon::NameServer;

/// Prints the node's status, as JSON or as a few lines.
pub fn print(ns: &NameServer, json: bool) -> Result<()> {
    let status = ns
        .status()
        .context("asking the name server for its status")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let s = &status.supervisor;
    let took_over = match s.incarnation {
        1 => String::new(),
        n => format!(
            ", supervisor #{n} of this node (took over {} agents)",
            s.adopted
        ),
    };
    println!(
        "supervisor  pid {} up {}{}{}",
        s.pid,
        crate::commands::uptime(s.uptime_ms),
        if s.heart {
            ", under axon up's heart"
        } else {
            ""
        },
        took_over
    );
    println!("endpoint    {}", status.endpoint);
    println!("runtime dir {}", status.runtime_dir);
    if let Some(addr) = &status.metrics {
        println!("metrics     http://{addr}/metrics");
    }
    println!(
        "agents      {} registered, {} supervised running",
        status.agents, status.children_running
    );
    Ok(())
}
