//! Authentication of the control plane: every control message is signed
//! with HMAC-SHA256 under the deployment key, the way Jupyter signs its
//! ZeroMQ messages. The signed body names its destination, its time, and
//! the sender's session and sequence number; requests that are unsigned,
//! wrongly signed, meant for another receiver, stale or replayed are refused.
//! A process with no key refuses everything unless its operator started it
//! in insecure mode.
//!
//! The key reaches a process through `AXON_KEY` (hex) or `AXON_KEY_FILE` (a
//! file holding the hex key). A script that starts a name server without a
//! key makes one; the name server passes it to its agents in their
//! environment and writes it to `<runtime dir>/key` (mode 0600) for the CLI.

mod curve;
mod guard;
mod key;

pub(crate) use curve::curve_keys;
pub use guard::{next_stamp, random_u64, Guard, Rejection};
pub use key::{
    allow_insecure, ensure_key, install_key, process_key, signature, Key, FRESHNESS, INSECURE_ENV,
    KEY_ENV, KEY_FILE_ENV, KEY_MISMATCH,
};
