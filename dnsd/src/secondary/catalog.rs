//! Catalog zones (RFC 9432): which member zones a catalog lists.
//!
//! Members are the names `<unique-id>.zones.<catalog>` holding exactly one PTR whose target
//! is the member zone (RFC 9432 §4.1); a unique-id with several PTRs is ignored (§4.1), and
//! a zone listed twice is taken once. The schema version (`version.<catalog> TXT "2"`) is
//! checked and a mismatch logged: BIND 9.18 writes version 2. Members inherit the catalog's
//! primaries and TSIG key (no per-member primaries property is standardised in RFC 9432).

use std::collections::BTreeMap;

use crate::name;
use crate::rtype;
use crate::zone::Zone;

/// Member zones of a catalog: lower-cased wire name → presentation name.
pub fn members(cat: &Zone) -> BTreeMap<Vec<u8>, String> {
    let origin = &cat.origin;
    let mut zones_label = b"\x05zones".to_vec();
    zones_label.extend_from_slice(origin);
    let mut version_name = b"\x07version".to_vec();
    version_name.extend_from_slice(origin);
    let version = cat
        .nodes
        .get(&version_name)
        .and_then(|n| n.get(rtype::TXT))
        .and_then(|s| s.rdatas.first())
        .map(|rd| String::from_utf8_lossy(rd.get(1..).unwrap_or_default()).into_owned());
    if version.as_deref() != Some("2") {
        tracing::warn!(catalog = %cat.name(), ?version, "catalog zone schema version is not 2");
    }
    let mut out = BTreeMap::new();
    for node in cat.nodes.iter() {
        let key = name::lower(&node.name);
        // <one label>.zones.<catalog>
        let Some(&l) = key.first() else { continue };
        let rest = key.get(1 + l as usize..).unwrap_or_default();
        if l == 0 || rest != &zones_label[..] {
            continue;
        }
        let Some(ptr) = node.get(rtype::PTR) else {
            continue;
        };
        if ptr.rdatas.len() != 1 {
            tracing::warn!(catalog = %cat.name(), entry = %name::to_text(&node.name), "member with several PTRs ignored");
            continue;
        }
        let member = name::lower(&ptr.rdatas[0]).into_vec();
        out.entry(member)
            .or_insert_with(|| name::to_text(&ptr.rdatas[0]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn lists_members() {
        let o = name::from_text("catalog.test.", None).unwrap();
        let text = "$TTL 60\n@ SOA ns h 1 1 1 1 30\n NS invalid.\nversion TXT \"2\"\n\
                    m1.zones PTR One.Example.\nm2.zones PTR two.example.\n\
                    group.m2.zones TXT \"g\"\nm3.zones PTR a.example.\nm3.zones PTR b.example.\n";
        let z = Zone::from_records(
            &o,
            crate::zonefile::parse_str(text, Path::new("t"), &o).unwrap(),
        )
        .unwrap();
        let m = members(&z);
        let names: Vec<&str> = m.values().map(String::as_str).collect();
        assert_eq!(names, ["One.Example.", "two.example."]);
    }
}
