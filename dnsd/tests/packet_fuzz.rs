//! Property tests of the packet path (the stable-toolchain twin of `dnsd/fuzz`): arbitrary
//! bytes, and valid queries with random mutations, never panic; every answer is a
//! well-formed response with the query's ID and QR set, and a query that is a well-formed
//! question always gets an answer.

use std::path::Path;
use std::sync::Arc;

use dnsd::answer::Engine;
use dnsd::inspect::{query, summarize};
use dnsd::zone::{load_file, ZoneSet};
use proptest::prelude::*;

fn zones() -> &'static ZoneSet {
    static Z: std::sync::OnceLock<ZoneSet> = std::sync::OnceLock::new();
    Z.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut s = ZoneSet::default();
        s.insert(Arc::new(
            load_file("example.com.", &dir.join("example.com.zone")).expect("zone"),
        ));
        s
    })
}

const NAMES: &[&str] = &[
    "www.example.com.",
    "nope.example.com.",
    "a.b.wild.example.com.",
    "host.sub.example.com.",
    "chain1.example.com.",
    "a.dn2.example.com.",
    "loop1.example.com.",
    "example.com.",
    "x.org.",
];

fn check(q: &[u8], tcp: bool) {
    let mut out = Vec::new();
    if let Some(_rc) = Engine::new().answer(q, zones(), tcp, &mut out) {
        let s = summarize(&out).expect("response must be well-formed");
        assert!(s.qr);
        assert_eq!(&out[..2], &q[..2], "ID copied");
        if !tcp {
            assert!(
                out.len() <= 1232,
                "UDP response within limits: {}",
                out.len()
            );
        }
    } else {
        assert!(
            q.len() < 12 || q[2] & 0x80 != 0,
            "a query-shaped packet must be answered"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
        check(&bytes, tcp);
    }

    #[test]
    fn mutated_queries_never_panic(
        n in 0..NAMES.len(),
        qtype in prop_oneof![Just(1u16), Just(2), Just(5), Just(6), Just(15), Just(28), Just(43), Just(255), any::<u16>()],
        edns in proptest::option::of(0u16..5000),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
        tcp in any::<bool>(),
    ) {
        let mut q = query(0x1234, NAMES[n], qtype, true, edns);
        for (i, v) in flips {
            let l = q.len();
            q[i % l] = v;
        }
        if cut % 4 == 0 {
            let l = q.len();
            q.truncate(cut % (l + 1));
        }
        check(&q, tcp);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The zone-file parser rejects garbage with an error, never a panic (multi-byte
    /// characters after backslashes, unbalanced quotes and parentheses included).
    #[test]
    fn zone_text_never_panics(
        body in proptest::collection::vec(
            prop_oneof![
                Just("\\".to_string()), Just("\"".to_string()), Just("(".to_string()), Just(")".to_string()),
                Just("\n".to_string()), Just(" ".to_string()), Just(";".to_string()), Just("é".to_string()),
                Just("A".to_string()), Just("TXT".to_string()), Just("1.2.3.4".to_string()), Just("$ORIGIN".to_string()),
                Just("\\#".to_string()), Just("@".to_string()), any::<String>(),
            ],
            0..40,
        )
    ) {
        let text = body.concat();
        let origin = dnsd::name::from_text("example.com.", None).expect("origin");
        let _ = dnsd::zonefile::parse_str(&text, Path::new("fuzz.zone"), &origin);
    }
}
