//! Binding at a host name: looked up off the agent's event loop, never in it.

mod common;

use axon::prelude::*;
use axon::testing;
use common::PATIENCE;

axon::test_host!(common::registry());

/// This machine's name, when it resolves to an IPv4 address here.
fn own_host_name() -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_owned();
    let v4 = (name.as_str(), 0)
        .to_socket_addrs()
        .ok()?
        .any(|a| a.is_ipv4());
    (v4 && name.parse::<std::net::IpAddr>().is_err()).then_some(name)
}

fn tcp_at(addr: &str) -> BindOptions {
    BindOptions {
        transport: Some(Transport::Tcp),
        addr: Some(addr.to_owned()),
        ..BindOptions::alias("main").handler("upper")
    }
}

#[test]
fn a_control_bind_at_a_host_name_is_looked_up_then_bound_and_serves() {
    let Some(name) = own_host_name() else {
        eprintln!("skipped: this machine's host name does not resolve to IPv4");
        return;
    };
    let ns = testing::node().unwrap();
    let mut server = ns.run_agent("server").unwrap();
    let mut client = ns.run_agent("client").unwrap();
    let addr = server.bind_with(SocketKind::Rep, tcp_at(&name)).unwrap();
    assert!(addr.endpoint.starts_with("tcp://"), "{addr:?}");
    assert!(
        !addr.endpoint.contains(&name),
        "bound at the address, not the name: {addr:?}"
    );
    client.connect(&addr, "req", None).unwrap();
    let reply: String = client.request_wait("req", "dns", PATIENCE).unwrap();
    assert_eq!(reply, "DNS");
    ns.shutdown().unwrap();
}

#[test]
fn a_host_name_that_does_not_resolve_is_bad_arguments_and_the_agent_serves_on() {
    let ns = testing::node().unwrap();
    let mut server = ns.run_agent("server").unwrap();
    let err = server
        .bind_with(SocketKind::Rep, tcp_at("no-such-host.invalid:7"))
        .unwrap_err();
    let remote = err.remote().expect("the agent answered");
    assert_eq!(remote.kind, ErrorKind::BadArguments, "{err}");
    assert!(remote.message.contains("no-such-host.invalid"), "{err}");
    server.ping().unwrap();
    assert!(server.aliases().unwrap().is_empty());
    ns.shutdown().unwrap();
}
