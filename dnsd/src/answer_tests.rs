//! Unit tests of the answer engine against `testdata/*.zone`.

use super::*;
use crate::inspect::{query, summarize, Summary};
use crate::zone::{load_file, ZoneSet};
use std::path::Path;
use std::sync::Arc;

fn zones() -> ZoneSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut s = ZoneSet::default();
    s.insert(Arc::new(
        load_file("example.com.", &dir.join("example.com.zone")).unwrap(),
    ));
    s.insert(Arc::new(
        load_file("other.test.", &dir.join("other.test.zone")).unwrap(),
    ));
    s
}

fn ask_with(q: &[u8], tcp: bool) -> Summary {
    let z = zones();
    let mut e = Engine::new();
    let mut out = Vec::new();
    e.answer(q, &z, tcp, &mut out).expect("an answer");
    summarize(&out).expect("well-formed response")
}

fn ask(name: &str, t: u16) -> Summary {
    ask_with(&query(7, name, t, true, Some(1232)), false)
}

fn set(v: &[&str]) -> std::collections::BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const SOA: &str = "example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2026112501 7200 3600 1209600 300";

#[test]
fn exact_answer_is_authoritative_and_keeps_question_case() {
    let s = ask("WWW.Example.COM.", rtype::A);
    assert_eq!(
        (s.rcode, s.aa, s.tc, s.rd, s.ra, s.id),
        (0, true, false, true, false, 7)
    );
    assert_eq!(
        s.answer,
        set(&[
            "www.example.com. 3600 A 192.0.2.80",
            "www.example.com. 3600 A 192.0.2.81"
        ])
    );
    assert!(s.authority.is_empty() && s.additional.is_empty());
    assert_eq!(s.opt, Some((0, false)));
    assert_eq!(s.payload, Some(EDNS_PAYLOAD));
    // raw bytes: the question's case is preserved
    let mut out = Vec::new();
    Engine::new().answer(
        &query(1, "WWW.Example.COM.", rtype::A, true, None),
        &zones(),
        false,
        &mut out,
    );
    assert_eq!(&out[13..16], b"WWW");
    assert_eq!(
        &out[33..35],
        &[0xC0, 12],
        "owner compressed to the question"
    );
}

#[test]
fn nxdomain_and_nodata_carry_soa_with_negative_ttl() {
    let s = ask("nope.example.com.", rtype::A);
    assert_eq!((s.rcode, s.aa), (NXDOMAIN as u16, true));
    assert!(s.answer.is_empty());
    assert_eq!(s.authority, set(&[SOA]));
    let s = ask("www.example.com.", rtype::MX);
    assert_eq!((s.rcode, s.aa), (0, true));
    assert_eq!(s.authority, set(&[SOA]));
    // empty non-terminals are NODATA, not NXDOMAIN
    for n in ["ent.example.com.", "b.ent.example.com."] {
        let s = ask(n, rtype::A);
        assert_eq!(s.rcode, 0, "{n}");
        assert_eq!(s.authority, set(&[SOA]));
    }
}

#[test]
fn cname_chains_are_followed_across_zones() {
    let s = ask("chain1.example.com.", rtype::A);
    assert_eq!(
        s.answer,
        set(&[
            "chain1.example.com. 3600 CNAME chain2.example.com.",
            "chain2.example.com. 3600 CNAME www.example.com.",
            "www.example.com. 3600 A 192.0.2.80",
            "www.example.com. 3600 A 192.0.2.81",
        ])
    );
    // like named: the chain stops where it leaves the zone
    let s = ask("outside.example.com.", rtype::A);
    assert_eq!((s.rcode, s.answer.len()), (0, 1), "{s:?}");
    let s = ask("dangling.example.com.", rtype::A);
    assert_eq!(s.rcode, NXDOMAIN as u16);
    assert_eq!(s.answer.len(), 1);
    let s = ask("loop1.example.com.", rtype::A);
    assert_eq!((s.rcode, s.answer.len()), (SERVFAIL as u16, 2));
    let s = ask("alias.example.com.", rtype::CNAME);
    assert_eq!(
        s.answer,
        set(&["alias.example.com. 3600 CNAME www.example.com."])
    );
}

#[test]
fn wildcards_synthesize_and_are_blocked_by_existing_names() {
    let s = ask("foo.wild.example.com.", rtype::A);
    assert_eq!((s.rcode, s.aa), (0, true));
    assert_eq!(s.answer, set(&["foo.wild.example.com. 3600 A 192.0.2.200"]));
    let s = ask("a.b.wild.example.com.", rtype::TXT);
    assert_eq!(s.answer.len(), 1);
    // existing name: no synthesis
    let s = ask("exists.wild.example.com.", rtype::TXT);
    assert!(s.answer.is_empty() && s.rcode == 0);
    // below an existing ENT (ent2.wild): RFC 4592 closest encloser is ent2.wild, no *.ent2.wild
    let s = ask("x.ent2.wild.example.com.", rtype::A);
    assert_eq!(s.rcode, NXDOMAIN as u16);
    let s = ask("ent2.wild.example.com.", rtype::A);
    assert_eq!((s.rcode, s.answer.len()), (0, 0));
    // wildcard NODATA
    let s = ask("zz.wild.example.com.", rtype::MX);
    assert_eq!((s.rcode, s.authority.len()), (0, 1));
    // wildcard CNAME
    let s = ask("q.cnamewild.example.com.", rtype::A);
    assert!(s
        .answer
        .contains("q.cnamewild.example.com. 3600 CNAME www.example.com."));
    assert_eq!(s.answer.len(), 3);
}

#[test]
fn referrals_have_ns_and_glue_without_aa() {
    for n in ["sub.example.com.", "deep.host.sub.example.com."] {
        let s = ask(n, rtype::A);
        assert_eq!((s.rcode, s.aa), (0, false), "{n}");
        assert!(s.answer.is_empty());
        assert_eq!(
            s.authority,
            set(&[
                "sub.example.com. 3600 NS ns.external.test.",
                "sub.example.com. 3600 NS ns.sub.example.com."
            ])
        );
        assert_eq!(
            s.additional,
            set(&["ns.sub.example.com. 3600 A 192.0.2.128"])
        );
    }
    // DS is answered by the parent, authoritatively
    let s = ask("sub.example.com.", rtype::DS);
    assert_eq!((s.rcode, s.aa, s.answer.len()), (0, true, 1));
    let s = ask("nods.example.com.", rtype::DS);
    assert_eq!((s.rcode, s.aa), (0, true));
    assert_eq!(s.authority, set(&[SOA]));
}

#[test]
fn additional_section_for_mx_ns_srv() {
    let s = ask("example.com.", rtype::MX);
    assert_eq!(s.answer.len(), 2);
    assert_eq!(s.additional, set(&["mail.example.com. 3600 A 192.0.2.25",]));
    let s = ask("example.com.", rtype::NS);
    assert_eq!(s.additional.len(), 3);
    let s = ask("_sip._tcp.example.com.", rtype::SRV);
    assert_eq!(s.additional, set(&["sip.example.com. 3600 A 192.0.2.60"]));
}

#[test]
fn dname_substitution() {
    let s = ask("x.dn2.example.com.", rtype::A);
    let _ = s;
    let s = ask("a.dn2.example.com.", rtype::A);
    assert_eq!(
        s.answer,
        set(&[
            "dn2.example.com. 3600 DNAME target.example.com.",
            "a.dn2.example.com. 3600 CNAME a.target.example.com.",
            "a.target.example.com. 3600 A 192.0.2.222",
        ])
    );
    // the DNAME owner itself is not redirected
    let s = ask("dn2.example.com.", rtype::DNAME);
    assert_eq!(s.answer.len(), 1);
}

#[test]
fn any_is_minimal_over_udp_and_full_over_tcp() {
    let s = ask("example.com.", rtype::ANY);
    let types: std::collections::BTreeSet<_> = s
        .answer
        .iter()
        .map(|r| r.split(' ').nth(2).unwrap_or("").to_string())
        .collect();
    assert_eq!(types.len(), 1);
    let s = ask_with(&query(1, "example.com.", rtype::ANY, false, None), true);
    assert!(s.answer.len() >= 8);
}

#[test]
fn errors_refused_notimp_formerr_badvers() {
    assert_eq!(ask("www.nowhere.", rtype::A).rcode, REFUSED as u16);
    assert!(!ask("www.nowhere.", rtype::A).aa);
    let mut q = query(1, "www.example.com.", rtype::A, false, None);
    q[2] = 5 << 3; // UPDATE
    assert_eq!(ask_with(&q, false).rcode, REFUSED as u16);
    q[2] = 2 << 3; // STATUS
    assert_eq!(ask_with(&q, false).rcode, NOTIMP as u16);
    let mut q = query(1, "www.example.com.", rtype::A, false, Some(1232));
    let n = q.len();
    q[n - 5] = 1; // EDNS version 1
    let s = ask_with(&q, false);
    assert_eq!((s.rcode, s.answer.len()), (BADVERS as u16, 0));
    let mut q = query(1, "www.example.com.", rtype::A, false, None);
    q[5] = 2; // QDCOUNT 2
    assert_eq!(ask_with(&q, false).rcode, FORMERR as u16);
    let q = query(1, "example.com.", rtype::AXFR, false, None);
    assert_eq!(ask_with(&q, false).rcode, REFUSED as u16);
    // responses and runts are dropped
    let mut q = query(1, "www.example.com.", rtype::A, false, None);
    q[2] |= 0x80;
    assert!(Engine::new()
        .answer(&q, &zones(), false, &mut Vec::new())
        .is_none());
    assert!(Engine::new()
        .answer(&q[..11], &zones(), false, &mut Vec::new())
        .is_none());
}

#[test]
fn truncation_over_udp() {
    let s = ask_with(
        &query(1, "long.example.com.", rtype::TXT, false, None),
        false,
    );
    assert!(s.tc && s.answer.is_empty());
    let s = ask_with(
        &query(1, "long.example.com.", rtype::TXT, false, Some(4096)),
        false,
    );
    assert!(!s.tc && s.answer.len() == 6);
    let s = ask_with(
        &query(1, "long.example.com.", rtype::TXT, false, None),
        true,
    );
    assert!(!s.tc && s.answer.len() == 6);
}

#[test]
fn rfc3597_data_is_served() {
    let s = ask("unknown.example.com.", 65280);
    assert_eq!(
        s.answer,
        set(&["unknown.example.com. 3600 TYPE65280 \\# 4 0a000001"])
    );
    let s = ask("generic-a.example.com.", rtype::A);
    assert_eq!(s.answer, set(&["generic-a.example.com. 3600 A 192.0.2.7"]));
}

fn mini(origin: &str, extra: &str) -> Arc<crate::zone::Zone> {
    let o = crate::name::from_text(origin, None).unwrap();
    let text = format!("$TTL 60\n@ SOA ns h 1 1 1 1 30\n NS ns\nns A 192.0.2.1\n{extra}");
    let recs = crate::zonefile::parse_str(&text, Path::new("t"), &o).unwrap();
    Arc::new(crate::zone::Zone::from_records(&o, recs).unwrap())
}

#[test]
fn thousands_of_zones_and_nested_zones() {
    let mut z = ZoneSet::default();
    for i in 0..5000 {
        z.insert(mini(&format!("zone{i}.test."), "www A 192.0.2.9\n"));
    }
    z.insert(mini(
        "parent.test.",
        "child NS ns.child\nns.child A 192.0.2.7\nchild DS 1 8 2 abcd\n",
    ));
    z.insert(mini("child.parent.test.", "www A 192.0.2.8\n"));
    assert_eq!(z.len(), 5002);
    let mut e = Engine::new();
    let mut out = Vec::new();
    let mut ask = |n: &str, t: u16| {
        e.answer(&query(3, n, t, false, None), &z, false, &mut out);
        summarize(&out).unwrap()
    };
    assert!(ask("www.zone4321.test.", rtype::A)
        .answer
        .contains("www.zone4321.test. 60 A 192.0.2.9"));
    assert_eq!(ask("www.zone5000.test.", rtype::A).rcode, REFUSED as u16);
    // the longest matching zone answers, not the parent's referral
    let s = ask("www.child.parent.test.", rtype::A);
    assert!(
        s.aa && s.answer.contains("www.child.parent.test. 60 A 192.0.2.8"),
        "{s:?}"
    );
    // DS of the child comes from the parent zone, even though we serve the child
    let s = ask("child.parent.test.", rtype::DS);
    assert!(s.aa && s.answer.len() == 1, "{s:?}");
    let s = ask("child.parent.test.", rtype::SOA);
    assert!(
        s.answer
            .iter()
            .any(|r| r.starts_with("child.parent.test. 60 SOA")),
        "{s:?}"
    );
}
