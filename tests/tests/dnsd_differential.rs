//! Differential test: dnsd and a real `named` serve the same zone files; every query of the
//! corpus goes to both, and rcode, flags (AA, TC, RD, RA), OPT and each section (as a set of
//! records, order-insensitive) must match.
//!
//! named is configured with `minimal-responses no-auth` (no NS set in the authority section
//! of positive answers; dnsd never adds one, RFC 2181 §6.1 makes it optional) and
//! `minimal-any yes` (RFC 8482). RFC-permitted differences, checked loosely below:
//! * ANY over UDP: both answer with one RRset of the node (RFC 8482 §4.1), but may pick a
//!   different one: dnsd's answer must be a non-empty single-type subset of named's TCP ANY.
//! * Truncated answers (TC=1): RFC 2181 §9 lets a server send a partial answer or none;
//!   dnsd sends none; only rcode, TC and AA are compared.
//! * Malformed/odd queries: rcode and QR are compared (sections are empty on both sides or
//!   only echo the question).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bindy_tests::named::{require_tool, NamedBuilder};
use dnsd::inspect::{query, summarize, Summary};
use dnsd::rtype;
use dnsd::server::{Server, ServerOptions};
use dnsd::zone::{load_file, Store, ZoneSet};

fn testdata(f: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dnsd/testdata")
        .join(f)
}

/// Send over UDP (3 tries, 2 s each) and return the raw response.
fn udp(server: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..3 {
        s.send_to(q, server).ok()?;
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            if from == server && n >= 2 && buf[..2] == q[..2] {
                return Some(buf[..n].to_vec());
            }
        }
    }
    None
}

fn tcp(server: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&server, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Cmp {
    Exact,
    AnySubset,
    Truncated,
    RcodeOnly,
}

struct Case {
    what: String,
    q: Vec<u8>,
    tcp: bool,
    cmp: Cmp,
}

fn case(name: &str, t: u16, rd: bool, edns: Option<u16>, tcp: bool, cmp: Cmp) -> Case {
    Case {
        what: format!(
            "{name} {} rd={rd} edns={edns:?} tcp={tcp}",
            rtype::to_text(t)
        ),
        q: query(0x4242, name, t, rd, edns),
        tcp,
        cmp,
    }
}

fn raw(what: &str, q: Vec<u8>) -> Case {
    Case {
        what: what.to_string(),
        q,
        tcp: false,
        cmp: Cmp::RcodeOnly,
    }
}

fn corpus() -> Vec<Case> {
    use rtype::*;
    let mut v = Vec::new();
    let e = Some(1232);
    let names: &[(&str, &[u16])] = &[
        ("example.com.", &[SOA, NS, MX, TXT, A, AAAA, DS, CNAME, SRV]),
        ("EXAMPLE.com.", &[A, NS]),
        ("www.example.com.", &[A, AAAA, MX, TXT, CNAME]),
        ("wWw.mIxEd.example.com.", &[A, AAAA]),
        ("mixed.example.com.", &[A]),
        ("ns1.example.com.", &[A, AAAA]),
        ("alias.example.com.", &[A, AAAA, CNAME, TXT]),
        ("chain1.example.com.", &[A, MX]),
        ("dangling.example.com.", &[A]),
        ("outside.example.com.", &[A]),
        ("loop1.example.com.", &[A]),
        ("_sip._tcp.example.com.", &[SRV, A]),
        ("txt.example.com.", &[TXT]),
        ("caa.example.com.", &[257]),
        ("unknown.example.com.", &[65280, A]),
        ("generic-a.example.com.", &[A]),
        ("ptr.example.com.", &[PTR]),
        ("nope.example.com.", &[A, MX]),
        ("deeper.nope.example.com.", &[A]),
        ("ent.example.com.", &[A]),
        ("b.ent.example.com.", &[A, TXT]),
        ("a.b.ent.example.com.", &[A]),
        ("x.ent.example.com.", &[A]),
        ("foo.wild.example.com.", &[A, TXT, MX, AAAA]),
        ("a.b.wild.example.com.", &[A]),
        ("wild.example.com.", &[A]),
        ("*.wild.example.com.", &[A, TXT]),
        ("exists.wild.example.com.", &[A, TXT]),
        ("x.exists.wild.example.com.", &[A]),
        ("ent2.wild.example.com.", &[A]),
        ("x.ent2.wild.example.com.", &[A]),
        ("q.cnamewild.example.com.", &[A, CNAME]),
        ("sub.example.com.", &[A, NS, DS, SOA, MX]),
        ("host.sub.example.com.", &[A, AAAA]),
        ("ns.sub.example.com.", &[A]),
        ("nods.example.com.", &[DS, NS, A]),
        ("x.nods.example.com.", &[A]),
        ("dn.example.com.", &[DNAME, A]),
        ("foo.dn.example.com.", &[A]),
        ("a.dn2.example.com.", &[A, TXT]),
        ("b.dn2.example.com.", &[A]),
        ("other.test.", &[SOA, NS]),
        ("www.other.test.", &[A]),
        ("nothing.other.test.", &[A]),
        ("www.elsewhere.invalid.", &[A]),
        (".", &[NS]),
    ];
    for (n, types) in names {
        for &t in *types {
            v.push(case(n, t, true, e, false, Cmp::Exact));
        }
    }
    for (n, t) in [
        ("www.example.com.", A),
        ("nope.example.com.", A),
        ("sub.example.com.", A),
        ("example.com.", MX),
    ] {
        v.push(case(n, t, false, None, false, Cmp::Exact));
        v.push(case(n, t, false, e, true, Cmp::Exact));
    }
    v.push(case("example.com.", ANY, true, e, false, Cmp::AnySubset));
    v.push(case(
        "www.example.com.",
        ANY,
        true,
        e,
        false,
        Cmp::AnySubset,
    ));
    v.push(case("example.com.", ANY, true, e, true, Cmp::Exact));
    v.push(case("alias.example.com.", ANY, true, e, true, Cmp::Exact));
    v.push(case(
        "long.example.com.",
        TXT,
        true,
        None,
        false,
        Cmp::Truncated,
    ));
    v.push(case(
        "long.example.com.",
        TXT,
        true,
        Some(4096),
        false,
        Cmp::Exact,
    ));
    v.push(case("long.example.com.", TXT, true, None, true, Cmp::Exact));
    // Malformed and unusual messages.
    let base = query(0x4343, "www.example.com.", A, false, None);
    let mut m = base.clone();
    m[5] = 2;
    v.push(raw("QDCOUNT=2", m));
    let mut m = base.clone();
    m[5] = 0;
    v.push(raw("QDCOUNT=0", m[..12].to_vec()));
    let mut m = query(0x4343, "example.com.", SOA, false, None);
    m[2] = 5 << 3;
    v.push(raw("opcode UPDATE (unsigned, refused)", m));
    let mut m = base.clone();
    m[2] = 2 << 3;
    v.push(raw("opcode STATUS", m));
    let mut m = base.clone();
    m[2] = 9 << 3;
    v.push(raw("opcode 9", m));
    let mut m = query(0x4444, "www.example.com.", A, false, Some(1232));
    let n = m.len();
    m[n - 5] = 1;
    v.push(raw("EDNS version 1", m));
    let mut m = base.clone();
    let n = m.len();
    m[n - 1] = 4; // class HS
    v.push(raw("class HS", m));
    v.push(raw(
        "AXFR over UDP",
        query(0x4545, "example.com.", AXFR, false, None),
    ));
    v.push(raw("truncated question", base[..base.len() - 3].to_vec()));
    let mut m = query(0x4646, "www.example.com.", A, false, Some(1232));
    m[11] = 2;
    m.extend_from_within(m.len() - 11..);
    v.push(raw("two OPT records", m));
    v
}

fn section_types(s: &BTreeSet<String>) -> BTreeSet<String> {
    s.iter()
        .filter_map(|r| r.split(' ').nth(2).map(str::to_string))
        .collect()
}

#[test]
fn dnsd_matches_named() {
    if !require_tool("named") {
        return;
    }
    let ex = std::fs::read_to_string(testdata("example.com.zone")).expect("zone file");
    let ot = std::fs::read_to_string(testdata("other.test.zone")).expect("zone file");
    let named = NamedBuilder::new()
        .options("minimal-responses no-auth;")
        .options("minimal-any yes;")
        .primary_zone("example.com", &ex)
        .primary_zone("other.test", &ot)
        .start()
        .expect("start named");
    let mut set = ZoneSet::default();
    set.insert(Arc::new(
        load_file("example.com.", &testdata("example.com.zone")).expect("load"),
    ));
    set.insert(Arc::new(
        load_file("other.test.", &testdata("other.test.zone")).expect("load"),
    ));
    let opts = ServerOptions {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        workers: 1,
        ..Default::default()
    };
    let server = Server::start(&opts, Arc::new(Store::new(set))).expect("start dnsd");
    let d_addr = server.addrs()[0];
    let n_addr = named.addr();

    let mut failures = Vec::new();
    let cases = corpus();
    for c in &cases {
        let send = |a| if c.tcp { tcp(a, &c.q) } else { udp(a, &c.q) };
        let d = send(d_addr).and_then(|r| summarize(&r));
        let n = send(n_addr).and_then(|r| summarize(&r));
        let (Some(d), Some(n)) = (d, n) else {
            failures.push(format!("{}: no answer (dnsd or named)", c.what));
            continue;
        };
        let head = |s: &Summary| (s.qr, s.rcode, s.aa, s.tc, s.rd, s.ra, s.opt.map(|o| o.0));
        let ok = match c.cmp {
            Cmp::Exact => {
                head(&d) == head(&n)
                    && d.answer == n.answer
                    && d.authority == n.authority
                    && d.additional == n.additional
            }
            Cmp::Truncated => (d.rcode, d.tc, d.aa) == (n.rcode, n.tc, n.aa) && d.tc,
            Cmp::RcodeOnly => (d.qr, d.rcode) == (n.qr, n.rcode),
            Cmp::AnySubset => {
                let full = tcp(n_addr, &c.q)
                    .and_then(|r| summarize(&r))
                    .map(|s| s.answer)
                    .unwrap_or_default();
                head(&d) == head(&n)
                    && !d.answer.is_empty()
                    && d.answer.is_subset(&full)
                    && section_types(&d.answer).len() == 1
            }
        };
        if !ok {
            failures.push(format!(
                "{} ({:?}):\n  dnsd:  {d:?}\n  named: {n:?}",
                c.what, c.cmp
            ));
        }
    }
    server.shutdown();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() > 100, "corpus too small: {}", cases.len());
}
