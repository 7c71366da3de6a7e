//! Reading and writing whole DNS messages for transfers, SOA checks and NOTIFY.
//!
//! Hand-written on top of [`crate::name::NameBuf`] rather than hickory-proto's `Message`:
//! a transfer of a million records must yield records in dnsd's own form (uncompressed
//! wire owner and RDATA, [`Record`]) without building and then converting a hickory
//! `Record` per entry, and the TSIG code needs each RR's byte offset in the message.

use crate::name::NameBuf;
use crate::rtype;
use crate::zonefile::Record;

/// Opcode QUERY.
pub const OP_QUERY: u8 = 0;
/// Opcode NOTIFY (RFC 1996).
pub const OP_NOTIFY: u8 = 4;
/// Class ANY (TSIG's class).
pub const CLASS_ANY: u16 = 255;

/// A message header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    /// Message ID.
    pub id: u16,
    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// Section counts: question, answer, authority, additional.
    pub counts: [u16; 4],
}

impl Header {
    /// Read the header of `msg`.
    pub fn read(msg: &[u8]) -> Option<Header> {
        let b = msg.get(..12)?;
        let w = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(Header {
            id: w(0),
            flags: w(2),
            counts: [w(4), w(6), w(8), w(10)],
        })
    }
    /// Response bit.
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// Opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    /// Rcode (header part).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }
}

/// The question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Name, uncompressed wire, case as sent.
    pub name: Vec<u8>,
    /// Type.
    pub qtype: u16,
    /// Class.
    pub qclass: u16,
}

/// A TSIG RR as found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigRr {
    /// Offset of the RR in the message (everything before it is what is signed).
    pub start: usize,
    /// Key name, wire, lower-cased.
    pub key: Vec<u8>,
    /// Algorithm name, wire, lower-cased.
    pub alg: Vec<u8>,
    /// Time signed (48 bits).
    pub time: u64,
    /// Fudge.
    pub fudge: u16,
    /// MAC.
    pub mac: Vec<u8>,
    /// Original message ID.
    pub orig_id: u16,
    /// TSIG error (16 BADSIG, 17 BADKEY, 18 BADTIME).
    pub error: u16,
    /// Other data (BADTIME carries the server's time).
    pub other: Vec<u8>,
}

/// A parsed message.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Header.
    pub header: Header,
    /// The question, if there is one.
    pub question: Option<Question>,
    /// Answer section.
    pub answer: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section, without OPT and TSIG.
    pub additional: Vec<Record>,
    /// The TSIG RR, if the message is signed (it must be the last RR).
    pub tsig: Option<TsigRr>,
}

/// Where the names are in the RDATA of a type: fixed bytes before each name. RFC 3597 §4:
/// these are the types whose names a sender may compress, so a receiver must expand them.
fn name_layout(t: u16) -> &'static [u8] {
    match t {
        2..=5 | 7..=9 | 12 | 39 => &[0],
        15 | 18 | 21 | 36 => &[2],
        6 | 14 | 17 => &[0, 0],
        26 => &[2, 0],
        33 => &[6],
        _ => &[],
    }
}

/// Does this type carry domain names in its RDATA (compared case-insensitively)?
pub fn has_names(t: u16) -> bool {
    !name_layout(t).is_empty()
}

fn read_rdata(
    msg: &[u8],
    start: usize,
    end: usize,
    t: u16,
    nb: &mut NameBuf,
) -> Result<Vec<u8>, String> {
    let layout = name_layout(t);
    if layout.is_empty() {
        return Ok(msg[start..end].to_vec());
    }
    let mut out = Vec::with_capacity(end - start + 16);
    let mut p = start;
    for &fixed in layout {
        let f = fixed as usize;
        if p + f > end {
            return Err(format!("short {} RDATA", rtype::to_text(t)));
        }
        out.extend_from_slice(&msg[p..p + f]);
        p += f;
        let np = nb
            .read(msg, p)
            .filter(|&np| np <= end)
            .ok_or_else(|| format!("bad name in {} RDATA", rtype::to_text(t)))?;
        out.extend_from_slice(nb.wire());
        p = np;
    }
    out.extend_from_slice(&msg[p..end]);
    Ok(out)
}

fn u16_at(msg: &[u8], p: usize) -> Option<u16> {
    msg.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(msg: &[u8], p: usize) -> Option<u32> {
    msg.get(p..p + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn parse_tsig(msg: &[u8], start: usize, owner: &[u8], rd: usize, end: usize) -> Option<TsigRr> {
    let mut nb = NameBuf::default();
    let p = nb.read(msg, rd)?;
    let alg = nb.key().to_vec();
    let t = msg.get(p..p + 6)?;
    let time = t.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
    let fudge = u16_at(msg, p + 6)?;
    let maclen = u16_at(msg, p + 8)? as usize;
    let mac = msg.get(p + 10..p + 10 + maclen)?.to_vec();
    let q = p + 10 + maclen;
    let orig_id = u16_at(msg, q)?;
    let error = u16_at(msg, q + 2)?;
    let olen = u16_at(msg, q + 4)? as usize;
    let other = msg.get(q + 6..q + 6 + olen)?.to_vec();
    if q + 6 + olen != end {
        return None;
    }
    Some(TsigRr {
        start,
        key: owner.iter().map(u8::to_ascii_lowercase).collect(),
        alg,
        time,
        fudge,
        mac,
        orig_id,
        error,
        other,
    })
}

/// Parse a message; names in owners and in RDATA of RFC 3597 well-known types are expanded.
pub fn parse(msg: &[u8]) -> Result<Message, String> {
    let header = Header::read(msg).ok_or("message shorter than a header")?;
    let mut m = Message {
        header,
        ..Default::default()
    };
    let mut nb = NameBuf::default();
    let mut rb = NameBuf::default();
    let mut p = 12;
    for _ in 0..header.counts[0] {
        p = nb.read(msg, p).ok_or("bad question name")?;
        let qtype = u16_at(msg, p).ok_or("short question")?;
        let qclass = u16_at(msg, p + 2).ok_or("short question")?;
        p += 4;
        m.question.get_or_insert(Question {
            name: nb.wire().to_vec(),
            qtype,
            qclass,
        });
    }
    let total: usize = header.counts[1..].iter().map(|&c| c as usize).sum();
    let an = header.counts[1] as usize;
    let ns = header.counts[2] as usize;
    for i in 0..total {
        let start = p;
        p = nb.read(msg, p).ok_or("bad owner name")?;
        let (Some(t), Some(class), Some(ttl), Some(rdlen)) = (
            u16_at(msg, p),
            u16_at(msg, p + 2),
            u32_at(msg, p + 4),
            u16_at(msg, p + 8),
        ) else {
            return Err("truncated resource record".into());
        };
        let rd = p + 10;
        let end = rd + rdlen as usize;
        if end > msg.len() {
            return Err("RDATA runs past the end of the message".into());
        }
        p = end;
        if t == rtype::TSIG {
            if i != total - 1 {
                return Err("TSIG is not the last record".into());
            }
            m.tsig = Some(parse_tsig(msg, start, nb.wire(), rd, end).ok_or("malformed TSIG")?);
            continue;
        }
        if t == rtype::OPT {
            continue;
        }
        let rec = Record {
            name: nb.wire().to_vec(),
            rtype: t,
            class,
            ttl,
            rdata: read_rdata(msg, rd, end, t, &mut rb)?,
        };
        if i < an {
            m.answer.push(rec);
        } else if i < an + ns {
            m.authority.push(rec);
        } else {
            m.additional.push(rec);
        }
    }
    Ok(m)
}

/// A message with a header and one question (names uncompressed).
pub fn query(id: u16, opcode: u8, aa: bool, qname: &[u8], qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + qname.len());
    out.extend_from_slice(&id.to_be_bytes());
    let flags: u16 = ((opcode as u16) << 11) | if aa { 0x0400 } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(qname);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&rtype::CLASS_IN.to_be_bytes());
    out
}

/// Append an uncompressed RR to `out` and bump the count of `section` (1 = answer,
/// 2 = authority, 3 = additional).
pub fn push_rr(out: &mut Vec<u8>, section: usize, name: &[u8], t: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&rtype::CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    bump(out, section, 1);
}

/// Add `n` to the count of `section` (0 = question .. 3 = additional).
pub fn bump(out: &mut [u8], section: usize, n: u16) {
    let i = 4 + 2 * section;
    let c = u16::from_be_bytes([out[i], out[i + 1]]).wrapping_add(n);
    out[i..i + 2].copy_from_slice(&c.to_be_bytes());
}

/// A response header + question echoing `query` (QR set, opcode kept, AA set).
pub fn response_head(query: &Header, q: Option<&Question>, rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query.id.to_be_bytes());
    let flags = 0x8000 | (query.flags & 0x7900) | 0x0400 | (rcode as u16 & 0xF);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    if let Some(q) = q {
        out.extend_from_slice(&q.name);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
        out[5] = 1;
    }
    out
}

/// A fresh random-ish message ID (RFC 5452 wants unpredictable IDs; transfers run over TCP
/// to known primaries, so a hash of time and a counter is enough here).
pub fn new_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.finish() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compressed_rdata_and_tsig_position() {
        // Response: question example.com SOA, answer SOA with compressed names.
        let mut m = query(7, 0, false, b"\x07example\x03com\x00", rtype::SOA);
        m[2] |= 0x80;
        m.extend_from_slice(&[0xC0, 12]); // owner -> example.com
        m.extend_from_slice(&rtype::SOA.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&60u32.to_be_bytes());
        let rd: Vec<u8> = [
            &b"\x03ns1\xC0\x0C"[..],
            &b"\x02hm\xC0\x0C"[..],
            &[0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4][..],
        ]
        .concat();
        m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        m.extend_from_slice(&rd);
        bump(&mut m, 1, 1);
        let p = parse(&m).unwrap();
        assert!(p.header.qr());
        assert_eq!(p.answer.len(), 1);
        let soa = &p.answer[0];
        assert_eq!(soa.name, b"\x07example\x03com\x00");
        assert_eq!(crate::zone::soa_field(&soa.rdata, 0), Some(9));
        assert!(soa
            .rdata
            .starts_with(b"\x03ns1\x07example\x03com\x00\x02hm\x07example"));
        assert!(parse(&m[..m.len() - 3]).is_err());
    }
}
