use crate::ObjectRef;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A certificate chain and key, validated at translation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// `namespace/secret`, or the object it was taken for.
    pub name: String,
    /// The Secret (or ConfigMap) it came from.
    pub secret: ObjectRef,
    /// DNS names of the leaf certificate (subject alternative names, else the CN).
    pub dns_names: Vec<String>,
    /// Expiry of the leaf, seconds since the Unix epoch.
    pub not_after: i64,
    /// PEM chain, leaf first.
    pub chain_pem: String,
    pub key_pem: Sensitive,
}

/// CA certificates (PEM) that client certificates must chain to: the
/// `ca.crt` of a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAuthority {
    /// `namespace/secret`.
    pub name: String,
    pub secret: ObjectRef,
    pub pem: String,
}

/// Secret material: kept in memory, never printed by `check` or the admin API.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive(pub String);

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("(redacted)")
    }
}

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Sensitive)
    }
}
