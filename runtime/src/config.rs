//! Validated configuration: defaults read once from the environment.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::Serializer;
use crate::error::{Error, Result};
use crate::net::Transport;

/// Largest message (sum of frames) an agent accepts unless configured otherwise: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// How long a closing socket may keep flushing queued messages: 1 s.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// Time a control call waits for its answer unless told otherwise: 10 s.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Process-wide defaults, overridable per agent and per bind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    /// Transport for binds that name none (`AXON_DEFAULT_TRANSPORT`, else ipc).
    pub transport: Transport,
    /// Serializer for binds that name none (`AXON_DEFAULT_SERIALIZER`, else cbor).
    pub serializer: Serializer,
    /// Linger on close (`AXON_DEFAULT_LINGER`, in seconds, else 1).
    pub linger: Duration,
    /// Largest accepted message in bytes (`AXON_MAX_MESSAGE`, else 16 MiB).
    pub max_message: usize,
    /// How often an agent renews its registration (`AXON_LEASE_MS`, else 1 s; a
    /// longer lease still renews every second, carrying its counters for `ps`);
    /// the name server forgets an agent silent for three periods.
    #[serde(default = "default_lease")]
    pub lease: Duration,
    /// High-water mark of every socket, in messages per peer and direction
    /// (`AXON_DEFAULT_HWM`, else 1000 as in libzmq).
    #[serde(default = "default_hwm")]
    pub hwm: i32,
}

fn default_hwm() -> i32 {
    crate::net::DEFAULT_HWM
}

fn default_lease() -> Duration {
    DEFAULT_LEASE
}

/// How often agents renew their registration unless told otherwise: 1 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(1);

/// Renewals an agent may miss before the name server forgets it.
pub const LEASE_MISSES: u32 = 3;

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            transport: Transport::Ipc,
            serializer: Serializer::Cbor,
            linger: DEFAULT_LINGER,
            max_message: DEFAULT_MAX_MESSAGE,
            lease: DEFAULT_LEASE,
            hwm: crate::net::DEFAULT_HWM,
        }
    }
}

impl Defaults {
    /// Reads the `AXON_DEFAULT_*` variables; an unset variable keeps the built-in default.
    pub fn from_env() -> Result<Self> {
        let mut d = Defaults::default();
        if let Some(v) = env_var("AXON_DEFAULT_TRANSPORT")? {
            d.transport = v.parse()?;
        }
        if let Some(v) = env_var("AXON_DEFAULT_SERIALIZER")? {
            d.serializer = v.parse()?;
        }
        if let Some(v) = env_var("AXON_DEFAULT_HWM")? {
            d.hwm = v.parse().ok().filter(|h: &i32| *h >= 0).ok_or_else(|| {
                Error::invalid(
                    "AXON_DEFAULT_HWM",
                    &v,
                    "expected messages, 0 or more (0: no limit)",
                )
            })?;
        }
        if let Some(v) = env_var("AXON_DEFAULT_LINGER")? {
            d.linger = linger(&v)?;
        }
        if let Some(v) = env_var("AXON_MAX_MESSAGE")? {
            d.max_message = v
                .parse()
                .map_err(|_| Error::invalid("AXON_MAX_MESSAGE", &v, "expected a byte count"))?;
        }
        if let Some(v) = env_var("AXON_LEASE_MS")? {
            let ms: u64 =
                v.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                    Error::invalid("AXON_LEASE_MS", &v, "expected milliseconds > 0")
                })?;
            d.lease = Duration::from_millis(ms);
        }
        Ok(d)
    }
}

/// `AXON_DEFAULT_LINGER`: seconds, fractional, 0 or more; one too large for a
/// `Duration` is an error like any other bad value, never a panic.
fn linger(v: &str) -> Result<Duration> {
    v.parse()
        .ok()
        .and_then(|s: f64| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| Error::invalid("AXON_DEFAULT_LINGER", v, "expected seconds >= 0"))
}

/// Reads an environment variable; unset or empty is `None`, non-UTF-8 is an error.
pub fn env_var(name: &'static str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::invalid(name, "<non-utf8>", "not valid UTF-8"))
        }
    }
}

/// The per-user directory under which nodes keep their ipc files.
///
/// `$XDG_RUNTIME_DIR/axon` when set, else `<tmp>/axon-<uid>`.
pub fn user_runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("axon"),
        // SAFETY: getuid has no preconditions and cannot fail.
        _ => std::env::temp_dir().join(format!("axon-{}", unsafe { libc::getuid() })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ipc_cbor() {
        let d = Defaults::default();
        assert_eq!(
            (d.transport, d.serializer),
            (Transport::Ipc, Serializer::Cbor)
        );
        assert_eq!(d.max_message, 16 << 20);
    }

    #[test]
    fn linger_is_seconds_and_out_of_range_is_an_error() {
        assert_eq!(linger("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["-1", "nan", "inf", "1e300", "soon"] {
            assert!(linger(bad).is_err(), "{bad}");
        }
    }
}
