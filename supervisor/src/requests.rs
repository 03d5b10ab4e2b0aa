//! Control requests to the name server as plain functions: reading frames,
//! decoding arguments, answering the methods that only touch the records,
//! and building replies. No sockets, so every rule is unit tested.

use axon_runtime::protocol::auth::{Guard, Rejection};
use axon_runtime::protocol::{self as wire, Request};
use axon_runtime::{ErrorKind, RemoteError, Value};
use serde::de::DeserializeOwned;
use tmq::Multipart;

use axon_runtime::protocol::lease::Renewal;

use crate::methods::{AliasOf, Named};
use crate::registry::{Records, Refusal, Waiter};

/// The name the name server answers as, and requests to it are signed for.
pub(crate) const NAMESERVER: &str = axon_runtime::protocol::NAMESERVER;

/// Why a control message was not taken.
#[derive(Debug)]
pub(crate) enum Unparsed {
    /// Not a control request; `waiter` is set when it still names a caller and a request id.
    Malformed { waiter: Option<Waiter>, why: String },
    /// A control request that failed authentication; it gets an answer saying so.
    Refused {
        waiter: Waiter,
        method: String,
        why: Rejection,
    },
}

/// Reads `[route, PROTOCOL, signature, body]` as received by a ROUTER (the one AXON/1
/// parser, `protocol::open_request`), and names who waits for the answer.
pub(crate) fn parse(frames: &[&[u8]], guard: &mut Guard) -> Result<(Waiter, Request), Unparsed> {
    let route = frames.first().map(|r| r.to_vec()).unwrap_or_default();
    let waiter = |id| Waiter {
        route: route.clone(),
        id,
    };
    match wire::open_request(frames, guard) {
        Ok(request) => Ok((waiter(request.id), request)),
        Err(wire::Unparsed::Refused { id, method, why }) => Err(Unparsed::Refused {
            waiter: waiter(id),
            method,
            why,
        }),
        Err(wire::Unparsed::Malformed { id, why }) => Err(Unparsed::Malformed {
            waiter: id.map(waiter),
            why,
        }),
    }
}

/// The structured error of a refusal to `method`.
pub(crate) fn refusal((kind, message): Refusal, method: &str) -> RemoteError {
    RemoteError {
        kind,
        message,
        agent: NAMESERVER.into(),
        method: method.to_owned(),
    }
}

/// Decodes the arguments of `req`; null counts as an empty map.
pub(crate) fn args<T: DeserializeOwned>(req: &Request) -> Result<T, Refusal> {
    req.decode_args().map_err(|reason| {
        let message = format!("invalid arguments to {}: {reason}", req.method);
        (ErrorKind::BadArguments, message)
    })
}

/// Encodes an answer.
pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, Refusal> {
    Value::serialized(v).map_err(|e| (ErrorKind::Internal, e.to_string()))
}

/// Answers the methods that only read or edit the records, and unknown methods.
pub(crate) fn query(r: &mut Records, req: &Request) -> Result<Value, Refusal> {
    match req.method.as_str() {
        "ping" => Ok(Value::Text("pong".into())),
        "list" => to_value(&r.names()),
        "info" => args::<Named>(req).and_then(|a| to_value(r.info(&a.name)?)),
        "addr" => args::<AliasOf>(req).and_then(|a| to_value(r.addr(&a.name, &a.alias)?)),
        "del_addr" => args::<AliasOf>(req)
            .and_then(|a| r.del_addr(&a.name, &a.alias))
            .map(|()| Value::Null),
        "renew" => args::<Renewal>(req)
            .and_then(|a| r.renew(&a.name, a.pid, a.stats))
            .map(|()| Value::Null),
        "unregister" => args::<Named>(req)
            .and_then(|a| r.unregister(&a.name))
            .map(|_| Value::Null),
        other => Err((
            ErrorKind::UnknownMethod,
            format!("unknown method {other:?}"),
        )),
    }
}

/// The frames answering `waiter`: `[route, PROTOCOL, signature, body]`.
///
/// An answer that does not encode (a value CBOR cannot carry) becomes an `internal` error.
pub(crate) fn reply_frames(waiter: &Waiter, outcome: Result<Value, RemoteError>) -> Multipart {
    let frames = wire::reply_frames(&waiter.route, waiter.id, outcome).or_else(|e| {
        let error = refusal(
            (ErrorKind::Internal, format!("answer does not encode: {e}")),
            "?",
        );
        wire::reply_frames(&waiter.route, waiter.id, Err(error))
    });
    frames.unwrap_or_default().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::Register;

    fn request(method: &str, args: Value) -> Request {
        Request::new(9, NAMESERVER, method, args, false)
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::Text((*k).into()), v.clone()))
                .collect(),
        )
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn records_with(name: &str) -> Records {
        let mut r = Records::default();
        let reg = Register {
            name: name.into(),
            kind: "agent".into(),
            pid: 4,
            control: "ipc:///tmp/x.ctl".into(),
            lease_ms: 60_000,
        };
        r.register(reg).unwrap();
        r
    }

    fn kind_of(r: &mut Records, method: &str, args: Value) -> ErrorKind {
        query(r, &request(method, args)).unwrap_err().0
    }

    #[test]
    fn arguments_decode_from_maps_and_null_is_an_empty_map() {
        let named: Named = args(&request("info", map(&[("name", text("a"))]))).unwrap();
        assert_eq!(named.name, "a");
        let stop: crate::methods::Stop = args(&request("shutdown", Value::Null)).unwrap();
        assert_eq!(stop.timeout_ms, None);
    }

    #[test]
    fn missing_mistyped_and_unknown_arguments_are_bad_arguments() {
        let mut r = records_with("a");
        assert_eq!(
            kind_of(&mut r, "info", Value::Null),
            ErrorKind::BadArguments
        );
        let mistyped = map(&[("name", Value::Integer(5.into()))]);
        assert_eq!(kind_of(&mut r, "info", mistyped), ErrorKind::BadArguments);
        let extra = map(&[("name", text("a")), ("colour", text("red"))]);
        assert_eq!(kind_of(&mut r, "info", extra), ErrorKind::BadArguments);
        let not_a_map = Value::Array(vec![text("a")]);
        assert_eq!(kind_of(&mut r, "addr", not_a_map), ErrorKind::BadArguments);
        let (_, message) = query(&mut r, &request("info", Value::Null)).unwrap_err();
        assert!(message.contains("invalid arguments to info"), "{message}");
    }

    #[test]
    fn record_methods_answer_from_the_records() {
        let mut r = records_with("a");
        let pong = query(&mut r, &request("ping", Value::Null)).unwrap();
        assert_eq!(pong, text("pong"));
        let list = query(&mut r, &request("list", Value::Null)).unwrap();
        assert_eq!(list, Value::Array(vec![text("a")]));
        let info = query(&mut r, &request("info", map(&[("name", text("a"))]))).unwrap();
        let info: crate::AgentInfo = info.deserialized().unwrap();
        assert_eq!((info.name.as_str(), info.pid), ("a", 4));
        let b = map(&[("name", text("b"))]);
        assert_eq!(kind_of(&mut r, "info", b.clone()), ErrorKind::NotFound);
        assert_eq!(kind_of(&mut r, "unregister", b), ErrorKind::NotFound);
        let no_alias = map(&[("name", text("a")), ("alias", text("x"))]);
        assert_eq!(kind_of(&mut r, "addr", no_alias), ErrorKind::NotFound);
        let a = map(&[("name", text("a"))]);
        assert_eq!(query(&mut r, &request("unregister", a)), Ok(Value::Null));
        assert!(r.names().is_empty());
    }

    #[test]
    fn unknown_methods_are_named_in_the_error() {
        let mut r = Records::default();
        let (kind, message) = query(&mut r, &request("frobnicate", Value::Null)).unwrap_err();
        assert_eq!(kind, ErrorKind::UnknownMethod);
        assert!(message.contains("frobnicate"), "{message}");
        let e = refusal((kind, message), "frobnicate");
        assert_eq!(
            (e.agent.as_str(), e.method.as_str()),
            ("nameserver", "frobnicate")
        );
    }

    fn waiter_of(u: Unparsed) -> Option<Waiter> {
        match u {
            Unparsed::Malformed { waiter, .. } => waiter,
            Unparsed::Refused { .. } => panic!("refused, not malformed"),
        }
    }

    #[test]
    fn malformed_messages_are_answerable_only_with_a_route_and_an_id() {
        let body = wire::encode_body(&request("ping", Value::Null)).unwrap();
        let with_id =
            |frames: &[&[u8]]| waiter_of(parse(frames, &mut Guard::new(NAMESERVER)).unwrap_err());
        let expected = Some(Waiter {
            route: b"r".to_vec(),
            id: 9,
        });
        assert_eq!(with_id(&[b"r", b"AXON/0", b"", &body]), expected);
        assert_eq!(with_id(&[b"r", &body]), expected);
        assert_eq!(with_id(&[b"r", wire::PROTOCOL, b"", b"\xff\x00"]), None);
        assert_eq!(with_id(&[b"r"]), None);
        assert_eq!(with_id(&[]), None);
        let id_only = wire::encode_body(&map(&[("id", Value::Integer(3.into()))])).unwrap();
        let answerable = with_id(&[b"r", wire::PROTOCOL, b"", &id_only]);
        assert_eq!(answerable.map(|w| w.id), Some(3));
    }

    #[test]
    fn signed_requests_are_taken_and_unsigned_ones_refused_with_their_waiter() {
        axon_runtime::protocol::auth::install_key(
            axon_runtime::protocol::auth::Key::generate().unwrap(),
        );
        let mut guard = Guard::new(NAMESERVER);
        let body = wire::encode_body(&request("ping", Value::Null)).unwrap();
        let sig = axon_runtime::protocol::auth::signature(&body);
        let (waiter, req) = parse(&[b"r", wire::PROTOCOL, &sig, &body], &mut guard).unwrap();
        assert_eq!((waiter.id, req.method.as_str()), (9, "ping"));
        match parse(&[b"r", wire::PROTOCOL, b"", &body], &mut guard) {
            Err(Unparsed::Refused { waiter, why, .. }) => {
                assert_eq!((waiter.id, why), (9, Rejection::BadSignature))
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn replies_carry_the_route_protocol_and_request_id() {
        let w = Waiter {
            route: b"route".to_vec(),
            id: 42,
        };
        let frames = reply_frames(&w, Ok(text("pong")));
        let frames: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        assert_eq!((frames[0], frames[1]), (&b"route"[..], wire::PROTOCOL));
        let reply: wire::Reply = wire::decode_body(frames[3]).unwrap();
        assert_eq!(reply.id, 42);
        assert_eq!(reply.result, wire::Outcome::Ok(text("pong")));
    }
}
