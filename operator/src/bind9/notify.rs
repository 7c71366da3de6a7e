//! TSIG-signed NOTIFY (RFC 1996) sent by the operator right after a successful UPDATE.
//!
//! A BIND 9.18 primary sends its own NOTIFY about 500 ms after an update even with
//! `notify-delay 0` (see docs/bind9-layer.md); the operator knows the moment the UPDATE was
//! answered and tells the zone's secondaries at once, so they start the IXFR immediately.
//! Secondaries accept it because their generated config allows NOTIFY from the operator's key
//! ([`super::namedconf::NamedConf::allow_notify`]). Sent over TCP so the answer (and its TSIG)
//! is checked; all secondaries are notified concurrently, each bounded by `timeout`.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, RecordType};

use super::names::fqdn_in;
use super::rdata::name;
use super::wire::DnsConnection;
use super::TsigKey;
use crate::error::Result;

/// Sends NOTIFY for `zone` to one secondary and waits for its answer.
pub async fn notify_one(
    server: SocketAddr,
    zone: &str,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<()> {
    let origin = name(&fqdn_in("@", zone)?)?;
    let mut msg = Message::new(0, MessageType::Query, OpCode::Notify);
    msg.metadata.authoritative = true;
    let mut q = Query::new();
    q.set_name(origin)
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    msg.add_query(q);
    let mut conn = DnsConnection::connect(server, key, timeout).await?;
    conn.exchange(msg, "NOTIFY", zone).await?;
    Ok(())
}

/// Notifies every secondary concurrently; one result per secondary, in input order.
pub async fn notify_all(
    secondaries: &[SocketAddr],
    zone: &str,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Vec<(SocketAddr, Result<()>)> {
    let futs = secondaries
        .iter()
        .map(|s| async move { (*s, notify_one(*s, zone, key, timeout).await) });
    join_all(futs).await
}

/// What [`apply_and_notify`] did: the UPDATE outcome and one NOTIFY result per secondary.
#[derive(Debug)]
pub struct Propagation {
    pub outcome: super::update::Outcome,
    pub notified: Vec<(SocketAddr, Result<()>)>,
}

/// The operator's write path: apply `changes` (batched, idempotent) and, when anything was
/// written, NOTIFY every secondary at once. A NOTIFY failure does not undo the UPDATE: the
/// secondary still catches up on its SOA refresh or BIND's own NOTIFY, so it is reported, not
/// returned as an error.
pub async fn apply_and_notify(
    updater: &super::update::Updater,
    zone: &str,
    changes: &[super::update::Change],
    secondaries: &[SocketAddr],
    key: Option<&TsigKey>,
) -> Result<Propagation> {
    let outcome = updater.apply(zone, changes).await?;
    let notified = if outcome.applied > 0 {
        notify_all(secondaries, zone, key, updater.timeout()).await
    } else {
        Vec::new()
    };
    Ok(Propagation { outcome, notified })
}
