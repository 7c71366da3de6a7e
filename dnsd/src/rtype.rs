//! Record type and class numbers and their mnemonics.

/// A
pub const A: u16 = 1;
/// NS
pub const NS: u16 = 2;
/// CNAME
pub const CNAME: u16 = 5;
/// SOA
pub const SOA: u16 = 6;
/// PTR
pub const PTR: u16 = 12;
/// HINFO
pub const HINFO: u16 = 13;
/// MX
pub const MX: u16 = 15;
/// TXT
pub const TXT: u16 = 16;
/// AAAA
pub const AAAA: u16 = 28;
/// SRV
pub const SRV: u16 = 33;
/// DNAME
pub const DNAME: u16 = 39;
/// OPT pseudo-RR
pub const OPT: u16 = 41;
/// DS
pub const DS: u16 = 43;
/// RRSIG
pub const RRSIG: u16 = 46;
/// TSIG
pub const TSIG: u16 = 250;
/// IXFR
pub const IXFR: u16 = 251;
/// AXFR
pub const AXFR: u16 = 252;
/// ANY
pub const ANY: u16 = 255;
/// Class IN
pub const CLASS_IN: u16 = 1;

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("AAAA", 28),
    ("LOC", 29),
    ("SRV", 33),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", 39),
    ("OPT", 41),
    ("DS", 43),
    ("SSHFP", 44),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("ANY", 255),
    ("URI", 256),
    ("CAA", 257),
];

/// Parse a type mnemonic or `TYPEnnn` (RFC 3597), case-insensitively.
pub fn from_text(s: &str) -> Option<u16> {
    let up = s.to_ascii_uppercase();
    if let Some(n) = up.strip_prefix("TYPE") {
        return n.parse().ok();
    }
    TYPES.iter().find(|(m, _)| *m == up).map(|&(_, v)| v)
}

/// Mnemonic of a type, or `TYPEnnn`.
pub fn to_text(t: u16) -> String {
    TYPES
        .iter()
        .find(|&&(_, v)| v == t)
        .map(|(m, _)| (*m).to_string())
        .unwrap_or_else(|| format!("TYPE{t}"))
}

/// Parse a class mnemonic or `CLASSnnn`.
pub fn class_from_text(s: &str) -> Option<u16> {
    let up = s.to_ascii_uppercase();
    match up.as_str() {
        "IN" => Some(1),
        "CH" | "CHAOS" => Some(3),
        "HS" => Some(4),
        _ => up.strip_prefix("CLASS").and_then(|n| n.parse().ok()),
    }
}

/// Types whose RDATA holds domain names that may be compressed on output (RFC 3597 §4).
/// Returns the byte offsets scheme: how many fixed bytes precede each name.
pub fn compressible_names(t: u16) -> &'static [u8] {
    match t {
        NS | CNAME | PTR | 3 | 4 | 7 | 8 | 9 => &[0],
        MX => &[2],
        SOA | 14 => &[0, 0],
        _ => &[],
    }
}

/// Types for which the additional section gets A/AAAA of a target name: returns the offset
/// of the target name inside the RDATA.
pub fn additional_target(t: u16) -> Option<usize> {
    match t {
        NS => Some(0),
        MX => Some(2),
        SRV => Some(6),
        _ => None,
    }
}
