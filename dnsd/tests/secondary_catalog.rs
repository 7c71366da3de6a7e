//! Catalog zones (RFC 9432): dnsd follows a catalog on a BIND9 primary; adding a member
//! makes dnsd serve it, removing it stops serving it. The catalog itself is not served.

mod secondary_support;

use bindy_tests::named::{NamedBuilder, TsigKey};
use dnsd::rtype;
use secondary_support::*;

const CATALOG: &str = "$ORIGIN catalog.test.\n$TTL 0\n\
    @ IN SOA invalid. invalid. 1 3600 600 86400 0\n\
    @ IN NS invalid.\n\
    version IN TXT \"2\"\n\
    m1.zones IN PTR m1.test.\n";

#[test]
fn catalog_members_are_added_and_removed() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let ns = NamedBuilder::new()
        // Not the default algorithm: hmac-sha384 against real BIND.
        .tsig(TsigKey::with_algorithm("cat-key", "hmac-sha384"))
        .primary_zone("catalog.test", CATALOG)
        .primary_zone("m1.test", &plain_zone("m1.test"))
        .also_notify(addr)
        .start()
        .expect("named");
    let dir = tempdir();
    let state = dir.path().join("state");
    let catalog = Follow::Catalog("catalog.test");
    let mut d = Dnsd::follow(addr, dir.path(), &ns, catalog, &state_dir_flags(&state));
    d.wait("member m1.test served", 10, || {
        d.answer("www.m1.test.", rtype::A) == ["www.m1.test. 300 A 192.0.2.80"]
    });
    assert_eq!(
        d.rcode("catalog.test.", rtype::SOA),
        Some(5),
        "the catalog is not served"
    );

    // A new member: the zone on the primary, then its entry in the catalog.
    ns.add_zone("m2.test", &plain_zone("m2.test"))
        .expect("addzone");
    ns.nsupdate("zone catalog.test.\nupdate add m2.zones.catalog.test. 0 PTR m2.test.")
        .expect("nsupdate");
    d.wait("member m2.test served", 10, || {
        d.answer("www.m2.test.", rtype::A) == ["www.m2.test. 300 A 192.0.2.80"]
    });

    // Removing m1 from the catalog stops serving it.
    ns.nsupdate("zone catalog.test.\nupdate delete m1.zones.catalog.test. PTR")
        .expect("nsupdate");
    d.wait("m1.test no longer served", 10, || {
        d.rcode("www.m1.test.", rtype::A) == Some(5)
    });
    assert!(!state.join("m1.test.dnsd").exists(), "its state is gone");

    // After a restart the catalog and its members come back from the state dir.
    d.wait("m2 stored", 10, || state.join("m2.test.dnsd").exists());
    d.restart();
    assert_eq!(
        d.answer("www.m2.test.", rtype::A),
        ["www.m2.test. 300 A 192.0.2.80"]
    );
    assert_eq!(d.rcode("www.m1.test.", rtype::A), Some(5));
}
