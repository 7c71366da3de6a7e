//! Conversions between the shared record model and hickory's wire types.
//!
//! Comparisons (idempotence: "does the primary already hold exactly this RRset?") are done on
//! wire-format rdata with names lower-cased, so `Mail.Example.com.` equals `mail.example.com`
//! and a 300-byte TXT string equals the two character-strings BIND stores for it.

use hickory_proto::rr::rdata::{CAA, CNAME, MX, NS, SRV, TXT};
use hickory_proto::rr::{Name, RData, RecordType as HRecordType};
use hickory_proto::serialize::binary::BinEncodable;

use super::names::{check_caa_tag, split_txt, target};
use super::{RecordData, RecordType};
use crate::error::{Error, Result};

/// A hickory name from a validated absolute name.
pub fn name(fqdn: &str) -> Result<Name> {
    Name::from_ascii(fqdn).map_err(|e| Error::InvalidInput(format!("bad name {fqdn:?}: {e}")))
}

/// The hickory record type for a model type.
pub fn hickory_type(t: RecordType) -> HRecordType {
    HRecordType::from(t.code())
}

/// Model data → hickory rdata (names validated and lower-cased, TXT split at 255 bytes).
pub fn to_rdata(d: &RecordData) -> Result<RData> {
    Ok(match d {
        RecordData::A(ip) => RData::A((*ip).into()),
        RecordData::Aaaa(ip) => RData::AAAA((*ip).into()),
        RecordData::Cname { target: t } => RData::CNAME(CNAME(name(&target(t)?)?)),
        RecordData::Ns { nameserver } => RData::NS(NS(name(&target(nameserver)?)?)),
        RecordData::Mx {
            preference,
            exchange,
        } => RData::MX(MX::new(*preference, name(&target(exchange)?)?)),
        RecordData::Srv {
            priority,
            weight,
            port,
            target: t,
        } => RData::SRV(SRV::new(*priority, *weight, *port, name(&target(t)?)?)),
        RecordData::Txt { strings } => {
            let mut parts: Vec<&[u8]> = Vec::new();
            if strings.is_empty() {
                parts.push(b"");
            }
            for s in strings {
                parts.extend(split_txt(s));
            }
            RData::TXT(TXT::from_bytes(parts))
        }
        RecordData::Caa { flags, tag, value } => {
            check_caa_tag(tag)?;
            // CAA is #[non_exhaustive]: start from a constructor, then set the raw fields so
            // the value goes on the wire exactly as the user wrote it (no issuer parsing).
            let mut caa = CAA::new_issue(false, None, Vec::new());
            caa.issuer_critical = flags & 0x80 != 0;
            caa.reserved_flags = flags & 0x7f;
            caa.tag = tag.to_ascii_lowercase();
            caa.value = value.as_bytes().to_vec();
            RData::CAA(caa)
        }
    })
}

/// Wire bytes of an rdata with its domain names lower-cased: the comparison key.
pub fn compare_key(rdata: &RData) -> Result<Vec<u8>> {
    let lowered = match rdata {
        RData::CNAME(c) => RData::CNAME(CNAME(c.0.to_lowercase())),
        RData::NS(n) => RData::NS(NS(n.0.to_lowercase())),
        RData::MX(m) => RData::MX(MX::new(m.preference, m.exchange.to_lowercase())),
        RData::SRV(s) => RData::SRV(SRV::new(
            s.priority,
            s.weight,
            s.port,
            s.target.to_lowercase(),
        )),
        RData::CAA(c) => {
            let mut c = c.clone();
            c.tag = c.tag.to_ascii_lowercase();
            RData::CAA(c)
        }
        other => other.clone(),
    };
    lowered
        .to_bytes()
        .map_err(|e| Error::Proto(format!("encoding rdata: {e}")))
}

/// Sorted, de-duplicated comparison keys of a model RRset.
pub fn keys_of(data: &[RecordData]) -> Result<Vec<Vec<u8>>> {
    let mut keys = data
        .iter()
        .map(|d| to_rdata(d).and_then(|r| compare_key(&r)))
        .collect::<Result<Vec<_>>>()?;
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Builds the model data back from the server's rdata (for reporting and tests).
pub fn from_rdata(rd: &RData) -> Option<RecordData> {
    Some(match rd {
        RData::A(a) => RecordData::A(a.0),
        RData::AAAA(a) => RecordData::Aaaa(a.0),
        RData::CNAME(c) => RecordData::Cname {
            target: c.0.to_lowercase().to_ascii(),
        },
        RData::NS(n) => RecordData::Ns {
            nameserver: n.0.to_lowercase().to_ascii(),
        },
        RData::MX(m) => RecordData::Mx {
            preference: m.preference,
            exchange: m.exchange.to_lowercase().to_ascii(),
        },
        RData::SRV(s) => RecordData::Srv {
            priority: s.priority,
            weight: s.weight,
            port: s.port,
            target: s.target.to_lowercase().to_ascii(),
        },
        RData::TXT(t) => RecordData::Txt {
            strings: t
                .txt_data
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
        },
        RData::CAA(c) => RecordData::Caa {
            flags: c.flags(),
            tag: c.tag.clone(),
            value: String::from_utf8_lossy(&c.value).into_owned(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_name_case_and_txt_splitting() {
        let a = keys_of(&[RecordData::Mx {
            preference: 5,
            exchange: "Mail.Example.COM".into(),
        }])
        .unwrap();
        let b = compare_key(&RData::MX(MX::new(
            5,
            Name::from_ascii("mail.example.com.").unwrap(),
        )))
        .unwrap();
        assert_eq!(a, vec![b]);

        let long = "y".repeat(300);
        let ours = keys_of(&[RecordData::Txt {
            strings: vec![long.clone()],
        }])
        .unwrap();
        let theirs = compare_key(&RData::TXT(TXT::from_bytes(vec![
            &long.as_bytes()[..255],
            &long.as_bytes()[255..],
        ])))
        .unwrap();
        assert_eq!(ours, vec![theirs]);
    }

    #[test]
    fn model_round_trips_through_hickory() {
        let all = [
            RecordData::A("192.0.2.1".parse().unwrap()),
            RecordData::Aaaa("2001:db8::1".parse().unwrap()),
            RecordData::Cname {
                target: "a.example.".into(),
            },
            RecordData::Mx {
                preference: 1,
                exchange: "mx.example.".into(),
            },
            RecordData::Txt {
                strings: vec!["x y".into(), "z".into()],
            },
            RecordData::Ns {
                nameserver: "ns.example.".into(),
            },
            RecordData::Srv {
                priority: 1,
                weight: 2,
                port: 3,
                target: "s.example.".into(),
            },
            RecordData::Caa {
                flags: 128,
                tag: "issue".into(),
                value: "ca.example".into(),
            },
        ];
        for d in all {
            assert_eq!(from_rdata(&to_rdata(&d).unwrap()), Some(d));
        }
    }

    #[test]
    fn caa_value_is_sent_verbatim() {
        let r = to_rdata(&RecordData::Caa {
            flags: 128,
            tag: "issue".into(),
            value: "ca.example; account=1".into(),
        })
        .unwrap();
        let bytes = r.to_bytes().unwrap();
        assert_eq!(bytes[0], 128);
        assert_eq!(&bytes[2..7], b"issue");
        assert_eq!(&bytes[7..], b"ca.example; account=1");
    }
}
