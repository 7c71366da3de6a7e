//! Feeding downstream secondaries: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, and
//! NOTIFY (RFC 1996) after each new version.
//!
//! A transfer is allowed when the client's address is in the ACL (`--allow-transfer`, plus
//! the `--notify` targets) and, when a transfer key is configured, the request carries a
//! valid TSIG with it; every response message is then signed, each MAC chained to the
//! previous one (RFC 8945 §5.3.1). AXFR sends the SOA, every other RRset (the apex NS
//! included, as RFC 5936 §2.2 and BIND require) and the SOA again, in messages of up to
//! 16 KiB with name compression. IXFR answers from the zone's history of received
//! differences; when the client's serial is not in it, the answer is AXFR-style (§4).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};

use crate::rtype;
use crate::secondary::hooks::write_frame;
use crate::secondary::msg::{self, Header, Message};
use crate::secondary::tsig::{self, Key};
use crate::secondary::{serial, Delta, Shared};
use crate::wire::Compressor;
use crate::zone::{soa_field, Zone};
use crate::zonefile::Record;

const NOTAUTH: u8 = 9;
const REFUSED: u8 = 5;
const FORMERR: u8 = 1;
const SERVFAIL: u8 = 2;
/// Response message size we aim for (well under the 64 KiB TCP frame).
const MSG_TARGET: usize = 16 * 1024;

/// Builds and sends the messages of one transfer.
struct Sender<'a> {
    sock: &'a mut TcpStream,
    head: Header,
    question: Option<msg::Question>,
    key: Option<(Arc<Key>, Vec<u8>)>,
    first: bool,
    buf: Vec<u8>,
    comp: Compressor,
    count: u16,
}

impl Sender<'_> {
    fn start_msg(&mut self) {
        self.buf = msg::response_head(
            &self.head,
            if self.first {
                self.question.as_ref()
            } else {
                None
            },
            0,
        );
        self.comp.clear();
        if let Some(q) = self.question.as_ref().filter(|_| self.first) {
            self.comp.register(&q.name, 12);
        }
        self.count = 0;
    }

    async fn rr(&mut self, owner: &[u8], t: u16, ttl: u32, rdata: &[u8]) -> bool {
        if self.count > 0
            && self.buf.len() + owner.len() + rdata.len() + 12 > MSG_TARGET
            && !self.flush().await
        {
            return false;
        }
        self.comp.write_rr(&mut self.buf, owner, t, ttl, rdata);
        self.count += 1;
        msg::bump(&mut self.buf, 1, 1);
        true
    }

    async fn flush(&mut self) -> bool {
        if let Some((k, mac)) = &mut self.key {
            let next = if self.first {
                k.sign(&mut self.buf, Some(mac.as_slice()))
            } else {
                k.sign_next(&mut self.buf, mac)
            };
            *mac = next;
        }
        let ok = write_frame(self.sock, &self.buf).await;
        self.first = false;
        self.start_msg();
        ok
    }
}

fn soa_of(z: &Zone) -> Option<(&[u8], u32, &[u8])> {
    let apex = z.apex()?;
    let soa = apex.get(rtype::SOA)?;
    Some((&apex.name, soa.ttl, soa.rdatas.first()?))
}

/// Serve one AXFR/IXFR request; returns whether the connection may stay open.
pub async fn serve(sh: &Shared, query: &[u8], peer: SocketAddr, sock: &mut TcpStream) -> bool {
    let Some(h) = Header::read(query) else {
        return false;
    };
    let reply = |rcode: u8, m: Option<&Message>| {
        msg::response_head(&h, m.and_then(|m| m.question.as_ref()), rcode)
    };
    let Ok(m) = msg::parse(query) else {
        return write_frame(sock, &reply(FORMERR, None)).await;
    };
    let Some(q) = m.question.clone() else {
        return write_frame(sock, &reply(FORMERR, Some(&m))).await;
    };
    let zname = crate::name::to_text(&q.name);
    // TSIG first: a bad signature is answered NOTAUTH with the TSIG error (RFC 8945 §5.2).
    let key = match &m.tsig {
        Some(t) => match tsig::verify_request(query, t, &sh.cfg.keys) {
            Ok((k, mac)) => Some((k.clone(), mac)),
            Err(rej) => {
                tracing::warn!(zone = %zname, %peer, error = ?rej, "transfer request with a bad TSIG");
                let mut out = reply(NOTAUTH, Some(&m));
                if let Some(k) = sh.cfg.keys.first() {
                    k.append_error(&mut out, rej.code());
                }
                return write_frame(sock, &out).await;
            }
        },
        None => None,
    };
    let acl = sh
        .cfg
        .allow_transfer
        .iter()
        .any(|ip| ip.to_canonical() == peer.ip().to_canonical());
    let key_ok = match &sh.cfg.transfer_key {
        Some(need) => key.as_ref().is_some_and(|(k, _)| k == need),
        None => true,
    };
    let zone = sh
        .store
        .snapshot()
        .get(&crate::name::lower(&q.name))
        .cloned();
    let refuse = |rcode: u8| {
        let mut out = reply(rcode, Some(&m));
        if let Some((k, mac)) = &key {
            k.sign(&mut out, Some(mac));
        }
        out
    };
    if !acl || !key_ok {
        tracing::warn!(zone = %zname, %peer, acl, key_ok, "transfer refused");
        return write_frame(sock, &refuse(REFUSED)).await;
    }
    let Some(zone) = zone else {
        return write_frame(sock, &refuse(NOTAUTH)).await;
    };
    if sh.expired.load().contains(&zone.origin) {
        return write_frame(sock, &refuse(SERVFAIL)).await;
    }
    let Some((apex, soa_ttl, soa)) = soa_of(&zone) else {
        return write_frame(sock, &refuse(SERVFAIL)).await;
    };
    let mut s = Sender {
        sock,
        head: h,
        question: Some(q.clone()),
        key,
        first: true,
        buf: Vec::new(),
        comp: Compressor::default(),
        count: 0,
    };
    s.start_msg();
    let client = (q.qtype == rtype::IXFR)
        .then(|| m.authority.iter().find(|r| r.rtype == rtype::SOA))
        .flatten()
        .and_then(|r| soa_field(&r.rdata, 0));
    if let Some(cs) = client {
        if !serial::gt(zone.serial, cs) {
            // Up to date: the SOA alone (RFC 1995 §2).
            return s.rr(apex, rtype::SOA, soa_ttl, soa).await && s.flush().await;
        }
        if let Some(chain) = history_chain(sh, &zone, cs) {
            tracing::info!(zone = %zname, %peer, from = cs, to = zone.serial, "serving IXFR");
            if !s.rr(apex, rtype::SOA, soa_ttl, soa).await {
                return false;
            }
            for d in chain {
                for (part, soa_rec) in [(&d.del, &d.old_soa), (&d.add, &d.soa)] {
                    if !s
                        .rr(&soa_rec.name, rtype::SOA, soa_rec.ttl, &soa_rec.rdata)
                        .await
                    {
                        return false;
                    }
                    for r in part.iter() {
                        if !send_rec(&mut s, r).await {
                            return false;
                        }
                    }
                }
            }
            return s.rr(apex, rtype::SOA, soa_ttl, soa).await && s.flush().await;
        }
    }
    tracing::info!(zone = %zname, %peer, serial = zone.serial, records = zone.records, "serving AXFR");
    if !s.rr(apex, rtype::SOA, soa_ttl, soa).await {
        return false;
    }
    for node in zone.nodes.iter() {
        for set in &node.rrsets {
            if set.rtype == rtype::SOA && node.name.eq_ignore_ascii_case(apex) {
                continue;
            }
            for rd in &set.rdatas {
                if !s.rr(&node.name, set.rtype, set.ttl, rd).await {
                    return false;
                }
            }
        }
    }
    s.rr(apex, rtype::SOA, soa_ttl, soa).await && s.flush().await
}

async fn send_rec(s: &mut Sender<'_>, r: &Record) -> bool {
    s.rr(&r.name, r.rtype, r.ttl, &r.rdata).await
}

/// The differences leading from `from` to the zone's serial, if the history has them all.
fn history_chain(sh: &Shared, zone: &Zone, from: u32) -> Option<Vec<Arc<Delta>>> {
    let h = sh.history.lock().ok()?;
    let list = h.get(&zone.origin)?;
    let start = list.iter().position(|d| d.from == from)?;
    let chain: Vec<Arc<Delta>> = list.iter().skip(start).cloned().collect();
    let linked = chain.windows(2).all(|w| w[0].to == w[1].from);
    (linked && chain.last()?.to == zone.serial).then_some(chain)
}

/// NOTIFY every downstream secondary about `zone`'s new version (in the background: three
/// tries a second apart each, signed with the transfer key when there is one).
pub fn notify_downstream(sh: &Arc<Shared>, zone: &Arc<Zone>) {
    for &target in &sh.cfg.notify {
        let (key, zone) = (sh.cfg.transfer_key.clone(), zone.clone());
        let src = sh.cfg.notify_source;
        tokio::spawn(async move {
            if let Err(e) = send_notify(target, src, &zone, key.as_deref()).await {
                tracing::warn!(zone = %zone.name(), %target, error = %e, "NOTIFY not answered");
            }
        });
    }
}

/// Send one NOTIFY for `zone` to `target` and wait for its answer.
pub async fn send_notify(
    target: SocketAddr,
    source: Option<std::net::IpAddr>,
    zone: &Zone,
    key: Option<&Key>,
) -> Result<(), String> {
    let id = msg::new_id();
    let mut q = msg::query(id, msg::OP_NOTIFY, true, &zone.origin, rtype::SOA);
    if let Some((apex, ttl, soa)) = soa_of(zone) {
        msg::push_rr(&mut q, 1, apex, rtype::SOA, ttl, soa);
    }
    if let Some(k) = key {
        k.sign(&mut q, None);
    }
    let bind: SocketAddr = match source {
        Some(ip) => (ip, 0).into(),
        None if target.is_ipv4() => ([0, 0, 0, 0], 0).into(),
        None => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        sock.send_to(&q, target).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        {
            if from == target && Header::read(&buf[..n]).is_some_and(|h| h.id == id && h.qr()) {
                return Ok(());
            }
        }
    }
    Err("no answer after 3 tries".into())
}
