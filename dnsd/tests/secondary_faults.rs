//! Faults: the primary stops (dnsd serves until expire, then SERVFAIL; recovers when the
//! primary is back), dnsd restarts (serves from its state dir at once), and a version that
//! expired while dnsd was down is not served as fresh.

mod secondary_support;

use std::time::{Duration, SystemTime};

use bindy_tests::named::{wait_until, NamedBuilder, TsigKey};
use dnsd::rtype;
use secondary_support::*;

const EXPIRE: u32 = 3;

#[test]
fn expire_servfail_recovery_and_restart_from_disk() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let mut ns = NamedBuilder::new()
        // hmac-sha512 against real BIND.
        .tsig(TsigKey::with_algorithm("fault-key", "hmac-sha512"))
        .primary_zone("fault.test", &zone_text("fault.test", 1, 1, 1, EXPIRE))
        .also_notify(addr)
        .start()
        .expect("named");
    let dir = tempdir();
    let state = dir.path().join("state");
    let fault = Follow::Zone("fault.test");
    let mut d = Dnsd::follow(addr, dir.path(), &ns, fault, &state_dir_flags(&state));
    let www = ["www.fault.test. 300 A 192.0.2.80"];
    d.wait("initial AXFR", 10, || {
        d.answer("www.fault.test.", rtype::A) == www
    });

    // Primary gone: still served, then SERVFAIL once `expire` passed without a refresh.
    ns.stop();
    let stopped = std::time::Instant::now();
    assert_eq!(d.answer("www.fault.test.", rtype::A), www);
    d.wait("SERVFAIL after expire", 10, || {
        d.rcode("www.fault.test.", rtype::A) == Some(2)
    });
    assert!(
        stopped.elapsed() >= Duration::from_secs(EXPIRE as u64 - 1),
        "not expired early: {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        d.metric("dnsd_secondary_expired{zone=\"fault.test.\"}"),
        Some(1.0)
    );

    // Primary back: the next retry transfers and the zone serves again.
    ns.restart().expect("named restart");
    d.wait("recovery", 10, || {
        d.answer("www.fault.test.", rtype::A) == www
    });
    assert_eq!(
        d.metric("dnsd_secondary_expired{zone=\"fault.test.\"}"),
        Some(0.0)
    );

    // dnsd restarted with the primary down: serves the stored version before any transfer.
    ns.stop();
    d.restart();
    assert_eq!(
        d.answer("www.fault.test.", rtype::A),
        www,
        "served from disk"
    );
    let (status, _) = d.http("/ready");
    assert!(
        status.contains("200"),
        "loaded from disk counts as ready: {status}"
    );

    // Down for longer than expire: the stored version must not be served as fresh.
    d.kill();
    // The last refresh time is in the zone file or its sidecar, whichever is newer.
    let written = ["fault.test.dnsd", "fault.test.dnsd.meta"]
        .iter()
        .filter_map(|f| {
            std::fs::metadata(state.join(f))
                .and_then(|m| m.modified())
                .ok()
        })
        .max()
        .expect("state file");
    wait_until(
        "expire to pass while dnsd is down",
        Duration::from_secs(10),
        || {
            SystemTime::now()
                .duration_since(written)
                .is_ok_and(|d| d > Duration::from_secs(EXPIRE as u64 + 1))
        },
    )
    .expect("time passes");
    d.restart();
    assert_eq!(
        d.rcode("www.fault.test.", rtype::A),
        Some(2),
        "expired while down: SERVFAIL"
    );
}

/// Probes: a zone its primary cannot deliver must neither hold dnsd out of its Service
/// (`/ready` settles once that zone's transfer has failed, while the good zone serves) nor
/// get dnsd restarted (`/health` is liveness only and never looks at zones).
#[test]
fn probes_settle_when_a_zone_cannot_be_transferred() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let ns = NamedBuilder::new()
        .primary_zone("good.test", &plain_zone("good.test"))
        .start()
        .expect("named");
    let dir = tempdir();
    let mut args = follow_flags(
        Follow::Zone("good.test"),
        ns.addr(),
        &ns.paths().tsig_key_file(),
    );
    // BIND answers NOTAUTH/REFUSED for a zone it does not have.
    args.extend([
        "--secondary".to_string(),
        format!("missing.test={}", ns.addr()),
    ]);
    let d = Dnsd::start(addr, &dir.path().join("dnsd.log"), &args);
    let (status, _) = d.http("/health");
    assert!(
        status.contains("200"),
        "liveness does not wait for zones: {status}"
    );
    d.wait("good.test served", 10, || {
        !d.answer("www.good.test.", rtype::A).is_empty()
    });
    d.wait("missing.test failed at least once", 10, || {
        d.metric("dnsd_secondary_soa_check_failures_total{zone=\"missing.test.\"}")
            .unwrap_or(0.0)
            + d.metric("dnsd_secondary_transfers_total{zone=\"missing.test.\",kind=\"axfr\",result=\"failed\"}")
                .unwrap_or(0.0)
            > 0.0
    });
    let (status, body) = d.http("/ready");
    assert!(
        status.contains("200") && body.contains("missing.test."),
        "a failed zone does not hold readiness, and is named: {status} {body}"
    );
    assert_eq!(
        d.rcode("www.missing.test.", rtype::A),
        Some(5),
        "the zone never delivered is not served (REFUSED, as for any zone dnsd lacks)"
    );
}
