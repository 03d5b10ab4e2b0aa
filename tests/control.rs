//! Control-plane errors: ACCEPTANCE C4.

mod common;

use axon::prelude::*;
use axon::testing;

axon::test_host!(common::registry());

#[test]
fn unknown_methods_and_wrong_arguments_are_structured_errors() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();

    let err = a.call::<_, Value>("frobnicate", ()).unwrap_err();
    let e = err.remote().expect("remote error");
    assert_eq!(
        (e.kind, e.agent.as_str(), e.method.as_str()),
        (ErrorKind::UnknownMethod, "a", "frobnicate")
    );
    a.ping().unwrap();

    // Missing argument.
    let err = a.call::<_, Value>("bind", ()).unwrap_err();
    let e = err.remote().expect("remote error");
    assert_eq!(
        (e.kind, e.method.as_str()),
        (ErrorKind::BadArguments, "bind")
    );
    assert!(e.message.contains("kind"), "{e}");

    // Wrong type and unknown value.
    let bad = serde_json::json!({"kind": 42});
    let e = a.call::<_, Value>("bind", bad).unwrap_err();
    assert_eq!(e.remote().unwrap().kind, ErrorKind::BadArguments);
    let bad = serde_json::json!({"kind": "PAIR"});
    assert_eq!(
        a.call::<_, Value>("bind", bad)
            .unwrap_err()
            .remote()
            .unwrap()
            .kind,
        ErrorKind::BadArguments
    );

    // An unknown handler name, an unknown alias, a receiving socket without handler.
    let e = a
        .bind_handler(Kind::Pull, "in", "no_such_handler")
        .unwrap_err();
    assert!(
        e.remote().unwrap().message.contains("no_such_handler"),
        "{e}"
    );
    assert_eq!(
        a.send("nowhere", "x").unwrap_err().remote().unwrap().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        a.bind(Kind::Rep, "rep").unwrap_err().remote().unwrap().kind,
        ErrorKind::BadArguments
    );

    // Sending on a socket that cannot send.
    a.bind_handler(Kind::Pull, "pull", "collect").unwrap();
    let e = a.send("pull", "x").unwrap_err();
    assert_eq!(e.remote().unwrap().kind, ErrorKind::BadArguments, "{e}");

    // A taken alias.
    a.bind(Kind::Push, "out").unwrap();
    assert!(a.bind(Kind::Push, "out").is_err());

    // Still serving, and the errors were counted.
    a.ping().unwrap();
    let stats = a.stats().unwrap();
    assert_eq!(stats.control_errors, 9, "{stats:?}");
    ns.shutdown().unwrap();
}

#[test]
fn handlers_and_aliases_are_listed() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let handlers = a.handlers().unwrap();
    assert!(
        handlers.contains(&"collect".to_string()) && handlers.contains(&"upper".to_string()),
        "{handlers:?}"
    );
    a.bind(Kind::Push, "x").unwrap();
    a.bind(Kind::Pub, "y").unwrap();
    assert_eq!(a.aliases().unwrap(), ["x", "y"]);
    a.close("x").unwrap();
    assert_eq!(a.aliases().unwrap(), ["y"]);
    a.close_all().unwrap();
    assert!(a.aliases().unwrap().is_empty());
    ns.shutdown().unwrap();
}
