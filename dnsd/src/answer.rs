//! The answer engine: a pure function from (query bytes, zone snapshot, transport) to
//! response bytes, testable without sockets.
//!
//! RFC 1034 §4.3.2 with RFC 2181/2308/4592/6672/8482 details: exact answers, CNAME chains
//! followed through every zone we serve (as named does), wildcards (a name that exists,
//! empty non-terminals included, blocks synthesis), delegations (referral without AA, NS in
//! authority, glue in additional), DS from the parent side of a cut, DNAME substitution,
//! NXDOMAIN/NODATA with the SOA at TTL min(SOA TTL, SOA minimum), minimal ANY over UDP.
//! Like named, CNAME/DNAME chains are followed, and additional data is taken, only inside
//! the zone of the question (a chain leaving it ends with NOERROR; a loop is SERVFAIL).
//! Positive answers carry no authority section and A/AAAA for NS/MX/SRV targets in the
//! additional section (what named does with `minimal-responses no-auth`).

use crate::name::NameBuf;
use crate::rtype;
use crate::wire::Compressor;
use crate::zone::{soa_field, Node, RRset, Zone, ZoneSet};

/// NOERROR
pub const NOERROR: u8 = 0;
/// FORMERR
pub const FORMERR: u8 = 1;
/// SERVFAIL
pub const SERVFAIL: u8 = 2;
/// NXDOMAIN
pub const NXDOMAIN: u8 = 3;
/// NOTIMP
pub const NOTIMP: u8 = 4;
/// REFUSED
pub const REFUSED: u8 = 5;
/// YXDOMAIN
pub const YXDOMAIN: u8 = 6;
/// BADVERS (extended, 16)
pub const BADVERS: u8 = 16;

/// Our advertised EDNS payload size and UDP response ceiling (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Longest CNAME/DNAME chain followed.
const MAX_CHAIN: usize = 16;

/// Per-worker scratch space; the answer logic itself keeps no state between packets.
#[derive(Default)]
pub struct Engine {
    comp: Compressor,
    cur: NameBuf,
    qname: NameBuf,
}

struct Opt {
    payload: u16,
    version: u8,
    do_bit: bool,
}

/// What the authority/additional lists hold until they are encoded.
#[derive(Clone, Copy)]
struct Item<'z> {
    owner: &'z [u8],
    set: &'z RRset,
    ttl: u32,
    required: bool,
}

enum Found<'z> {
    Outside,
    Referral(&'z Zone, &'z Node),
    Dname(&'z Zone, &'z Node, usize),
    Node(&'z Zone, &'z Node),
    NxDomain(&'z Zone),
}

/// Find what a name leads to in the zone set (RFC 1034 §4.3.2 steps 2–3).
fn lookup<'z>(zones: &'z ZoneSet, cur: &NameBuf, qtype: u16) -> Found<'z> {
    let Some((mut zone, mut zi)) = zones.find(cur) else {
        return Found::Outside;
    };
    // DS is answered from the parent side of a cut, also when we serve the child zone.
    if qtype == rtype::DS && zi == 0 && cur.nlabels > 0 {
        if let Some((pz, pi)) =
            (1..=cur.nlabels).find_map(|i| zones.get(cur.suffix_key(i)).map(|z| (z, i)))
        {
            zone = pz;
            zi = pi;
        }
    }
    let mut i = zi;
    loop {
        match zone.nodes.get(cur.suffix_key(i)) {
            None => break,
            Some(n) => {
                if i < zi && n.has(rtype::NS) && !(i == 0 && qtype == rtype::DS) {
                    return Found::Referral(zone, n);
                }
                if i > 0 && n.has(rtype::DNAME) {
                    return Found::Dname(zone, n, i);
                }
                if i == 0 {
                    return Found::Node(zone, n);
                }
            }
        }
        i -= 1;
    }
    // `i` does not exist; its parent (i + 1) is the closest encloser: try `*.<ce>`.
    let ce = cur.suffix_key(i + 1);
    let mut wild = [0u8; 257];
    wild[0] = 1;
    wild[1] = b'*';
    wild[2..2 + ce.len()].copy_from_slice(ce);
    match zone.nodes.get(&wild[..2 + ce.len()]) {
        Some(w) => Found::Node(zone, w),
        None => Found::NxDomain(zone),
    }
}

fn negative<'z>(zone: &'z Zone) -> Option<Item<'z>> {
    let apex = zone.apex()?;
    let soa = apex.get(rtype::SOA)?;
    let min = soa
        .rdatas
        .first()
        .and_then(|r| soa_field(r, 4))
        .unwrap_or(0);
    Some(Item {
        owner: &apex.name,
        set: soa,
        ttl: soa.ttl.min(min),
        required: false,
    })
}

impl Engine {
    /// A fresh engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer `query` from `zones`. Fills `out` and returns the rcode, or None when the
    /// packet must be dropped (shorter than a header, or a response).
    pub fn answer(
        &mut self,
        query: &[u8],
        zones: &ZoneSet,
        tcp: bool,
        out: &mut Vec<u8>,
    ) -> Option<u8> {
        out.clear();
        self.comp.clear();
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return None;
        }
        let opcode = (query[2] >> 3) & 0x0F;
        let qd = u16::from_be_bytes([query[4], query[5]]);
        // Header: ID, flags (QR, opcode, RD; CD copied), counts filled in below.
        out.extend_from_slice(&query[..2]);
        out.push(0x80 | (query[2] & 0x79));
        out.push(query[3] & 0x10);
        out.extend_from_slice(&[0; 8]);
        if qd != 1 {
            out[3] |= FORMERR;
            return Some(FORMERR);
        }
        let Some(mut pos) = self.qname.read(query, 12) else {
            out[3] |= FORMERR;
            return Some(FORMERR);
        };
        let Some(tc) = query.get(pos..pos + 4) else {
            out[3] |= FORMERR;
            return Some(FORMERR);
        };
        let qtype = u16::from_be_bytes([tc[0], tc[1]]);
        let qclass = u16::from_be_bytes([tc[2], tc[3]]);
        pos += 4;
        let opt = match parse_rest(query, pos) {
            Ok(o) => o,
            Err(()) => {
                out[3] |= FORMERR;
                return Some(FORMERR);
            }
        };
        // Question, case preserved.
        out[5] = 1;
        out.extend_from_slice(self.qname.wire());
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&qclass.to_be_bytes());
        self.comp.register(self.qname.wire(), 12);
        let limit = match (&opt, tcp) {
            (_, true) => 65535,
            (Some(o), false) => o.payload.clamp(512, EDNS_PAYLOAD) as usize,
            (None, false) => 512,
        };
        let rcode = if opcode != 0 {
            // UPDATE is refused (dnsd is a secondary); other opcodes are not implemented.
            if opcode == 5 {
                REFUSED
            } else {
                NOTIMP
            }
        } else if opt.as_ref().is_some_and(|o| o.version > 0) {
            BADVERS
        } else if qclass != rtype::CLASS_IN {
            REFUSED
        } else if qtype == rtype::OPT {
            FORMERR
        } else if qtype == rtype::AXFR || qtype == rtype::IXFR || qtype == rtype::TSIG {
            REFUSED
        } else {
            self.resolve(
                zones,
                qtype,
                tcp,
                limit.saturating_sub(if opt.is_some() { 11 } else { 0 }),
                out,
            )
        };
        out[3] |= rcode & 0x0F;
        if let Some(o) = opt {
            let ar = u16::from_be_bytes([out[10], out[11]]) + 1;
            out[10..12].copy_from_slice(&ar.to_be_bytes());
            out.push(0);
            out.extend_from_slice(&rtype::OPT.to_be_bytes());
            out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
            out.push(rcode >> 4);
            out.push(0);
            out.push(if o.do_bit { 0x80 } else { 0 });
            out.extend_from_slice(&[0, 0, 0]);
        }
        Some(rcode)
    }

    /// Steps 2–6 of RFC 1034 §4.3.2; writes sections into `out`, returns the rcode.
    fn resolve(
        &mut self,
        zones: &ZoneSet,
        qtype: u16,
        tcp: bool,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> u8 {
        let mut auth: Vec<Item> = Vec::new();
        let mut add: Vec<Item> = Vec::new();
        let mut an: u16 = 0;
        let mut rcode = NOERROR;
        let mut aa = false;
        let mut visited = [0usize; MAX_CHAIN];
        let mut first_zone: Option<&Zone> = None;
        self.cur.clone_from(&self.qname);
        let cur = &mut self.cur;
        let comp = &mut self.comp;
        for step in 0..MAX_CHAIN {
            let found = lookup(zones, cur, qtype);
            let zone = match &found {
                Found::Outside => None,
                Found::NxDomain(z)
                | Found::Referral(z, _)
                | Found::Dname(z, _, _)
                | Found::Node(z, _) => Some(*z),
            };
            match (first_zone, zone) {
                (None, z) => first_zone = z,
                // The chain left the zone of the question: stop here, as named does.
                (Some(a), Some(b)) if std::ptr::eq(a, b) => {}
                (Some(_), _) => break,
            }
            match found {
                Found::Outside => {
                    if step == 0 {
                        return REFUSED;
                    }
                    break;
                }
                Found::NxDomain(z) => {
                    aa |= step == 0;
                    rcode = NXDOMAIN;
                    auth.extend(negative(z));
                    break;
                }
                Found::Referral(z, cut) => {
                    if let Some(ns) = cut.get(rtype::NS) {
                        auth.push(Item {
                            owner: &cut.name,
                            set: ns,
                            ttl: ns.ttl,
                            required: true,
                        });
                        targets(z, ns, &mut add, true);
                    }
                    break;
                }
                Found::Dname(_, node, i) => {
                    aa |= step == 0;
                    let Some(d) = node.get(rtype::DNAME) else {
                        break;
                    };
                    let Some(target) = d.rdatas.first() else {
                        break;
                    };
                    comp.write_rr(out, &node.name, rtype::DNAME, d.ttl, target);
                    an += 1;
                    // RFC 6672 §2.2: replace the DNAME owner suffix by the target.
                    let cut_at = cur.label_offset(i);
                    let mut syn = [0u8; 512];
                    let new_len = cut_at + target.len();
                    if new_len > crate::name::MAX_NAME {
                        rcode = YXDOMAIN;
                        break;
                    }
                    syn[..cut_at].copy_from_slice(&cur.wire()[..cut_at]);
                    syn[cut_at..new_len].copy_from_slice(target);
                    comp.write_rr(out, cur.wire(), rtype::CNAME, d.ttl, &syn[..new_len]);
                    an += 1;
                    if !cur.set(&syn[..new_len]) {
                        break;
                    }
                }
                Found::Node(z, node) => {
                    aa |= step == 0;
                    let addr = node as *const Node as usize;
                    if visited[..step].contains(&addr) {
                        rcode = SERVFAIL;
                        break;
                    }
                    visited[step] = addr;
                    if node.rrsets.is_empty() {
                        auth.extend(negative(z));
                        break;
                    }
                    if qtype == rtype::ANY {
                        // RFC 8482: one RRset over UDP; everything over TCP.
                        let n = if tcp { node.rrsets.len() } else { 1 };
                        for set in &node.rrsets[..n] {
                            for rd in &set.rdatas {
                                comp.write_rr(out, cur.wire(), set.rtype, set.ttl, rd);
                                an += 1;
                            }
                        }
                        break;
                    }
                    if let Some(set) = node.get(qtype) {
                        for rd in &set.rdatas {
                            comp.write_rr(out, cur.wire(), qtype, set.ttl, rd);
                            an += 1;
                        }
                        targets(z, set, &mut add, false);
                        break;
                    }
                    if let Some(c) = node.get(rtype::CNAME) {
                        let Some(target) = c.rdatas.first() else {
                            break;
                        };
                        comp.write_rr(out, cur.wire(), rtype::CNAME, c.ttl, target);
                        an += 1;
                        if !cur.set(target) {
                            break;
                        }
                        continue;
                    }
                    auth.extend(negative(z));
                    break;
                }
            }
        }
        if aa {
            out[2] |= 0x04;
        }
        let mut ns: u16 = 0;
        for it in &auth {
            for rd in &it.set.rdatas {
                comp.write_rr(out, it.owner, it.set.rtype, it.ttl, rd);
                ns += 1;
            }
        }
        if out.len() > limit {
            // The answer or authority does not fit: header and question only, TC set.
            let qend = 12 + self.qname.len + 4;
            out.truncate(qend);
            out[2] |= 0x02;
            return rcode;
        }
        let mut ar: u16 = 0;
        for it in &add {
            let start = out.len();
            let mut n = 0;
            for rd in &it.set.rdatas {
                comp.write_rr(out, it.owner, it.set.rtype, it.ttl, rd);
                n += 1;
            }
            if out.len() > limit {
                out.truncate(start);
                // RFC 9471: glue that does not fit in a referral sets TC.
                if it.required {
                    out[2] |= 0x02;
                }
                break;
            }
            ar += n;
        }
        out[6..8].copy_from_slice(&an.to_be_bytes());
        out[8..10].copy_from_slice(&ns.to_be_bytes());
        out[10..12].copy_from_slice(&ar.to_be_bytes());
        rcode
    }
}

/// A/AAAA for the targets of NS/MX/SRV (glue for referrals, marked required).
fn targets<'z>(z: &'z Zone, set: &'z RRset, add: &mut Vec<Item<'z>>, glue: bool) {
    let Some(off) = rtype::additional_target(set.rtype) else {
        return;
    };
    let mut t = NameBuf::default();
    for rd in &set.rdatas {
        let Some(wire) = rd.get(off..) else { continue };
        if !t.set(wire) {
            continue;
        }
        if !crate::name::is_subdomain(t.key(), &z.origin) {
            continue;
        }
        let Some(node) = z.nodes.get(t.key()) else {
            continue;
        };
        for ty in [rtype::A, rtype::AAAA] {
            if let Some(s) = node.get(ty) {
                if !add.iter().any(|i| std::ptr::eq(i.set, s)) {
                    add.push(Item {
                        owner: &node.name,
                        set: s,
                        ttl: s.ttl,
                        required: glue,
                    });
                }
            }
        }
    }
}

/// Walk the answer/authority/additional sections of a query: well-formed, and the OPT.
fn parse_rest(q: &[u8], mut pos: usize) -> Result<Option<Opt>, ()> {
    let count = |i: usize| u16::from_be_bytes([q[i], q[i + 1]]) as usize;
    let (an, ns, ar) = (count(6), count(8), count(10));
    let mut opt = None;
    let mut n = NameBuf::default();
    for k in 0..an + ns + ar {
        pos = n.read(q, pos).ok_or(())?;
        let f = q.get(pos..pos + 10).ok_or(())?;
        let t = u16::from_be_bytes([f[0], f[1]]);
        let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
        if k >= an + ns && t == rtype::OPT {
            // RFC 6891 §6.1.1: one OPT, owned by the root.
            if opt.is_some() || n.len != 1 {
                return Err(());
            }
            opt = Some(Opt {
                payload: u16::from_be_bytes([f[2], f[3]]),
                version: f[5],
                do_bit: f[6] & 0x80 != 0,
            });
        }
        pos += 10;
        q.get(pos..pos + rdlen).ok_or(())?;
        pos += rdlen;
    }
    Ok(opt)
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
