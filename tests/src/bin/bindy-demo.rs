//! `bindy-demo`: the operator's BIND9 layer (`bindy_operator::bind9`) driving a real BIND9
//! primary from the manifests in `deploy/examples/`, for `scripts/demo.sh` (never shipped).
//!
//! It does, without a cluster, what the DNSZone and record reconcilers do with the objects
//! they read from the API server: render the zone file (`zonefile`), add the zone at run time
//! (`rndc` over BIND's control channel, no sidecar), push every selected record as one atomic
//! TSIG-signed RFC 2136 UPDATE per RRset (`update`, batched), then NOTIFY the secondaries at
//! once (`notify`). Only the glue is hand-written here (reading YAML instead of watching the
//! API, key files instead of Secrets); every DNS and rndc byte comes from the operator crate.
//!
//! ```text
//! bindy-demo named-conf --dir D --listen IP:PORT --rndc IP:PORT --key FILE --rndc-key FILE
//! bindy-demo apply --examples deploy/examples --dir D --primary IP:PORT --rndc IP:PORT \
//!     --key FILE --rndc-key FILE [--records FILE] [--notify ADDR:PORT]...
//! ```
//! Key files are in the format `tsig-keygen` writes. Errors are printed and exit 1.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bindy_crds::{
    AAAARecord, ARecord, CAARecord, CNAMERecord, DNSZone, DnsRecord, MXRecord, NSRecord, SRVRecord,
    TXTRecord,
};
use bindy_operator::bind9::namedconf::{Acl, Controls, NamedConf, PrimaryZone, ZoneConfig};
use bindy_operator::bind9::rndc::RndcClient;
use bindy_operator::bind9::update::{Change, Updater};
use bindy_operator::bind9::{notify, serial, zonefile, RecordSet, TsigAlgorithm, TsigKey};
use bindy_operator::resources::zone::skeleton;
use clap::{Parser, Subcommand};
use serde_json::Value;

type Res<T> = std::result::Result<T, String>;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(
    name = "bindy-demo",
    about = "Bindy's BIND9 layer on a local named (demo)"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

/// BIND9's side, shared by both subcommands.
#[derive(clap::Args)]
struct Bind {
    /// named's working directory (zone files, journals).
    #[arg(long)]
    dir: PathBuf,
    /// named's control channel (rndc).
    #[arg(long)]
    rndc: SocketAddr,
    /// The operator's TSIG key file (UPDATE, NOTIFY, transfers).
    #[arg(long)]
    key: PathBuf,
    /// The rndc key file.
    #[arg(long)]
    rndc_key: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the named.conf the operator's generator writes for a primary.
    NamedConf {
        #[command(flatten)]
        bind: Bind,
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Create the example zone on the primary (once) and apply the example records.
    Apply {
        #[command(flatten)]
        bind: Bind,
        #[arg(long)]
        examples: PathBuf,
        /// Record manifests (default: EXAMPLES/records.yaml).
        #[arg(long)]
        records: Option<PathBuf>,
        #[arg(long)]
        primary: SocketAddr,
        /// Secondaries to NOTIFY right after the UPDATEs (repeatable).
        #[arg(long)]
        notify: Vec<SocketAddr>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.cmd {
        Cmd::NamedConf { bind, listen } => named_conf(&bind, listen),
        Cmd::Apply {
            bind,
            examples,
            records,
            primary,
            notify,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                let records = records.unwrap_or_else(|| examples.join("records.yaml"));
                let keys = (read_key(&bind.key)?, read_key(&bind.rndc_key)?);
                rt.block_on(apply(
                    &examples, &records, &bind.dir, primary, bind.rndc, keys, &notify,
                ))
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bindy-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the first `key "NAME" { algorithm A; secret "S"; };` of a tsig-keygen file.
fn read_key(path: &Path) -> Res<TsigKey> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |start: &str, end: char| -> Option<String> {
        let i = text.find(start)? + start.len();
        let rest = text[i..].trim_start();
        Some(rest[..rest.find(end)?].trim().trim_matches('"').to_string())
    };
    let bad = || format!("{}: not a tsig-keygen key file", path.display());
    let name = field("key ", '{').ok_or_else(bad)?;
    let alg = field("algorithm", ';').ok_or_else(bad)?;
    let secret = field("secret", ';').ok_or_else(bad)?;
    let alg = TsigAlgorithm::parse(&alg).map_err(|e| e.to_string())?;
    let key = TsigKey::new(name, alg, secret);
    key.secret_bytes().map_err(|e| e.to_string())?;
    Ok(key)
}

fn named_conf(bind: &Bind, listen: SocketAddr) -> Res<()> {
    let (dir, rndc) = (&bind.dir, bind.rndc);
    let (key, rndc_key) = (read_key(&bind.key)?, read_key(&bind.rndc_key)?);
    let mut conf = NamedConf::new(dir.display().to_string());
    conf.listen_on = vec![listen.ip()];
    conf.port = listen.port();
    conf.controls = Some(Controls {
        listen: rndc,
        allow: vec![Acl::Prefix(rndc.ip().to_string())],
        key: rndc_key.name.clone(),
    });
    conf.keys = vec![key, rndc_key];
    print!("{}", conf.render().map_err(|e| e.to_string())?);
    Ok(())
}

fn read_docs(path: &Path) -> Res<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for d in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(d)
            .map_err(|e| format!("{}: bad YAML: {e}", path.display()))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Res<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| format!("{} {}: {e}", v["kind"], v["metadata"]["name"]))
}

/// A record manifest: object name, labels, and the RRset it declares.
type Manifest = (String, BTreeMap<String, String>, RecordSet);

/// A record manifest, through the CRD types' own parsing (None for other kinds).
fn record_of(v: &Value) -> Res<Option<Manifest>> {
    fn one<K: DnsRecord>(v: &Value) -> Res<Manifest> {
        let r: K = parse(v)?;
        let meta = r.meta();
        let name = meta.name.clone().unwrap_or_default();
        Ok((
            name,
            meta.labels.clone().unwrap_or_default(),
            r.record_set(),
        ))
    }
    Ok(Some(match v["kind"].as_str().unwrap_or_default() {
        "ARecord" => one::<ARecord>(v)?,
        "AAAARecord" => one::<AAAARecord>(v)?,
        "CNAMERecord" => one::<CNAMERecord>(v)?,
        "MXRecord" => one::<MXRecord>(v)?,
        "TXTRecord" => one::<TXTRecord>(v)?,
        "NSRecord" => one::<NSRecord>(v)?,
        "SRVRecord" => one::<SRVRecord>(v)?,
        "CAARecord" => one::<CAARecord>(v)?,
        _ => return Ok(None),
    }))
}

async fn apply(
    examples: &Path,
    records: &Path,
    dir: &Path,
    primary: SocketAddr,
    rndc_addr: SocketAddr,
    (key, rndc_key): (TsigKey, TsigKey),
    secondaries: &[SocketAddr],
) -> Res<()> {
    let zone_doc = read_docs(&examples.join("dnszone.yaml"))?
        .into_iter()
        .find(|d| d["kind"] == "DNSZone")
        .ok_or("no DNSZone in dnszone.yaml")?;
    let zone: DNSZone = parse(&zone_doc)?;
    zone.spec.validate().map_err(|e| e.to_string())?;
    let name = zone.spec.zone_name.clone();
    println!(
        "DNSZone {name}: from {}",
        examples.join("dnszone.yaml").display()
    );

    // 1. The zone on the primary: created once (rndc addzone), as the DNSZone reconciler does.
    let rndc = RndcClient::new(rndc_addr, rndc_key).with_timeout(TIMEOUT);
    let current = serial::current(primary, &name, TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(s) = current {
        println!("  zone already on the primary (serial {s}): only records are reconciled");
    } else {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let serial = serial::next(None, serial::date_serial(now));
        let text = zonefile::render(&skeleton(&zone, serial, None)).map_err(|e| e.to_string())?;
        let file = dir.join("zones").join(format!("{name}.zone"));
        std::fs::create_dir_all(dir.join("zones").as_path())
            .and_then(|()| std::fs::create_dir_all(dir.join("journal")))
            .and_then(|()| std::fs::write(&file, &text))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        println!(
            "  zone file rendered by bind9::zonefile ({} lines, serial {serial}): {}",
            text.lines().count(),
            file.display()
        );
        let z = ZoneConfig::Primary(PrimaryZone {
            name: name.clone(),
            file: file.display().to_string(),
            journal: Some(
                dir.join("journal")
                    .join(format!("{name}.jnl"))
                    .display()
                    .to_string(),
            ),
            allow_update: vec![Acl::Key(key.name.clone())],
            allow_transfer: vec![Acl::Key(key.name.clone())],
            also_notify: secondaries.to_vec(),
            notify_key: Some(key.name.clone()),
        });
        let body = z.body().map_err(|e| e.to_string())?;
        let reply = rndc
            .addzone(&name, &body)
            .await
            .map_err(|e| e.to_string())?;
        println!("  rndc addzone {name} {body}");
        if !reply.text.trim().is_empty() {
            println!("    {}", reply.text.trim());
        }
    }

    // 2. Records selected by the zone's recordsFrom, one RRset replace each.
    let mut changes = Vec::new();
    for d in read_docs(records)? {
        let Some((obj, labels, set)) = record_of(&d)? else {
            continue;
        };
        if !zone
            .spec
            .selects_record(&labels)
            .map_err(|e| e.to_string())?
        {
            println!("  {} {obj}: not selected by the zone, skipped", d["kind"]);
            continue;
        }
        println!(
            "  {:<12} {obj:<22} {} {}",
            d["kind"].as_str().unwrap_or_default(),
            set.name,
            set.record_type.as_str()
        );
        changes.push(Change::Replace {
            set,
            default_ttl: zone.spec.ttl,
        });
    }
    // 3. The operator's write path: batched UPDATE, then NOTIFY to the secondaries at once
    //    (BIND's own NOTIFY follows later).
    let started = Instant::now();
    let updater = Updater::new(primary, Some(key.clone())).with_timeout(TIMEOUT);
    let p = notify::apply_and_notify(&updater, &name, &changes, secondaries, Some(&key))
        .await
        .map_err(|e| e.to_string())?;
    let out = p.outcome;
    println!(
        "  RFC 2136: {} RRsets written, {} already up to date, in {} UPDATE message(s), {:.1} ms",
        out.applied,
        out.unchanged,
        out.messages,
        started.elapsed().as_secs_f64() * 1e3
    );
    for f in &out.failed {
        println!(
            "  REJECTED {} {}: {}",
            f.owner,
            f.record_type.as_str(),
            f.error
        );
    }

    for (s, r) in p.notified {
        match r {
            Ok(()) => println!("  NOTIFY {name} -> {s}: acknowledged"),
            Err(e) => println!("  NOTIFY {name} -> {s}: {e}"),
        }
    }
    if out.failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} record(s) rejected by the primary",
            out.failed.len()
        ))
    }
}
