//! TSIG keys (RFC 8945) as the operator holds them: a name, an algorithm, a base64 secret,
//! exactly what `tsig-keygen` prints and what a `key` statement in named.conf contains.

use std::fmt;

use base64::Engine as _;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm as HickoryAlg;
use hickory_proto::rr::{Name, TSigner};

use crate::error::{Error, Result};

/// Clock skew BIND accepts by default (RFC 8945 §5.2.3 recommends 300 s).
pub const FUDGE_SECS: u16 = 300;

/// The HMAC algorithms Bindy offers; hmac-sha256 is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TsigAlgorithm {
    #[default]
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithm {
    /// The name used in named.conf `key` statements and by `tsig-keygen -a`.
    pub fn as_str(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// Parses `hmac-sha256` and friends (case-insensitive, a trailing dot allowed).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
            "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
            "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
            other => Err(Error::BadKey {
                name: String::new(),
                reason: format!("unsupported algorithm {other:?} (use hmac-sha256/384/512)"),
            }),
        }
    }

    fn hickory(self) -> HickoryAlg {
        match self {
            TsigAlgorithm::HmacSha256 => HickoryAlg::HmacSha256,
            TsigAlgorithm::HmacSha384 => HickoryAlg::HmacSha384,
            TsigAlgorithm::HmacSha512 => HickoryAlg::HmacSha512,
        }
    }
}

impl fmt::Display for TsigAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shared secret key. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// Key name as in named.conf (`bindy-operator`), no trailing dot needed.
    pub name: String,
    pub algorithm: TsigAlgorithm,
    /// Base64 secret as printed by `tsig-keygen`.
    pub secret: String,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    pub fn new(
        name: impl Into<String>,
        algorithm: TsigAlgorithm,
        secret: impl Into<String>,
    ) -> Self {
        TsigKey {
            name: name.into(),
            algorithm,
            secret: secret.into(),
        }
    }

    /// A fresh random 256-bit key (what `tsig-keygen` makes).
    pub fn generate(name: impl Into<String>) -> Self {
        let bytes: [u8; 32] = rand::random();
        TsigKey::new(
            name,
            TsigAlgorithm::HmacSha256,
            base64::engine::general_purpose::STANDARD.encode(bytes),
        )
    }

    /// The decoded secret.
    pub fn secret_bytes(&self) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(self.secret.trim())
            .map_err(|e| self.bad(format!("secret is not base64: {e}")))
    }

    /// A hickory signer for UPDATE/NOTIFY messages.
    pub fn signer(&self) -> Result<TSigner> {
        let name = Name::from_ascii(&self.name).map_err(|e| self.bad(e.to_string()))?;
        TSigner::new(
            self.secret_bytes()?,
            self.algorithm.hickory(),
            name,
            FUDGE_SECS,
        )
        .map_err(|e| self.bad(e.to_string()))
    }

    /// The `key` statement for named.conf.
    pub fn named_conf(&self) -> String {
        format!(
            "key \"{}\" {{\n    algorithm {};\n    secret \"{}\";\n}};\n",
            self.name, self.algorithm, self.secret
        )
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadKey {
            name: self.name.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_sign_and_hide_their_secret() {
        let key = TsigKey::generate("bindy-operator");
        assert_eq!(key.secret_bytes().unwrap().len(), 32);
        assert!(key.signer().is_ok());
        assert!(!format!("{key:?}").contains(&key.secret));
        assert_eq!(
            TsigAlgorithm::parse("HMAC-SHA512.").unwrap(),
            TsigAlgorithm::HmacSha512
        );
        assert!(TsigAlgorithm::parse("hmac-md5").is_err());
        assert!(TsigKey::new("k", TsigAlgorithm::HmacSha256, "not base64!")
            .signer()
            .is_err());
        assert!(key.named_conf().contains("algorithm hmac-sha256;"));
    }
}
