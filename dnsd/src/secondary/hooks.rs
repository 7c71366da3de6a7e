//! The calls the server makes into the secondary side, one line each at its call sites:
//! [`udp`] and [`tcp`] before the answer engine, [`health`] and [`metrics_text`] in the HTTP
//! endpoint.
//!
//! The running [`Shared`] state is registered process-wide (one secondary side per dnsd
//! process, like the one server it hooks into) so the server's hot loops and signatures stay
//! as they are: the UDP path pays one branch on the opcode byte and one relaxed atomic load
//! per packet; nothing else runs unless a NOTIFY arrives or some zone has expired.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::msg::{self, Header};
use super::tsig;
use super::Shared;
use crate::name::NameBuf;
use crate::rtype;
use crate::zone::{Store, ZoneSet};

static SHARED: ArcSwapOption<Shared> = ArcSwapOption::const_empty();
static ANY_EXPIRED: AtomicBool = AtomicBool::new(false);
/// Is a secondary side installed? Checked first, so a dnsd serving only files pays one
/// relaxed load per packet.
static ACTIVE: AtomicBool = AtomicBool::new(false);

const SERVFAIL: u8 = 2;
const REFUSED: u8 = 5;
const NOTAUTH: u8 = 9;
const FORMERR: u8 = 1;

pub(crate) fn install(sh: Arc<Shared>) {
    SHARED.store(Some(sh));
    ACTIVE.store(true, Ordering::Relaxed);
}

pub(crate) fn uninstall() {
    ACTIVE.store(false, Ordering::Relaxed);
    SHARED.store(None);
    ANY_EXPIRED.store(false, Ordering::Relaxed);
}

pub(crate) fn set_any_expired(on: bool) {
    ANY_EXPIRED.store(on, Ordering::Relaxed);
}

/// The running secondary side, if any.
pub fn shared() -> Option<Arc<Shared>> {
    SHARED.load_full()
}

/// The source address of a datagram from `recvmmsg`.
pub fn sockaddr_ip(sa: &libc::sockaddr_storage) -> Option<IpAddr> {
    match sa.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, which it can hold.
            let sin =
                unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)).to_canonical())
        }
        _ => None,
    }
}

fn opcode(query: &[u8]) -> Option<u8> {
    (query.len() >= 12 && query[2] & 0x80 == 0).then(|| (query[2] >> 3) & 0x0F)
}

/// UDP: handle the packet if it is ours (a NOTIFY, or a query for an expired zone).
/// `Some(rcode)` means `out` holds the response (`Some(None)`: drop the packet).
pub fn udp(
    query: &[u8],
    peer: &libc::sockaddr_storage,
    snap: &ZoneSet,
    out: &mut Vec<u8>,
) -> Option<Option<u8>> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return None;
    }
    match opcode(query)? {
        msg::OP_NOTIFY => {
            let sh = SHARED.load_full()?;
            let ip = sockaddr_ip(peer)?;
            Some(notify(&sh, query, ip, out))
        }
        msg::OP_QUERY if query[11] != 0 || query[10] != 0 => {
            if has_tsig(query) {
                let sh = SHARED.load_full()?;
                return Some(signed_query(&sh, query, snap, false, out));
            }
            expired_check(query, snap, out)
        }
        msg::OP_QUERY => expired_check(query, snap, out),
        _ => None,
    }
}

fn expired_check(query: &[u8], snap: &ZoneSet, out: &mut Vec<u8>) -> Option<Option<u8>> {
    if ANY_EXPIRED.load(Ordering::Relaxed) {
        expired(query, snap, out)
    } else {
        None
    }
}

fn skip_name(q: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let l = *q.get(p)?;
        if l == 0 {
            return Some(p + 1);
        }
        if l & 0xC0 == 0xC0 {
            return Some(p + 2);
        }
        p += 1 + l as usize;
    }
}

/// Is the last RR of the message a TSIG? (A walk over the RR headers, no copying.)
fn has_tsig(q: &[u8]) -> bool {
    let walk = || -> Option<bool> {
        let h = Header::read(q)?;
        let mut p = 12;
        for _ in 0..h.counts[0] {
            p = skip_name(q, p)? + 4;
        }
        let total: usize = h.counts[1..].iter().map(|&c| c as usize).sum();
        for i in 0..total {
            p = skip_name(q, p)?;
            let t = u16::from_be_bytes([*q.get(p)?, *q.get(p + 1)?]);
            if i + 1 == total {
                return Some(t == rtype::TSIG);
            }
            p += 10 + u16::from_be_bytes([*q.get(p + 8)?, *q.get(p + 9)?]) as usize;
        }
        Some(false)
    };
    walk().unwrap_or(false)
}

/// A TSIG-signed query (e.g. a downstream secondary's SOA check): verify, answer the query
/// without its TSIG through the answer engine, sign the answer.
fn signed_query(
    sh: &Shared,
    query: &[u8],
    snap: &ZoneSet,
    tcp: bool,
    out: &mut Vec<u8>,
) -> Option<u8> {
    out.clear();
    let h = Header::read(query)?;
    let m = match msg::parse(query) {
        Ok(m) => m,
        Err(_) => {
            out.extend_from_slice(&msg::response_head(&h, None, FORMERR));
            return Some(FORMERR);
        }
    };
    let t = m.tsig.as_ref()?;
    match tsig::verify_request(query, t, &sh.cfg.keys) {
        Err(rej) => {
            tracing::warn!(error = ?rej, key = %crate::name::to_text(&t.key), "query with a bad TSIG");
            out.extend_from_slice(&msg::response_head(&h, m.question.as_ref(), NOTAUTH));
            if let Some(k) = sh
                .cfg
                .keys
                .iter()
                .find(|k| k.name == t.key)
                .or(sh.cfg.keys.first())
            {
                k.append_error(out, rej.code());
            }
            Some(NOTAUTH)
        }
        Ok((k, mac)) => {
            let mut plain = query[..t.start].to_vec();
            msg::bump(&mut plain, 3, u16::MAX);
            let rc = crate::answer::Engine::new().answer(&plain, snap, tcp, out);
            if rc.is_some() {
                k.sign(out, Some(&mac));
            }
            rc
        }
    }
}

/// TCP: handle the query if it is ours (NOTIFY, AXFR/IXFR, expired zone), writing the
/// response(s) to `sock`. `Some(keep_open)` when handled.
pub async fn tcp(query: &[u8], sock: &mut TcpStream, store: &Store) -> Option<bool> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return None;
    }
    let op = opcode(query)?;
    let sh = SHARED.load_full()?;
    let peer = sock.peer_addr().ok()?;
    let mut out = Vec::new();
    match op {
        msg::OP_NOTIFY => {
            notify(&sh, query, peer.ip().to_canonical(), &mut out)?;
        }
        msg::OP_QUERY => {
            let mut nb = NameBuf::default();
            let pos = nb.read(query, 12)?;
            let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
            if qtype == rtype::AXFR || qtype == rtype::IXFR {
                return Some(crate::xfr_out::serve(&sh, query, peer, sock).await);
            }
            let snap = store.snapshot();
            if has_tsig(query) {
                signed_query(&sh, query, &snap, true, &mut out)?;
            } else if !ANY_EXPIRED.load(Ordering::Relaxed) {
                return None;
            } else {
                expired(query, &snap, &mut out)?;
            }
        }
        _ => return None,
    }
    Some(write_frame(sock, &out).await)
}

/// Write one length-framed message; false when the connection is gone.
pub async fn write_frame(sock: &mut TcpStream, m: &[u8]) -> bool {
    let mut f = Vec::with_capacity(m.len() + 2);
    f.extend_from_slice(&(m.len() as u16).to_be_bytes());
    f.extend_from_slice(m);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(10), sock.write_all(&f)).await,
        Ok(Ok(()))
    )
}

/// SERVFAIL for a query whose zone expired; None when its zone is fine.
fn expired(query: &[u8], snap: &ZoneSet, out: &mut Vec<u8>) -> Option<Option<u8>> {
    let sh = SHARED.load_full()?;
    let mut nb = NameBuf::default();
    let pos = nb.read(query, 12)?;
    let (zone, _) = snap.find(&nb)?;
    if !sh.expired.load().contains(&zone.origin) {
        return None;
    }
    let h = Header::read(query)?;
    out.clear();
    out.extend_from_slice(&query[..2]);
    let flags = 0x8000 | (h.flags & 0x7900) | SERVFAIL as u16;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..pos + 4)?);
    Some(Some(SERVFAIL))
}

/// RFC 1996: accept a NOTIFY only from one of the zone's primaries, and only with a valid
/// TSIG when that primary has a key; answer NOERROR and wake the zone's task.
fn notify(sh: &Shared, query: &[u8], peer: IpAddr, out: &mut Vec<u8>) -> Option<u8> {
    out.clear();
    let h = Header::read(query)?;
    let Ok(m) = msg::parse(query) else {
        out.extend_from_slice(&msg::response_head(&h, None, FORMERR));
        return Some(FORMERR);
    };
    let Some(q) = m.question.as_ref() else {
        out.extend_from_slice(&msg::response_head(&h, None, FORMERR));
        return Some(FORMERR);
    };
    let zones = sh.zones.load();
    let origin = crate::name::lower(&q.name);
    let Some(ctl) = zones.get(&origin) else {
        tracing::debug!(zone = %crate::name::to_text(&q.name), %peer, "NOTIFY for a zone we do not follow");
        out.extend_from_slice(&msg::response_head(&h, Some(q), NOTAUTH));
        return Some(NOTAUTH);
    };
    let refuse = |out: &mut Vec<u8>, why: &str, rcode: u8| {
        tracing::warn!(zone = %ctl.name, %peer, why, "NOTIFY refused");
        ctl.stats.notify_refused.fetch_add(1, Ordering::Relaxed);
        out.extend_from_slice(&msg::response_head(&h, Some(q), rcode));
        Some(rcode)
    };
    let from: Vec<_> = ctl
        .primaries
        .iter()
        .filter(|p| p.addr.ip().to_canonical() == peer)
        .collect();
    if from.is_empty() {
        // `--notify-key`: a NOTIFY signed with a trusted key counts from any address (it only
        // triggers an SOA check against the real primaries).
        let trusted = match &m.tsig {
            Some(t) if !sh.cfg.notify_keys.is_empty() => {
                tsig::verify_request(query, t, &sh.cfg.notify_keys).ok()
            }
            _ => None,
        };
        let Some((k, mac)) = trusted else {
            return refuse(out, "sender is not a primary of the zone", REFUSED);
        };
        let (k, mac) = (k.clone(), mac);
        ctl.stats.notify_accepted.fetch_add(1, Ordering::Relaxed);
        ctl.wake.notify_one();
        tracing::debug!(zone = %ctl.name, %peer, "NOTIFY accepted (trusted key)");
        out.extend_from_slice(&msg::response_head(&h, Some(q), 0));
        k.sign(out, Some(&mac));
        return Some(0);
    }
    let keys: Vec<Arc<tsig::Key>> = from.iter().filter_map(|p| p.key.clone()).collect();
    let signed = match (&m.tsig, keys.is_empty()) {
        (None, false) if sh.cfg.notify_require_tsig => {
            return refuse(out, "unsigned (a TSIG is required)", REFUSED)
        }
        (None, _) => None,
        (Some(t), _) => {
            let known = if keys.is_empty() { &sh.cfg.keys } else { &keys };
            match tsig::verify_request(query, t, known) {
                Ok((k, mac)) => Some((k.clone(), mac)),
                Err(rej) => {
                    refuse(out, "bad TSIG", NOTAUTH);
                    if let Some(k) = known.first() {
                        k.append_error(out, rej.code());
                    }
                    return Some(NOTAUTH);
                }
            }
        }
    };
    ctl.stats.notify_accepted.fetch_add(1, Ordering::Relaxed);
    ctl.wake.notify_one();
    tracing::debug!(zone = %ctl.name, %peer, "NOTIFY accepted");
    out.extend_from_slice(&msg::response_head(&h, Some(q), 0));
    if let Some((k, mac)) = signed {
        k.sign(out, Some(&mac));
    }
    Some(0)
}

/// `/ready` (readiness): 503 until every followed zone has settled (see [`Shared::ready`]),
/// then 200 for good; the body names zones still without a version. None when no secondary
/// side runs (the server's own answer applies). Liveness (`/health`) is deliberately not tied
/// to zones: a zone the primaries cannot deliver is not cured by restarting dnsd.
pub fn readiness() -> Option<(&'static str, String)> {
    let sh = SHARED.load_full()?;
    let pending = sh.pending();
    let body = if pending.is_empty() {
        "ok\n".to_string()
    } else {
        format!("waiting for zones: {}\n", pending.join(" "))
    };
    Some(if sh.ready() {
        ("200 OK", body)
    } else {
        ("503 Service Unavailable", body)
    })
}

/// Per-zone metrics of the secondary side (empty when none runs).
pub fn metrics_text() -> String {
    match SHARED.load_full() {
        Some(sh) => super::stats::render(sh.zones.load().values(), tsig::now()),
        None => String::new(),
    }
}
