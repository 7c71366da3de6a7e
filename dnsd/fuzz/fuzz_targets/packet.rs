//! Fuzz the packet path: arbitrary bytes → `Engine::answer` over UDP and TCP rules. It must
//! never panic, and every answer must decode and carry the query's ID with QR set.
//! Run: `cd dnsd/fuzz && cargo +nightly fuzz run packet`.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use dnsd::answer::Engine;
use dnsd::zone::{load_file, ZoneSet};
use libfuzzer_sys::fuzz_target;

fn zones() -> &'static ZoneSet {
    static Z: OnceLock<ZoneSet> = OnceLock::new();
    Z.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let mut s = ZoneSet::default();
        s.insert(Arc::new(
            load_file("example.com.", &dir.join("example.com.zone")).expect("zone"),
        ));
        s.insert(Arc::new(
            load_file("other.test.", &dir.join("other.test.zone")).expect("zone"),
        ));
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let mut e = Engine::new();
    for tcp in [false, true] {
        if e.answer(data, zones(), tcp, &mut out).is_some() {
            let s = dnsd::inspect::summarize(&out).expect("well-formed response");
            assert!(s.qr);
            assert_eq!(out[..2], data[..2]);
        }
    }
});
