//! ZeroMQ CURVE with the libzmq this build links (see docs/curve.md).
//!
//! Built only with `--features curve`, which also needs a libzmq built with
//! libsodium: `cargo --config .cargo/curve.toml test -p axon-runtime --features curve --test curve`.
#![cfg(feature = "curve")]

fn endpoint(sock: &zmq::Socket) -> String {
    sock.get_last_endpoint().unwrap().unwrap()
}

/// Polls `sock` for up to `ms` milliseconds; true if a message is readable.
fn readable(sock: &zmq::Socket, ms: i64) -> bool {
    let mut items = [sock.as_poll_item(zmq::POLLIN)];
    zmq::poll(&mut items, ms).unwrap() > 0 && items[0].is_readable()
}

fn curve_server(ctx: &zmq::Context, keys: &zmq::CurveKeyPair) -> zmq::Socket {
    let s = ctx.socket(zmq::ROUTER).unwrap();
    s.set_linger(0).unwrap();
    s.set_curve_server(true).unwrap();
    s.set_curve_secretkey(&keys.secret_key).unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    s
}

fn curve_client(ctx: &zmq::Context, server_public: &[u8], at: &str) -> zmq::Socket {
    let me = zmq::CurveKeyPair::new().unwrap();
    let c = ctx.socket(zmq::DEALER).unwrap();
    c.set_linger(0).unwrap();
    c.set_curve_serverkey(server_public).unwrap();
    c.set_curve_publickey(&me.public_key).unwrap();
    c.set_curve_secretkey(&me.secret_key).unwrap();
    c.connect(at).unwrap();
    c
}

#[test]
fn libzmq_has_curve() {
    assert_eq!(
        zmq::has("curve"),
        Some(true),
        "this libzmq was built without CURVE"
    );
    let pair = zmq::CurveKeyPair::new().unwrap();
    assert_ne!(pair.public_key, pair.secret_key);
    assert_ne!(pair.public_key, [0u8; 32]);
}

#[test]
fn curve_client_with_server_key_talks_both_ways() {
    let ctx = zmq::Context::new();
    let server_keys = zmq::CurveKeyPair::new().unwrap();
    let server = curve_server(&ctx, &server_keys);
    let at = endpoint(&server);

    let client = curve_client(&ctx, &server_keys.public_key, &at);
    client.send("hello over curve", 0).unwrap();

    assert!(
        readable(&server, 5_000),
        "server got nothing from a client with its key"
    );
    let frames = server.recv_multipart(0).unwrap();
    assert_eq!(frames.len(), 2, "routing id + payload");
    assert_eq!(frames[1], b"hello over curve");

    server
        .send_multipart([frames[0].clone(), b"reply".to_vec()], 0)
        .unwrap();
    assert!(readable(&client, 5_000), "client got no reply");
    assert_eq!(client.recv_bytes(0).unwrap(), b"reply");
}

#[test]
fn clients_without_the_server_key_get_nothing_through() {
    let ctx = zmq::Context::new();
    let server_keys = zmq::CurveKeyPair::new().unwrap();
    let server = curve_server(&ctx, &server_keys);
    let at = endpoint(&server);

    // A CURVE client that trusts another server key: the handshake fails.
    let other = zmq::CurveKeyPair::new().unwrap();
    let wrong_key = curve_client(&ctx, &other.public_key, &at);
    wrong_key.send("from wrong key", 0).unwrap();

    // A plain (NULL mechanism) client: a CURVE server refuses it.
    let plain = ctx.socket(zmq::DEALER).unwrap();
    plain.set_linger(0).unwrap();
    plain.connect(&at).unwrap();
    plain.send("from plain", 0).unwrap();

    assert!(
        !readable(&server, 1_000),
        "a client without the server's key got a message through"
    );

    // The server still serves a client that has its key, and only that message arrives.
    let good = curve_client(&ctx, &server_keys.public_key, &at);
    good.send("from good", 0).unwrap();
    assert!(readable(&server, 5_000));
    let frames = server.recv_multipart(0).unwrap();
    assert_eq!(frames[1], b"from good");
    assert!(!readable(&server, 300), "something else got through");
}
