//! The `dnsd` binary and the server over real sockets on loopback: flags, UDP and TCP
//! answers, several queries per TCP connection, idle timeout and connection cap, SIGHUP
//! reload keeping the last good zone, metrics, and graceful SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsd::inspect::{query, summarize, Summary};
use dnsd::rtype;
use dnsd::server::{Server, ServerOptions, TcpLimits};
use dnsd::zone::{Store, Zone, ZoneSet};

const ZONE: &str = "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n";

fn udp_ask(server: SocketAddr, name: &str, t: u16) -> Option<Summary> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let q = query(0x5151, name, t, false, Some(1232));
    let mut buf = [0u8; 4096];
    for _ in 0..4 {
        s.send_to(&q, server).ok()?;
        if let Ok(n) = s.recv(&mut buf) {
            return summarize(&buf[..n]);
        }
    }
    None
}

fn tcp_frame(q: &[u8]) -> Vec<u8> {
    let mut f = (q.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(q);
    f
}

fn tcp_read(s: &mut TcpStream) -> Option<Summary> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut b).ok()?;
    summarize(&b)
}

fn poll(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

struct Daemon {
    child: Child,
    addr: SocketAddr,
    metrics: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnsd"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dnsd");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut addr, mut metrics) = (None, String::new());
    for _ in 0..4 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(a) = line.strip_prefix("dnsd listening on ") {
            addr = a.split_whitespace().next().and_then(|a| a.parse().ok());
        }
        if let Some(m) = line.strip_prefix("dnsd metrics on http://") {
            metrics = m.trim().trim_end_matches("/metrics").to_string();
            break;
        }
    }
    Daemon {
        child,
        addr: addr.expect("dnsd printed its address"),
        metrics,
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0);
}

#[test]
fn binary_serves_reloads_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zf = dir.path().join("example.com.zone");
    std::fs::write(&zf, ZONE).expect("write zone");
    let zone_arg = format!("example.com={}", zf.display());
    let mut d = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--zone",
        &zone_arg,
        "--workers",
        "2",
        "--metrics",
        "127.0.0.1:0",
    ]);

    let s = udp_ask(d.addr, "www.example.com.", rtype::A).expect("UDP answer");
    assert_eq!((s.rcode, s.aa), (0, true));
    assert!(s.answer.contains("www.example.com. 300 A 192.0.2.80"));

    // Three queries pipelined on one TCP connection, answered in order.
    let mut t = TcpStream::connect(d.addr).expect("tcp connect");
    t.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut all = Vec::new();
    for (i, n) in ["www.example.com.", "nope.example.com.", "example.com."]
        .iter()
        .enumerate()
    {
        let mut q = query(i as u16, n, rtype::A, false, None);
        q[0] = 0;
        q[1] = i as u8;
        all.extend(tcp_frame(&q));
    }
    t.write_all(&all).expect("write");
    let rcodes: Vec<(u16, u16)> = (0..3)
        .map(|_| {
            tcp_read(&mut t)
                .map(|s| (s.id, s.rcode))
                .expect("tcp answer")
        })
        .collect();
    assert_eq!(rcodes, vec![(0, 0), (1, 3), (2, 0)]);

    // A broken file on SIGHUP: the previous version keeps serving.
    std::fs::write(&zf, format!("{ZONE}www A 192.0.2.300\n")).expect("write");
    signal(&d.child, libc::SIGHUP);
    // For 300 ms (several reload attempts' worth), the old data must keep answering.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        let s = udp_ask(d.addr, "www.example.com.", rtype::A).expect("answer during a bad reload");
        assert!(
            s.answer.contains("www.example.com. 300 A 192.0.2.80"),
            "{s:?}"
        );
        signal(&d.child, libc::SIGHUP);
    }
    // The good file replaces the bad one atomically (a reload must never see half a file);
    // SIGHUPs may coalesce, so keep sending one per poll until the new data is served.
    let tmp = dir.path().join("next.zone");
    std::fs::write(&tmp, ZONE.replace("192.0.2.80", "192.0.2.81")).expect("write");
    std::fs::rename(&tmp, &zf).expect("rename");
    poll("reloaded answer", Duration::from_secs(10), || {
        signal(&d.child, libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(50));
        udp_ask(d.addr, "www.example.com.", rtype::A)
            .is_some_and(|s| s.answer.contains("www.example.com. 300 A 192.0.2.81"))
    });

    let mut m = TcpStream::connect(&d.metrics).expect("metrics");
    m.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut body = String::new();
    m.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = m.read_to_string(&mut body);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let line = body
        .lines()
        .find(|l| l.starts_with("dnsd_queries_total{proto=\"udp\",rcode=\"NOERROR\"}"))
        .expect("counter");
    let n: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("value");
    assert!(n >= 2, "{line}");
    assert!(
        body.contains("dnsd_queries_total{proto=\"tcp\",rcode=\"NXDOMAIN\"} 1"),
        "{body}"
    );

    signal(&d.child, libc::SIGTERM);
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = d.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < end, "dnsd did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn binary_rejects_bad_zone_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zf = dir.path().join("bad.zone");
    std::fs::write(&zf, format!("{ZONE}\nbroken IN MX\n")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_dnsd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--zone",
            &format!("example.com={}", zf.display()),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:7:", zf.display())), "{err}");
}

#[test]
fn tcp_idle_timeout_and_connection_cap() {
    let origin = dnsd::name::from_text("example.com.", None).expect("name");
    let recs = dnsd::zonefile::parse_str(ZONE, std::path::Path::new("z"), &origin).expect("parse");
    let mut set = ZoneSet::default();
    set.insert(Arc::new(Zone::from_records(&origin, recs).expect("zone")));
    let opts = ServerOptions {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        workers: 1,
        tcp: TcpLimits {
            idle: Duration::from_millis(300),
            max_connections: 2,
        },
        metrics: None,
    };
    let server = Server::start(&opts, Arc::new(Store::new(set))).expect("start");
    let addr = server.addrs()[0];
    let q = tcp_frame(&query(9, "www.example.com.", rtype::A, false, None));
    let mut a = TcpStream::connect(addr).expect("a");
    let mut b = TcpStream::connect(addr).expect("b");
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        s.write_all(&q).expect("write");
        assert_eq!(tcp_read(s).map(|s| s.rcode), Some(0));
    }
    // Over the cap: closed without an answer.
    let mut c = TcpStream::connect(addr).expect("c");
    c.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let _ = c.write_all(&q);
    assert!(
        tcp_read(&mut c).is_none(),
        "third connection must be refused"
    );
    // Idle connections are closed by the server after 300 ms.
    let started = Instant::now();
    let mut buf = [0u8; 1];
    a.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // EOF (Ok(0)) or a reset both mean the server closed it; a read timeout would not.
    match a.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "no data expected on an idle connection"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "server did not close the idle connection: {e}"
        ),
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    server.shutdown();
}

#[test]
fn shipped_example_config_loads() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dnsd.example.toml");
    let c = dnsd::config::Config::from_file(&p).expect("example config parses");
    assert_eq!(c.zones.len(), 1);
    let z = dnsd::zone::load_file(&c.zones[0].name, &c.zones[0].file)
        .expect("shipped example zone loads");
    assert!(z.records > 3);
    assert_eq!(c.server_options().listen[0].port(), 5353);
}
