//! Response encoding: a message writer with RFC 1035 §4.1.4 name compression.
//!
//! Hand-written rather than hickory's `BinEncoder` because the hot path must not allocate:
//! the compression table and its key arena live in the per-worker [`Compressor`] and are
//! only cleared between packets, and RDATA is copied from the zone's wire bytes with the
//! embedded names of RFC 3597's well-known types compressed.

use crate::name::{self, MAX_NAME};
use crate::rtype;

/// Compression table, reused across packets.
#[derive(Default)]
pub struct Compressor {
    /// (message offset, arena start, length) of each name suffix written.
    entries: Vec<(u16, u32, u16)>,
    arena: Vec<u8>,
}

impl Compressor {
    /// Forget all names (start of a new message).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
    }

    fn find(&self, key: &[u8]) -> Option<u16> {
        self.entries
            .iter()
            .find(|&&(_, s, l)| {
                l as usize == key.len() && self.arena[s as usize..s as usize + l as usize] == *key
            })
            .map(|&(o, _, _)| o)
    }

    fn add(&mut self, off: usize, key: &[u8]) {
        if off < 0x3FFF && self.entries.len() < 256 {
            self.entries
                .push((off as u16, self.arena.len() as u32, key.len() as u16));
            self.arena.extend_from_slice(key);
        }
    }

    /// Register a name already present in `msg` at `off` (the question).
    pub fn register(&mut self, wire: &[u8], off: usize) {
        let mut lower = [0u8; MAX_NAME];
        let n = wire.len().min(MAX_NAME);
        for i in 0..n {
            lower[i] = wire[i].to_ascii_lowercase();
        }
        let mut p = 0;
        while p < n && wire[p] != 0 {
            self.add(off + p, &lower[p..n]);
            p += 1 + wire[p] as usize;
        }
    }

    /// Append `wire` (uncompressed, valid) to `out`, compressed against earlier names.
    pub fn write_name(&mut self, out: &mut Vec<u8>, wire: &[u8]) {
        let mut lower = [0u8; MAX_NAME];
        let n = wire.len().min(MAX_NAME);
        for i in 0..n {
            lower[i] = wire[i].to_ascii_lowercase();
        }
        let mut p = 0;
        while p < n {
            let l = wire[p] as usize;
            if l == 0 {
                out.push(0);
                return;
            }
            if let Some(off) = self.find(&lower[p..n]) {
                out.extend_from_slice(&(0xC000 | off).to_be_bytes());
                return;
            }
            self.add(out.len(), &lower[p..n]);
            out.extend_from_slice(&wire[p..(p + 1 + l).min(n)]);
            p += 1 + l;
        }
        out.push(0);
    }

    /// Append one resource record.
    pub fn write_rr(&mut self, out: &mut Vec<u8>, owner: &[u8], rt: u16, ttl: u32, rdata: &[u8]) {
        self.write_name(out, owner);
        out.extend_from_slice(&rt.to_be_bytes());
        out.extend_from_slice(&rtype::CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let names = rtype::compressible_names(rt);
        let mut p = 0;
        for &fixed in names {
            let f = fixed as usize;
            let Some(head) = rdata.get(p..p + f) else {
                break;
            };
            out.extend_from_slice(head);
            p += f;
            let Some(l) = rdata.get(p..).and_then(name::wire_len) else {
                break;
            };
            self.write_name(out, &rdata[p..p + l]);
            p += l;
        }
        out.extend_from_slice(rdata.get(p..).unwrap_or_default());
        let rdlen = (out.len() - len_at - 2) as u16;
        out[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_against_question_and_rdata() {
        let mut c = Compressor::default();
        let mut out = vec![0u8; 12];
        let q = b"\x03WWW\x07example\x03com\x00";
        out.extend_from_slice(q);
        c.register(q, 12);
        c.write_rr(
            &mut out,
            b"\x03www\x07example\x03com\x00",
            rtype::MX,
            5,
            b"\x00\x0a\x04mail\x07example\x03com\x00",
        );
        // owner: pointer to 12; rdata: pref, "mail", pointer to 16 (example.com)
        let rr = &out[12 + q.len()..];
        assert_eq!(&rr[..2], &[0xC0, 12]);
        assert_eq!(&rr[12..], b"\x00\x0a\x04mail\xC0\x10");
        assert_eq!(u16::from_be_bytes([rr[10], rr[11]]), 9);
    }
}
