//! The zone store: immutable zone versions published through `arc-swap`.
//!
//! # Layout and why
//! A [`Zone`] maps lower-cased wire names to [`Node`]s (all RRsets of one owner name, plus
//! empty non-terminals as nodes without RRsets). The map is a *sharded copy-on-write hash
//! map* ([`NodeMap`]): `2^k` shards (about 4096 nodes each), every shard an
//! `Arc<HashMap<_, Arc<Node>>>`. Reads are one hash plus one probe, as fast as a flat
//! `HashMap` (a HAMT such as `imbl` costs several dependent loads per lookup). Writing a new
//! version for an IXFR delta (issue 4) clones the shard vector (k pointers), then
//! `Arc::make_mut` copies only the shards the delta touches: a delta of d names costs
//! O(d · 4096) pointer copies however big the zone is, and untouched shards and nodes stay
//! shared between versions. A full load or AXFR builds a fresh map off to the side.
//!
//! A [`ZoneSet`] maps zone names to `Arc<Zone>`; finding the zone of a query name tries each
//! suffix of the name from the longest (at most 127 hash probes, usually 2–3), so thousands
//! of zones cost no more per query than one. The [`Store`] publishes the set with
//! `ArcSwap`: readers never lock, and a zone (or the whole set) is swapped atomically.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::error::{Error, Result};
use crate::name;
use crate::rtype;
use crate::zonefile::Record;

/// Deterministic fast hasher for the maps.
pub type Hasher = foldhash::fast::FixedState;

fn hasher() -> Hasher {
    foldhash::fast::FixedState::with_seed(0x6473_6e64)
}

/// One RRset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// Type.
    pub rtype: u16,
    /// TTL (one per RRset, RFC 2181 §5.2).
    pub ttl: u32,
    /// RDATAs in wire format (names uncompressed), no duplicates, in load order.
    pub rdatas: Vec<Box<[u8]>>,
}

/// All data at one owner name. A node without RRsets is an empty non-terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Owner name in wire format, case as loaded.
    pub name: Box<[u8]>,
    /// RRsets sorted by type.
    pub rrsets: Vec<RRset>,
}

impl Node {
    /// The RRset of a type.
    pub fn get(&self, t: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == t)
    }
    /// Has an RRset of this type?
    pub fn has(&self, t: u16) -> bool {
        self.rrsets.iter().any(|r| r.rtype == t)
    }
}

type Key = Box<[u8]>;
type Shard = HashMap<Key, Arc<Node>, Hasher>;

/// Sharded copy-on-write map from lower-cased wire name to node (see the module doc).
#[derive(Clone)]
pub struct NodeMap {
    shards: Vec<Arc<Shard>>,
    mask: u64,
    hasher: Hasher,
    len: usize,
}

const SHARD_TARGET: usize = 4096;

impl NodeMap {
    /// An empty map sized for about `n` nodes.
    pub fn with_capacity(n: usize) -> Self {
        let shards = (n / SHARD_TARGET + 1).next_power_of_two();
        let per = n / shards + 1;
        Self {
            shards: (0..shards)
                .map(|_| Arc::new(HashMap::with_capacity_and_hasher(per, hasher())))
                .collect(),
            mask: shards as u64 - 1,
            hasher: hasher(),
            len: 0,
        }
    }
    #[inline]
    fn shard_of(&self, key: &[u8]) -> usize {
        if self.mask == 0 {
            return 0;
        }
        // High bits pick the shard; the shard's own table uses the low bits.
        ((self.hasher.hash_one(key) >> 40) & self.mask) as usize
    }
    /// Look a lower-cased wire name up.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Arc<Node>> {
        self.shards[self.shard_of(key)].get(key)
    }
    /// Insert or replace (copy-on-write of one shard).
    pub fn insert(&mut self, key: Box<[u8]>, node: Arc<Node>) {
        let s = self.shard_of(&key);
        if Arc::make_mut(&mut self.shards[s])
            .insert(key, node)
            .is_none()
        {
            self.len += 1;
        }
    }
    /// Remove (copy-on-write of one shard).
    pub fn remove(&mut self, key: &[u8]) -> Option<Arc<Node>> {
        let s = self.shard_of(key);
        let r = Arc::make_mut(&mut self.shards[s]).remove(key);
        if r.is_some() {
            self.len -= 1;
        }
        r
    }
    /// Number of nodes (including empty non-terminals).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// All nodes, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.shards.iter().flat_map(|s| s.values())
    }
}

/// One immutable version of a zone.
#[derive(Clone)]
pub struct Zone {
    /// Zone name, lower-cased wire format.
    pub origin: Box<[u8]>,
    /// Nodes.
    pub nodes: NodeMap,
    /// SOA serial of this version.
    pub serial: u32,
    /// Number of records loaded.
    pub records: usize,
}

impl Zone {
    /// Build and validate a zone from records (a zone file or a transfer). Out-of-zone
    /// records are ignored with a warning, as named does; other faults reject the zone.
    pub fn from_records(origin: &[u8], records: Vec<Record>) -> Result<Zone> {
        let origin_key = name::lower(origin);
        let zname = name::to_text(origin);
        let invalid = |reason: String| Error::ZoneInvalid {
            zone: zname.clone(),
            reason,
        };
        let mut build: HashMap<Box<[u8]>, Node, Hasher> =
            HashMap::with_capacity_and_hasher(records.len(), hasher());
        let mut count = 0;
        let mut ignored = 0;
        let mut lower = [0u8; name::MAX_NAME];
        for r in records {
            // Lower-case into a stack buffer: the key is allocated only for a new name.
            let n = r.name.len().min(name::MAX_NAME);
            for (d, s) in lower.iter_mut().zip(&r.name[..n]) {
                *d = s.to_ascii_lowercase();
            }
            let key = &lower[..n];
            if !name::is_subdomain(key, &origin_key) {
                ignored += 1;
                continue;
            }
            if !build.contains_key(key) {
                let node = Node {
                    name: r.name.clone().into_boxed_slice(),
                    rrsets: Vec::new(),
                };
                build.insert(key.into(), node);
            }
            let Some(node) = build.get_mut(key) else {
                continue;
            };
            match node.rrsets.iter_mut().find(|s| s.rtype == r.rtype) {
                Some(set) => {
                    // RFC 2181 §5.2: one TTL per RRset; like named, the first one wins.
                    if !set.rdatas.iter().any(|d| **d == *r.rdata) {
                        set.rdatas.push(r.rdata.into_boxed_slice());
                        count += 1;
                    }
                }
                None => {
                    node.rrsets.push(RRset {
                        rtype: r.rtype,
                        ttl: r.ttl,
                        rdatas: vec![r.rdata.into_boxed_slice()],
                    });
                    count += 1;
                }
            }
        }
        if ignored > 0 {
            tracing::warn!(zone = %zname, ignored, "ignoring out-of-zone records");
        }
        let apex = build
            .get(&origin_key[..])
            .ok_or_else(|| invalid("no records at the zone apex".into()))?;
        let soa = apex
            .get(rtype::SOA)
            .ok_or_else(|| invalid("no SOA record at the apex".into()))?;
        if soa.rdatas.len() != 1 {
            return Err(invalid("more than one SOA record".into()));
        }
        let serial = soa_field(&soa.rdatas[0], 0).ok_or_else(|| invalid("malformed SOA".into()))?;
        if !apex.has(rtype::NS) {
            return Err(invalid("no NS records at the apex".into()));
        }
        for (key, node) in &build {
            if node.has(rtype::SOA) && **key != *origin_key {
                return Err(invalid(format!(
                    "SOA record at {} is not at the zone apex",
                    name::to_text(&node.name)
                )));
            }
            if let Some(c) = node.get(rtype::CNAME) {
                if c.rdatas.len() > 1 {
                    return Err(invalid(format!(
                        "{}: more than one CNAME",
                        name::to_text(&node.name)
                    )));
                }
                if node
                    .rrsets
                    .iter()
                    .any(|s| !matches!(s.rtype, rtype::CNAME | rtype::RRSIG | 47))
                {
                    return Err(invalid(format!(
                        "{}: CNAME and other data",
                        name::to_text(&node.name)
                    )));
                }
            }
            if node.get(rtype::DNAME).is_some_and(|d| d.rdatas.len() > 1) {
                return Err(invalid(format!(
                    "{}: more than one DNAME",
                    name::to_text(&node.name)
                )));
            }
        }
        // Empty non-terminals: every ancestor between a name and the apex is a node.
        let mut ents: Vec<(Key, Key)> = Vec::new();
        for (key, node) in &build {
            let mut pos = 0;
            while key.len() - pos > origin_key.len() {
                pos += 1 + key[pos] as usize;
                if key.len() - pos <= origin_key.len() {
                    break;
                }
                let anc = &key[pos..];
                if !build.contains_key(anc) {
                    ents.push((anc.into(), node.name[pos..].into()));
                }
            }
        }
        for (k, n) in ents {
            build.entry(k).or_insert_with(|| Node {
                name: n,
                rrsets: Vec::new(),
            });
        }
        let mut nodes = NodeMap::with_capacity(build.len());
        for (k, mut n) in build {
            n.rrsets.sort_by_key(|s| s.rtype);
            // Exact capacities: a Vec grown by push keeps room for 4, which on a 1M-name zone
            // is about 150 MB of slack.
            n.rrsets.shrink_to_fit();
            for s in &mut n.rrsets {
                s.rdatas.shrink_to_fit();
            }
            nodes.insert(k, Arc::new(n));
        }
        Ok(Zone {
            origin: origin_key,
            nodes,
            serial,
            records: count,
        })
    }

    /// The apex node.
    pub fn apex(&self) -> Option<&Arc<Node>> {
        self.nodes.get(&self.origin)
    }

    /// Zone name in presentation format.
    pub fn name(&self) -> String {
        name::to_text(&self.origin)
    }
}

/// Read SOA field `i` (0 = serial .. 4 = minimum) from SOA RDATA.
pub fn soa_field(rdata: &[u8], i: usize) -> Option<u32> {
    let m = name::wire_len(rdata)?;
    let r = name::wire_len(rdata.get(m..)?)?;
    let o = m + r + 4 * i;
    let b = rdata.get(o..o + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A set of zones, immutable once published.
#[derive(Clone, Default)]
pub struct ZoneSet {
    zones: HashMap<Box<[u8]>, Arc<Zone>, Hasher>,
}

impl ZoneSet {
    /// The zone holding a lower-cased wire name (longest matching suffix) and the index of
    /// the label at which the zone's origin starts in that name.
    #[inline]
    pub fn find(&self, q: &name::NameBuf) -> Option<(&Arc<Zone>, usize)> {
        (0..=q.nlabels).find_map(|i| self.zones.get(q.suffix_key(i)).map(|z| (z, i)))
    }
    /// Add or replace a zone.
    pub fn insert(&mut self, z: Arc<Zone>) {
        self.zones.insert(z.origin.clone(), z);
    }
    /// Remove a zone by lower-cased wire name.
    pub fn remove(&mut self, origin: &[u8]) -> Option<Arc<Zone>> {
        self.zones.remove(origin)
    }
    /// A zone by lower-cased wire name.
    pub fn get(&self, origin: &[u8]) -> Option<&Arc<Zone>> {
        self.zones.get(origin)
    }
    /// Number of zones.
    pub fn len(&self) -> usize {
        self.zones.len()
    }
    /// No zones?
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
    /// All zones.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }
}

/// The published zone set: lock-free reads, atomic replacement.
pub struct Store {
    current: ArcSwap<ZoneSet>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(ZoneSet::default())
    }
}

impl Store {
    /// A store serving `set`.
    pub fn new(set: ZoneSet) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
        }
    }
    /// The current snapshot (cheap; hold it for one packet or one batch).
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<ZoneSet>> {
        self.current.load()
    }
    /// The current snapshot as an owned `Arc`.
    pub fn snapshot(&self) -> Arc<ZoneSet> {
        self.current.load_full()
    }
    /// Publish a new version of one zone (other zones are shared, not copied).
    pub fn publish_zone(&self, z: Arc<Zone>) {
        self.current.rcu(|cur| {
            let mut next = ZoneSet::clone(cur);
            next.insert(z.clone());
            next
        });
    }
    /// Stop serving a zone.
    pub fn remove_zone(&self, origin: &[u8]) {
        self.current.rcu(|cur| {
            let mut next = ZoneSet::clone(cur);
            next.remove(origin);
            next
        });
    }
    /// Replace the whole set at once.
    pub fn publish(&self, set: ZoneSet) {
        self.current.store(Arc::new(set));
    }
}

/// Load a zone file into a validated zone.
pub fn load_file(origin_text: &str, path: &std::path::Path) -> Result<Zone> {
    let origin = name::from_text(origin_text, Some(name::ROOT)).map_err(Error::Config)?;
    let records = crate::zonefile::parse_file(path, &origin)?;
    Zone::from_records(&origin, records)
}

/// Records of a zone grouped by name, apex first (for tests and debugging dumps).
pub fn dump(z: &Zone) -> BTreeMap<String, Vec<(u16, u32, usize)>> {
    z.nodes
        .iter()
        .map(|n| {
            (
                name::to_text(&n.name),
                n.rrsets
                    .iter()
                    .map(|s| (s.rtype, s.ttl, s.rdatas.len()))
                    .collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn zone(text: &str) -> Result<Zone> {
        let o = name::from_text("example.com.", None).unwrap();
        Zone::from_records(&o, crate::zonefile::parse_str(text, Path::new("t"), &o)?)
    }
    const HEAD: &str = "$TTL 60\n@ SOA ns h 7 1 1 1 30\n NS ns\nns A 192.0.2.1\n";

    #[test]
    fn builds_ents_and_dedupes() {
        let z = zone(&format!(
            "{HEAD}a.b.c A 192.0.2.2\na.b.c 99 A 192.0.2.2\na.b.c A 192.0.2.3\n"
        ))
        .unwrap();
        assert_eq!(z.serial, 7);
        let d = dump(&z);
        assert_eq!(d["b.c.example.com."], vec![]);
        assert_eq!(d["c.example.com."], vec![]);
        assert_eq!(d["a.b.c.example.com."], vec![(rtype::A, 60, 2)]);
    }

    #[test]
    fn rejects_bad_zones() {
        let e = zone(&format!("{HEAD}x CNAME a\nx A 192.0.2.1\n"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("CNAME and other data"), "{e}");
        let e = zone("$TTL 60\n@ SOA ns h 7 1 1 1 30\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no NS"), "{e}");
        let e = zone(&format!("{HEAD}x SOA ns h 7 1 1 1 30\n"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not at the zone apex"), "{e}");
    }

    #[test]
    fn cow_shards_share_untouched_data() {
        let mut m = NodeMap::with_capacity(20_000);
        for i in 0..20_000u32 {
            let k: Box<[u8]> = i.to_be_bytes().into();
            m.insert(
                k.clone(),
                Arc::new(Node {
                    name: k,
                    rrsets: vec![],
                }),
            );
        }
        let before = m.clone();
        m.remove(&5u32.to_be_bytes()[..]);
        let shared = m
            .shards
            .iter()
            .zip(&before.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, m.shards.len() - 1);
        assert_eq!(m.len(), 19_999);
        assert!(before.get(&5u32.to_be_bytes()[..]).is_some());
    }
}
