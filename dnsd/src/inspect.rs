//! A small, independent response decoder for tests and tools: turns a response into sets
//! of presentation-format records so two servers' answers can be compared
//! order-insensitively (used by the differential test against named).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::{self, NameBuf};
use crate::rtype;

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Message ID.
    pub id: u16,
    /// Full rcode (OPT extended bits included).
    pub rcode: u16,
    /// AA
    pub aa: bool,
    /// TC
    pub tc: bool,
    /// RD
    pub rd: bool,
    /// RA
    pub ra: bool,
    /// QR
    pub qr: bool,
    /// Question as text (`name type`), lower-cased name.
    pub question: Option<String>,
    /// Answer section.
    pub answer: BTreeSet<String>,
    /// Authority section.
    pub authority: BTreeSet<String>,
    /// Additional section without the OPT.
    pub additional: BTreeSet<String>,
    /// OPT: (version, DO bit) if present.
    pub opt: Option<(u8, bool)>,
    /// OPT's advertised payload size.
    pub payload: Option<u16>,
}

fn rdata_text(msg: &[u8], rt: u16, start: usize, end: usize) -> Option<String> {
    let rd = msg.get(start..end)?;
    let mut n = NameBuf::default();
    let name_at = |n: &mut NameBuf, p: usize| -> Option<(String, usize)> {
        let next = n.read(msg, p)?;
        Some((name::to_text(n.key()), next))
    };
    let u16at = |p: usize| rd.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    Some(match rt {
        rtype::A if rd.len() == 4 => Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3]).to_string(),
        rtype::AAAA if rd.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(rd);
            Ipv6Addr::from(o).to_string()
        }
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME => name_at(&mut n, start)?.0,
        rtype::MX => format!("{} {}", u16at(0)?, name_at(&mut n, start + 2)?.0),
        rtype::SRV => format!(
            "{} {} {} {}",
            u16at(0)?,
            u16at(2)?,
            u16at(4)?,
            name_at(&mut n, start + 6)?.0
        ),
        rtype::SOA => {
            let (m, p) = name_at(&mut n, start)?;
            let (r, p) = name_at(&mut n, p)?;
            let f: Vec<String> = (0..5)
                .map(|i| {
                    msg.get(p + 4 * i..p + 4 * i + 4)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                })
                .collect::<Option<Vec<u32>>>()?
                .iter()
                .map(u32::to_string)
                .collect();
            format!("{m} {r} {}", f.join(" "))
        }
        _ => format!(
            "\\# {} {}",
            rd.len(),
            rd.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    })
}

/// Decode a response; None if it is malformed.
pub fn summarize(msg: &[u8]) -> Option<Summary> {
    let h = msg.get(..12)?;
    let mut s = Summary {
        id: u16::from_be_bytes([h[0], h[1]]),
        qr: h[2] & 0x80 != 0,
        aa: h[2] & 0x04 != 0,
        tc: h[2] & 0x02 != 0,
        rd: h[2] & 0x01 != 0,
        ra: h[3] & 0x80 != 0,
        rcode: (h[3] & 0x0F) as u16,
        ..Summary::default()
    };
    let c = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]) as usize;
    let (qd, an, ns, ar) = (c(4), c(6), c(8), c(10));
    let mut pos = 12;
    let mut n = NameBuf::default();
    for _ in 0..qd {
        pos = n.read(msg, pos)?;
        let t = msg.get(pos..pos + 4)?;
        s.question = Some(format!(
            "{} {}",
            name::to_text(n.key()),
            rtype::to_text(u16::from_be_bytes([t[0], t[1]]))
        ));
        pos += 4;
    }
    for k in 0..an + ns + ar {
        pos = n.read(msg, pos)?;
        let owner = name::to_text(n.key());
        let f = msg.get(pos..pos + 10)?;
        let rt = u16::from_be_bytes([f[0], f[1]]);
        let class = u16::from_be_bytes([f[2], f[3]]);
        let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        let len = u16::from_be_bytes([f[8], f[9]]) as usize;
        pos += 10;
        if pos + len > msg.len() {
            return None;
        }
        if rt == rtype::OPT {
            s.rcode |= ((ttl >> 24) as u16) << 4;
            s.opt = Some(((ttl >> 16) as u8, ttl & 0x8000 != 0));
            s.payload = Some(class);
        } else {
            let text = format!(
                "{owner} {ttl} {} {}",
                rtype::to_text(rt),
                rdata_text(msg, rt, pos, pos + len)?
            );
            if k < an {
                s.answer.insert(text);
            } else if k < an + ns {
                s.authority.insert(text);
            } else {
                s.additional.insert(text);
            }
        }
        pos += len;
    }
    Some(s)
}

/// Build a query: `name` in presentation format, EDNS with `payload` if given.
pub fn query(id: u16, qname: &str, qtype: u16, rd: bool, payload: Option<u16>) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.push(if rd { 1 } else { 0 });
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, if payload.is_some() { 1 } else { 0 }]);
    q.extend(name::from_text(qname, Some(name::ROOT)).unwrap_or_else(|_| name::ROOT.to_vec()));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&rtype::CLASS_IN.to_be_bytes());
    if let Some(p) = payload {
        q.push(0);
        q.extend_from_slice(&rtype::OPT.to_be_bytes());
        q.extend_from_slice(&p.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}
