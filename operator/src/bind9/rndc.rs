//! Async client for BIND's control channel (the protocol `rndc` speaks), HMAC-authenticated.
//!
//! Why hand-written rather than the `rndc` crate (evaluated at 0.1.7, which is what crates.io
//! serves today): that crate is sound on the wire (it verifies the server's signature and
//! bounds lengths) but it is blocking `std::net` code (a reconciler would need
//! `spawn_blocking` per command), it pins hmac 0.13 / sha2 0.11 / rand 0.10 / base64 0.23 while
//! this workspace builds hmac 0.12 / sha2 0.10 / rand 0.9 / base64 0.22 (two copies of the
//! crypto stack), it collapses named's numeric result to a bool, and it has one author. The
//! protocol is small — about 150 lines here — so owning it costs less than those trade-offs:
//!
//! ```text
//! message  = u32 length, u32 version (1), table body
//! value    = u8 type (1 binary, 2 table, 3 list), u32 length, payload
//! table    = { u8 key length, key, value }*
//! body     = _auth { hsha: alg(163 = hmac-sha256) + base64(HMAC) padded to 88 bytes }
//!            _ctrl { _ser, _tim, _exp, [_nonce] }   _data { type: "addzone ..." }
//! ```
//! The HMAC covers the encoded body after the `_auth` entry. A session is: a `null` command to
//! obtain the server's `_nonce`, then the real command carrying that nonce, on one TCP
//! connection. Replies are verified with the same key; `_data.result` ≠ 0 is an error whose
//! text is named's own message.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{TsigAlgorithm, TsigKey};
use crate::error::{Error, Result};

const MAX_MESSAGE: usize = 1 << 20;
const MAX_DEPTH: usize = 16;
const TYPE_BINARY: u8 = 1;
const TYPE_TABLE: u8 = 2;
const TYPE_LIST: u8 = 3;

/// A control-channel value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Bin(Vec<u8>),
    Table(Vec<(String, Value)>),
    List(Vec<Value>),
}

impl Value {
    fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Table(t) => t.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn text(&self) -> Option<String> {
        match self {
            Value::Bin(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

fn bin(s: impl Into<Vec<u8>>) -> Value {
    Value::Bin(s.into())
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    let (ty, payload) = match v {
        Value::Bin(b) => (TYPE_BINARY, b.clone()),
        Value::Table(t) => (TYPE_TABLE, encode_table(t)),
        Value::List(l) => {
            let mut p = Vec::new();
            for x in l {
                encode_value(x, &mut p);
            }
            (TYPE_LIST, p)
        }
    };
    out.push(ty);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
}

fn encode_table(t: &[(String, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in t {
        out.push(k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        encode_value(v, &mut out);
    }
    out
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Some(head)
}

fn decode_table(mut buf: &[u8], depth: usize) -> Option<Vec<(String, Value)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let klen = take(&mut buf, 1)?[0] as usize;
        let key = String::from_utf8_lossy(take(&mut buf, klen)?).into_owned();
        out.push((key, decode_value(&mut buf, depth)?));
    }
    Some(out)
}

fn decode_value(buf: &mut &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let ty = take(buf, 1)?[0];
    let len = u32::from_be_bytes(take(buf, 4)?.try_into().ok()?) as usize;
    let mut payload = take(buf, len)?;
    match ty {
        0 | TYPE_BINARY => Some(Value::Bin(payload.to_vec())),
        TYPE_TABLE => decode_table(payload, depth + 1).map(Value::Table),
        TYPE_LIST => {
            let mut l = Vec::new();
            while !payload.is_empty() {
                l.push(decode_value(&mut payload, depth + 1)?);
            }
            Some(Value::List(l))
        }
        _ => None,
    }
}

/// The algorithm byte and the HMAC for the control channel (md5/sha1 are not offered).
fn mac(alg: TsigAlgorithm, secret: &[u8], data: &[u8]) -> Result<(u8, Vec<u8>)> {
    macro_rules! hmac {
        ($h:ty) => {{
            let mut m = <Hmac<$h> as Mac>::new_from_slice(secret).map_err(|e| Error::BadKey {
                name: "rndc".into(),
                reason: e.to_string(),
            })?;
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Ok(match alg {
        TsigAlgorithm::HmacSha256 => (163, hmac!(Sha256)),
        TsigAlgorithm::HmacSha384 => (164, hmac!(Sha384)),
        TsigAlgorithm::HmacSha512 => (165, hmac!(Sha512)),
    })
}

fn auth_value(alg: TsigAlgorithm, secret: &[u8], signed: &[u8]) -> Result<Value> {
    let (code, digest) = mac(alg, secret, signed)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let mut field = vec![0u8; 89];
    field[0] = code;
    field[1..1 + b64.len()].copy_from_slice(b64.as_bytes());
    Ok(Value::Table(vec![("hsha".into(), Value::Bin(field))]))
}

/// Result of a successful command: named's `text` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
}

/// rndc client for one server.
#[derive(Clone, Debug)]
pub struct RndcClient {
    server: SocketAddr,
    key: TsigKey,
    timeout: Duration,
}

impl RndcClient {
    pub fn new(server: SocketAddr, key: TsigKey) -> Self {
        RndcClient {
            server,
            key,
            timeout: Duration::from_secs(10),
        }
    }

    /// Deadline for a whole command (connect, nonce exchange, command, reply).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `rndc addzone NAME BODY`: BODY as from [`super::namedconf::ZoneConfig::body`].
    pub async fn addzone(&self, zone: &str, body: &str) -> Result<Reply> {
        self.command(&format!("addzone {} {body};", zone_arg(zone)?))
            .await
    }
    /// `rndc modzone NAME BODY`.
    pub async fn modzone(&self, zone: &str, body: &str) -> Result<Reply> {
        self.command(&format!("modzone {} {body};", zone_arg(zone)?))
            .await
    }
    /// `rndc delzone [-clean] NAME`. `clean` also removes the zone's file and journal: never
    /// use it for zones loaded from the shared bootstrap file (it would delete that file).
    pub async fn delzone(&self, zone: &str, clean: bool) -> Result<Reply> {
        let flag = if clean { "-clean " } else { "" };
        self.command(&format!("delzone {flag}{}", zone_arg(zone)?))
            .await
    }
    /// `rndc reload [NAME]`.
    pub async fn reload(&self, zone: Option<&str>) -> Result<Reply> {
        match zone {
            Some(z) => self.command(&format!("reload {}", zone_arg(z)?)).await,
            None => self.command("reload").await,
        }
    }
    /// `rndc retransfer NAME` (secondaries).
    pub async fn retransfer(&self, zone: &str) -> Result<Reply> {
        self.command(&format!("retransfer {}", zone_arg(zone)?))
            .await
    }
    /// `rndc notify NAME` (primaries: resend NOTIFY).
    pub async fn notify(&self, zone: &str) -> Result<Reply> {
        self.command(&format!("notify {}", zone_arg(zone)?)).await
    }
    /// `rndc zonestatus NAME`.
    pub async fn zonestatus(&self, zone: &str) -> Result<Reply> {
        self.command(&format!("zonestatus {}", zone_arg(zone)?))
            .await
    }
    /// `rndc status`.
    pub async fn status(&self) -> Result<Reply> {
        self.command("status").await
    }

    /// Runs one command line, as `rndc` would send it.
    pub async fn command(&self, line: &str) -> Result<Reply> {
        let fut = self.session(line);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                server: self.server,
                operation: "rndc",
                after: self.timeout,
            }),
        }
    }

    async fn session(&self, line: &str) -> Result<Reply> {
        let server = self.server;
        let io = |source| Error::Io {
            server,
            operation: "rndc",
            source,
        };
        let secret = self.key.secret_bytes()?;
        let mut stream = TcpStream::connect(server).await.map_err(io)?;
        let serial: u32 = rand::random();
        self.send(&mut stream, &secret, "null", serial, None)
            .await?;
        let first = self.receive(&mut stream, &secret).await?;
        let nonce = first
            .get("_ctrl")
            .and_then(|c| c.get("_nonce"))
            .and_then(Value::text)
            .ok_or_else(|| self.bad("no _nonce in the server's first reply"))?;
        self.send(
            &mut stream,
            &secret,
            line,
            serial.wrapping_add(1),
            Some(&nonce),
        )
        .await?;
        let reply = self.receive(&mut stream, &secret).await?;
        let data = reply
            .get("_data")
            .ok_or_else(|| self.bad("reply has no _data"))?;
        let result: u32 = data
            .get("result")
            .and_then(Value::text)
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let text = data.get("text").and_then(Value::text).unwrap_or_default();
        let err = data.get("err").and_then(Value::text);
        if result != 0 || err.is_some() {
            let msg = match (err, text.is_empty()) {
                (Some(e), true) => e,
                (Some(e), false) => format!("{e}: {text}"),
                (None, _) => text,
            };
            return Err(Error::RndcCommand {
                server,
                command: line.split_whitespace().next().unwrap_or("").to_string(),
                result,
                text: msg,
            });
        }
        Ok(Reply { text })
    }

    async fn send(
        &self,
        stream: &mut TcpStream,
        secret: &[u8],
        line: &str,
        serial: u32,
        nonce: Option<&str>,
    ) -> Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut ctrl = vec![
            ("_ser".to_string(), bin(serial.to_string())),
            ("_tim".to_string(), bin(now.to_string())),
            ("_exp".to_string(), bin((now + 60).to_string())),
        ];
        if let Some(n) = nonce {
            ctrl.push(("_nonce".into(), bin(n)));
        }
        let body = vec![
            ("_ctrl".to_string(), Value::Table(ctrl)),
            (
                "_data".to_string(),
                Value::Table(vec![("type".into(), bin(line))]),
            ),
        ];
        let signed = encode_table(&body);
        let auth = encode_table(&[(
            "_auth".into(),
            auth_value(self.key.algorithm, secret, &signed)?,
        )]);
        let len = 4 + auth.len() + signed.len();
        let mut msg = Vec::with_capacity(4 + len);
        msg.extend_from_slice(&(len as u32).to_be_bytes());
        msg.extend_from_slice(&1u32.to_be_bytes());
        msg.extend_from_slice(&auth);
        msg.extend_from_slice(&signed);
        stream.write_all(&msg).await.map_err(|source| Error::Io {
            server: self.server,
            operation: "rndc",
            source,
        })
    }

    async fn receive(&self, stream: &mut TcpStream, secret: &[u8]) -> Result<Value> {
        let io = |source| Error::Io {
            server: self.server,
            operation: "rndc",
            source,
        };
        let len = stream.read_u32().await.map_err(io)? as usize;
        if !(4..=MAX_MESSAGE).contains(&len) {
            return Err(self.bad(&format!("message length {len}")));
        }
        let mut buf = vec![0u8; len];
        stream.read_exact(&mut buf).await.map_err(io)?;
        let mut rest = &buf[..];
        let version = take(&mut rest, 4).map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        if version != Some(1) {
            return Err(self.bad("unknown protocol version"));
        }
        // First entry must be _auth; everything after it is what the server signed.
        let mut after_auth = rest;
        let klen = take(&mut after_auth, 1).ok_or_else(|| self.bad("empty"))?[0] as usize;
        let key = take(&mut after_auth, klen).ok_or_else(|| self.bad("truncated"))?;
        if key != b"_auth" {
            return Err(self.auth("reply is not signed"));
        }
        let auth = decode_value(&mut after_auth, 0).ok_or_else(|| self.bad("bad _auth"))?;
        let signed = after_auth;
        let field = match auth.get("hsha") {
            Some(Value::Bin(b)) if b.len() == 89 => b.clone(),
            _ => return Err(self.auth("reply carries no hmac-sha signature")),
        };
        let (code, digest) = mac(self.key.algorithm, secret, signed)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        let theirs = &field[1..1 + b64.len().min(88)];
        // Constant-time enough for a MAC comparison of public-length strings.
        let same = field[0] == code
            && theirs.len() == b64.len()
            && theirs
                .iter()
                .zip(b64.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(self.auth("reply signature does not verify (wrong key?)"));
        }
        decode_table(signed, 0)
            .map(Value::Table)
            .ok_or_else(|| self.bad("undecodable body"))
    }

    fn bad(&self, reason: &str) -> Error {
        Error::BadReply {
            server: self.server,
            operation: "rndc",
            reason: reason.to_string(),
        }
    }

    fn auth(&self, reason: &str) -> Error {
        Error::RndcAuth {
            server: self.server,
            reason: reason.to_string(),
        }
    }
}

/// A zone name as an rndc argument (validated; no trailing dot, no spaces or braces).
fn zone_arg(zone: &str) -> Result<String> {
    let z = super::names::target(zone)?;
    Ok(if z == "." {
        z
    } else {
        z.trim_end_matches('.').to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_and_garbage_is_rejected() {
        let t = vec![
            (
                "_ctrl".to_string(),
                Value::Table(vec![("_ser".into(), bin("1"))]),
            ),
            ("l".to_string(), Value::List(vec![bin("a"), bin("b")])),
        ];
        let enc = encode_table(&t);
        assert_eq!(decode_table(&enc, 0), Some(t));
        assert_eq!(decode_table(&[5, b'a'], 0), None);
        assert_eq!(decode_table(&[1, b'a', 1, 0, 0, 0, 9, 1], 0), None);
    }

    #[test]
    fn signature_field_has_bind_layout() {
        let v = auth_value(TsigAlgorithm::HmacSha256, b"k", b"data").unwrap();
        let Some(Value::Bin(f)) = v.get("hsha") else {
            panic!("no hsha")
        };
        assert_eq!((f.len(), f[0]), (89, 163));
        assert_eq!(&f[45..], &[0u8; 44][..]);
        assert!(zone_arg("bad zone").is_err());
        assert_eq!(zone_arg("Example.com.").unwrap(), "example.com");
    }
}
