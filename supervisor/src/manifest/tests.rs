//! Manifest parsing and validation, line by line.
use super::*;

fn kinds() -> Vec<String> {
    ["agent", "echo", "counter"].map(String::from).to_vec()
}

const GOOD: &str = r#"
[nameserver]
addr = "tcp://127.0.0.1:7100"
[metrics]
addr = "127.0.0.1:0"
[supervisor]
strategy = "rest_for_one"
intensity = 5
period = "10s"
heartbeat = "500ms"
[[agent]]
name = "echo"
kind = "echo"
restart = "transient"
memory_limit = "256MiB"
attributes = { greeting = "hi" }
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  transport = "tcp"
  addr = "127.0.0.1:7101"
  serializer = "raw"
  handler = "echo"
[[agent]]
name = "client"
kind = "counter"
  [[agent.connect]]
  to = "echo.main"
  alias = "out"
  topics = ["foo"]
"#;

#[test]
fn a_good_manifest_converts_to_validated_types() {
    let m = Manifest::parse(GOOD, &kinds()).unwrap();
    assert_eq!(m.nameserver.as_deref(), Some("tcp://127.0.0.1:7100"));
    assert_eq!(m.metrics, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(m.supervisor.strategy, RestartStrategy::RestForOne);
    assert_eq!(m.supervisor.period, Duration::from_secs(10));
    assert_eq!(m.supervisor.heartbeat, Duration::from_millis(500));
    let echo = &m.agents[0];
    assert_eq!(
        (echo.restart, echo.memory_limit),
        (Restart::Transient, Some(256 << 20))
    );
    assert_eq!(echo.binds[0].kind, SocketKind::Rep);
    assert_eq!(echo.binds[0].serializer, Some(Serializer::Raw));
    assert_eq!(m.agents[1].connects[0].agent, "echo");
}

fn error(text: &str) -> ManifestError {
    Manifest::parse(text, &kinds()).unwrap_err()
}

#[test]
fn unknown_fields_are_refused_at_their_line() {
    let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\ncolour = \"red\"\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("colour"), "{e}");
}

#[test]
fn duplicate_names_unknown_kinds_and_bad_addresses_name_their_line() {
    let dup =
        "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
    let e = error(dup);
    assert_eq!((e.line, e.message.contains("duplicate")), (5, true), "{e}");
    let e = error("[[agent]]\nname = \"a\"\nkind = \"nope\"\n");
    assert_eq!(
        (e.line, e.message.contains("unknown agent kind")),
        (3, true),
        "{e}"
    );
    let bad = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"REP\"\ntransport = \"tcp\"\naddr = \"127.0.0.1:99999\"\n";
    assert_eq!(error(bad).line, 8);
    let e = error("[nameserver]\naddr = \"no-such-host.invalid:1\"\n");
    assert_eq!(e.line, 2, "{e}");
    let e = error("\n[metrics]\naddr = \"localhost\"\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.to_string().contains("not IP:PORT"), "{e}");
    let e = error("[metrics]\nport = 9100\n");
    assert_eq!(e.line, 2, "{e}");
    let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.connect]]\nto = \"b.main\"\nalias = \"x\"\n");
    assert_eq!(e.line, 5, "{e}");
    let e = error("[supervisor]\nperiod = \"soon\"\n");
    assert_eq!(e.line, 2, "{e}");
    let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"PAIR\"\n");
    assert_eq!(e.line, 6, "{e}");
}

#[test]
fn a_bind_names_its_socket_kind_with_socket_and_the_old_kind_key_still_works_with_a_warning() {
    let head = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\n";
    let m = Manifest::parse(&format!("{head}socket = \"REP\"\n"), &kinds()).unwrap();
    assert_eq!(
        (m.agents[0].binds[0].kind, m.warnings.len()),
        (SocketKind::Rep, 0)
    );
    let old = Manifest::parse(&format!("{head}kind = \"REP\"\n"), &kinds()).unwrap();
    assert_eq!(old.agents[0].binds[0].kind, SocketKind::Rep);
    assert_eq!(old.warnings.len(), 1);
    assert!(old.warnings[0].starts_with("line 6:"), "{:?}", old.warnings);
    assert!(
        old.warnings[0].contains("socket = \"REP\""),
        "{:?}",
        old.warnings
    );
    let both = error(&format!("{head}socket = \"REP\"\nkind = \"REP\"\n"));
    assert!(both.message.contains("`socket` only"), "{both}");
    let neither = error(&format!("{head}handler = \"h\"\n"));
    assert_eq!(neither.line, 4, "{neither}");
    assert!(neither.message.contains("missing `socket`"), "{neither}");
}

#[test]
fn socket_settings_chaos_and_args_are_checked_at_their_line() {
    let bind = |extra: &str| {
        format!("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"PUB\"\n{extra}")
    };
    let m = Manifest::parse(&bind("hwm = 50\non_full = \"drop\"\n"), &kinds()).unwrap();
    let settings = m.agents[0].binds[0].socket;
    assert_eq!(settings.hwm, Some(50));
    assert_eq!(settings.on_full, Some(axon_runtime::OnFull::Drop));
    let e = error(&bind("on_full = \"block\"\n"));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("never blocks"), "{e}");
    assert_eq!(error(&bind("hwm = -1\n")).line, 7);
    assert_eq!(error(&bind("on_full = \"maybe\"\n")).line, 7);

    let chaos = "[chaos]\nevery = \"1s\"\ntargets = [\"ghost\"]\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
    let e = error(chaos);
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("ghost"), "{e}");
    let ok = chaos
        .replace("ghost", "a")
        .replace("1s\"", "1s\"\nsignal = \"STOP\"");
    let m = Manifest::parse(&ok, &kinds()).unwrap();
    let c = m.chaos.unwrap();
    assert_eq!(
        (c.every, c.signal),
        (Duration::from_secs(1), axon_runtime::launch::Signal::Stop)
    );

    let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\nargs = [\"-v\"]\n");
    assert!(e.message.contains("`args` are for a `bin`"), "{e}");
    let m = Manifest::parse(
        "[[agent]]\nname = \"a\"\nkind = \"mine\"\nbin = \"x\"\nargs = [\"-v\"]\n",
        &kinds(),
    )
    .unwrap();
    assert_eq!(m.agents[0].args, ["-v"]);
}

#[test]
fn sizes_and_durations_parse() {
    assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
    assert!(parse_bytes("12 parsecs").is_err());
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert!(parse_duration("1h").is_err());
}

#[test]
fn one_kind_has_one_host() {
    let two = "[[agent]]\nname = \"a\"\nkind = \"mine\"\nbin = \"x\"\n[[agent]]\nname = \"b\"\nkind = \"mine\"\nbin = \"y\"\n";
    let e = error(two);
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("hosted by bin x on line 3"), "{e}");
    let mixed = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent]]\nname = \"b\"\nkind = \"echo\"\nbin = \"y\"\n";
    assert!(error(mixed).message.contains("the axon binary"));
    let same = "[[agent]]\nname = \"a\"\nkind = \"mine\"\nbin = \"x\"\n[[agent]]\nname = \"b\"\nkind = \"mine\"\nbin = \"x\"\n";
    assert_eq!(Manifest::parse(same, &kinds()).unwrap().agents.len(), 2);
}

#[test]
fn framing_and_dispatch_are_read_and_checked_at_their_line() {
    let agent = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
    let bind = |socket: &str, extra: &str| {
        format!("{agent}[[agent.bind]]\nalias = \"m\"\nsocket = \"{socket}\"\n{extra}")
    };
    let m = Manifest::parse(&bind("PUB", "framing = \"osbrain\"\n"), &kinds()).unwrap();
    assert_eq!(
        m.agents[0].binds[0].options().framing,
        Some(axon_runtime::Framing::Osbrain)
    );
    let e = error(&bind("PUSH", "framing = \"osbrain\"\n"));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("PUB binds"), "{e}");
    let e = error(&bind("PUB", "framing = \"single\"\n"));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("multipart or osbrain"), "{e}");

    let connect = |extra: &str| {
        format!("{agent}[[agent.connect]]\nto = \"b.out\"\nalias = \"in\"\nhandler = \"h\"\n{extra}[[agent]]\nname = \"b\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"out\"\nsocket = \"PUB\"\n")
    };
    let m = Manifest::parse(&connect("dispatch = \"all\"\n"), &kinds()).unwrap();
    assert_eq!(
        m.agents[0].connects[0].options().dispatch,
        Some(axon_runtime::Dispatch::All)
    );
    let plain = Manifest::parse(&connect(""), &kinds()).unwrap();
    assert_eq!(plain.agents[0].connects[0].options().dispatch, None);
    let e = error(&connect("dispatch = \"first\"\n"));
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("longest or all"), "{e}");
    let to_push = connect("dispatch = \"all\"\n").replace("socket = \"PUB\"", "socket = \"PUSH\"");
    let e = error(&to_push);
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("is a PUSH bind"), "{e}");
}

#[test]
fn scripts_and_their_limits_are_read_and_a_bad_one_names_both_lines() {
    let good = "[[agent]]\nname = \"s\"\nkind = \"agent\"\n  [agent.script_limits]\n  operations = 10\n  [[agent.script]]\n  source = \"fn f(x) { x }\"\n  [[agent.script]]\n  file = \"more.rhai\"\n";
    let m = Manifest::parse(good, &kinds()).unwrap();
    let a = &m.agents[0];
    assert_eq!(a.script_limits.map(|l| l.operations), Some(10));
    assert_eq!(a.scripts.len(), 2);
    assert_eq!((a.scripts[0].line, a.scripts[1].line), (6, 8));
    assert_eq!(
        a.scripts[1].file.as_deref(),
        Some(std::path::Path::new("more.rhai"))
    );

    let bad = "[[agent]]\nname = \"s\"\nkind = \"agent\"\n  [[agent.script]]\n  source = \"\"\"\nfn f(x) {\n  x +* 1\n}\"\"\"\n";
    let e = Manifest::parse(bad, &kinds()).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    // TOML drops the newline right after `"""`: the script starts with `fn`.
    assert!(e.message.starts_with("script: line 2, column 6"), "{e}");
    let both = "[[agent]]\nname = \"s\"\nkind = \"agent\"\n  [[agent.script]]\n  source = \"fn f() {}\"\n  file = \"f.rhai\"\n";
    assert!(Manifest::parse(both, &kinds()).is_err());
    let typo =
        "[[agent]]\nname = \"s\"\nkind = \"agent\"\n  [agent.script_limits]\n  operation = 10\n";
    assert!(Manifest::parse(typo, &kinds()).is_err());
}

#[test]
fn the_status_table_names_an_agent_of_the_manifest() {
    let named =
        "[status]\nagent = \"a\"\nattribute = \"line\"\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
    let status = Manifest::parse(named, &kinds()).unwrap().status.unwrap();
    assert_eq!(
        (status.agent.as_str(), status.attribute.as_str()),
        ("a", "line")
    );
    let default = "[status]\nagent = \"a\"\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
    let status = Manifest::parse(default, &kinds()).unwrap().status.unwrap();
    assert_eq!(status.attribute, STATUS_ATTRIBUTE);
    assert_eq!(Manifest::parse(GOOD, &kinds()).unwrap().status, None);
    let stranger = error("[status]\nagent = \"b\"\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n");
    assert_eq!(stranger.line, 2, "{stranger}");
    assert!(stranger.message.contains("\"b\""), "{stranger}");
    let typo =
        error("[status]\nagent = \"a\"\ncolumn = 3\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n");
    assert_eq!(typo.line, 3, "{typo}");
}

#[test]
fn reliable_and_durable_are_read_checked_and_reach_the_options() {
    let bind = |socket: &str, extra: &str| {
        format!("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"{socket}\"\n{extra}")
    };
    let m = Manifest::parse(&bind("PUSH", "reliable = true\n"), &kinds()).unwrap();
    let opts = m.agents[0].binds[0].options();
    assert_eq!(opts.reliable, Some(axon_runtime::Reliability::default()));
    let m = Manifest::parse(&bind("PUSH", "durable = true\n"), &kinds()).unwrap();
    assert_eq!(
        m.agents[0].binds[0].reliable,
        Some(axon_runtime::Reliability::durable())
    );
    let table = "reliable = { ack_timeout_ms = 300, max_attempts = 2, dead_letter = \"dl\" }\n";
    let m = Manifest::parse(&bind("PULL", table), &kinds()).unwrap();
    let r = m.agents[0].binds[0].reliable.clone().unwrap();
    assert_eq!(
        (
            r.ack_timeout_ms,
            r.max_attempts,
            r.dead_letter.as_deref(),
            r.durable
        ),
        (300, 2, Some("dl"), false)
    );
    let m = Manifest::parse(&bind("PULL", "reliable = false\n"), &kinds()).unwrap();
    assert_eq!(m.agents[0].binds[0].reliable, None);

    let e = error(&bind("PUB", "reliable = true\n"));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("only PUSH and PULL"), "{e}");
    let e = error(&bind("PUSH", "reliable = { window = 0 }\n"));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("window"), "{e}");
    assert_eq!(error(&bind("PUSH", "reliable = { colour = 1 }\n")).line, 7);

    let connect = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"PUSH\"\nreliable = true\n[[agent]]\nname = \"b\"\nkind = \"echo\"\n[[agent.connect]]\nto = \"a.m\"\nalias = \"in\"\nhandler = \"h\"\ndurable = true\n";
    let m = Manifest::parse(connect, &kinds()).unwrap();
    let opts = m.agents[1].connects[0].options();
    assert_eq!(opts.reliable, Some(axon_runtime::Reliability::durable()));
}
