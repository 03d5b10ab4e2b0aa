//! What crosses the control socket: the signed envelope of requests and
//! replies, its authentication, the arguments of every control method
//! (one set, used by clients and by the host), and the journal of
//! configuring calls a supervisor replays; and the lease channel, the
//! datagrams supervised agents renew their leases with. The options of a bind, a
//! connect and a request live here too: they are what those methods carry,
//! whether a proxy sends them or agent code passes them to `Ctx`.

pub mod auth;
mod envelope;
pub mod journal;
pub mod lease;
pub mod methods;
mod options;
mod reliability;

pub use envelope::{
    decode_body, encode_body, open_reply, open_request, reply_frames, Outcome, Reply, Request,
    Unparsed, ERROR_MARKER, NAMESERVER, PROTOCOL,
};
pub use options::{BindOptions, ConnectOptions, Dispatch, RequestOptions};
pub use reliability::{Reliability, DEFAULT_ACK_TIMEOUT};
