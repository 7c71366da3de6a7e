//! RDATA presentation format → wire format, per type, plus RFC 3597 generic `\# len hex`.
//!
//! Common types are done here (they carry relative names, which hickory-proto's public
//! `RData::try_from_str` cannot resolve against an origin); rarer name-free types fall back
//! to hickory-proto's parsers and encoder.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name;
use crate::rtype;
use crate::zonefile::{parse_ttl, Token};

type R<T> = std::result::Result<T, String>;

struct Toks<'a> {
    t: &'a [Token<'a>],
    i: usize,
}

impl<'a> Toks<'a> {
    fn next(&mut self, what: &str) -> R<&'a Token<'a>> {
        let t = self
            .t
            .get(self.i)
            .ok_or_else(|| format!("missing {what}"))?;
        self.i += 1;
        Ok(t)
    }
    fn word(&mut self, what: &str) -> R<&'a str> {
        Ok(self.next(what)?.text)
    }
    fn rest(&mut self) -> &'a [Token<'a>] {
        let r = &self.t[self.i.min(self.t.len())..];
        self.i = self.t.len();
        r
    }
    fn done(&self) -> R<()> {
        match self.t.get(self.i) {
            None => Ok(()),
            Some(t) => Err(format!("unexpected extra data '{}'", t.text)),
        }
    }
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> R<T> {
    s.parse().map_err(|_| format!("bad {what} '{s}'"))
}

/// Unescape a character-string (`\X`, `\DDD`) into bytes.
fn unescape(s: &str) -> R<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1..i + 4) {
                Some(d) if d.iter().all(u8::is_ascii_digit) => {
                    let v = (d[0] - b'0') as u32 * 100
                        + (d[1] - b'0') as u32 * 10
                        + (d[2] - b'0') as u32;
                    out.push(u8::try_from(v).map_err(|_| format!("bad escape in '{s}'"))?);
                    i += 4;
                }
                _ => {
                    let n = *b
                        .get(i + 1)
                        .ok_or_else(|| format!("trailing backslash in '{s}'"))?;
                    out.push(n);
                    i += 2;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn char_string(t: &Token<'_>, out: &mut Vec<u8>) -> R<()> {
    let v = unescape(t.text)?;
    if v.len() > 255 {
        return Err("character-string longer than 255 bytes".into());
    }
    out.push(v.len() as u8);
    out.extend_from_slice(&v);
    Ok(())
}

fn hex(s: &str, out: &mut Vec<u8>) -> R<()> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    for p in s.chunks(2) {
        let h = std::str::from_utf8(p).map_err(|_| "bad hex".to_string())?;
        out.push(u8::from_str_radix(h, 16).map_err(|_| format!("bad hex '{h}'"))?);
    }
    Ok(())
}

fn base64(toks: &[Token<'_>], out: &mut Vec<u8>) -> R<()> {
    use base64::Engine;
    let s: String = toks.iter().map(|t| t.text).collect();
    let v = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| format!("bad base64: {e}"))?;
    out.extend_from_slice(&v);
    Ok(())
}

/// Convert a record's RDATA tokens into wire bytes.
pub fn from_tokens(rt: u16, tokens: &[Token<'_>], origin: &[u8]) -> R<Vec<u8>> {
    let mut t = Toks { t: tokens, i: 0 };
    let mut out = Vec::with_capacity(32);
    if tokens.first().is_some_and(|t| !t.quoted && t.text == "\\#") {
        t.i = 1;
        let len: usize = num(t.word("RFC 3597 length")?, "RFC 3597 length")?;
        for tok in t.rest() {
            hex(tok.text, &mut out)?;
        }
        if out.len() != len {
            return Err(format!(
                "RFC 3597 length {len} but {} bytes of data",
                out.len()
            ));
        }
        check_wire(rt, &out)?;
        return Ok(out);
    }
    let nm = |s: &str| name::from_text(s, Some(origin));
    let u16w =
        |t: &mut Toks, w: &str| -> R<[u8; 2]> { Ok(num::<u16>(t.word(w)?, w)?.to_be_bytes()) };
    let u8w = |t: &mut Toks, w: &str| -> R<u8> { num::<u8>(t.word(w)?, w) };
    match rt {
        rtype::A => {
            out.extend_from_slice(&num::<Ipv4Addr>(t.word("address")?, "IPv4 address")?.octets())
        }
        rtype::AAAA => {
            out.extend_from_slice(&num::<Ipv6Addr>(t.word("address")?, "IPv6 address")?.octets())
        }
        rtype::NS | rtype::CNAME | rtype::DNAME | rtype::PTR | 3 | 4 | 7 | 8 | 9 => {
            out.extend(nm(t.word("target name")?)?)
        }
        rtype::MX | 18 | 36 => {
            out.extend(u16w(&mut t, "preference")?);
            out.extend(nm(t.word("exchange")?)?);
        }
        17 | 14 => {
            out.extend(nm(t.word("mailbox")?)?);
            out.extend(nm(t.word("name")?)?);
        }
        rtype::SOA => {
            out.extend(nm(t.word("primary name server")?)?);
            out.extend(nm(t.word("responsible mailbox")?)?);
            out.extend(num::<u32>(t.word("serial")?, "serial")?.to_be_bytes());
            for w in ["refresh", "retry", "expire", "minimum"] {
                let s = t.word(w)?;
                out.extend(
                    parse_ttl(s)
                        .ok_or_else(|| format!("bad {w} '{s}'"))?
                        .to_be_bytes(),
                );
            }
        }
        rtype::TXT | 99 => {
            if tokens.is_empty() {
                return Err("TXT needs at least one string".into());
            }
            for tok in t.rest() {
                char_string(tok, &mut out)?;
            }
        }
        rtype::HINFO => {
            char_string(t.next("CPU")?, &mut out)?;
            char_string(t.next("OS")?, &mut out)?;
        }
        rtype::SRV => {
            for w in ["priority", "weight", "port"] {
                out.extend(u16w(&mut t, w)?);
            }
            out.extend(nm(t.word("target")?)?);
        }
        35 => {
            out.extend(u16w(&mut t, "order")?);
            out.extend(u16w(&mut t, "preference")?);
            for w in ["flags", "services", "regexp"] {
                char_string(t.next(w)?, &mut out)?;
            }
            out.extend(nm(t.word("replacement")?)?);
        }
        257 => {
            out.push(u8w(&mut t, "flags")?);
            let tag = t.word("tag")?;
            if tag.is_empty() || tag.len() > 255 || !tag.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!("bad CAA tag '{tag}'"));
            }
            out.push(tag.len() as u8);
            out.extend_from_slice(tag.as_bytes());
            out.extend(unescape(t.next("value")?.text)?);
        }
        256 => {
            out.extend(u16w(&mut t, "priority")?);
            out.extend(u16w(&mut t, "weight")?);
            out.extend(unescape(t.next("target")?.text)?);
        }
        rtype::DS | 59 => {
            out.extend(u16w(&mut t, "key tag")?);
            out.push(u8w(&mut t, "algorithm")?);
            out.push(u8w(&mut t, "digest type")?);
            let rest = t.rest();
            if rest.is_empty() {
                return Err("missing digest".into());
            }
            for tok in rest {
                hex(tok.text, &mut out)?;
            }
        }
        48 | 60 => {
            out.extend(u16w(&mut t, "flags")?);
            out.push(u8w(&mut t, "protocol")?);
            out.push(u8w(&mut t, "algorithm")?);
            base64(t.rest(), &mut out)?;
        }
        44 | 52 | 53 => {
            let n = if rt == 44 { 2 } else { 3 };
            for _ in 0..n {
                out.push(u8w(&mut t, "field")?);
            }
            for tok in t.rest() {
                hex(tok.text, &mut out)?;
            }
        }
        _ => return fallback(rt, tokens, origin),
    }
    t.done()?;
    Ok(out)
}

/// Sanity checks of generic RDATA for known types (RFC 3597 §5: it must be valid).
fn check_wire(rt: u16, rd: &[u8]) -> R<()> {
    let ok = match rt {
        rtype::A => rd.len() == 4,
        rtype::AAAA => rd.len() == 16,
        rtype::NS | rtype::CNAME | rtype::DNAME | rtype::PTR => {
            name::wire_len(rd) == Some(rd.len())
        }
        rtype::MX => rd.len() > 2 && name::wire_len(&rd[2..]) == Some(rd.len() - 2),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "RFC 3597 data is not valid {} RDATA",
            rtype::to_text(rt)
        ))
    }
}

/// Other types: hickory-proto's text parser (names made absolute first for SVCB/HTTPS).
fn fallback(rt: u16, tokens: &[Token<'_>], origin: &[u8]) -> R<Vec<u8>> {
    use hickory_proto::rr::{RData, RecordType};
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
    let mut words: Vec<String> = tokens
        .iter()
        .map(|t| {
            if t.quoted {
                format!("\"{}\"", t.text)
            } else {
                t.text.to_string()
            }
        })
        .collect();
    if matches!(rt, 64 | 65) {
        if let Some(w) = words.get_mut(1) {
            if !w.ends_with('.') {
                *w = name::to_text(&name::from_text(w, Some(origin))?);
            }
        }
    }
    let rd = RData::try_from_str(RecordType::from(rt), &words.join(" ")).map_err(|e| {
        format!(
            "{} RDATA not supported here ({e}); use RFC 3597 syntax \\# len hex",
            rtype::to_text(rt)
        )
    })?;
    let mut out = Vec::new();
    let mut enc = BinEncoder::new(&mut out);
    rd.emit(&mut enc)
        .map_err(|e| format!("encoding {}: {e}", rtype::to_text(rt)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token<'_>> {
        s.split(' ')
            .map(|w| Token {
                text: w,
                quoted: false,
            })
            .collect()
    }

    #[test]
    fn common_types() {
        let o = name::from_text("ex.", None).unwrap();
        assert_eq!(
            from_tokens(rtype::MX, &toks("10 mail"), &o).unwrap(),
            b"\x00\x0a\x04mail\x02ex\x00"
        );
        assert_eq!(
            from_tokens(rtype::SRV, &toks("1 2 3 t."), &o).unwrap(),
            b"\x00\x01\x00\x02\x00\x03\x01t\x00"
        );
        assert_eq!(
            from_tokens(rtype::DS, &toks("1 8 2 ABCD ef"), &o).unwrap(),
            b"\x00\x01\x08\x02\xab\xcd\xef"
        );
        assert_eq!(
            from_tokens(257, &toks("0 issue ca.example"), &o).unwrap(),
            b"\x00\x05issueca.example"
        );
        assert!(from_tokens(rtype::A, &toks("1.2.3.4 5"), &o).is_err());
        assert!(from_tokens(rtype::A, &toks("\\# 3 010203"), &o).is_err());
        assert_eq!(
            from_tokens(rtype::A, &toks("\\# 4 01020304"), &o).unwrap(),
            vec![1, 2, 3, 4]
        );
    }
}
