//! TSIG keys for `named.conf`, `nsupdate -k` and `rndc.conf`.
//!
//! Keys are generated in-process (random bytes, base64) rather than by running `tsig-keygen`,
//! so building a configuration needs no external tool and no subprocess; the text format
//! written by [`TsigKey::write_key_file`] is exactly what `tsig-keygen` prints, which
//! `named`, `nsupdate -k`, `rndc -k` and `dig -k` all read.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Algorithm used when none is given: the one RFC 8945 requires implementations to support.
pub const DEFAULT_ALGORITHM: &str = "hmac-sha256";

/// A shared-secret TSIG key, as BIND names and stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigKey {
    /// Key name (a DNS name; BIND also accepts plain labels such as `bindy-tsig`).
    pub name: String,
    /// BIND algorithm name, e.g. `hmac-sha256`.
    pub algorithm: String,
    /// Base64 secret.
    pub secret: String,
}

impl TsigKey {
    /// A fresh random `hmac-sha256` key.
    pub fn generate(name: &str) -> TsigKey {
        TsigKey::with_algorithm(name, DEFAULT_ALGORITHM)
    }

    /// A fresh random key for `alg`; the secret is as long as the hash output, as
    /// `tsig-keygen` does (unknown algorithms get 32 bytes).
    pub fn with_algorithm(name: &str, alg: &str) -> TsigKey {
        let len = secret_len(alg);
        let mut bytes = vec![0u8; len];
        rand::fill(&mut bytes[..]);
        TsigKey {
            name: name.to_string(),
            algorithm: alg.to_string(),
            secret: STANDARD.encode(&bytes),
        }
    }

    /// The key statement for `named.conf` (also valid in `rndc.conf` and for `nsupdate -k`).
    pub fn named_conf_stanza(&self) -> String {
        format!(
            "key \"{}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
            self.name, self.algorithm, self.secret
        )
    }

    /// Writes the key in `tsig-keygen` format (readable by `nsupdate -k`, `dig -k`).
    pub fn write_key_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.named_conf_stanza())
    }

    /// `algorithm:name:secret`, the form `dig -y` / `nsupdate -y` take.
    pub fn dig_y_arg(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }

    /// The decoded secret bytes (for Rust-side signers such as hickory's `TSigner`).
    pub fn secret_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(&self.secret)
    }
}

fn secret_len(alg: &str) -> usize {
    match alg.to_ascii_lowercase().as_str() {
        "hmac-md5" | "hmac-md5.sig-alg.reg.int" => 16,
        "hmac-sha1" => 20,
        "hmac-sha224" => 28,
        "hmac-sha256" => 32,
        "hmac-sha384" => 48,
        "hmac-sha512" => 64,
        _ => 32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_random_and_sized_for_the_algorithm() {
        let a = TsigKey::generate("k");
        let b = TsigKey::generate("k");
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.algorithm, "hmac-sha256");
        assert_eq!(a.secret_bytes().unwrap().len(), 32);
        let c = TsigKey::with_algorithm("k5", "hmac-sha512");
        assert_eq!(c.secret_bytes().unwrap().len(), 64);
    }

    #[test]
    fn stanza_matches_tsig_keygen_format() {
        let k = TsigKey {
            name: "demo".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0".into(),
        };
        assert_eq!(
            k.named_conf_stanza(),
            "key \"demo\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n"
        );
        assert_eq!(k.dig_y_arg(), "hmac-sha256:demo:c2VjcmV0");
    }
}
