//! dnsd answer-path benchmarks: a hit, NXDOMAIN, a wildcard and a referral on a 10k-record
//! and a 1M-record zone, plus query decoding and answer encoding on their own.
//! Run: `cargo bench -p bindy-benches --bench dnsd`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dnsd::answer::Engine;
use dnsd::inspect::query;
use dnsd::name::{self, NameBuf};
use dnsd::wire::Compressor;
use dnsd::zone::{Zone, ZoneSet};
use dnsd::zonefile::Record;

fn rec(name: &str, rtype: u16, rdata: Vec<u8>) -> Record {
    Record {
        name: name::from_text(name, None).unwrap_or_default(),
        rtype,
        class: 1,
        ttl: 3600,
        rdata,
    }
}

/// `hosts` hosts with an A each (40% also AAAA), a wildcard and a delegation.
fn zone(hosts: usize) -> ZoneSet {
    let origin = name::from_text("bench.test.", None).unwrap_or_default();
    let mut soa = name::from_text("ns1.bench.test.", None).unwrap_or_default();
    soa.extend(name::from_text("hostmaster.bench.test.", None).unwrap_or_default());
    for v in [1u32, 3600, 600, 86400, 300] {
        soa.extend(v.to_be_bytes());
    }
    let mut r = vec![
        rec("bench.test.", 6, soa),
        rec(
            "bench.test.",
            2,
            name::from_text("ns1.bench.test.", None).unwrap_or_default(),
        ),
        rec("ns1.bench.test.", 1, vec![192, 0, 2, 1]),
        rec("*.wild.bench.test.", 1, vec![192, 0, 2, 2]),
        rec(
            "sub.bench.test.",
            2,
            name::from_text("ns.sub.bench.test.", None).unwrap_or_default(),
        ),
        rec("ns.sub.bench.test.", 1, vec![192, 0, 2, 3]),
    ];
    for i in 0..hosts {
        let n = format!("h{i}.bench.test.");
        r.push(rec(
            &n,
            1,
            vec![10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
        ));
        if i % 5 < 2 {
            let mut a = vec![0x20, 0x01, 0x0d, 0xb8];
            a.extend([0u8; 8]);
            a.extend((i as u32).to_be_bytes());
            r.push(rec(&n, 28, a));
        }
    }
    let mut s = ZoneSet::default();
    if let Ok(z) = Zone::from_records(&origin, r) {
        s.insert(Arc::new(z));
    }
    s
}

fn answer_path(c: &mut Criterion) {
    for (label, hosts) in [("10k", 7_200), ("1M", 720_000)] {
        let zones = zone(hosts);
        let mut g = c.benchmark_group(format!("answer/{label}"));
        g.throughput(Throughput::Elements(1));
        let cases = [
            ("hit", query(1, "h4242.bench.test.", 1, true, Some(1232))),
            (
                "nxdomain",
                query(1, "nx4242.bench.test.", 1, true, Some(1232)),
            ),
            (
                "wildcard",
                query(1, "x.wild.bench.test.", 1, true, Some(1232)),
            ),
            (
                "referral",
                query(1, "www.sub.bench.test.", 1, true, Some(1232)),
            ),
        ];
        let mut e = Engine::new();
        let mut out = Vec::with_capacity(4096);
        for (name, q) in &cases {
            g.bench_function(*name, |b| {
                b.iter(|| e.answer(black_box(q), &zones, false, &mut out))
            });
        }
        g.finish();
    }
}

fn codec(c: &mut Criterion) {
    let q = query(1, "h4242.bench.test.", 1, true, Some(1232));
    let mut g = c.benchmark_group("codec");
    g.bench_function("decode_qname", |b| {
        let mut n = NameBuf::default();
        b.iter(|| n.read(black_box(&q), 12))
    });
    let owner = name::from_text("h4242.bench.test.", None).unwrap_or_default();
    let mx = {
        let mut v = vec![0, 10];
        v.extend(name::from_text("mail.bench.test.", None).unwrap_or_default());
        v
    };
    g.bench_function("encode_answer_a_and_mx", |b| {
        let mut comp = Compressor::default();
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            comp.clear();
            out.clear();
            out.extend_from_slice(&q[..12 + owner.len() + 4]);
            comp.register(&owner, 12);
            comp.write_rr(&mut out, &owner, 1, 3600, &[10, 0, 16, 146]);
            comp.write_rr(&mut out, &owner, 15, 3600, &mx);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, answer_path, codec);
criterion_main!(benches);
