//! The schema's regular expressions agree with the Rust parsers the operator uses. The critical
//! direction is "the API server accepts ⇒ Rust parses": otherwise one stored object would make
//! the operator's typed watch of the whole kind fail. The other direction keeps valid input
//! from being refused. Patterns run through `jsonschema` (the same engine as the schema tests).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use bindy_crds::common::*;
use bindy_crds::AddressMatch;
use proptest::prelude::*;

type Validator = jsonschema::Validator;

/// Compiled validators per pattern, built once (compiling per case dominated the run time).
static VALIDATORS: LazyLock<Vec<(&'static str, Validator)>> = LazyLock::new(|| {
    [
        IPV4_PATTERN,
        IPV6_PATTERN,
        IP_PATTERN,
        ADDRESS_MATCH_PATTERN,
        DNS_NAME_PATTERN,
        RECORD_NAME_PATTERN,
    ]
    .into_iter()
    .map(|p| {
        let v = jsonschema::validator_for(&serde_json::json!({"type": "string", "pattern": p}))
            .expect("pattern compiles");
        (p, v)
    })
    .collect()
});

fn matcher(pattern: &'static str) -> impl Fn(&str) -> bool {
    let v = &VALIDATORS
        .iter()
        .find(|(p, _)| *p == pattern)
        .expect("known pattern")
        .1;
    move |s: &str| v.is_valid(&serde_json::json!(s))
}

/// An IPv6 address written in any of the RFC 4291 forms: full, `::`-compressed at a random
/// zero run, with or without an embedded dotted quad, random case and leading zeros.
fn ipv6_text() -> impl Strategy<Value = (Ipv6Addr, String)> {
    (
        any::<[u16; 8]>(),
        0usize..8,
        0usize..9,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut groups, zero_at, zero_len, dotted, upper, pad)| {
            for g in groups.iter_mut().skip(zero_at).take(zero_len) {
                *g = 0;
            }
            let addr = Ipv6Addr::from(groups);
            let hex = |g: u16| {
                let s = if pad {
                    format!("{g:04x}")
                } else {
                    format!("{g:x}")
                };
                if upper {
                    s.to_uppercase()
                } else {
                    s
                }
            };
            let n = if dotted { 6 } else { 8 };
            let mut parts: Vec<String> = groups[..n].iter().map(|g| hex(*g)).collect();
            // Compress the chosen zero run (if it is one) with "::".
            let end = (zero_at + zero_len).min(n);
            let text =
                if zero_len > 0 && zero_at < n && groups[zero_at..end].iter().all(|g| *g == 0) {
                    let tail = parts.split_off(end);
                    parts.truncate(zero_at);
                    format!("{}::{}", parts.join(":"), tail.join(":"))
                } else {
                    parts.join(":")
                };
            let text = if dotted {
                let [a, b, c, d] = [
                    groups[6] >> 8,
                    groups[6] & 0xff,
                    groups[7] >> 8,
                    groups[7] & 0xff,
                ];
                let sep = if text.ends_with("::") { "" } else { ":" };
                format!("{text}{sep}{a}.{b}.{c}.{d}")
            } else {
                text
            };
            (addr, text)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_written_form_of_an_ipv6_address_matches_and_parses_to_it((addr, text) in ipv6_text()) {
        let ipv6 = matcher(IPV6_PATTERN);
        prop_assert!(ipv6(&text), "pattern refuses {text}");
        prop_assert_eq!(text.parse::<Ipv6Addr>().ok(), Some(addr), "{}", text);
        prop_assert!(ipv6(&addr.to_string()), "pattern refuses canonical {addr}");
        prop_assert!(matcher(IP_PATTERN)(&text));
    }

    #[test]
    fn ipv6_pattern_and_rust_agree_on_arbitrary_strings(s in "[0-9a-fA-F:.]{0,42}") {
        prop_assert_eq!(matcher(IPV6_PATTERN)(&s), s.parse::<Ipv6Addr>().is_ok(), "{}", s);
    }

    #[test]
    fn ipv4_pattern_and_rust_agree(s in "[0-9.]{0,17}", a in any::<[u8; 4]>()) {
        let ipv4 = matcher(IPV4_PATTERN);
        prop_assert_eq!(ipv4(&s), s.parse::<Ipv4Addr>().is_ok(), "{}", s);
        prop_assert!(ipv4(&Ipv4Addr::from(a).to_string()));
    }

    #[test]
    fn address_match_pattern_and_parser_agree(s in "(any|none|[0-9a-f:.]{0,20})(/[0-9]{0,4})?", ip in any::<IpAddr>(), len in 0u8..=128) {
        let pat = matcher(ADDRESS_MATCH_PATTERN);
        prop_assert_eq!(pat(&s), AddressMatch::parse(&s).is_ok(), "{}", s);
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let cidr = format!("{ip}/{}", len.min(max));
        prop_assert!(pat(&cidr) && AddressMatch::parse(&cidr).is_ok(), "{}", cidr);
    }

    #[test]
    fn dns_name_pattern_and_is_dns_name_agree(s in "[a-z0-9_.*@-]{0,12}(\\.[a-z0-9-]{0,70}){0,2}\\.?") {
        let name = matcher(DNS_NAME_PATTERN);
        prop_assert_eq!(name(&s) && s.len() <= 253, is_dns_name(&s), "{}", s);
        prop_assert_eq!(matcher(RECORD_NAME_PATTERN)(&s) && s.len() <= 253, is_record_name(&s), "{}", s);
    }
}

#[test]
fn address_matching_follows_prefixes() {
    let net = AddressMatch::parse("10.1.0.0/16").unwrap();
    assert!(net.matches("10.1.200.3".parse().unwrap()));
    assert!(!net.matches("10.2.0.1".parse().unwrap()));
    assert!(
        !net.matches("::1".parse().unwrap()),
        "families never match each other"
    );
    let v6 = AddressMatch::parse("fd00::/8").unwrap();
    assert!(v6.matches("fd12::1".parse().unwrap()) && !v6.matches("fe80::1".parse().unwrap()));
    assert!(AddressMatch::parse("10.0.0.1/7")
        .unwrap()
        .matches("11.255.0.0".parse().unwrap()));
    assert!(AddressMatch::Any.matches("192.0.2.1".parse().unwrap()));
    assert!(!AddressMatch::None.matches("192.0.2.1".parse().unwrap()));
    for bad in [
        "10.0.0.0/33",
        "fd00::/129",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "localhost",
        "",
    ] {
        assert!(AddressMatch::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_and_mailboxes() {
    assert!(
        is_dns_name("example.com")
            && is_dns_name("example.com.")
            && is_dns_name("_sip._tcp.example.com")
    );
    assert!(
        !is_dns_name(".")
            && !is_dns_name("-a.com")
            && !is_dns_name("a..b")
            && !is_dns_name(&"a".repeat(64))
    );
    assert!(
        is_record_name("@")
            && is_record_name("*")
            && is_record_name("*.dev")
            && !is_record_name("a.*")
    );
    assert_eq!(
        email_to_rname("hostmaster@example.com").unwrap(),
        "hostmaster.example.com."
    );
    assert_eq!(
        email_to_rname("john.doe@example.com.").unwrap(),
        "john\\.doe.example.com."
    );
    assert!(email_to_rname("hostmaster.example.com").is_err());
}
