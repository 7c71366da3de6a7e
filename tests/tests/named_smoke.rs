//! Smoke tests of the real-BIND9 fixture: rndc addzone + nsupdate + dig on one `named`, and a
//! primary/secondary pair where an UPDATE on the primary reaches the secondary via NOTIFY+IXFR.
//! Without `named` these skip with a printed reason, except under CI=true where they fail.

use std::time::Duration;

use bindy_tests::named::{alloc_loopback_ip, free_port, require_tools, NamedBuilder, TsigKey};

const TOOLS: &[&str] = &["named", "rndc", "nsupdate", "dig", "named-checkconf"];

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n\
         @   IN SOA ns1.{zone}. hostmaster.{zone}. {serial} 3600 600 86400 300\n\
         @   IN NS  ns1.{zone}.\n\
         ns1 IN A   192.0.2.53\n\
         www IN A   192.0.2.80\n"
    )
}

#[test]
fn primary_addzone_nsupdate_dig() {
    if !require_tools(TOOLS) {
        return;
    }
    let ns = NamedBuilder::new().start().expect("start named");
    assert!(ns.ip().is_loopback());
    assert!(ns
        .rndc(&["status"])
        .expect("rndc status")
        .contains("server is up"));

    ns.add_zone("smoke.test", &zone_text("smoke.test", 1))
        .expect("rndc addzone");
    assert_eq!(ns.dig_short("www.smoke.test", "A").unwrap(), ["192.0.2.80"]);

    ns.nsupdate(
        "update add api.smoke.test. 60 A 192.0.2.7\nupdate add api.smoke.test. 60 TXT \"hello\"",
    )
    .unwrap_or_else(|e| panic!("nsupdate: {e}"));
    // The UPDATE is answered only after named applied it, so no polling is needed here.
    assert_eq!(ns.dig_short("api.smoke.test", "A").unwrap(), ["192.0.2.7"]);
    assert_eq!(
        ns.dig_short("api.smoke.test", "TXT").unwrap(),
        ["\"hello\""]
    );
    let serial = ns.dig_short("smoke.test", "SOA").unwrap();
    assert_eq!(serial.len(), 1);
    assert_eq!(
        serial[0].split_whitespace().nth(2),
        Some("2"),
        "UPDATE bumps the serial: {serial:?}"
    );
}

#[test]
fn unsigned_update_is_refused() {
    if !require_tools(TOOLS) {
        return;
    }
    let ns = NamedBuilder::new()
        .primary_zone("locked.test", &zone_text("locked.test", 1))
        .start()
        .expect("start named");
    assert_eq!(
        ns.dig_short("www.locked.test", "A").unwrap(),
        ["192.0.2.80"]
    );
    // Same server, but a key named does not know: the update must fail and change nothing.
    let mut wrong = ns.paths().clone();
    wrong.tsig = TsigKey::generate("bindy-tsig");
    let key_file = ns.paths().dir.join("wrong.key");
    wrong.tsig.write_key_file(&key_file).unwrap();
    let script = format!(
        "server {} {}\nupdate add evil.locked.test. 60 A 192.0.2.66\nsend\n",
        ns.ip(),
        ns.port()
    );
    let res = bindy_tests::named::run_tool(
        "nsupdate",
        &["-v", "-t", "5", "-k", key_file.to_str().unwrap()],
        Some(&script),
        Duration::from_secs(20),
    );
    assert!(res.is_err(), "update with a wrong secret must fail");
    assert!(ns.dig_short("evil.locked.test", "A").unwrap().is_empty());
}

#[test]
fn update_on_primary_reaches_secondary() {
    if !require_tools(TOOLS) {
        return;
    }
    let key = TsigKey::generate("xfr-key");
    // The secondary's address is fixed first so the primary can NOTIFY it.
    let sec_ip = alloc_loopback_ip();
    let sec_port = free_port(sec_ip);
    let primary = NamedBuilder::new()
        .tsig(key.clone())
        .primary_zone("pair.test", &zone_text("pair.test", 10))
        .also_notify((sec_ip, sec_port).into())
        .start()
        .expect("start primary");
    let secondary = NamedBuilder::new()
        .ip(sec_ip)
        .port(sec_port)
        .tsig(key)
        .secondary_zone("pair.test", primary.addr())
        .start()
        .expect("start secondary");
    assert_ne!(primary.ip(), secondary.ip());

    secondary
        .wait_for_answer("www.pair.test", "A", Duration::from_secs(15), |a| {
            a == ["192.0.2.80"]
        })
        .unwrap_or_else(|e| {
            panic!(
                "initial transfer: {e}\n--- secondary log ---\n{}",
                secondary.log_tail(30)
            )
        });

    let t0 = std::time::Instant::now();
    primary
        .nsupdate("update add new.pair.test. 60 A 192.0.2.99")
        .expect("nsupdate on primary");
    let got = secondary
        .wait_for_answer("new.pair.test", "A", Duration::from_secs(15), |a| {
            a == ["192.0.2.99"]
        })
        .unwrap_or_else(|e| {
            panic!(
                "update did not reach secondary: {e}\n--- secondary log ---\n{}",
                secondary.log_tail(30)
            )
        });
    assert_eq!(got, ["192.0.2.99"]);
    let serial = primary
        .soa_serial("pair.test")
        .unwrap()
        .expect("primary serves the zone");
    assert_eq!(serial, 11, "one UPDATE bumps the serial by one");
    assert_eq!(
        secondary
            .wait_for_serial("pair.test", 11, Duration::from_secs(5))
            .unwrap(),
        11
    );
    let axfr = secondary
        .axfr("pair.test")
        .expect("signed AXFR from the secondary");
    assert!(axfr.contains("192.0.2.99"), "{axfr}");
    eprintln!(
        "update reached the secondary after {:?} (NOTIFY + IXFR)",
        t0.elapsed()
    );
}

#[test]
fn restart_keeps_updates() {
    if !require_tools(TOOLS) {
        return;
    }
    let mut ns = NamedBuilder::new()
        .primary_zone("keep.test", &zone_text("keep.test", 1))
        .start()
        .expect("start named");
    ns.nsupdate("update add kept.keep.test. 60 A 192.0.2.5")
        .unwrap();
    let addr = ns.addr();
    ns.restart().expect("restart");
    assert_eq!(ns.addr(), addr);
    assert_eq!(ns.dig_short("kept.keep.test", "A").unwrap(), ["192.0.2.5"]);
}

#[test]
fn missing_tool_fails_under_ci() {
    // Runs itself as a child with CI=true so the parent's environment (shared by the other
    // tests of this process) is never modified.
    const CHILD: &str = "BINDY_REQUIRE_TOOL_CHILD";
    if std::env::var_os(CHILD).is_some() {
        bindy_tests::named::require_tool("bindy-no-such-tool-4711");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "missing_tool_fails_under_ci",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("CI", "true")
        .output()
        .expect("run test binary as child");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "child should fail under CI=true:\n{text}"
    );
    assert!(
        text.contains("bindy-no-such-tool-4711") && text.contains("CI=true"),
        "{text}"
    );
}

#[test]
fn custom_conf_is_used_verbatim() {
    if !require_tools(TOOLS) {
        return;
    }
    // What the operator's generator will do: a whole named.conf built from the paths, here
    // with a zone statement of its own and the fixture's keys/controls pieces.
    let mut ns = NamedBuilder::new()
        .primary_zone("custom.test", &zone_text("custom.test", 7))
        .custom_conf(|p| {
            format!(
                "options {{\n{}\tversion \"bindy-custom\";\n}};\n{}{}{}",
                p.base_options(),
                p.keys_stanza(),
                p.controls_stanza(),
                p.primary_zone_stanza("custom.test")
            )
        })
        .start()
        .expect("start named with custom conf");
    let conf = std::fs::read_to_string(ns.paths().conf_file()).unwrap();
    assert!(conf.contains("version \"bindy-custom\";"));
    let version = ns.dig(&["+short", "version.bind", "TXT", "CH"]).unwrap();
    assert_eq!(version.trim(), "\"bindy-custom\"");
    assert_eq!(
        ns.dig_short("www.custom.test", "A").unwrap(),
        ["192.0.2.80"]
    );
    ns.stop();
    assert!(ns.pid().is_none());
}

#[test]
fn failures_carry_named_log_and_drop_cleans_up() {
    if !require_tools(TOOLS) {
        return;
    }
    let ns = NamedBuilder::new().start().expect("start named");
    let err = ns
        .add_zone("broken.test", "this is not a zone file\n")
        .expect_err("a broken zone must not load");
    let msg = err.to_string();
    assert!(msg.contains("addzone"), "{msg}");
    assert!(msg.contains("named log (tail)"), "{msg}");
    assert!(msg.contains("broken.test"), "{msg}");

    assert!(
        ns.axfr("not-served.test").is_err(),
        "AXFR of an unknown zone must fail"
    );

    let dir = ns.paths().dir.clone();
    let pid = ns.pid().expect("running");
    assert!(dir.exists());
    drop(ns);
    assert!(!dir.exists(), "temp dir removed on drop");
    let proc_path = format!("/proc/{pid}");
    assert!(
        !std::path::Path::new(&proc_path).exists(),
        "named {pid} still running after drop"
    );
}
