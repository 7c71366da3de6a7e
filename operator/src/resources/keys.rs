//! The key Secret shared by every instance of a cluster (or owned by a lone instance):
//! the operator's UPDATE/NOTIFY key, the zone transfer key and the rndc key.
//!
//! Keys are generated once, when the Secret does not exist, and read back from it afterwards:
//! the Secret is the source of truth (an operator restart or a second replica reads the same
//! keys). Secrets are never logged: [`TsigKey`]'s `Debug` redacts the secret and the Secret's
//! data never goes into an Event or a condition message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;

use crate::bind9::{TsigAlgorithm, TsigKey};
use crate::error::{Error, Result};

/// Key the operator signs UPDATE and NOTIFY with.
pub const UPDATE_KEY: &str = "bindy-operator";
/// Key secondaries transfer zones (and the catalog) with.
pub const TRANSFER_KEY: &str = "bindy-transfer";
/// Key of BIND's control channel.
pub const RNDC_KEY: &str = "bindy-rndc";
/// Data key of the named.conf fragment with the three `key` statements.
pub const KEYS_CONF: &str = "keys.conf";

/// The three keys of one cluster / lone instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    pub update: TsigKey,
    pub transfer: TsigKey,
    pub rndc: TsigKey,
}

impl KeySet {
    /// Fresh random keys.
    pub fn generate() -> Self {
        KeySet {
            update: TsigKey::generate(UPDATE_KEY),
            transfer: TsigKey::generate(TRANSFER_KEY),
            rndc: TsigKey::generate(RNDC_KEY),
        }
    }

    /// All three, in the order they are written to named.conf.
    pub fn all(&self) -> [&TsigKey; 3] {
        [&self.update, &self.transfer, &self.rndc]
    }

    /// The `key` statements BIND includes from the Secret volume.
    pub fn named_conf(&self) -> String {
        self.all().iter().map(|k| k.named_conf()).collect()
    }

    /// Reads the keys back from a Secret made by [`secret`].
    pub fn from_secret(s: &Secret) -> Result<Self> {
        let data = s.data.as_ref();
        let get = |name: &str| -> Result<TsigKey> {
            let field = |suffix: &str| {
                data.and_then(|d| d.get(&format!("{name}.{suffix}")))
                    .and_then(|b| String::from_utf8(b.0.clone()).ok())
                    .ok_or_else(|| Error::BadKey {
                        name: name.to_string(),
                        reason: format!("Secret lacks {name}.{suffix}"),
                    })
            };
            let key = TsigKey::new(
                name,
                TsigAlgorithm::parse(&field("algorithm")?)?,
                field("secret")?,
            );
            key.secret_bytes()?;
            Ok(key)
        };
        Ok(KeySet {
            update: get(UPDATE_KEY)?,
            transfer: get(TRANSFER_KEY)?,
            rndc: get(RNDC_KEY)?,
        })
    }
}

/// Name of the key Secret of a scope (a cluster name, or a lone instance's name).
pub fn secret_name(scope: &str) -> String {
    format!("{scope}-bindy-keys")
}

/// The key Secret, owned by the cluster or lone instance `owner`.
pub fn secret(
    scope: &str,
    namespace: &str,
    keys: &KeySet,
    owner: OwnerReference,
    labels: BTreeMap<String, String>,
) -> Secret {
    let mut data = BTreeMap::new();
    for k in keys.all() {
        data.insert(
            format!("{}.secret", k.name),
            ByteString(k.secret.clone().into_bytes()),
        );
        data.insert(
            format!("{}.algorithm", k.name),
            ByteString(k.algorithm.as_str().as_bytes().to_vec()),
        );
    }
    data.insert(KEYS_CONF.into(), ByteString(keys.named_conf().into_bytes()));
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(scope)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_the_secret_and_never_print() {
        let keys = KeySet::generate();
        let s = secret(
            "prod",
            "dns",
            &keys,
            OwnerReference::default(),
            BTreeMap::new(),
        );
        assert_eq!(s.metadata.name.as_deref(), Some("prod-bindy-keys"));
        assert_eq!(KeySet::from_secret(&s).unwrap(), keys);
        let conf = String::from_utf8(s.data.as_ref().unwrap()[KEYS_CONF].0.clone()).unwrap();
        assert_eq!(conf.matches("key \"").count(), 3);
        assert!(!format!("{keys:?}").contains(&keys.update.secret));
        assert_ne!(keys.update.secret, keys.transfer.secret);
    }

    #[test]
    fn a_secret_missing_a_key_is_an_error() {
        let keys = KeySet::generate();
        let mut s = secret("x", "ns", &keys, OwnerReference::default(), BTreeMap::new());
        s.data.as_mut().unwrap().remove("bindy-rndc.secret");
        assert!(matches!(KeySet::from_secret(&s), Err(Error::BadKey { .. })));
    }
}
