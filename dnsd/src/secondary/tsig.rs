//! TSIG (RFC 8945): keys in `tsig-keygen` format, signing and verifying requests, responses
//! and multi-message transfers.
//!
//! Hand-written on the `hmac` + `sha2` crates instead of hickory's `TSigner` because
//! hickory's verifier expects every message of a multi-message transfer to carry a TSIG,
//! while RFC 8945 §5.3.1 lets a server sign only every few messages (up to 99 unsigned in
//! between, the unsigned ones covered by the next MAC). dnsd also needs the server side —
//! verifying a NOTIFY or transfer request and signing every message of its own AXFR/IXFR
//! answers, chained through the prior MAC — which `TSigner` does not offer.
//! hmac-sha256 is the default; hmac-sha224/384/512 are accepted.

use hmac::{Hmac, Mac};
use sha2::{Sha224, Sha256, Sha384, Sha512};

use super::msg::{self, TsigRr};
use crate::name;
use crate::rtype;

/// Fudge we sign with and accept (BIND uses 300 s).
pub const FUDGE: u16 = 300;
/// TSIG error BADSIG.
pub const BADSIG: u16 = 16;
/// TSIG error BADKEY.
pub const BADKEY: u16 = 17;
/// TSIG error BADTIME.
pub const BADTIME: u16 = 18;
/// RFC 8945 §5.3.1: a TSIG at least every 100 messages.
const MAX_UNSIGNED: usize = 99;

/// A TSIG algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// hmac-sha224
    Sha224,
    /// hmac-sha256 (default)
    Sha256,
    /// hmac-sha384
    Sha384,
    /// hmac-sha512
    Sha512,
}

impl Alg {
    /// By BIND name (`hmac-sha256`) or wire name text (`hmac-sha256.`).
    pub fn from_name(s: &str) -> Option<Alg> {
        match s.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha224" => Some(Alg::Sha224),
            "hmac-sha256" => Some(Alg::Sha256),
            "hmac-sha384" => Some(Alg::Sha384),
            "hmac-sha512" => Some(Alg::Sha512),
            _ => None,
        }
    }
    /// The name in presentation form.
    pub fn text(self) -> &'static str {
        match self {
            Alg::Sha224 => "hmac-sha224",
            Alg::Sha256 => "hmac-sha256",
            Alg::Sha384 => "hmac-sha384",
            Alg::Sha512 => "hmac-sha512",
        }
    }
    fn wire(self) -> Vec<u8> {
        name::from_text(&format!("{}.", self.text()), None).unwrap_or_default()
    }
    fn mac(self, secret: &[u8], data: &[&[u8]]) -> Vec<u8> {
        macro_rules! run {
            ($h:ty) => {{
                // HMAC accepts keys of any length, so this cannot fail.
                match <Hmac<$h> as Mac>::new_from_slice(secret) {
                    Ok(mut m) => {
                        for d in data {
                            m.update(d);
                        }
                        m.finalize().into_bytes().to_vec()
                    }
                    Err(_) => Vec::new(),
                }
            }};
        }
        match self {
            Alg::Sha224 => run!(Sha224),
            Alg::Sha256 => run!(Sha256),
            Alg::Sha384 => run!(Sha384),
            Alg::Sha512 => run!(Sha512),
        }
    }
}

/// A shared-secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// Key name, wire format, lower-cased.
    pub name: Vec<u8>,
    /// Algorithm.
    pub alg: Alg,
    /// Secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "Key({} {})", name::to_text(&self.name), self.alg.text())
    }
}

impl Key {
    /// A key from its parts (name in presentation form, secret in base64).
    pub fn new(name_text: &str, alg: &str, secret_b64: &str) -> Result<Key, String> {
        use base64::Engine as _;
        let alg = Alg::from_name(alg).ok_or_else(|| format!("unsupported algorithm '{alg}'"))?;
        let n = name::from_text(name_text, Some(name::ROOT))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64.trim())
            .map_err(|e| format!("bad secret for key '{name_text}': {e}"))?;
        Ok(Key {
            name: name::lower(&n).into_vec(),
            alg,
            secret,
        })
    }

    /// Key name in presentation form.
    pub fn name_text(&self) -> String {
        name::to_text(&self.name)
    }

    fn vars(&self, time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(64 + other.len());
        v.extend_from_slice(&self.name);
        v.extend_from_slice(&msg::CLASS_ANY.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&self.alg.wire());
        v.extend_from_slice(&time.to_be_bytes()[2..]);
        v.extend_from_slice(&fudge.to_be_bytes());
        v.extend_from_slice(&error.to_be_bytes());
        v.extend_from_slice(&(other.len() as u16).to_be_bytes());
        v.extend_from_slice(other);
        v
    }

    fn append(&self, m: &mut Vec<u8>, time: u64, mac: &[u8], error: u16) {
        let id = [m[0], m[1]];
        let mut rd = self.alg.wire();
        rd.extend_from_slice(&time.to_be_bytes()[2..]);
        rd.extend_from_slice(&FUDGE.to_be_bytes());
        rd.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        rd.extend_from_slice(mac);
        rd.extend_from_slice(&id);
        rd.extend_from_slice(&error.to_be_bytes());
        rd.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&self.name);
        m.extend_from_slice(&rtype::TSIG.to_be_bytes());
        m.extend_from_slice(&msg::CLASS_ANY.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        m.extend_from_slice(&rd);
        msg::bump(m, 3, 1);
    }

    /// Sign a request, or the first message of a response to a request whose MAC was
    /// `request_mac`. Appends the TSIG RR and returns the MAC.
    pub fn sign(&self, m: &mut Vec<u8>, request_mac: Option<&[u8]>) -> Vec<u8> {
        let time = now();
        let rm = request_mac.unwrap_or_default();
        let len = (rm.len() as u16).to_be_bytes();
        let pre: &[u8] = if request_mac.is_some() { &len } else { &[] };
        let mac = self
            .alg
            .mac(&self.secret, &[pre, rm, m, &self.vars(time, FUDGE, 0, &[])]);
        self.append(m, time, &mac, 0);
        mac
    }

    /// Sign a later message of a multi-message response (RFC 8945 §5.3.1: prior MAC,
    /// message, timers only). Returns the MAC to chain into the next one.
    pub fn sign_next(&self, m: &mut Vec<u8>, prior: &[u8]) -> Vec<u8> {
        let time = now();
        let mut timers = time.to_be_bytes()[2..].to_vec();
        timers.extend_from_slice(&FUDGE.to_be_bytes());
        let len = (prior.len() as u16).to_be_bytes();
        let mac = self.alg.mac(&self.secret, &[&len, prior, m, &timers]);
        self.append(m, time, &mac, 0);
        mac
    }

    /// Append an unsigned TSIG carrying an error (BADKEY/BADSIG answers, RFC 8945 §5.2).
    pub fn append_error(&self, m: &mut Vec<u8>, error: u16) {
        self.append(m, now(), &[], error);
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The bytes a MAC covers: the message up to its TSIG, with the original ID and ARCOUNT
/// less one.
fn stripped(m: &[u8], t: &TsigRr) -> Vec<u8> {
    let mut s = m[..t.start].to_vec();
    s[..2].copy_from_slice(&t.orig_id.to_be_bytes());
    msg::bump(&mut s, 3, u16::MAX);
    s
}

fn mac_ok(key: &Key, data: &[&[u8]], mac: &[u8]) -> bool {
    let want = key.alg.mac(&key.secret, data);
    // Truncated MACs (RFC 8945 §5.2.2.1) are not produced by BIND; require the full one.
    want.len() == mac.len() && want.iter().zip(mac).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

fn time_ok(t: &TsigRr) -> bool {
    now().abs_diff(t.time) <= t.fudge as u64
}

/// Why a request's TSIG was not accepted (the TSIG error code to answer with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Unknown key or algorithm.
    BadKey,
    /// MAC does not verify.
    BadSig,
    /// Clock skew beyond the fudge.
    BadTime,
}

impl Reject {
    /// The TSIG error code.
    pub fn code(self) -> u16 {
        match self {
            Reject::BadKey => BADKEY,
            Reject::BadSig => BADSIG,
            Reject::BadTime => BADTIME,
        }
    }
}

/// Verify a signed request against `keys`; returns the key and the request MAC (needed to
/// sign the response).
pub fn verify_request<'k>(
    m: &[u8],
    t: &TsigRr,
    keys: &'k [std::sync::Arc<Key>],
) -> Result<(&'k std::sync::Arc<Key>, Vec<u8>), Reject> {
    let key = keys
        .iter()
        .find(|k| k.name == t.key && k.alg.wire() == t.alg)
        .ok_or(Reject::BadKey)?;
    let data = stripped(m, t);
    if !mac_ok(
        key,
        &[&data, &key.vars(t.time, t.fudge, t.error, &t.other)],
        &t.mac,
    ) {
        return Err(Reject::BadSig);
    }
    if !time_ok(t) {
        return Err(Reject::BadTime);
    }
    Ok((key, t.mac.clone()))
}

fn error_text(code: u16) -> String {
    match code {
        BADSIG => "BADSIG".into(),
        BADKEY => "BADKEY".into(),
        BADTIME => "BADTIME".into(),
        c => format!("TSIG error {c}"),
    }
}

/// Verifies the responses to one signed request, message by message (RFC 8945 §5.3.1:
/// the first and last must be signed, at most 99 unsigned ones in a row, each MAC covering
/// the prior MAC and every message since).
pub struct StreamVerifier<'k> {
    key: &'k Key,
    prior: Vec<u8>,
    pending: Vec<u8>,
    unsigned: usize,
    first: bool,
}

impl<'k> StreamVerifier<'k> {
    /// For the responses to a request signed with `key` whose MAC was `request_mac`.
    pub fn new(key: &'k Key, request_mac: Vec<u8>) -> Self {
        Self {
            key,
            prior: request_mac,
            pending: Vec::new(),
            unsigned: 0,
            first: true,
        }
    }

    /// Check one message (`t` is its parsed TSIG, if any).
    pub fn next(&mut self, m: &[u8], t: Option<&TsigRr>) -> Result<(), String> {
        let Some(t) = t else {
            if self.first {
                return Err("response is not signed (TSIG expected)".into());
            }
            self.unsigned += 1;
            if self.unsigned > MAX_UNSIGNED {
                return Err("more than 99 unsigned messages in a row".into());
            }
            self.pending.extend_from_slice(m);
            return Ok(());
        };
        if t.error != 0 {
            return Err(format!(
                "primary answered {} for key {}",
                error_text(t.error),
                self.key.name_text()
            ));
        }
        if t.key != self.key.name || t.alg != self.key.alg.wire() {
            return Err(format!(
                "response signed with another key ({})",
                name::to_text(&t.key)
            ));
        }
        let data = stripped(m, t);
        let len = (self.prior.len() as u16).to_be_bytes();
        let ok = if self.first {
            mac_ok(
                self.key,
                &[
                    &len,
                    &self.prior,
                    &data,
                    &self.key.vars(t.time, t.fudge, 0, &t.other),
                ],
                &t.mac,
            )
        } else {
            let mut timers = t.time.to_be_bytes()[2..].to_vec();
            timers.extend_from_slice(&t.fudge.to_be_bytes());
            mac_ok(
                self.key,
                &[&len, &self.prior, &self.pending, &data, &timers],
                &t.mac,
            )
        };
        if !ok {
            return Err(format!(
                "bad TSIG signature on the response (BADSIG, key {})",
                self.key.name_text()
            ));
        }
        if !time_ok(t) {
            return Err("TSIG time outside the fudge (BADTIME): check the clocks".into());
        }
        self.prior = t.mac.clone();
        self.pending.clear();
        self.unsigned = 0;
        self.first = false;
        Ok(())
    }

    /// The stream ended: the last message must have been signed.
    pub fn finish(&self) -> Result<(), String> {
        if self.first || self.unsigned > 0 {
            return Err("last message of the response is not signed".into());
        }
        Ok(())
    }
}

/// Parse `key "name" { algorithm A; secret "S"; };` statements (`tsig-keygen` output;
/// comments with `#`, `//` and `/* */` allowed).
pub fn parse_keys(text: &str) -> Result<Vec<Key>, String> {
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    let mut cur = String::new();
    let flush = |cur: &mut String, toks: &mut Vec<String>| {
        if !cur.is_empty() {
            toks.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut cur, &mut toks);
                let s: String = chars.by_ref().take_while(|&c| c != '"').collect();
                toks.push(s);
            }
            '#' => {
                flush(&mut cur, &mut toks);
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                flush(&mut cur, &mut toks);
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                flush(&mut cur, &mut toks);
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '{' | '}' | ';' => {
                flush(&mut cur, &mut toks);
                toks.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut cur, &mut toks),
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut toks);
    let mut keys = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] != "key" {
            i += 1;
            continue;
        }
        let name = toks.get(i + 1).ok_or("key without a name")?.clone();
        if toks.get(i + 2).map(String::as_str) != Some("{") {
            return Err(format!("key '{name}': expected '{{'"));
        }
        i += 3;
        let (mut alg, mut secret) = (None, None);
        while i < toks.len() && toks[i] != "}" {
            match toks[i].as_str() {
                "algorithm" => alg = toks.get(i + 1).cloned(),
                "secret" => secret = toks.get(i + 1).cloned(),
                _ => {}
            }
            i += 1;
        }
        let alg = alg.ok_or_else(|| format!("key '{name}': no algorithm"))?;
        let secret = secret.ok_or_else(|| format!("key '{name}': no secret"))?;
        keys.push(Key::new(&name, &alg, &secret)?);
        i += 1;
    }
    if keys.is_empty() {
        return Err("no key statement found".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const KEYFILE: &str = "key \"bindy-tsig\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0\";\n};\n";

    #[test]
    fn parses_tsig_keygen_output() {
        let k = parse_keys(KEYFILE).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].name_text(), "bindy-tsig.");
        assert_eq!(k[0].alg, Alg::Sha256);
        assert_eq!(k[0].secret, b"secretsecretsecret");
        assert!(parse_keys("key x { algorithm hmac-md4; secret \"YQ==\"; };").is_err());
        assert!(parse_keys("# nothing\n").is_err());
    }

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in ["hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"] {
            let key = Arc::new(Key::new("k", alg, "c2VjcmV0").unwrap());
            let mut m = msg::query(1, 0, false, b"\x01x\x00", rtype::SOA);
            let mac = key.sign(&mut m, None);
            assert_eq!(mac.len(), key.alg.mac(b"", &[]).len(), "{alg}");
            let t = msg::parse(&m).unwrap().tsig.unwrap();
            assert!(
                verify_request(&m, &t, std::slice::from_ref(&key)).is_ok(),
                "{alg}"
            );
            let other = Arc::new(Key::new("k", "hmac-sha256", "c2VjcmV0").unwrap());
            if alg != "hmac-sha256" {
                assert_eq!(
                    verify_request(&m, &t, &[other]).err(),
                    Some(Reject::BadKey),
                    "{alg}"
                );
            }
        }
    }

    #[test]
    fn request_and_multi_message_response_round_trip() {
        let key = Arc::new(parse_keys(KEYFILE).unwrap().remove(0));
        let keys = vec![key.clone()];
        let mut req = msg::query(9, 0, false, b"\x01x\x00", rtype::AXFR);
        key.sign(&mut req, None);
        let t = msg::parse(&req).unwrap().tsig.unwrap();
        let (_, req_mac) = verify_request(&req, &t, &keys).unwrap();
        // Tampering breaks the signature.
        let mut bad = req.clone();
        bad[13] = b'y';
        let tb = msg::parse(&bad).unwrap().tsig.unwrap();
        assert_eq!(verify_request(&bad, &tb, &keys).err(), Some(Reject::BadSig));
        // Three responses: signed, unsigned, signed (RFC 8945 §5.3.1).
        let mut r1 = msg::query(9, 0, false, b"\x01x\x00", rtype::AXFR);
        let m1 = key.sign(&mut r1, Some(&req_mac));
        let r2 = msg::query(9, 0, false, b"\x01y\x00", rtype::AXFR);
        let mut r3 = msg::query(9, 0, false, b"\x01z\x00", rtype::AXFR);
        // The signer covers r2 (unsigned) and r3 under one MAC.
        let time = now();
        let mut timers = time.to_be_bytes()[2..].to_vec();
        timers.extend_from_slice(&FUDGE.to_be_bytes());
        let len = (m1.len() as u16).to_be_bytes();
        let mac = key.alg.mac(&key.secret, &[&len, &m1, &r2, &r3, &timers]);
        key.append(&mut r3, time, &mac, 0);
        let mut v = StreamVerifier::new(&key, req_mac.clone());
        v.next(&r1, msg::parse(&r1).unwrap().tsig.as_ref()).unwrap();
        assert!(v.finish().is_ok());
        v.next(&r2, None).unwrap();
        assert!(v.finish().is_err(), "last message unsigned");
        v.next(&r3, msg::parse(&r3).unwrap().tsig.as_ref()).unwrap();
        v.finish().unwrap();
        // A response signed with another secret fails.
        let other = Key::new("bindy-tsig", "hmac-sha256", "b3RoZXI=").unwrap();
        let mut r = msg::query(9, 0, false, b"\x01x\x00", rtype::AXFR);
        other.sign(&mut r, Some(&req_mac));
        let mut v = StreamVerifier::new(&key, req_mac);
        let e = v
            .next(&r, msg::parse(&r).unwrap().tsig.as_ref())
            .unwrap_err();
        assert!(e.contains("BADSIG"), "{e}");
    }
}
