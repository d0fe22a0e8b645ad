//! Who owns carts, orders and a revocation record: an [`OwnerKey`], built
//! from a verified token (never from input) and parsed back here only.
//!
//! The key names a namespace and a subject: `guest:<sub>`, `customer:<sub>`
//! for the built-in issuer, `external:<sub>` for an external identity
//! provider. A subject cannot reach another namespace's data whatever it
//! contains, since the namespace is chosen by who verified the token.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of visitor a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewerKind {
    /// An anonymous visitor holding a guest token.
    Guest,
    /// A signed-up (or externally authenticated) customer.
    Customer,
}

/// The namespace of an owner key: who vouched for the subject, and as what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// A guest of the built-in issuer.
    Guest,
    /// A customer of the built-in issuer.
    Customer,
    /// A customer of the external identity provider.
    External,
}

impl Namespace {
    const ALL: [Namespace; 3] = [Namespace::Guest, Namespace::Customer, Namespace::External];

    fn prefix(self) -> &'static str {
        match self {
            Namespace::Guest => "guest",
            Namespace::Customer => "customer",
            Namespace::External => "external",
        }
    }

    /// The kind of viewer owners in this namespace are.
    pub fn kind(self) -> ViewerKind {
        match self {
            Namespace::Guest => ViewerKind::Guest,
            Namespace::Customer | Namespace::External => ViewerKind::Customer,
        }
    }
}

/// Who owns a set of carts (and orders, idempotency records, a revocation
/// record): `namespace:subject`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerKey(String);

impl OwnerKey {
    /// The key of `subject` in `namespace`.
    pub fn new(namespace: Namespace, subject: &str) -> OwnerKey {
        OwnerKey(format!("{}:{subject}", namespace.prefix()))
    }

    /// Reads a key back from its stored form; `None` for anything that is
    /// not `namespace:subject` with a known namespace and a subject.
    pub fn parse(text: &str) -> Option<OwnerKey> {
        let (prefix, subject) = text.split_once(':')?;
        let known = Namespace::ALL.iter().any(|n| n.prefix() == prefix);
        (known && !subject.is_empty()).then(|| OwnerKey(text.to_string()))
    }

    /// The owner's tag in global ids: the first 96 bits of the SHA-256 of
    /// the key, in hex (keeps owners apart without showing who they are).
    pub fn tag(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..12])
    }

    /// The key's namespace.
    pub fn namespace(&self) -> Namespace {
        let prefix = self.0.split(':').next().unwrap_or_default();
        Namespace::ALL
            .into_iter()
            .find(|n| n.prefix() == prefix)
            .unwrap_or(Namespace::Customer)
    }

    /// The kind of viewer the owner is (its carts' lifetime depends on it).
    pub fn kind(&self) -> ViewerKind {
        self.namespace().kind()
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_namespaces_apart_and_read_back() {
        for (namespace, text, kind) in [
            (Namespace::Guest, "guest:x", ViewerKind::Guest),
            (Namespace::Customer, "customer:x", ViewerKind::Customer),
            (Namespace::External, "external:x", ViewerKind::Customer),
        ] {
            let key = OwnerKey::new(namespace, "x");
            assert_eq!(key.as_str(), text);
            assert_eq!(OwnerKey::parse(text), Some(key.clone()));
            assert_eq!(key.namespace(), namespace);
            assert_eq!(key.kind(), kind);
        }
        // A subject may contain the separator; the namespace is the first part.
        let odd = OwnerKey::new(Namespace::Guest, "customer:y");
        assert_eq!(odd.namespace(), Namespace::Guest);
        for bad in ["", "guest", "guest:", "admin:x", ":x"] {
            assert_eq!(OwnerKey::parse(bad), None, "{bad:?}");
        }
    }
}
