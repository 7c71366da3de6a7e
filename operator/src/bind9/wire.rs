//! One DNS-over-TCP connection to an authoritative server, with TSIG signing and verification.
//!
//! Why not hickory-net's `Client`: its multiplexer verifies TSIG on every reply and turns an
//! unsigned NOTAUTH (what BIND sends for an unknown key or a bad MAC) into an opaque
//! "verification failed" string, losing the RCODE and the TSIG error the operator must report.
//! The framing itself is RFC 1035 §4.2.2's two-byte length prefix; messages, signing and
//! verification are hickory-proto's (`Message`, `TSigner`, `TSigVerifier`). Every read and
//! write is bounded by the connection's deadline.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::TSigner;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TsigKey;
use crate::error::{Error, Result};

/// Default per-operation deadline (connect, or one request/response exchange).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// A TCP connection to one server, reusable for several exchanges (query, then UPDATE...).
pub struct DnsConnection {
    server: SocketAddr,
    stream: TcpStream,
    timeout: Duration,
    signer: Option<TSigner>,
    /// Set after a timeout or I/O error: a read may have stopped mid-message, so the framing
    /// can no longer be trusted and the connection must not be reused.
    broken: bool,
}

impl DnsConnection {
    /// Connects within `timeout`; `key` signs UPDATE and NOTIFY messages (never plain queries).
    pub async fn connect(
        server: SocketAddr,
        key: Option<&TsigKey>,
        timeout: Duration,
    ) -> Result<Self> {
        let signer = key.map(TsigKey::signer).transpose()?;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(server)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(Error::Io {
                    server,
                    operation: "connect",
                    source,
                })
            }
            Err(_) => {
                return Err(Error::Timeout {
                    server,
                    operation: "connect",
                    after: timeout,
                })
            }
        };
        // Small request/response exchanges: do not wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok(DnsConnection {
            server,
            stream,
            timeout,
            signer,
            broken: false,
        })
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Sends `msg` (signed when it is an UPDATE/NOTIFY and a key is set) and returns the reply.
    /// A reply with an error RCODE becomes [`Error::DnsRcode`] naming `operation` and `zone`.
    pub async fn exchange(
        &mut self,
        mut msg: Message,
        operation: &'static str,
        zone: &str,
    ) -> Result<Message> {
        if self.broken {
            return Err(Error::Io {
                server: self.server,
                operation,
                source: std::io::Error::other("connection unusable after an earlier error"),
            });
        }
        let id: u16 = rand::random();
        msg.metadata.id = id;
        let mut verifier = None;
        if let Some(signer) = &self.signer {
            if signer.should_sign_message(&msg) {
                verifier = msg
                    .finalize(signer, unix_now())
                    .map_err(|e| Error::Proto(e.to_string()))?;
            }
        }
        let bytes = msg.to_vec().map_err(|e| Error::Proto(e.to_string()))?;
        let len = u16::try_from(bytes.len()).map_err(|_| {
            Error::InvalidInput(format!(
                "{operation} message of {} bytes exceeds 65535",
                bytes.len()
            ))
        })?;
        let server = self.server;
        let timeout = self.timeout;
        let io = async {
            let mut framed = Vec::with_capacity(bytes.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&bytes);
            self.stream.write_all(&framed).await?;
            // A reply must carry our id; skip a few stray ones (bounded), then give up.
            for _ in 0..8 {
                let n = self.stream.read_u16().await? as usize;
                let mut buf = vec![0u8; n];
                self.stream.read_exact(&mut buf).await?;
                if buf.len() >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                    return Ok(buf);
                }
            }
            Err(std::io::Error::other("no reply with our message id"))
        };
        let result = tokio::time::timeout(timeout, io).await;
        if !matches!(result, Ok(Ok(_))) {
            self.broken = true;
        }
        let reply = match result {
            Ok(Ok(b)) => b,
            Ok(Err(source)) => {
                return Err(Error::Io {
                    server,
                    operation,
                    source,
                })
            }
            Err(_) => {
                return Err(Error::Timeout {
                    server,
                    operation,
                    after: timeout,
                })
            }
        };
        let parsed = Message::from_vec(&reply).map_err(|e| Error::BadReply {
            server,
            operation,
            reason: e.to_string(),
        })?;
        let rcode = parsed.metadata.response_code;
        let tsig_error = parsed.signature.as_ref().and_then(|s| s.data.error);
        if rcode != ResponseCode::NoError || tsig_error.is_some() {
            let detail = match tsig_error {
                Some(e) => format!(" (TSIG {})", tsig_error_name(&e)),
                None => String::new(),
            };
            return Err(Error::DnsRcode {
                server,
                operation,
                zone: zone.to_string(),
                rcode: rcode_name(rcode),
                detail,
            });
        }
        if let Some(mut v) = verifier {
            v.verify(&reply).map_err(|e| Error::BadReply {
                server,
                operation,
                reason: format!("TSIG on the reply does not verify: {e}"),
            })?;
        }
        Ok(parsed)
    }
}

/// Seconds since the Unix epoch, for TSIG time signed.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC mnemonic for an RCODE (`NOTAUTH`, `REFUSED`...), as BIND and dig print them.
pub fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

fn tsig_error_name(e: &TsigError) -> String {
    match e {
        TsigError::BadSig => "BADSIG".into(),
        TsigError::BadKey => "BADKEY".into(),
        TsigError::BadTime => "BADTIME".into(),
        TsigError::BadTrunc => "BADTRUNC".into(),
        TsigError::Unknown(c) => format!("error {c}"),
    }
}
