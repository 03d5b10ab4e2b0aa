//! One `[[agent]]` table, with its binds and connects, to a validated entry.

use axon_runtime::{Framing, SocketKind, Transport};
use toml::Spanned;

use super::parse_bytes;
use super::{
    raw, AgentEntry, BindEntry, ConnectEntry, Lines, ManifestError, Restart, SocketSettings,
};

pub(super) fn agent_entry(
    lines: &Lines<'_>,
    a: &raw::Agent,
    known_kinds: &[String],
    warnings: &mut Vec<String>,
) -> Result<AgentEntry, ManifestError> {
    let kind = a.kind.get_ref();
    if a.bin.is_none()
        && !known_kinds
            .iter()
            .any(|k| k == kind || k == super::ANY_KIND)
    {
        let message = format!(
            "unknown agent kind {kind:?} (known: {}; or name a `bin`)",
            known_kinds.join(", ")
        );
        return Err(lines.error(a.kind.span(), message));
    }
    if !a.args.is_empty() && a.bin.is_none() {
        return Err(lines.error(a.name.span(), "`args` are for a `bin`; this agent has none"));
    }
    if a.name.get_ref().is_empty() {
        return Err(lines.error(a.name.span(), "agent name must not be empty"));
    }
    let memory_limit = match &a.memory_limit {
        Some(m) => Some(parse_bytes(m.get_ref()).map_err(|e| lines.error(m.span(), e))?),
        None => None,
    };
    let binds = a
        .bind
        .iter()
        .map(|b| bind_entry(lines, b, warnings))
        .collect::<Result<_, _>>()?;
    let connects = a
        .connect
        .iter()
        .map(|c| connect_entry(lines, c.get_ref()))
        .collect::<Result<_, _>>()?;
    let scripts = a
        .script
        .iter()
        .map(|s| super::script::script_entry(lines, s))
        .collect::<Result<_, _>>()?;
    Ok(AgentEntry {
        name: a.name.get_ref().clone(),
        kind: kind.clone(),
        bin: a.bin.clone(),
        args: a.args.clone(),
        restart: a.restart.unwrap_or(Restart::Permanent),
        memory_limit,
        attributes: a.attributes.clone(),
        binds,
        connects,
        nodes: a.nodes.clone(),
        group: None,
        scripts,
        script_limits: a.script_limits,
    })
}

pub(super) fn parsed<T: std::str::FromStr<Err = axon_runtime::Error>>(
    lines: &Lines<'_>,
    value: &Option<Spanned<String>>,
) -> Result<Option<T>, ManifestError> {
    value
        .as_ref()
        .map(|v| {
            v.get_ref()
                .parse()
                .map_err(|e: axon_runtime::Error| lines.error(v.span(), e.to_string()))
        })
        .transpose()
}

pub(super) fn bind_entry(
    lines: &Lines<'_>,
    spanned: &Spanned<raw::Bind>,
    warnings: &mut Vec<String>,
) -> Result<BindEntry, ManifestError> {
    let b = spanned.get_ref();
    let socket = match (&b.socket, &b.kind) {
        (Some(socket), None) => socket,
        (None, Some(kind)) => {
            warnings.push(format!(
                "line {}: bind {:?}: `kind` is deprecated here, write `socket = {:?}` (an agent's `kind` is its agent kind)",
                lines.of(kind.span()),
                b.alias,
                kind.get_ref()
            ));
            kind
        }
        (Some(socket), Some(_)) => {
            let why = format!(
                "bind {:?}: give `socket` only (`kind` is its old name)",
                b.alias
            );
            return Err(lines.error(socket.span(), why));
        }
        (None, None) => {
            let why = format!(
                "bind {:?}: missing `socket`, its ZeroMQ kind (REP, PUB, PUSH, ...)",
                b.alias
            );
            return Err(lines.error(spanned.span(), why));
        }
    };
    let kind: SocketKind = socket
        .get_ref()
        .parse()
        .map_err(|e: axon_runtime::Error| lines.error(socket.span(), e.to_string()))?;
    let transport: Option<Transport> = parsed(lines, &b.transport)?;
    let framing: Option<Framing> = parsed(lines, &b.framing)?;
    if let (Some(Framing::Osbrain), Some(at)) = (framing, &b.framing) {
        if kind != SocketKind::Pub {
            let why = format!("framing is for PUB binds, not {kind} (a SUB takes both framings)");
            return Err(lines.error(at.span(), why));
        }
    }
    if let (Some(Transport::Tcp), Some(addr)) = (transport, &b.addr) {
        tcp_addr(lines, addr)?;
    }
    Ok(BindEntry {
        alias: b.alias.clone(),
        kind,
        transport,
        addr: b.addr.as_ref().map(|a| a.get_ref().clone()),
        serializer: parsed(lines, &b.serializer)?,
        handler: b.handler.clone(),
        socket: socket_settings(lines, Some(kind), &b.hwm, &b.on_full)?,
        secure: b.secure.unwrap_or(false),
        framing,
        reliable: reliability(lines, Some(kind), &b.reliable, &b.durable)?,
    })
}

/// `reliable` and `durable` (which implies it) as the runtime takes them; only PUSH and
/// PULL are at-least-once (a connect's kind is checked when it connects).
pub(super) fn reliability(
    lines: &Lines<'_>,
    kind: Option<SocketKind>,
    reliable: &Option<Spanned<raw::Reliable>>,
    durable: &Option<Spanned<bool>>,
) -> Result<Option<axon_runtime::Reliability>, ManifestError> {
    let wanted = match reliable.as_ref().map(|r| r.get_ref()) {
        Some(raw::Reliable::Table(r)) => Some(r.clone()),
        Some(raw::Reliable::Flag(true)) => Some(axon_runtime::Reliability::default()),
        Some(raw::Reliable::Flag(false)) | None => None,
    };
    let durable_asked = durable.as_ref().is_some_and(|d| *d.get_ref());
    let wanted = match (wanted, durable_asked) {
        (Some(r), true) => Some(axon_runtime::Reliability { durable: true, ..r }),
        (None, true) => Some(axon_runtime::Reliability::durable()),
        (r, false) => r,
    };
    let Some(wanted) = wanted else {
        return Ok(None);
    };
    let span = reliable
        .as_ref()
        .map(|r| r.span())
        .or_else(|| durable.as_ref().map(|d| d.span()))
        .unwrap_or_default();
    if let Some(kind) = kind.filter(|k| !matches!(k, SocketKind::Push | SocketKind::Pull)) {
        let why = format!("only PUSH and PULL sockets are at-least-once, not {kind}");
        return Err(lines.error(span, why));
    }
    wanted
        .check()
        .map_err(|e| lines.error(span, e.to_string()))?;
    Ok(Some(wanted))
}

/// A high-water mark in range, and an `on_full` the socket kind can do (PUB never blocks).
pub(super) fn socket_settings(
    lines: &Lines<'_>,
    kind: Option<SocketKind>,
    hwm: &Option<Spanned<i64>>,
    on_full: &Option<Spanned<String>>,
) -> Result<SocketSettings, ManifestError> {
    let hwm = match hwm {
        Some(h) => Some(
            i32::try_from(*h.get_ref())
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    lines.error(
                        h.span(),
                        "hwm must be 0 (no limit) or a positive message count",
                    )
                })?,
        ),
        None => None,
    };
    let span = on_full.as_ref().map(|o| o.span());
    let on_full: Option<axon_runtime::OnFull> = parsed(lines, on_full)?;
    if let (
        Some(axon_runtime::OnFull::Block),
        Some(SocketKind::Pub | SocketKind::SyncPub),
        Some(span),
    ) = (on_full, kind, span)
    {
        let message =
            "a PUB socket never blocks: at the mark it drops and counts (on_full = \"drop\")";
        return Err(lines.error(span, message));
    }
    Ok(SocketSettings { hwm, on_full })
}

pub(super) fn connect_entry(
    lines: &Lines<'_>,
    c: &raw::Connect,
) -> Result<ConnectEntry, ManifestError> {
    let Some((agent, alias)) = c.to.get_ref().split_once('.') else {
        return Err(lines.error(
            c.to.span(),
            format!("`to` must be agent.alias, not {:?}", c.to.get_ref()),
        ));
    };
    Ok(ConnectEntry {
        agent: agent.to_owned(),
        remote_alias: alias.to_owned(),
        alias: c.alias.clone(),
        handler: c.handler.clone(),
        topics: c.topics.clone(),
        // The connecting side's kind follows the bind it connects to: checked when connecting.
        socket: socket_settings(lines, None, &c.hwm, &c.on_full)?,
        // Like `on_full`, checked against the connecting side's kind when connecting.
        dispatch: parsed(lines, &c.dispatch)?,
        reliable: reliability(lines, None, &c.reliable, &c.durable)?,
    })
}

pub(super) fn tcp_addr(lines: &Lines<'_>, addr: &Spanned<String>) -> Result<String, ManifestError> {
    axon_runtime::net::tcp_endpoint(addr.get_ref())
        .map_err(|e| lines.error(addr.span(), e.to_string()))
}
