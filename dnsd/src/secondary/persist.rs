//! Zone versions on disk, so a restarted dnsd serves before its first transfer.
//!
//! One file per zone in the state dir, `<zone>.dnsd`, rewritten for every accepted version:
//! written to a temp file, fsynced, renamed over the old one, and the directory fsynced, so
//! a crash leaves either the old or the new version. The format is a flat binary list of
//! records (length-prefixed wire owner and RDATA), which loads at memory speed with no text
//! parsing; a header carries the serial and the wall-clock time of the last successful
//! refresh, from which the expire clock continues after a restart. An SOA check that finds
//! nothing new only moves that time: it is written to a 12-byte sidecar (`<zone>.dnsd.meta`)
//! instead of rewriting the zone, and loading takes the later of the two.
//!
//! Hand-written (no serde format crate): the record list is already wire bytes, and the
//! reader must validate every length anyway.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::name;
use crate::zone::Zone;
use crate::zonefile::Record;

const MAGIC: &[u8; 8] = b"DNSDZV1\n";

/// What is stored next to the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Seconds since the epoch of the last successful refresh (transfer or SOA check).
    pub last_ok: u64,
    /// The zone's SOA expire at that time.
    pub expire: u32,
}

/// The file for `origin` (lower-cased wire name) in `dir`.
pub fn path_for(dir: &Path, origin: &[u8]) -> PathBuf {
    let text = name::to_text(origin);
    let stem: String = text
        .trim_end_matches('.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!(
        "{}.dnsd",
        if stem.is_empty() { "root" } else { &stem }
    ))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `z` atomically.
pub fn save(dir: &Path, z: &Zone, meta: Meta) -> Result<()> {
    let path = path_for(dir, &z.origin);
    let tmp = path.with_extension("dnsd.tmp");
    let mut buf = Vec::with_capacity(64 + z.records * 40);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(z.origin.len() as u16).to_be_bytes());
    buf.extend_from_slice(&z.origin);
    buf.extend_from_slice(&z.serial.to_be_bytes());
    buf.extend_from_slice(&meta.last_ok.to_be_bytes());
    buf.extend_from_slice(&meta.expire.to_be_bytes());
    let count_at = buf.len();
    buf.extend_from_slice(&0u64.to_be_bytes());
    let mut n: u64 = 0;
    for node in z.nodes.iter() {
        for set in &node.rrsets {
            for rd in &set.rdatas {
                buf.push(node.name.len() as u8);
                buf.extend_from_slice(&node.name);
                buf.extend_from_slice(&set.rtype.to_be_bytes());
                buf.extend_from_slice(&set.ttl.to_be_bytes());
                buf.extend_from_slice(&(rd.len() as u16).to_be_bytes());
                buf.extend_from_slice(rd);
                n += 1;
            }
        }
    }
    buf[count_at..count_at + 8].copy_from_slice(&n.to_be_bytes());
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&buf).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn meta_path(dir: &Path, origin: &[u8]) -> PathBuf {
    path_for(dir, origin).with_extension("dnsd.meta")
}

/// Record a successful refresh that brought no new version.
pub fn save_meta(dir: &Path, origin: &[u8], meta: Meta) -> Result<()> {
    let path = meta_path(dir, origin);
    let tmp = path.with_extension("meta.tmp");
    let mut b = meta.last_ok.to_be_bytes().to_vec();
    b.extend_from_slice(&meta.expire.to_be_bytes());
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&b).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

fn load_meta(dir: &Path, origin: &[u8]) -> Option<Meta> {
    let b = std::fs::read(meta_path(dir, origin)).ok()?;
    let mut r = Reader { b: &b, p: 0 };
    Some(Meta {
        last_ok: r.u64()?,
        expire: r.u32()?,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p + n)?;
        self.p += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_be_bytes(a))
    }
}

fn parse(b: &[u8]) -> Option<(Vec<u8>, u32, Meta, Vec<Record>)> {
    let mut r = Reader { b, p: 0 };
    if r.take(8)? != MAGIC {
        return None;
    }
    let olen = r.u16()? as usize;
    let origin = r.take(olen)?.to_vec();
    let serial = r.u32()?;
    let meta = Meta {
        last_ok: r.u64()?,
        expire: r.u32()?,
    };
    let n = r.u64()? as usize;
    let mut recs = Vec::with_capacity(n.min(b.len() / 12));
    for _ in 0..n {
        let nl = *r.take(1)?.first()? as usize;
        let nm = r.take(nl)?.to_vec();
        let rtype = r.u16()?;
        let ttl = r.u32()?;
        let rl = r.u16()? as usize;
        recs.push(Record {
            name: nm,
            rtype,
            class: crate::rtype::CLASS_IN,
            ttl,
            rdata: r.take(rl)?.to_vec(),
        });
    }
    (r.p == b.len()).then_some((origin, serial, meta, recs))
}

/// Load the stored version of `origin`, if any. A damaged file is an error (the caller logs
/// it and transfers afresh).
pub fn load(dir: &Path, origin: &[u8]) -> Result<Option<(Zone, Meta)>> {
    let path = path_for(dir, origin);
    let b = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let bad = |reason: &str| Error::ZoneInvalid {
        zone: name::to_text(origin),
        reason: format!("{}: {reason}", path.display()),
    };
    let (o, serial, mut meta, recs) = parse(&b).ok_or_else(|| bad("damaged state file"))?;
    if let Some(m) = load_meta(dir, origin).filter(|m| m.last_ok > meta.last_ok) {
        meta = m;
    }
    if name::lower(&o)[..] != name::lower(origin)[..] {
        return Err(bad("state file of another zone"));
    }
    let z = Zone::from_records(origin, recs)?;
    if z.serial != serial {
        return Err(bad("serial mismatch"));
    }
    Ok(Some((z, meta)))
}

/// Remove the stored version (zone no longer followed).
pub fn remove(dir: &Path, origin: &[u8]) {
    let _ = std::fs::remove_file(path_for(dir, origin));
    let _ = std::fs::remove_file(meta_path(dir, origin));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let o = name::from_text("example.com.", None).unwrap();
        let text = "$TTL 60\n@ SOA ns h 5 1 1 1 30\n NS ns\nns A 192.0.2.1\na.b TXT \"hi\"\n";
        let z = Zone::from_records(
            &o,
            crate::zonefile::parse_str(text, Path::new("t"), &o).unwrap(),
        )
        .unwrap();
        let meta = Meta {
            last_ok: 1234,
            expire: 600,
        };
        assert!(load(dir.path(), &o).unwrap().is_none());
        save(dir.path(), &z, meta).unwrap();
        let (back, m) = load(dir.path(), &o).unwrap().unwrap();
        assert_eq!(m, meta);
        assert_eq!(back.serial, 5);
        assert_eq!(crate::zone::dump(&back), crate::zone::dump(&z));
        let later = Meta {
            last_ok: 5678,
            expire: 600,
        };
        save_meta(dir.path(), &o, later).unwrap();
        assert_eq!(load(dir.path(), &o).unwrap().unwrap().1, later);
        let p = path_for(dir.path(), &o);
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 1);
        std::fs::write(&p, b).unwrap();
        assert!(load(dir.path(), &o).is_err());
    }
}
