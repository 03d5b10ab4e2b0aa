//! axon agents and real osBrain 0.6.5 agents on one wire: ACCEPTANCE L2.
//!
//! Each test starts an axon node and `tests/osbrain/driver.py` (an osBrain
//! name server and agent in a venv under the target directory, made on first
//! use; the tests print SKIPPED and pass when pip cannot install osBrain).
//! Addresses go between the two sides through the test; every pattern runs
//! with the raw and the json serializer, both ways. docs/osbrain.md says what
//! the layouts are.

mod common;
#[path = "osbrain/harness.rs"]
mod harness;

use axon::prelude::*;
use axon::testing;
use common::{eventually, Record, Report, PATIENCE};
use harness::Driver;
use serde_json::{json, Value as Json};

axon::test_host!(common::registry());

const SERIALIZERS: [(&str, Serializer); 2] = [("raw", Serializer::Raw), ("json", Serializer::Json)];

/// Both sides of a test: an axon node with one agent, and an osBrain driver.
struct Sides {
    ns: NameServer,
    agent: Proxy,
    py: Driver,
}

impl Sides {
    /// `None` (the test is SKIPPED) when osBrain cannot be installed here.
    fn start(test: &str, agent: &str, report: Option<&Report>) -> Option<Sides> {
        let python = harness::python(test)?;
        let ns = testing::node().unwrap();
        let mut agent = ns.run_agent(agent).unwrap();
        if let Some(report) = report {
            report.attach(&mut agent);
        }
        let py = Driver::start(&python);
        Some(Sides { ns, agent, py })
    }

    /// Ends osBrain (every process of its group gone), then the node.
    fn finish(self) {
        self.py.finish();
        self.ns.shutdown().unwrap();
    }
}

/// The address of a socket osBrain bound at `endpoint`, as an axon agent connects to it.
fn osbrain_address(endpoint: &str, kind: SocketKind, serializer: Serializer) -> Address {
    Address {
        endpoint: endpoint.to_owned(),
        kind,
        role: Role::Server,
        serializer,
        requests: None,
        secure: false,
    }
}

fn tcp(alias: &str, serializer: Serializer, handler: Option<&str>) -> BindOptions {
    BindOptions {
        alias: Some(alias.into()),
        transport: Some(Transport::Tcp),
        serializer: Some(serializer),
        handler: handler.map(str::to_owned),
        ..BindOptions::default()
    }
}

/// A message as the driver takes and gives it: raw bytes as `{"bytes": text}`, json as is.
fn wire(serializer: &str, text: &str) -> Json {
    match serializer {
        "raw" => json!({ "bytes": text }),
        _ => json!(text),
    }
}

/// What osBrain recorded after its last `probe`, once `last` is among it.
fn osbrain_records_after_probes(py: &mut Driver, last: &Json) -> Vec<Json> {
    let records = eventually("osBrain receiving the last message", || {
        let got = py.received();
        got.iter().any(|r| r[1] == *last).then_some(got)
    });
    let probes = records
        .iter()
        .rposition(|r| r[1].to_string().contains("probe"));
    records[probes.map_or(0, |p| p + 1)..].to_vec()
}

/// What the axon agent's handlers reported, up to `ends` records whose text contains "end",
/// with everything up to the last probe left out.
fn axon_records_after_probes(report: &Report, ends: usize) -> Vec<Record> {
    let mut got: Vec<Record> = Vec::new();
    while got.iter().filter(|r| r.text().contains("end")).count() < ends {
        got.extend(report.take(1));
    }
    let probes = got.iter().rposition(|r| r.text().contains("probe"));
    got.split_off(probes.map_or(0, |p| p + 1))
}

#[test]
fn an_osbrain_sub_hears_an_axon_pub_with_osbrain_framing() {
    let Some(mut s) = Sides::start(
        "an_osbrain_sub_hears_an_axon_pub_with_osbrain_framing",
        "publisher",
        None,
    ) else {
        return;
    };
    for (name, serializer) in SERIALIZERS {
        let alias = format!("pub-{name}");
        let opts = BindOptions {
            framing: Some(Framing::Osbrain),
            ..tcp(&alias, serializer, None)
        };
        let at = s.agent.bind_with(SocketKind::Pub, opts).unwrap();
        let sub = format!("sub-{name}");
        s.py.connect("PUB", &at.endpoint, &sub, name, json!({"topics": ["t"]}));
        // ZeroMQ subscriptions travel on their own: probe until one is heard.
        let before = s.py.received().len();
        eventually("osBrain's subscription", || {
            s.agent.publish(&alias, "t", &"probe").unwrap();
            (s.py.received().len() > before).then_some(())
        });
        s.agent.publish(&alias, "x", &"not subscribed").unwrap();
        s.agent.publish(&alias, "t", &"one").unwrap();
        s.agent.publish(&alias, "tea", &"two").unwrap();
        s.agent.publish(&alias, "t", &"end").unwrap();
        let got = match name {
            // Raw: osBrain hands its handler the whole frame, topic included.
            "raw" => osbrain_records_after_probes(&mut s.py, &json!({"bytes": "tend"})),
            _ => osbrain_records_after_probes(&mut s.py, &json!("end")),
        };
        let expected = match name {
            "raw" => vec![
                json!(["t", {"bytes": "tone"}]),
                json!(["t", {"bytes": "teatwo"}]),
                json!(["t", {"bytes": "tend"}]),
            ],
            _ => vec![
                json!(["t", "one"]),
                json!(["t", "two"]),
                json!(["t", "end"]),
            ],
        };
        // osBrain records the subscription's topic (as bytes) with each message.
        let expected: Vec<Json> = expected
            .into_iter()
            .map(|r| json!([{"bytes": r[0]}, r[1]]))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
    s.finish();
}

#[test]
fn an_axon_sub_hears_an_osbrain_pub_and_runs_every_matching_handler() {
    let report = Report::new();
    let Some(mut s) = Sides::start(
        "an_axon_sub_hears_an_osbrain_pub_and_runs_every_matching_handler",
        "subscriber",
        Some(&report),
    ) else {
        return;
    };
    for (name, serializer) in SERIALIZERS {
        let alias = format!("pub-{name}");
        let at = s.py.bind("PUB", &alias, name, None);
        let sub = format!("sub-{name}");
        // Both match "t...": with dispatch "all" both run, shortest prefix first.
        let opts = ConnectOptions {
            dispatch: Some(Dispatch::All),
            ..ConnectOptions::alias(&sub).topics(&[("t", "collect"), ("", "collect_tagged")])
        };
        let address = osbrain_address(&at, SocketKind::Pub, serializer);
        s.agent.connect_with(&address, opts).unwrap();
        let send = |py: &mut Driver, topic: &str, text: &str| {
            py.call(json!({"op": "send", "alias": alias, "topic": topic, "msg": wire(name, text)}));
        };
        eventually("the subscription to osBrain's publisher", || {
            send(&mut s.py, "t", "probe");
            report.next(std::time::Duration::from_millis(50))
        });
        send(&mut s.py, "x", "other");
        send(&mut s.py, "t", "one");
        send(&mut s.py, "t", "end");
        let got: Vec<(String, Option<Vec<u8>>, String)> = axon_records_after_probes(&report, 2)
            .into_iter()
            .map(|r| {
                (
                    r.alias.clone(),
                    r.topic.as_ref().map(|t| t.to_vec()),
                    r.text(),
                )
            })
            .collect();
        let expected = expected_from_osbrain_pub(name, &sub);
        assert_eq!(got, expected, "{name}");
    }
    assert!(report.is_quiet(std::time::Duration::from_millis(100)));
    s.finish();
}

/// (alias, topic, text) of what the axon SUB reports for "other" on x, then "one" and "end" on t.
fn expected_from_osbrain_pub(
    serializer: &str,
    sub: &str,
) -> Vec<(String, Option<Vec<u8>>, String)> {
    let record = |alias: &str, topic: &str, text: &str| match serializer {
        // Raw: one frame, topic and payload run together; the handler gets it whole.
        "raw" => (alias.to_owned(), None, format!("{topic}{text}")),
        // json: split at osBrain's separator; the topic comes along.
        _ => (
            alias.to_owned(),
            Some(topic.as_bytes().to_vec()),
            text.to_owned(),
        ),
    };
    vec![
        record("tagged", "x", "other"),
        record("tagged", "t", "one"),
        record(sub, "t", "one"),
        record("tagged", "t", "end"),
        record(sub, "t", "end"),
    ]
}

#[test]
fn an_axon_req_is_answered_by_an_osbrain_rep() {
    let Some(mut s) = Sides::start("an_axon_req_is_answered_by_an_osbrain_rep", "asker", None)
    else {
        return;
    };
    for (name, serializer) in SERIALIZERS {
        let at =
            s.py.bind("REP", &format!("rep-{name}"), name, Some("upper"));
        let ask = format!("ask-{name}");
        let address = osbrain_address(&at, SocketKind::Rep, serializer);
        s.agent.connect(&address, &ask, None).unwrap();
        for word in ["shout", "again", "À bientôt"] {
            let reply: Value = s.agent.request_wait(&ask, word, PATIENCE).unwrap();
            let text = match reply {
                Value::Bytes(b) if name == "raw" => String::from_utf8(b).unwrap(),
                Value::Text(t) if name == "json" => t,
                other => panic!("{name}: unexpected reply {other:?}"),
            };
            // Python's bytes.upper() leaves non-ASCII bytes alone; str.upper() does not.
            let expected = match name {
                "raw" => word.to_ascii_uppercase(),
                _ => word.to_uppercase(),
            };
            assert_eq!(text, expected, "{name}");
        }
    }
    s.finish();
}

#[test]
fn an_osbrain_req_is_answered_by_an_axon_rep() {
    let Some(mut s) = Sides::start("an_osbrain_req_is_answered_by_an_axon_rep", "replier", None)
    else {
        return;
    };
    for (name, serializer) in SERIALIZERS {
        let at = s
            .agent
            .bind_with(
                SocketKind::Rep,
                tcp(&format!("rep-{name}"), serializer, Some("upper")),
            )
            .unwrap();
        let req = format!("req-{name}");
        s.py.connect("REP", &at.endpoint, &req, name, json!({}));
        for word in ["shout", "again", "À bientôt"] {
            let answer =
                s.py.call(json!({"op": "request", "alias": req, "msg": wire(name, word)}));
            assert_eq!(answer["reply"], wire(name, &word.to_uppercase()), "{name}");
        }
    }
    assert_eq!(s.agent.stats().unwrap().received, 6);
    s.finish();
}

#[test]
fn an_axon_push_reaches_an_osbrain_pull() {
    let Some(mut s) = Sides::start("an_axon_push_reaches_an_osbrain_pull", "pusher", None) else {
        return;
    };
    for (name, serializer) in SERIALIZERS {
        let at =
            s.py.bind("PULL", &format!("pull-{name}"), name, Some("record"));
        let out = format!("out-{name}");
        let address = osbrain_address(&at, SocketKind::Pull, serializer);
        s.agent.connect(&address, &out, None).unwrap();
        let before = s.py.received().len();
        for word in ["one", "two", "three"] {
            s.agent.send(&out, word).unwrap();
        }
        let got = eventually("osBrain pulling three messages", || {
            let got = s.py.received();
            (got.len() >= before + 3).then_some(got)
        });
        let expected: Vec<Json> = ["one", "two", "three"]
            .iter()
            .map(|w| json!([null, wire(name, w)]))
            .collect();
        assert_eq!(got[before..], expected[..], "{name}");
    }
    s.finish();
}

#[test]
fn an_osbrain_push_reaches_an_axon_pull() {
    let report = Report::new();
    let Some(mut s) = Sides::start(
        "an_osbrain_push_reaches_an_axon_pull",
        "puller",
        Some(&report),
    ) else {
        return;
    };
    for (name, serializer) in SERIALIZERS {
        let pull = format!("pull-{name}");
        let at = s
            .agent
            .bind_with(SocketKind::Pull, tcp(&pull, serializer, Some("collect")))
            .unwrap();
        let push = format!("push-{name}");
        s.py.connect("PULL", &at.endpoint, &push, name, json!({}));
        for word in ["one", "two", "three"] {
            s.py.call(json!({"op": "send", "alias": push, "msg": wire(name, word)}));
        }
        let got: Vec<(String, String)> = report
            .take(3)
            .into_iter()
            .map(|r| (r.alias.clone(), r.text()))
            .collect();
        let expected: Vec<(String, String)> = ["one", "two", "three"]
            .iter()
            .map(|w| (pull.clone(), w.to_string()))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
    assert!(report.is_quiet(std::time::Duration::from_millis(100)));
    s.finish();
}
