//! RFC 1035 master-file parser (BIND syntax).
//!
//! Hand-written because hickory-proto 0.26's `serialize::txt::Parser` falls short of what
//! dnsd must accept and report: its errors carry no file or line number, it has no RFC 3597
//! generic syntax (`TYPE65534 \# 2 abcd`), it rejects `$INCLUDE file origin`, DNAME and
//! DNSKEY, and it returns a map that silently merges records. Here the lexer keeps line
//! numbers, every error is `file:line: reason`, and RDATA goes straight to wire bytes
//! (see [`crate::rdata`]), which is what the zone store keeps.
//!
//! Supported: `$ORIGIN`, `$TTL`, `$INCLUDE file [origin]`, `@`, relative names, blank owner
//! (= previous owner), TTL and class in either order, TTL units (`1h30m`), parentheses across
//! lines, quoted strings, `\X`/`\DDD` escapes, comments, RFC 3597 types and RDATA.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{name, rdata, rtype};

/// One token of a record line: a slice of the zone text (escapes kept, quotes removed), so
/// lexing a large file allocates nothing per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// Raw text, escapes kept (quotes removed).
    pub text: &'a str,
    /// Was it a quoted string?
    pub quoted: bool,
}

/// A record read from a zone file: owner and RDATA in wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name, wire format, case as written.
    pub name: Vec<u8>,
    /// Type.
    pub rtype: u16,
    /// Class (always IN after loading).
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA, wire format, names uncompressed.
    pub rdata: Vec<u8>,
}

/// Streaming lexer: one logical line (parentheses joined) at a time.
struct Lexer<'a> {
    text: &'a str,
    i: usize,
    line: usize,
}

type LexResult = std::result::Result<(usize, bool), (usize, String)>;

impl<'a> Lexer<'a> {
    /// The next non-empty logical line into `toks`: `(line of its first token, blank owner)`.
    fn next_entry(&mut self, toks: &mut Vec<Token<'a>>) -> Option<LexResult> {
        toks.clear();
        let text = self.text;
        let b = text.as_bytes();
        let mut depth = 0usize;
        let mut first_line = self.line;
        let mut blank_owner = false;
        let mut at_line_start = true;
        while self.i < b.len() {
            let c = b[self.i];
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    if depth == 0 {
                        if !toks.is_empty() {
                            return Some(Ok((first_line, blank_owner)));
                        }
                        at_line_start = true;
                        blank_owner = false;
                    }
                    continue;
                }
                b';' => {
                    while self.i < b.len() && b[self.i] != b'\n' {
                        self.i += 1;
                    }
                    continue;
                }
                b' ' | b'\t' | b'\r' => {
                    if at_line_start && depth == 0 && toks.is_empty() {
                        blank_owner = true;
                    }
                    at_line_start = false;
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            at_line_start = false;
            if toks.is_empty() && depth == 0 {
                first_line = self.line;
            }
            match c {
                b'(' => {
                    depth += 1;
                    self.i += 1;
                }
                b')' => {
                    if depth == 0 {
                        return Some(Err((self.line, "unbalanced ')'".into())));
                    }
                    depth -= 1;
                    self.i += 1;
                }
                b'"' => {
                    let start_line = self.line;
                    let start = self.i + 1;
                    let mut j = start;
                    loop {
                        match b.get(j) {
                            None => {
                                return Some(Err((start_line, "unterminated quoted string".into())))
                            }
                            Some(b'"') => break,
                            Some(b'\\') => {
                                if b.get(j + 1) == Some(&b'\n') {
                                    self.line += 1;
                                }
                                j += 2;
                            }
                            Some(b'\n') => {
                                self.line += 1;
                                j += 1;
                            }
                            Some(_) => j += 1,
                        }
                    }
                    let Some(t) = text.get(start..j) else {
                        return Some(Err((start_line, "invalid escape in quoted string".into())));
                    };
                    toks.push(Token {
                        text: t,
                        quoted: true,
                    });
                    self.i = j + 1;
                }
                _ => {
                    let start = self.i;
                    let mut j = start;
                    while let Some(&d) = b.get(j) {
                        match d {
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' => {
                                if b.get(j + 1) == Some(&b'\n') {
                                    self.line += 1;
                                }
                                j += 2;
                            }
                            _ => j += 1,
                        }
                    }
                    let j = j.min(b.len());
                    // Delimiters are ASCII; a backslash before a multi-byte character can
                    // leave `j` inside it, which `get` rejects instead of panicking.
                    let Some(t) = text.get(start..j) else {
                        return Some(Err((
                            self.line,
                            "backslash before a non-ASCII character".into(),
                        )));
                    };
                    toks.push(Token {
                        text: t,
                        quoted: false,
                    });
                    self.i = j;
                }
            }
        }
        if depth != 0 {
            return Some(Err((self.line, "unbalanced '(' at end of file".into())));
        }
        if toks.is_empty() {
            None
        } else {
            Some(Ok((first_line, blank_owner)))
        }
    }
}

/// Parse a TTL: plain seconds or BIND units (`1w2d3h4m5s`).
pub fn parse_ttl(s: &str) -> Option<u32> {
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(v) = s.parse::<u32>() {
        return Some(v);
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(d as u64)?);
        } else {
            let mult = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 604800,
                _ => return None,
            };
            total = total.checked_add(num.take()?.checked_mul(mult)?)?;
        }
    }
    if let Some(n) = num {
        total = total.checked_add(n)?;
    }
    u32::try_from(total).ok()
}

struct Ctx {
    origin: Vec<u8>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Vec<u8>>,
}

/// Parse a zone file from disk; `origin` is the zone name (initial `$ORIGIN`).
pub fn parse_file(path: &Path, origin: &[u8]) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path, origin)
}

/// Parse zone text; `path` names it in errors and anchors relative `$INCLUDE`s.
pub fn parse_str(text: &str, path: &Path, origin: &[u8]) -> Result<Vec<Record>> {
    let mut ctx = Ctx {
        origin: origin.to_vec(),
        default_ttl: None,
        last_ttl: None,
        last_owner: None,
    };
    let mut out = Vec::new();
    parse_into(text, path, &mut ctx, &mut out, 0)?;
    Ok(out)
}

fn parse_into(
    text: &str,
    path: &Path,
    ctx: &mut Ctx,
    out: &mut Vec<Record>,
    depth: usize,
) -> Result<()> {
    let err = |line: usize, reason: String| Error::ZoneSyntax {
        file: path.to_path_buf(),
        line,
        reason,
    };
    let mut lexer = Lexer {
        text,
        i: 0,
        line: 1,
    };
    let mut toks: Vec<Token> = Vec::with_capacity(16);
    while let Some(entry) = lexer.next_entry(&mut toks) {
        let (line, blank_owner) = entry.map_err(|(l, r)| err(l, r))?;
        let first = toks[0];
        if !blank_owner && !first.quoted && first.text.starts_with('$') {
            let arg = |k: usize| toks.get(k).map(|t| t.text);
            match first.text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let o = arg(1).ok_or_else(|| err(line, "$ORIGIN without a name".into()))?;
                    ctx.origin = name::from_text(o, Some(&ctx.origin)).map_err(|r| err(line, r))?;
                }
                "$TTL" => {
                    let t = arg(1).ok_or_else(|| err(line, "$TTL without a value".into()))?;
                    ctx.default_ttl =
                        Some(parse_ttl(t).ok_or_else(|| err(line, format!("bad TTL '{t}'")))?);
                }
                "$INCLUDE" => {
                    if depth >= 16 {
                        return Err(err(line, "$INCLUDE nested more than 16 deep".into()));
                    }
                    let f = arg(1).ok_or_else(|| err(line, "$INCLUDE without a file".into()))?;
                    let inc: PathBuf = match Path::new(f) {
                        p if p.is_absolute() => p.to_path_buf(),
                        p => path
                            .parent()
                            .map(|d| d.join(p))
                            .unwrap_or_else(|| p.to_path_buf()),
                    };
                    let saved_origin = ctx.origin.clone();
                    let saved_owner = ctx.last_owner.clone();
                    if let Some(o) = arg(2) {
                        ctx.origin =
                            name::from_text(o, Some(&ctx.origin)).map_err(|r| err(line, r))?;
                    }
                    let body = std::fs::read_to_string(&inc)
                        .map_err(|e| err(line, format!("$INCLUDE {}: {e}", inc.display())))?;
                    parse_into(&body, &inc, ctx, out, depth + 1)?;
                    // RFC 1035 §5.1: an $INCLUDE never changes the including file's origin.
                    ctx.origin = saved_origin;
                    ctx.last_owner = saved_owner;
                }
                other => return Err(err(line, format!("unsupported directive {other}"))),
            }
            continue;
        }
        let mut k = 0;
        let owner = if blank_owner {
            ctx.last_owner
                .clone()
                .ok_or_else(|| err(line, "record without an owner name".into()))?
        } else {
            k = 1;
            name::from_text(first.text, Some(&ctx.origin)).map_err(|r| err(line, r))?
        };
        let mut ttl = None;
        let mut class = None;
        let rt = loop {
            let t = toks
                .get(k)
                .ok_or_else(|| err(line, "missing record type".into()))?;
            k += 1;
            if ttl.is_none() && !t.quoted {
                if let Some(v) = parse_ttl(t.text) {
                    ttl = Some(v);
                    continue;
                }
            }
            if class.is_none() {
                if let Some(c) = rtype::class_from_text(t.text) {
                    class = Some(c);
                    continue;
                }
            }
            break rtype::from_text(t.text)
                .ok_or_else(|| err(line, format!("unknown record type '{}'", t.text)))?;
        };
        if let Some(c) = class {
            if c != rtype::CLASS_IN {
                return Err(err(line, format!("class {c} not supported (only IN)")));
            }
        }
        if matches!(
            rt,
            rtype::OPT | rtype::TSIG | rtype::AXFR | rtype::IXFR | rtype::ANY
        ) {
            return Err(err(
                line,
                format!(
                    "{} is a meta type, not allowed in a zone",
                    rtype::to_text(rt)
                ),
            ));
        }
        let rdata = rdata::from_tokens(rt, &toks[k..], &ctx.origin).map_err(|r| err(line, r))?;
        let ttl = match ttl {
            Some(t) => {
                ctx.last_ttl = Some(t);
                t
            }
            None => match (ctx.default_ttl, ctx.last_ttl, rt) {
                (Some(t), _, _) => t,
                (None, Some(t), _) => t,
                // BIND: without $TTL the SOA minimum is the default TTL.
                (None, None, rtype::SOA) if rdata.len() >= 4 => {
                    let m = &rdata[rdata.len() - 4..];
                    u32::from_be_bytes([m[0], m[1], m[2], m[3]])
                }
                _ => return Err(err(line, "no TTL given and no $TTL in effect".into())),
            },
        };
        ctx.last_owner = Some(owner.clone());
        out.push(Record {
            name: owner,
            rtype: rt,
            class: rtype::CLASS_IN,
            ttl,
            rdata,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Vec<u8> {
        name::from_text("example.com.", None).unwrap()
    }

    #[test]
    fn parses_bind_syntax() {
        let z = "$TTL 1h\n@ IN SOA ns1 hostmaster (\n 1 ; serial\n 7200 3600 1w 300 )\n  NS ns1\nns1 60 IN A 192.0.2.1\nwww IN 30 AAAA 2001:db8::1\n\
                 txt TXT \"a b\" \"c\\\"d\" plain\nunk TYPE65534 \\# 3 abcdef\n$ORIGIN sub.example.com.\nx CNAME @\n";
        let r = parse_str(z, Path::new("t.zone"), &origin()).unwrap();
        assert_eq!(r.len(), 7);
        assert_eq!(r[0].rtype, rtype::SOA);
        assert_eq!(r[0].ttl, 3600);
        assert_eq!(r[1].name, origin());
        assert_eq!(r[2].ttl, 60);
        assert_eq!(r[2].rdata, vec![192, 0, 2, 1]);
        assert_eq!(r[3].ttl, 30);
        assert_eq!(r[4].rdata, b"\x03a b\x03c\"d\x05plain");
        assert_eq!(r[5].rtype, 65534);
        assert_eq!(r[5].rdata, vec![0xab, 0xcd, 0xef]);
        assert_eq!(
            r[6].name,
            name::from_text("x.sub.example.com.", None).unwrap()
        );
        assert_eq!(
            r[6].rdata,
            name::from_text("sub.example.com.", None).unwrap()
        );
    }

    #[test]
    fn errors_have_file_and_line() {
        let z = "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n\nbad A 300.1.1.1\n";
        let e = parse_str(z, Path::new("z.db"), &origin())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("z.db:4:"), "{e}");
        let e = parse_str(
            "$TTL 60\n@ SOA ( ns1 h 1 2 3 4 5\n",
            Path::new("z.db"),
            &origin(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unbalanced"), "{e}");
        let e = parse_str("@ 60 BOGUS x\n", Path::new("z.db"), &origin()).unwrap_err();
        assert!(
            e.to_string().starts_with("z.db:1: unknown record type"),
            "{e}"
        );
    }

    #[test]
    fn include_with_origin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("inc.zone"), "h A 192.0.2.9\n").unwrap();
        let main = dir.path().join("main.zone");
        std::fs::write(&main, "$TTL 5\n$INCLUDE inc.zone sub\nh A 192.0.2.8\n").unwrap();
        let r = parse_file(&main, &origin()).unwrap();
        assert_eq!(
            r[0].name,
            name::from_text("h.sub.example.com.", None).unwrap()
        );
        assert_eq!(r[1].name, name::from_text("h.example.com.", None).unwrap());
        std::fs::write(dir.path().join("inc.zone"), "h A nope\n").unwrap();
        let e = parse_file(&main, &origin()).unwrap_err().to_string();
        assert!(e.contains("inc.zone:1:"), "{e}");
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1w"), Some(604800));
        assert_eq!(parse_ttl("x"), None);
    }
}
