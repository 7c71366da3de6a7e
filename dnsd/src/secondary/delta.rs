//! Applying IXFR differences to a zone version without copying the zone.
//!
//! The new version starts as a clone of the old [`Zone`]: that copies the shard vector of
//! its [`crate::zone::NodeMap`] (k pointers), not the nodes. Every changed name then costs
//! one node clone (its few RRsets) plus, the first time a shard is touched, a copy of that
//! shard's table (about 4 096 pointers, see the zone module). So a delta of d names costs
//! O(d + touched shards · 4 096) however big the zone; untouched shards stay shared with the
//! version still being served, which is published only when the whole delta applied.
//!
//! Empty non-terminals: a [`ChildIndex`] counts the direct children of every name that
//! has any. It is built in the background once per AXFR'd or loaded version (one O(n)
//! pass), then kept up to date by each delta and moved, not copied, from version to
//! version. An added name gets its missing ancestors as empty nodes; a name whose last
//! RRset goes is removed when it has no children, and so are empty ancestors left
//! childless: O(depth) per name.

use std::collections::HashMap;
use std::sync::Arc;

use super::msg::has_names;
use super::xfr::Delta;
use crate::name;
use crate::rtype;
use crate::zone::{Hasher, Node, RRset, Zone};
use crate::zonefile::Record;

fn same_rdata(t: u16, a: &[u8], b: &[u8]) -> bool {
    if has_names(t) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Number of direct child nodes (empty non-terminals included) per name that has any.
#[derive(Default)]
pub struct ChildIndex {
    counts: HashMap<Box<[u8]>, u32, Hasher>,
}

fn parent(key: &[u8]) -> &[u8] {
    &key[(1 + key[0] as usize).min(key.len())..]
}

impl ChildIndex {
    /// Count the children of every node of `z` (one pass).
    pub fn build(z: &Zone) -> ChildIndex {
        let mut counts: HashMap<Box<[u8]>, u32, Hasher> = HashMap::default();
        for n in z.nodes.iter() {
            let key = name::lower(&n.name);
            if key.len() > z.origin.len() {
                let p = parent(&key);
                match counts.get_mut(p) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(p.into(), 1);
                    }
                }
            }
        }
        ChildIndex { counts }
    }
    fn has_children(&self, key: &[u8]) -> bool {
        self.counts.get(key).is_some_and(|&c| c > 0)
    }
    fn inc(&mut self, key: &[u8]) {
        match self.counts.get_mut(key) {
            Some(c) => *c += 1,
            None => {
                self.counts.insert(key.into(), 1);
            }
        }
    }
    fn dec(&mut self, key: &[u8]) {
        if let Some(c) = self.counts.get_mut(key) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.counts.remove(key);
            }
        }
    }
}

struct Apply<'a> {
    z: &'a mut Zone,
    idx: &'a mut ChildIndex,
}

impl Apply<'_> {
    fn node(&self, key: &[u8]) -> Option<Node> {
        self.z.nodes.get(key).map(|n| Node::clone(n))
    }

    fn delete(&mut self, r: &Record) {
        let key = name::lower(&r.name);
        let Some(mut node) = self.node(&key) else {
            tracing::debug!(name = %name::to_text(&r.name), "IXFR deletes a missing name");
            return;
        };
        let Some(i) = node.rrsets.iter().position(|s| s.rtype == r.rtype) else {
            return;
        };
        let set = &mut node.rrsets[i];
        let before = set.rdatas.len();
        set.rdatas.retain(|d| !same_rdata(r.rtype, d, &r.rdata));
        self.z.records = self.z.records.saturating_sub(before - set.rdatas.len());
        if set.rdatas.is_empty() {
            node.rrsets.remove(i);
        }
        if node.rrsets.is_empty() && !self.idx.has_children(&key) {
            self.remove_up(&key);
        } else {
            self.z.nodes.insert(key, Arc::new(node));
        }
    }

    /// Remove a childless empty node, then each empty ancestor left without children.
    fn remove_up(&mut self, key: &[u8]) {
        let olen = self.z.origin.len();
        let mut cur = key;
        while cur.len() > olen {
            self.z.nodes.remove(cur);
            let p = parent(cur);
            self.idx.dec(p);
            let empty = self.z.nodes.get(p).is_some_and(|n| n.rrsets.is_empty());
            if !empty || self.idx.has_children(p) {
                break;
            }
            cur = p;
        }
    }

    fn add(&mut self, r: &Record) {
        let key = name::lower(&r.name);
        if !name::is_subdomain(&key, &self.z.origin) {
            return;
        }
        let mut node = match self.node(&key) {
            Some(n) => n,
            None => {
                self.add_ancestors(&key, &r.name);
                Node {
                    name: r.name.clone().into_boxed_slice(),
                    rrsets: Vec::new(),
                }
            }
        };
        match node.rrsets.iter_mut().find(|s| s.rtype == r.rtype) {
            Some(set) => {
                set.ttl = r.ttl;
                if !set.rdatas.iter().any(|d| same_rdata(r.rtype, d, &r.rdata)) {
                    set.rdatas.push(r.rdata.clone().into_boxed_slice());
                    self.z.records += 1;
                }
            }
            None => {
                let at = node.rrsets.partition_point(|s| s.rtype < r.rtype);
                node.rrsets.insert(
                    at,
                    RRset {
                        rtype: r.rtype,
                        ttl: r.ttl,
                        rdatas: vec![r.rdata.clone().into_boxed_slice()],
                    },
                );
                self.z.records += 1;
            }
        }
        self.z.nodes.insert(key, Arc::new(node));
    }

    /// A new node `key` is being added: count it at its parent, creating missing empty
    /// ancestors (each counted at its own parent) up to the first existing one.
    fn add_ancestors(&mut self, key: &[u8], wire: &[u8]) {
        let olen = self.z.origin.len();
        let mut pos = 0;
        while key.len() - pos > olen {
            pos += 1 + key[pos] as usize;
            let p = &key[pos..];
            self.idx.inc(p);
            if p.len() <= olen || self.z.nodes.get(p).is_some() {
                break;
            }
            self.z.nodes.insert(
                p.into(),
                Arc::new(Node {
                    name: wire[pos..].into(),
                    rrsets: Vec::new(),
                }),
            );
        }
    }
}

/// Apply `deltas` (in order) to `base`, giving the new version; `idx` must be `base`'s
/// index and becomes the new version's. Fails (and the caller falls back to AXFR and drops
/// `idx`) when a delta does not start at the version's serial or the result is not a valid
/// zone.
pub fn apply(base: &Zone, deltas: &[Delta], idx: &mut ChildIndex) -> Result<Zone, String> {
    let mut z = base.clone();
    let mut a = Apply { z: &mut z, idx };
    for d in deltas {
        if d.from != a.z.serial {
            return Err(format!(
                "IXFR delta starts at serial {} but we hold {}",
                d.from, a.z.serial
            ));
        }
        for r in &d.del {
            a.delete(r);
        }
        for r in &d.add {
            a.add(r);
        }
        let origin = a.z.origin.clone();
        let mut apex = a.node(&origin).ok_or("IXFR removed the zone apex")?;
        match apex.rrsets.iter_mut().find(|s| s.rtype == rtype::SOA) {
            Some(s) => {
                s.ttl = d.soa.ttl;
                s.rdatas = vec![d.soa.rdata.clone().into_boxed_slice()];
            }
            None => return Err("zone has no SOA".into()),
        }
        a.z.nodes.insert(origin, Arc::new(apex));
        a.z.serial = d.to;
    }
    let apex = z.apex().ok_or("IXFR removed the zone apex")?;
    if !apex.has(rtype::NS) {
        return Err("IXFR removed the apex NS records".into());
    }
    Ok(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rec(text: &str) -> Record {
        let o = name::from_text("example.com.", None).unwrap();
        crate::zonefile::parse_str(&format!("$TTL 60\n{text}\n"), Path::new("t"), &o)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn applies_adds_deletes_and_prunes_empty_non_terminals() {
        let o = name::from_text("example.com.", None).unwrap();
        let text = "$TTL 60\n@ SOA ns h 1 1 1 1 30\n NS ns\nns A 192.0.2.1\nx.y A 192.0.2.9\n";
        let base = Zone::from_records(
            &o,
            crate::zonefile::parse_str(text, Path::new("t"), &o).unwrap(),
        )
        .unwrap();
        let d = Delta {
            from: 1,
            to: 2,
            old_soa: rec("@ SOA ns h 1 1 1 1 30"),
            soa: rec("@ SOA ns h 2 1 1 1 30"),
            del: vec![rec("x.y A 192.0.2.9")],
            add: vec![rec("a.b.c A 192.0.2.7"), rec("ns A 192.0.2.2")],
        };
        let mut idx = ChildIndex::build(&base);
        let z = apply(&base, &[d], &mut idx).unwrap();
        assert_eq!(z.serial, 2);
        let dump = crate::zone::dump(&z);
        assert!(!dump.contains_key("y.example.com."), "{dump:?}");
        assert!(!dump.contains_key("x.y.example.com."));
        assert_eq!(dump["b.c.example.com."], vec![]);
        assert_eq!(dump["ns.example.com."], vec![(rtype::A, 60, 2)]);
        assert_eq!(z.records, base.records + 1);
        // The old version is untouched.
        assert!(crate::zone::dump(&base).contains_key("x.y.example.com."));
        let bad = Delta {
            from: 7,
            to: 8,
            old_soa: rec("@ SOA ns h 7 1 1 1 30"),
            soa: rec("@ SOA ns h 8 1 1 1 30"),
            del: vec![],
            add: vec![],
        };
        assert!(apply(&base, &[bad], &mut ChildIndex::build(&base)).is_err());
        // Deleting a.b.c again prunes both empty ancestors; the index matches a rebuild.
        let d2 = Delta {
            from: 2,
            to: 3,
            old_soa: rec("@ SOA ns h 2 1 1 1 30"),
            soa: rec("@ SOA ns h 3 1 1 1 30"),
            del: vec![rec("a.b.c A 192.0.2.7")],
            add: vec![rec("q.b.c A 192.0.2.8")],
        };
        let z3 = apply(&z, &[d2], &mut idx).unwrap();
        let dump = crate::zone::dump(&z3);
        assert!(!dump.contains_key("a.b.c.example.com."));
        assert_eq!(dump["b.c.example.com."], vec![]);
        let d3 = Delta {
            from: 3,
            to: 4,
            old_soa: rec("@ SOA ns h 3 1 1 1 30"),
            soa: rec("@ SOA ns h 4 1 1 1 30"),
            del: vec![rec("q.b.c A 192.0.2.8")],
            add: vec![],
        };
        let z4 = apply(&z3, &[d3], &mut idx).unwrap();
        let dump = crate::zone::dump(&z4);
        assert!(!dump.contains_key("b.c.example.com.") && !dump.contains_key("c.example.com."));
        assert_eq!(idx.counts, ChildIndex::build(&z4).counts);
    }
}
