//! The transfer client: SOA check, AXFR (RFC 5936) and IXFR (RFC 1995), always over TCP,
//! TSIG-signed when the primary has a key, every response message checked with
//! [`StreamVerifier`].
//!
//! Everything is bounded: connect 5 s, 15 s of silence per read, 10 min per transfer, and
//! at most [`MAX_MESSAGES`] response messages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use super::msg::{self, Header};
use super::serial;
use super::tsig::{Key, StreamVerifier};
use crate::name;
use crate::rtype;
use crate::zone::soa_field;
use crate::zonefile::Record;

const CONNECT: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_secs(15);
const WHOLE: Duration = Duration::from_secs(600);
/// Most messages read for one transfer (a 1M-record zone is about 1 500 messages).
pub const MAX_MESSAGES: usize = 1_000_000;

/// A primary to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary {
    /// Address (TCP).
    pub addr: SocketAddr,
    /// TSIG key for SOA queries and transfers.
    pub key: Option<Arc<Key>>,
}

/// One IXFR difference sequence (RFC 1995 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Serial the difference applies to.
    pub from: u32,
    /// Serial it produces.
    pub to: u32,
    /// The SOA record the difference starts from.
    pub old_soa: Record,
    /// The new SOA record.
    pub soa: Record,
    /// Records deleted (SOA excluded).
    pub del: Vec<Record>,
    /// Records added (SOA excluded).
    pub add: Vec<Record>,
}

/// What a transfer brought.
#[derive(Debug)]
pub enum Outcome {
    /// The primary has nothing newer (IXFR answered with its SOA alone).
    UpToDate(u32),
    /// A whole zone (AXFR, or IXFR answered AXFR-style), SOA included once.
    Full {
        /// Serial.
        serial: u32,
        /// Records.
        records: Vec<Record>,
    },
    /// Differences (IXFR).
    Incremental {
        /// Serial after the last one.
        serial: u32,
        /// In order.
        deltas: Vec<Delta>,
    },
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum State {
    Start,
    FirstSoa,
    Full,
    Del,
    Add,
    Done,
}

/// Reads the answer records of an AXFR/IXFR stream (RFC 1995 §4, RFC 5936 §2.2).
struct Collector {
    ixfr_from: Option<u32>,
    state: State,
    first: u32,
    records: Vec<Record>,
    deltas: Vec<Delta>,
    cur: Option<Delta>,
}

fn soa_serial_of(r: &Record) -> Result<u32, String> {
    soa_field(&r.rdata, 0).ok_or_else(|| "malformed SOA in transfer".to_string())
}

impl Collector {
    fn feed(&mut self, r: Record) -> Result<(), String> {
        let is_soa = r.rtype == rtype::SOA;
        match self.state {
            State::Start => {
                if !is_soa {
                    return Err("transfer does not start with the SOA".into());
                }
                self.first = soa_serial_of(&r)?;
                self.records.push(r);
                self.state = State::FirstSoa;
            }
            State::FirstSoa if is_soa && self.ixfr_from.is_some() => {
                let from = soa_serial_of(&r)?;
                self.cur = Some(Delta {
                    from,
                    to: from,
                    old_soa: r.clone(),
                    soa: r,
                    del: Vec::new(),
                    add: Vec::new(),
                });
                self.state = State::Del;
            }
            State::FirstSoa | State::Full => {
                if is_soa {
                    if soa_serial_of(&r)? != self.first {
                        return Err("AXFR ends with an SOA of another serial".into());
                    }
                    self.state = State::Done;
                } else {
                    self.records.push(r);
                    self.state = State::Full;
                }
            }
            State::Del => {
                let Some(cur) = self.cur.as_mut() else {
                    return Err("IXFR state".into());
                };
                if is_soa {
                    cur.to = soa_serial_of(&r)?;
                    cur.soa = r;
                    self.state = State::Add;
                } else {
                    cur.del.push(r);
                }
            }
            State::Add => {
                if is_soa {
                    let s = soa_serial_of(&r)?;
                    if let Some(d) = self.cur.take() {
                        self.deltas.push(d);
                    }
                    if s == self.first {
                        self.state = State::Done;
                    } else {
                        self.cur = Some(Delta {
                            from: s,
                            to: s,
                            old_soa: r.clone(),
                            soa: r,
                            del: Vec::new(),
                            add: Vec::new(),
                        });
                        self.state = State::Del;
                    }
                } else if let Some(cur) = self.cur.as_mut() {
                    cur.add.push(r);
                }
            }
            State::Done => return Err("records after the final SOA".into()),
        }
        Ok(())
    }

    /// At a message boundary: an IXFR answered with the SOA alone is complete.
    fn up_to_date(&self) -> bool {
        self.state == State::FirstSoa
            && self
                .ixfr_from
                .is_some_and(|have| !serial::gt(self.first, have))
    }
}

async fn read_frame(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut len = [0u8; 2];
    match timeout(IDLE, sock.read_exact(&mut len)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("reading: {e}")),
        Err(_) => return Err("primary went silent (15 s)".into()),
    }
    buf.resize(u16::from_be_bytes(len) as usize, 0);
    match timeout(IDLE, sock.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("reading: {e}")),
        Err(_) => Err("primary went silent (15 s)".into()),
    }
}

fn rcode_text(r: u8) -> &'static str {
    match r {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        9 => "NOTAUTH",
        _ => "an error",
    }
}

/// Send `query` (signed with the primary's key) and feed every response message to `each`
/// until it returns true (done). Checks IDs, rcodes and TSIG on every message.
async fn exchange(
    p: &Primary,
    mut query: Vec<u8>,
    mut each: impl FnMut(msg::Message) -> Result<bool, String>,
) -> Result<(), String> {
    let start = Instant::now();
    let id = u16::from_be_bytes([query[0], query[1]]);
    let req_mac = p.key.as_ref().map(|k| k.sign(&mut query, None));
    let mut verifier = match (&p.key, req_mac) {
        (Some(k), Some(m)) => Some(StreamVerifier::new(k, m)),
        _ => None,
    };
    let mut sock = match timeout(CONNECT, TcpStream::connect(p.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Err(_) => return Err("connect timed out".into()),
    };
    let _ = sock.set_nodelay(true);
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    timeout(IDLE, sock.write_all(&framed))
        .await
        .map_err(|_| "sending timed out".to_string())?
        .map_err(|e| format!("sending: {e}"))?;
    let mut buf = Vec::with_capacity(65535);
    for _ in 0..MAX_MESSAGES {
        if start.elapsed() > WHOLE {
            return Err("transfer took longer than 10 minutes".into());
        }
        read_frame(&mut sock, &mut buf).await?;
        let h = Header::read(&buf).ok_or("short response")?;
        if h.id != id || !h.qr() {
            return Err("response with a wrong ID".into());
        }
        let m = msg::parse(&buf)?;
        if h.rcode() != 0 {
            let detail = match &m.tsig {
                Some(t) if t.error != 0 => format!(
                    " (TSIG error {})",
                    match t.error {
                        16 => "BADSIG",
                        17 => "BADKEY",
                        18 => "BADTIME",
                        _ => "other",
                    }
                ),
                _ => String::new(),
            };
            return Err(format!(
                "primary answered {}{detail}",
                rcode_text(h.rcode())
            ));
        }
        if let Some(v) = verifier.as_mut() {
            v.next(&buf, m.tsig.as_ref())?;
        }
        if each(m)? {
            if let Some(v) = &verifier {
                v.finish()?;
            }
            return Ok(());
        }
    }
    Err("too many messages".into())
}

/// Ask the primary for the zone's SOA serial.
pub async fn soa_serial(p: &Primary, zone: &[u8]) -> Result<u32, String> {
    let q = msg::query(msg::new_id(), msg::OP_QUERY, false, zone, rtype::SOA);
    let mut serial = None;
    exchange(p, q, |m| {
        if m.header.flags & 0x0400 == 0 {
            return Err("primary is not authoritative for the zone".into());
        }
        serial = m
            .answer
            .iter()
            .find(|r| r.rtype == rtype::SOA && name::lower(&r.name)[..] == name::lower(zone)[..])
            .and_then(|r| soa_field(&r.rdata, 0));
        Ok(true)
    })
    .await?;
    serial.ok_or_else(|| "no SOA in the primary's answer".into())
}

/// Transfer the zone: IXFR from `have` (our serial and SOA RDATA) when given, else AXFR.
pub async fn transfer(
    p: &Primary,
    zone: &[u8],
    have: Option<(u32, &[u8], u32)>,
) -> Result<Outcome, String> {
    let qtype = if have.is_some() {
        rtype::IXFR
    } else {
        rtype::AXFR
    };
    let mut q = msg::query(msg::new_id(), msg::OP_QUERY, false, zone, qtype);
    if let Some((_, soa, ttl)) = have {
        msg::push_rr(&mut q, 2, zone, rtype::SOA, ttl, soa);
    }
    let mut c = Collector {
        ixfr_from: have.map(|h| h.0),
        state: State::Start,
        first: 0,
        records: Vec::new(),
        deltas: Vec::new(),
        cur: None,
    };
    exchange(p, q, |m| {
        for r in m.answer {
            c.feed(r)?;
        }
        Ok(c.state == State::Done || c.up_to_date())
    })
    .await?;
    Ok(if c.state != State::Done {
        Outcome::UpToDate(c.first)
    } else if c.deltas.is_empty() {
        Outcome::Full {
            serial: c.first,
            records: c.records,
        }
    } else {
        Outcome::Incremental {
            serial: c.first,
            deltas: c.deltas,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soa(serial: u32) -> Record {
        let mut rd = b"\x02ns\x00\x02hm\x00".to_vec();
        for v in [serial, 1, 1, 1, 1] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        Record {
            name: b"\x01z\x00".to_vec(),
            rtype: rtype::SOA,
            class: 1,
            ttl: 60,
            rdata: rd,
        }
    }
    fn a(x: u8) -> Record {
        Record {
            name: b"\x01z\x00".to_vec(),
            rtype: rtype::A,
            class: 1,
            ttl: 60,
            rdata: vec![192, 0, 2, x],
        }
    }
    fn collect(from: Option<u32>, rs: Vec<Record>) -> Collector {
        let mut c = Collector {
            ixfr_from: from,
            state: State::Start,
            first: 0,
            records: vec![],
            deltas: vec![],
            cur: None,
        };
        for r in rs {
            c.feed(r).unwrap();
        }
        c
    }

    #[test]
    fn reads_ixfr_axfr_style_and_up_to_date() {
        let c = collect(
            Some(1),
            vec![
                soa(3),
                soa(1),
                a(1),
                soa(2),
                a(2),
                soa(2),
                soa(3),
                a(3),
                soa(3),
            ],
        );
        assert!(c.state == State::Done);
        assert_eq!(c.deltas.len(), 2);
        assert_eq!((c.deltas[0].from, c.deltas[0].to), (1, 2));
        assert_eq!((c.deltas[1].from, c.deltas[1].to), (2, 3));
        assert_eq!(c.deltas[0].del, vec![a(1)]);
        assert_eq!(c.deltas[0].add, vec![a(2)]);
        let c = collect(Some(1), vec![soa(3), a(1), a(2), soa(3)]);
        assert!(c.state == State::Done && c.deltas.is_empty() && c.records.len() == 3);
        let c = collect(Some(3), vec![soa(3)]);
        assert!(c.up_to_date());
        let c = collect(None, vec![soa(3)]);
        assert!(!c.up_to_date());
    }
}
